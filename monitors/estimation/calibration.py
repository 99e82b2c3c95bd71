"""Isotonic calibration of class scores, stored as JSON arrays (no pickle).

One increasing step function per class (one-vs-rest), fitted by pool-adjacent-violators
(scipy's ``isotonic_regression``) on the reference scores and labels, applied by linear
interpolation between its thresholds and clipped outside them, as scikit-learn's
``IsotonicRegression(out_of_bounds="clip")`` does. Multiclass rows are renormalised to sum
to one (NannyML's CBPE does the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ECE_BINS = 10


@dataclass(frozen=True)
class IsotonicMap:
    """An increasing map from a raw score to a probability.

    Attributes:
        thresholds: Raw scores where the map is known, increasing.
        values: Calibrated probabilities at those scores, non-decreasing.
    """

    thresholds: tuple[float, ...]
    values: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, outcomes: np.ndarray) -> IsotonicMap:
        """Fit the map to raw scores and 0/1 outcomes (one row each)."""
        import numpy as np
        from scipy.optimize import isotonic_regression

        unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=outcomes.astype(float)) / counts
        fitted = isotonic_regression(means, weights=counts.astype(float)).x
        # keep the ends of every flat block: interpolation between them is exact
        change = np.diff(fitted) != 0
        keep = np.ones(len(fitted), dtype=bool)
        keep[1:-1] = change[1:] | change[:-1]
        return cls(tuple(unique[keep].tolist()), tuple(np.clip(fitted[keep], 0, 1).tolist()))

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores (clipped outside the fitted range)."""
        import numpy as np

        return np.interp(scores, self.thresholds, self.values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"thresholds": list(self.thresholds), "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsotonicMap:
        """Read back :meth:`to_dict`."""
        return cls(tuple(data["thresholds"]), tuple(data["values"]))


def fit_maps(probabilities: np.ndarray, truth: np.ndarray) -> list[IsotonicMap]:
    """One map per class (only the positive class's for binary models).

    Args:
        probabilities: ``(rows, classes)`` raw scores.
        truth: Class index of each row.
    """
    classes = probabilities.shape[1]
    fitted = range(1, 2) if classes == 2 else range(classes)
    return [IsotonicMap.fit(probabilities[:, k], truth == k) for k in fitted]


def calibrate(probabilities: np.ndarray, maps: list[IsotonicMap]) -> np.ndarray:
    """Calibrated ``(rows, classes)`` probabilities, each row summing to one."""
    import numpy as np

    if probabilities.shape[1] == 2:
        positive = maps[0].apply(probabilities[:, 1])
        return np.column_stack([1 - positive, positive])
    calibrated = np.column_stack([m.apply(probabilities[:, k]) for k, m in enumerate(maps)])
    total = calibrated.sum(axis=1, keepdims=True)
    uniform = np.full_like(calibrated, 1 / calibrated.shape[1])
    return np.divide(calibrated, total, out=uniform, where=total > 0)


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """ECE of the predicted class's probability over 10 equal-count bins."""
    import numpy as np

    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    order = np.argsort(confidence, kind="stable")
    bins = np.array_split(order, ECE_BINS)
    gaps = [abs(confidence[b].mean() - correct[b].mean()) * len(b) for b in bins if len(b)]
    return float(sum(gaps) / len(truth))
