"""Model-quality metrics accumulated chunk by chunk, and their comparison with log time.

Classifiers: accuracy, precision, recall and F1 (of the second class for binary models,
support-weighted for multiclass, as SageMaker reports them) and ROC AUC (one-vs-rest,
macro, for multiclass) from 1,000-bin score histograms, which keep memory fixed and move
AUC by less than 1e-3. Regressors: MAE, RMSE and R^2, from exactly merged moments.

Every metric comes with its standard error (``<metric>_se``), so that a comparison can
tell a real change from the noise of a batch of ``n`` rows: the delta method on the
confusion matrix for the classifier's ratios, Hanley and McNeil's formula for AUC, the
moments of the errors for the regressor's.
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


def _delta_se(confusion: np.ndarray, gradient: np.ndarray) -> float:
    """Delta-method standard error of a metric of a confusion matrix's counts.

    Every metric here is a ratio of counts, unchanged when all counts are scaled; for
    such a metric the multinomial delta method reduces to ``sum c_ij (df/dc_ij)^2``, as if
    each cell were an independent Poisson count.
    """
    return float(math.sqrt(max(0.0, float((confusion * gradient**2).sum()))))


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def _classifier_errors(c: np.ndarray, metrics: dict[str, Any]) -> dict[str, float]:
    """Standard errors of accuracy, precision, recall and F1 from the confusion matrix
    ``c`` (rows: true class, columns: predicted), by the delta method."""
    import numpy as np

    n = c.sum()
    tp = np.diag(c).astype(float)
    actual, predicted = c.sum(axis=1).astype(float), c.sum(axis=0).astype(float)
    eye = np.eye(len(tp))
    accuracy = _delta_se(c, (eye - metrics["accuracy"]) / n)
    if len(tp) == 2:  # the second class's precision, recall and F1
        e1 = eye[1]
        precision, recall, f1 = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))
        if predicted[1] > 0:
            precision[:, 1] = (e1 - metrics["precision"]) / predicted[1]
        if actual[1] > 0:
            recall[1, :] = (e1 - metrics["recall"]) / actual[1]
        if actual[1] + predicted[1] > 0:
            f1 = 2 * np.outer(e1, e1) - metrics["f1"] * (e1[:, None] + e1[None, :])
            f1 /= actual[1] + predicted[1]
        gradients = {"precision": precision, "recall": recall, "f1": f1}
    else:  # support-weighted: each cell moves n, its row's support and its column's count
        both = actual + predicted
        f1 = _divide(2 * tp, both)
        precision_by_predicted = _divide(actual * tp, predicted**2)
        f1_by_count = _divide(2 * actual * tp, both**2)
        gradients = {
            "precision": (
                _divide(tp, predicted)[:, None]
                - precision_by_predicted[None, :]
                + np.diag(_divide(actual, predicted))
                - metrics["precision"]
            )
            / n,
            "recall": (eye - metrics["accuracy"]) / n,  # weighted recall is the accuracy
            "f1": (
                (f1 - f1_by_count)[:, None]
                - f1_by_count[None, :]
                + np.diag(_divide(2 * actual, both))
                - metrics["f1"]
            )
            / n,
        }
    return {"accuracy": accuracy, **{k: _delta_se(c, g) for k, g in gradients.items()}}


def _auc_se(auc: float, positives: float, negatives: float) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return math.sqrt(max(0.0, variance))


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
        total = float(c.sum())  # expected confusion matrices (CBPE) hold fractional counts
        n = round(total)
        if total <= 0:
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
            weights = actual / total
            chosen = {"precision": precision @ weights, "recall": recall @ weights}
            chosen["f1"] = f1 @ weights
            present = [a for a in aucs if a is not None]
            auc = float(np.mean(present)) if present else None
        found: dict[str, Any] = {
            "n": n,
            "accuracy": float(tp.sum() / total),
            **{k: float(v) for k, v in chosen.items()},
            "auc": auc,
        }
        errors = _classifier_errors(c, found)
        if auc is not None:
            counts = self.histograms.sum(axis=2)
            ses = [
                _auc_se(a, counts[k, 0], counts[k, 1]) for k, a in enumerate(aucs) if a is not None
            ]
            # macro AUC: the mean of per-class AUCs, which move together; the mean of their
            # errors (perfect correlation) bounds its error from above
            errors["auc"] = ses[-1] if len(tp) == 2 else sum(ses) / len(ses)
        return {**found, **{f"{k}_se": v for k, v in errors.items()}}


@dataclass
class RegressorQuality:
    """Error sums and target moments of a single-output regressor."""

    abs_error: float = 0.0
    sq_error: float = 0.0
    quartic_error: float = 0.0
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
        squared = np.square(error, out=error)
        self.sq_error += float(squared.sum())
        self.quartic_error += float(np.square(squared).sum())  # for the noise of the MSE
        self.target.update(truth[keep])

    def metrics(self) -> dict[str, float | None]:
        """mae, rmse, r2, n and their standard errors.

        The errors' second and fourth moments give the noise of MAE and MSE; RMSE's and
        R^2's follow by the delta method (R^2's adds the noise of the target's variance,
        leaving out its covariance with the MSE, which would only lower it).
        """
        n = self.target.count
        if n == 0:
            return {"n": 0}
        mae, mse = self.abs_error / n, self.sq_error / n
        rmse = math.sqrt(mse)
        mae_se = math.sqrt(max(0.0, mse - mae * mae) / n)
        mse_se = math.sqrt(max(0.0, self.quartic_error / n - mse * mse) / n)
        variance = self.target.m2 / n
        variance_se = math.sqrt(max(0.0, self.target.m4 / n - variance * variance) / n)
        r2_se = math.hypot(mse_se / variance, mse * variance_se / variance**2) if variance else None
        return {
            "n": n,
            "mae": mae,
            "rmse": rmse,
            "r2": 1 - mse / variance if variance > 0 else None,
            "mae_se": mae_se,
            "rmse_se": mse_se / (2 * rmse) if rmse > 0 else 0.0,
            "r2_se": r2_se,
        }


Quality = ClassifierQuality | RegressorQuality


def new_quality(classes: tuple[str, ...], outputs: int) -> Quality | None:
    """An accumulator for a model's outputs, or None when quality is not defined for them."""
    if classes:
        return ClassifierQuality(classes)
    return RegressorQuality() if outputs == 1 else None


def _standard_error(name: str, metrics: dict[str, Any], other: dict[str, Any]) -> float | None:
    """A metric's standard error: stored, else the other side's scaled by ``sqrt(n)``,
    else a proportion's ``sqrt(v(1 - v)/n)`` for scores in [0, 1]; None when unknown."""
    stored = metrics.get(f"{name}_se")
    if stored is not None:
        return float(stored)
    theirs, n, their_n = other.get(f"{name}_se"), metrics.get("n"), other.get("n")
    if theirs is not None and n and their_n:
        return float(theirs) * math.sqrt(their_n / n)
    value = metrics.get(name)
    if name in HIGHER_IS_BETTER and value is not None and n and 0 <= value <= 1:
        return math.sqrt(value * (1 - value) / n)
    return None


def compare_quality(
    baseline: dict[str, Any] | None, current: dict[str, Any], thresholds: dict[str, Any]
) -> dict[str, Any]:
    """Compare metrics with those at log time, each against the noise of its change.

    The change of a metric between log time (``m`` rows) and the batch (``n`` rows) has
    standard error ``sqrt(se_then^2 + se_now^2)`` (each side's from
    :class:`ClassifierQuality` or :class:`RegressorQuality`, whose errors shrink as
    ``1/sqrt(rows)``); its noise is ``z`` times that, ``z`` the one-sided normal critical
    value at ``quality_alpha`` divided by the number of metrics compared, so that at most
    ``quality_alpha`` of batches whose quality did not change report a degradation. A
    metric is ``degraded`` (a violation) when it moved the wrong way by more than its
    noise plus a practical floor: ``quality_score_drop`` (absolute, for accuracy,
    precision, recall, F1, AUC and R^2) or ``quality_error_increase`` (relative to log
    time, for MAE and RMSE), both 0 by default; 0.05 and 0.1 were the fixed limits before,
    which missed a 0.03 accuracy drop in 5,000 rows and flagged noise in 200. A metric
    that moved the right way by more than its noise is ``improved`` (information). Needs
    ``min_rows`` labels.
    """
    from scipy.stats import norm

    entry: dict[str, Any] = {
        "metrics": current,
        "baseline": baseline,
        "degraded": [],
        "improved": [],
    }
    if current.get("n", 0) < thresholds["min_rows"]:
        entry["status"] = "insufficient_data"
        return entry
    if not baseline:
        entry["status"] = "no_baseline"
        return entry
    names = [
        n
        for n in (*HIGHER_IS_BETTER, *LOWER_IS_BETTER)
        if current.get(n) is not None and baseline.get(n) is not None
    ]
    z = float(norm.isf(thresholds["quality_alpha"] / max(1, len(names))))
    entry["z_critical"] = z
    for name in names:
        then, now = float(baseline[name]), float(current[name])
        ses = (_standard_error(name, baseline, current), _standard_error(name, current, baseline))
        if None in ses:
            continue  # no noise estimate: not judged
        noise = z * math.hypot(*ses)
        higher = name in HIGHER_IS_BETTER
        worse_by = then - now if higher else now - then
        floor = (
            thresholds["quality_score_drop"]
            if higher
            else then * thresholds["quality_error_increase"]
        )
        item = {
            "metric": name,
            "baseline": then,
            "current": now,
            "noise": noise,
            "limit": _limit_text(higher, worse_by, noise, z, floor),
        }
        if worse_by > noise + floor:
            entry["degraded"].append(item)
        elif -worse_by > noise:
            entry["improved"].append(item)
    entry["status"] = "violation" if entry["degraded"] else "ok"
    return entry


def _limit_text(higher: bool, worse_by: float, noise: float, z: float, floor: float) -> str:
    """How a metric's change was judged, in words (the violation's description)."""
    if worse_by < 0:
        return f"improvement {-worse_by:.4g} > noise {noise:.3g} (z {z:.3g} x its standard error)"
    kind = "drop" if higher else "increase"
    return (
        f"{kind} {worse_by:.4g} > noise {noise:.3g} + floor {floor:.4g} "
        f"(z {z:.3g} x the change's standard error)"
    )
