"""Confidence-based performance estimation (CBPE) of a classifier on a batch without labels.

With calibrated probabilities, the expected confusion matrix of a batch is known without
labels: row ``i`` predicted as class ``c`` adds ``p_i(t)`` to cell ``(t, c)`` for every
true class ``t``. The metrics are computed from that expected matrix, and ROC AUC from
score histograms weighted by ``p_i(k)`` and ``1 - p_i(k)`` (rows ranked by the raw score),
by the very code that computes the realised metrics when labels come
(:class:`~mlflow_clarity.monitors.baseline.model_quality.ClassifierQuality`): estimated and
realised ``accuracy``, ``precision``, ``recall``, ``f1`` and ``auc`` have the same
definitions (the second class for binary models; support-weighted precision, recall and
F1 and macro ROC AUC for multiclass).

Confidence intervals combine two spreads into a 95 % normal interval:

* label sampling: labels are drawn from the calibrated probabilities (the
  Poisson-binomial law of the confusion cells, Kivimaki et al. 2025, sampled rather than
  computed), seeded, on a uniform sample of at most :data:`INTERVAL_ROWS` rows; the
  metric's spread over the draws is scaled to the batch size;
* calibration: the estimate is recomputed on the same sample with each of the
  bootstrap refits of the calibration stored at log time; their spread does not shrink
  with the batch size. Without it, the intervals covered the realised accuracy on 6 of
  10 simulated chunks (``bench/cbpe.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.model_quality import SCORE_BINS, ClassifierQuality
from mlflow_clarity.monitors.estimation.calibration import IsotonicMap, calibrate

if TYPE_CHECKING:
    import numpy as np

INTERVAL_ROWS = 20_000
DRAWS = 200
Z95 = 1.959964
METRICS = ("accuracy", "precision", "recall", "f1", "auc")


def score_bins(probabilities: np.ndarray) -> np.ndarray:
    """The histogram bin of each raw score, as the realised metrics bin them."""
    import numpy as np

    return np.clip((probabilities * SCORE_BINS).astype(int), 0, SCORE_BINS - 1)


def metrics_of(classes: tuple[str, ...], confusion: Any, histograms: Any) -> dict[str, Any]:
    """The realised-metric formulas applied to a (possibly expected, float) matrix."""

    quality = ClassifierQuality(classes)
    quality.confusion, quality.histograms = confusion, histograms
    found = quality.metrics()
    return {name: found.get(name) for name in METRICS}


def expected_counts(calibrated: np.ndarray, predicted: np.ndarray, bins: np.ndarray) -> tuple:
    """Expected confusion matrix (true x predicted) and score histograms weighted by the
    calibrated probability of each class (positives) and its complement (negatives)."""
    import numpy as np

    k = calibrated.shape[1]
    confusion = np.zeros((k, k))
    histograms = np.zeros((k, 2, SCORE_BINS))
    for t in range(k):
        p = calibrated[:, t]
        confusion[t] = np.bincount(predicted, weights=p, minlength=k)
        histograms[t, 0] = np.bincount(bins[:, t], weights=p, minlength=SCORE_BINS)
        histograms[t, 1] = np.bincount(bins[:, t], weights=1 - p, minlength=SCORE_BINS)
    return confusion, histograms


@dataclass
class RowSample:
    """A seeded uniform sample of at most ``size`` rows of a stream of arrays."""

    size: int
    rng: Any
    keys: Any = None
    arrays: tuple[Any, ...] = ()

    def update(self, *arrays: np.ndarray) -> None:
        """Add a chunk (arrays with one row per batch row)."""
        import numpy as np

        keys = self.rng.random(len(arrays[0]))
        if self.keys is not None:
            keys = np.concatenate([self.keys, keys])
            arrays = tuple(np.concatenate([a, b]) for a, b in zip(self.arrays, arrays, strict=True))
        keep = np.argsort(keys, kind="stable")[: self.size]
        self.keys, self.arrays = keys[keep], tuple(a[keep] for a in arrays)


@dataclass
class ClassifierEstimator:
    """Accumulates a batch's expected confusion matrix and score histograms, chunk by chunk.

    Attributes:
        classes: The model's classes, in output order.
        maps: The stored calibration (:func:`~.calibration.fit_maps`).
        seed: Seed of the interval's row sample and label draws.
        bootstrap: Refits of the calibration on bootstrap resamples of the reference.
    """

    classes: tuple[str, ...]
    maps: list[IsotonicMap]
    seed: int = 0
    bootstrap: list[list[IsotonicMap]] = field(default_factory=list)
    rows: int = 0
    confusion: Any = None
    histograms: Any = None
    predicted_counts: Any = None
    sample: RowSample | None = None

    def __post_init__(self) -> None:
        import numpy as np

        k = len(self.classes)
        self.confusion = np.zeros((k, k))
        self.histograms = np.zeros((k, 2, SCORE_BINS))
        self.predicted_counts = np.zeros(k, dtype=np.int64)
        self.sample = RowSample(INTERVAL_ROWS, np.random.default_rng(self.seed))

    def update(self, probabilities: np.ndarray) -> np.ndarray:
        """Add a chunk of raw class probabilities; returns the calibrated ones."""
        import numpy as np

        calibrated = calibrate(probabilities, self.maps)
        predicted = probabilities.argmax(axis=1)
        bins = score_bins(probabilities)
        confusion, histograms = expected_counts(calibrated, predicted, bins)
        self.confusion += confusion
        self.histograms += histograms
        self.predicted_counts += np.bincount(predicted, minlength=len(self.classes))
        self.rows += len(probabilities)
        assert self.sample is not None
        self.sample.update(probabilities, calibrated, predicted, bins)
        return calibrated

    def estimates(self) -> dict[str, dict[str, float | None]]:
        """Each metric's estimate and 95 % interval: ``{metric: {value, lower, upper}}``."""
        point = metrics_of(self.classes, self.confusion, self.histograms)
        draws, refits = self._draw_spread(), self._calibration_spread()
        found = {}
        for name, value in point.items():
            sd = draws.get(name)
            if sd is not None:
                sd = math.hypot(sd, refits.get(name, 0.0))
            if value is None or sd is None:
                found[name] = {"value": value, "lower": None, "upper": None}
                continue
            half = Z95 * sd
            found[name] = {
                "value": value,
                "lower": max(0.0, value - half),
                "upper": min(1.0, value + half),
            }
        return found

    def _draw_spread(self) -> dict[str, float]:
        """Standard deviation of each metric over seeded label draws, at the batch size."""
        import numpy as np

        assert self.sample is not None
        if self.sample.keys is None:
            return {}
        _, calibrated, predicted, bins = self.sample.arrays
        m, k = len(predicted), len(self.classes)
        rng = np.random.default_rng(self.seed + 1)
        cumulative = np.cumsum(calibrated, axis=1)
        values: dict[str, list[float]] = {name: [] for name in METRICS}
        for _ in range(DRAWS):
            truth = np.minimum((cumulative < rng.random((m, 1))).sum(axis=1), k - 1)
            confusion = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
            histograms = np.zeros((k, 2, SCORE_BINS))
            for c in range(k):
                is_c = truth == c
                histograms[c, 0] = np.bincount(bins[is_c, c], minlength=SCORE_BINS)
                histograms[c, 1] = np.bincount(bins[~is_c, c], minlength=SCORE_BINS)
            for name, value in metrics_of(self.classes, confusion, histograms).items():
                if value is not None:
                    values[name].append(value)
        scale = math.sqrt(m / self.rows)
        return {n: float(np.std(v)) * scale for n, v in values.items() if len(v) > DRAWS // 2}

    def _calibration_spread(self) -> dict[str, float]:
        """Standard deviation of each metric's estimate over the calibration's refits."""
        import numpy as np

        assert self.sample is not None
        if self.sample.keys is None or len(self.bootstrap) < 2:
            return {}
        raw, _, predicted, bins = self.sample.arrays
        values: dict[str, list[float]] = {name: [] for name in METRICS}
        for maps in self.bootstrap:
            counts = expected_counts(calibrate(raw, maps), predicted, bins)
            for name, value in metrics_of(self.classes, *counts).items():
                if value is not None:
                    values[name].append(value)
        return {n: float(np.std(v)) for n, v in values.items() if len(v) > 1}
