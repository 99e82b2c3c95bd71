"""Model-quality metrics accumulated chunk by chunk, and their comparison with log time.

Classifiers: accuracy, precision, recall and F1 (of the second class for binary models,
support-weighted for multiclass, as SageMaker reports them) and ROC AUC (one-vs-rest,
macro, for multiclass) from 1,000-bin score histograms, which keep memory fixed and move
AUC by less than 1e-3. Regressors: MAE, RMSE and R^2, from exactly merged moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.batch_profile import CentralMoments

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCORE_BINS = 1000
HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "auc", "r2")
LOWER_IS_BETTER = ("mae", "rmse")


def _auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative), ties counted half, from histograms."""
    import numpy as np

    pos, neg = positive.sum(), negative.sum()
    if pos == 0 or neg == 0:
        return None
    below = np.cumsum(negative) - negative  # negatives in lower bins
    return float((positive * (below + 0.5 * negative)).sum() / (pos * neg))


@dataclass
class ClassifierQuality:
    """Confusion matrix and per-class score histograms of a classifier."""

    classes: tuple[str, ...]
    confusion: Any = None
    histograms: Any = None
    unknown_labels: int = 0

    def __post_init__(self) -> None:
        import numpy as np

        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.histograms = np.zeros((k, 2, SCORE_BINS), dtype=np.int64)

    def update(self, probabilities: np.ndarray, labels: pd.Series) -> None:
        """Add a chunk of class probabilities (one column per class) and true labels."""
        import numpy as np

        index = {c: i for i, c in enumerate(self.classes)}
        truth = np.array([index.get(str(v), -1) for v in labels])
        known = truth >= 0
        self.unknown_labels += int((~known).sum())
        truth, probabilities = truth[known], probabilities[known]
        predicted = probabilities.argmax(axis=1)
        np.add.at(self.confusion, (truth, predicted), 1)
        bins = np.clip((probabilities * SCORE_BINS).astype(int), 0, SCORE_BINS - 1)
        for k in range(len(self.classes)):
            is_k = truth == k
            self.histograms[k, 0] += np.bincount(bins[is_k, k], minlength=SCORE_BINS)
            self.histograms[k, 1] += np.bincount(bins[~is_k, k], minlength=SCORE_BINS)

    def metrics(self) -> dict[str, float | None]:
        """accuracy, precision, recall, f1, auc and n."""
        import numpy as np

        c = self.confusion
        n = int(c.sum())
        if n == 0:
            return {"n": 0}
        tp = np.diag(c).astype(float)
        predicted, actual = c.sum(axis=0), c.sum(axis=1)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
        both = precision + recall
        f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
        aucs = [_auc(self.histograms[k, 0], self.histograms[k, 1]) for k in range(len(tp))]
        if len(tp) == 2:
            chosen = {"precision": precision[1], "recall": recall[1], "f1": f1[1]}
            auc = aucs[1]
        else:
            weights = actual / n
            chosen = {"precision": precision @ weights, "recall": recall @ weights}
            chosen["f1"] = f1 @ weights
            present = [a for a in aucs if a is not None]
            auc = float(np.mean(present)) if present else None
        return {
            "n": n,
            "accuracy": float(tp.sum() / n),
            **{k: float(v) for k, v in chosen.items()},
            "auc": auc,
        }


@dataclass
class RegressorQuality:
    """Error sums and target moments of a single-output regressor."""

    abs_error: float = 0.0
    sq_error: float = 0.0
    target: CentralMoments = field(default_factory=CentralMoments)

    def update(self, predictions: np.ndarray, labels: pd.Series) -> None:
        """Add a chunk of predictions (one column) and true values."""
        import numpy as np

        truth = labels.to_numpy(dtype="float64", na_value=np.nan)
        keep = np.isfinite(truth)
        error = predictions[keep, 0] - truth[keep]
        self.abs_error += float(np.abs(error).sum())
        # numpy's pairwise sum, not the BLAS dot ``error @ error``: that one is split across
        # threads (rounding that depends on their number) and stalls when a core is busy
        self.sq_error += float(np.square(error, out=error).sum())
        self.target.update(truth[keep])

    def metrics(self) -> dict[str, float | None]:
        """mae, rmse, r2 and n."""
        n = self.target.count
        if n == 0:
            return {"n": 0}
        return {
            "n": n,
            "mae": self.abs_error / n,
            "rmse": math.sqrt(self.sq_error / n),
            "r2": 1 - self.sq_error / self.target.m2 if self.target.m2 > 0 else None,
        }


Quality = ClassifierQuality | RegressorQuality


def new_quality(classes: tuple[str, ...], outputs: int) -> Quality | None:
    """An accumulator for a model's outputs, or None when quality is not defined for them."""
    if classes:
        return ClassifierQuality(classes)
    return RegressorQuality() if outputs == 1 else None


def compare_quality(
    baseline: dict[str, Any] | None, current: dict[str, Any], thresholds: dict[str, Any]
) -> dict[str, Any]:
    """Compare metrics with those at log time.

    A score (accuracy, precision, recall, F1, AUC, R^2) that fell by more than
    ``quality_score_drop``, or an error (MAE, RMSE) that grew by more than
    ``quality_error_increase`` relative, is a degradation. Needs ``min_rows`` labels.
    """
    entry: dict[str, Any] = {"metrics": current, "baseline": baseline, "degraded": []}
    if current.get("n", 0) < thresholds["min_rows"]:
        entry["status"] = "insufficient_data"
        return entry
    if not baseline:
        entry["status"] = "no_baseline"
        return entry
    for name in (*HIGHER_IS_BETTER, *LOWER_IS_BETTER):
        now, then = current.get(name), baseline.get(name)
        if now is None or then is None:
            continue
        if name in HIGHER_IS_BETTER:
            worse = then - now > thresholds["quality_score_drop"]
            limit = f"drop > {thresholds['quality_score_drop']}"
        else:
            worse = now > then * (1 + thresholds["quality_error_increase"])
            limit = f"relative increase > {thresholds['quality_error_increase']}"
        if worse:
            entry["degraded"].append(
                {"metric": name, "baseline": then, "current": now, "limit": limit}
            )
    entry["status"] = "violation" if entry["degraded"] else "ok"
    return entry
