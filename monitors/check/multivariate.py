"""Multivariate drift of embeddings (or any numeric vectors): a domain classifier and MMD,
each calibrated by permutations of the pooled sample at the sizes actually compared.

* Domain classifier: logistic regression (scikit-learn) told reference from batch rows
  on standardised vectors; its statistic is the ROC AUC of the out-of-fold predictions
  (``folds``-fold cross-validation).
* MMD: the unbiased squared maximum mean discrepancy with an RBF kernel whose bandwidth
  is the median pairwise distance of the pooled sample (the median heuristic).

Both nulls come from the same ``permutations`` random relabellings of the pooled rows
(the reference's and the batch's rows exchanged), so each threshold holds at the sizes
compared, whatever they are: no fixed AUC such as 0.55, no bootstrap of the reference
alone. A p-value is ``(1 + #{null >= observed}) / (1 + permutations)``; the batch
drifted when either p-value is at most ``alpha / 2`` (Bonferroni over the two tests, so
the false-alarm rate stays at most ``alpha``). The classifier sees at most ``max_rows``
rows of each side and MMD at most ``mmd_rows`` (seeded samples), which bounds the time;
permutations stop at ``budget_s`` and the result says how many ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.pipeline import ONE_BLAS_THREAD

if TYPE_CHECKING:
    import numpy as np

MULTIVARIATE = "multivariate"
"""The ``drift.json`` key of this check's result (read by other monitors: keep it)."""
MIN_ROWS = 20


@dataclass(frozen=True)
class MultivariateOptions:
    """How the multivariate check runs.

    Attributes:
        alpha: False-alarm rate of the two tests together.
        permutations: Relabellings of the pooled sample for both nulls.
        folds: Cross-validation folds of the domain classifier.
        max_rows: Rows per side the classifier sees at most.
        mmd_rows: Rows per side MMD sees at most.
        budget_s: Time for the permutations; fewer run when it is spent.
        seed: Seed of the samples, folds and permutations.
    """

    alpha: float = 0.05
    permutations: int = 99
    folds: int = 5
    max_rows: int = 2000
    mmd_rows: int = 1000
    budget_s: float = 30.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(vars(self))


def _sample(x: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) <= rows:
        return x
    return x[rng.choice(len(x), rows, replace=False)]


def _cv_auc(z: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> float:
    """ROC AUC of out-of-fold logistic-regression scores (label 1: the batch)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    scores = np.zeros(len(labels))
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        if len(np.unique(labels[train])) < 2:
            scores[test] = 0.5
            continue
        model = LogisticRegression(C=1.0, max_iter=200, tol=1e-3)
        model.fit(z[train], labels[train])
        scores[test] = model.decision_function(z[test])
    return float(roc_auc_score(labels, scores))


def _fold_ids(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A label-stratified fold of each row, drawn anew for every labelling.

    Folds kept from the observed labels would be balanced for them only: the permuted
    labellings would meet unbalanced folds, whose out-of-fold AUC is biased below 0.5,
    and the null would be too low.
    """
    import numpy as np

    ids = np.empty(len(labels), dtype=np.int64)
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        ids[rows] = rng.permutation(len(rows)) % folds
    return ids


def _mmd2(kernel: np.ndarray, indicators: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for each column of ``indicators`` (1: reference row, 0: batch row)."""
    a = indicators
    b = 1.0 - indicators
    n = a.sum(axis=0)
    m = b.sum(axis=0)
    ka = kernel @ a
    kb = kernel @ b
    xx = ((a * ka).sum(axis=0) - n) / (n * (n - 1))  # the diagonal of an RBF kernel is 1
    yy = ((b * kb).sum(axis=0) - m) / (m * (m - 1))
    xy = (b * ka).sum(axis=0) / (n * m)
    return xx + yy - 2 * xy


def _rbf_kernel(z: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The RBF kernel matrix of the pooled rows and its median-heuristic bandwidth."""
    import numpy as np

    squares = (z * z).sum(axis=1)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2 * z @ z.T, 0.0)
    probe = rng.choice(len(z), min(len(z), 1000), replace=False)
    sub = distances[np.ix_(probe, probe)]
    positive = sub[np.triu_indices(len(probe), k=1)]
    positive = positive[positive > 0]
    median = float(np.median(positive)) if len(positive) else 1.0
    bandwidth = float(np.sqrt(median / 2.0)) or 1.0
    return np.exp(-distances / (2 * bandwidth**2)), bandwidth


def _p_value(observed: float, null: list[float]) -> float:
    return (1 + sum(1 for v in null if v >= observed)) / (1 + len(null))


def _standardised(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    import numpy as np

    pooled = np.vstack([reference, current]).astype(np.float64)
    scale = pooled.std(axis=0)
    return (pooled - pooled.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def multivariate_drift(
    reference: np.ndarray, current: np.ndarray, options: MultivariateOptions | None = None
) -> dict[str, Any]:
    """Compare two samples of vectors with a domain classifier and MMD.

    Args:
        reference: ``(n, d)`` reference vectors (e.g. PCA projections of embeddings).
        current: ``(m, d)`` batch vectors in the same space.
        options: Sizes, permutations, level, budget and seed.

    Returns:
        A JSON-ready dict: ``status`` (``drift``, ``ok`` or ``insufficient_data``),
        ``score`` (the classifier's AUC), ``domain_classifier`` and ``mmd`` (statistic,
        p-value, the null's critical value), sample sizes and timing.
    """
    import numpy as np

    options = options or MultivariateOptions()
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    base = {
        "method": (
            "domain classifier (logistic regression, cross-validated ROC AUC) and MMD "
            "(RBF kernel, median heuristic), each with a permutation null at the sizes "
            "compared; Bonferroni over the two"
        ),
        "n_reference": len(reference),
        "n_current": len(current),
        "dimensions": int(reference.shape[1]) if reference.ndim == 2 else 0,
        "alpha": options.alpha,
        "options": options.to_dict(),
    }
    if min(len(reference), len(current)) < MIN_ROWS:
        return {
            **base,
            "status": "insufficient_data",
            "score": 0.0,
            "reason": f"fewer than {MIN_ROWS} rows on one side",
        }
    with ONE_BLAS_THREAD.held():  # many small fits: threads only wait on busy cores
        return _compare(reference, current, options, base)


def _compare(
    reference: np.ndarray,
    current: np.ndarray,
    options: MultivariateOptions,
    base: dict[str, Any],
) -> dict[str, Any]:
    import numpy as np

    started = time.monotonic()
    rng = np.random.default_rng(options.seed)
    ref_c, cur_c = (_sample(x, options.max_rows, rng) for x in (reference, current))
    z = _standardised(ref_c, cur_c)
    labels = np.r_[np.zeros(len(ref_c)), np.ones(len(cur_c))]
    ref_m, cur_m = (_sample(x, options.mmd_rows, rng) for x in (ref_c, cur_c))
    kernel, bandwidth = _rbf_kernel(_standardised(ref_m, cur_m), rng)
    is_ref = np.r_[np.ones(len(ref_m)), np.zeros(len(cur_m))]
    auc = _cv_auc(z, labels, _fold_ids(labels, options.folds, rng))
    relabelled = [is_ref]
    null_auc: list[float] = []
    deadline = started + options.budget_s
    for _ in range(options.permutations):
        if time.monotonic() > deadline:
            break
        permuted = rng.permutation(labels)
        null_auc.append(_cv_auc(z, permuted, _fold_ids(permuted, options.folds, rng)))
        relabelled.append(rng.permutation(is_ref))
    mmd_all = _mmd2(kernel, np.column_stack(relabelled))
    mmd2, null_mmd = float(mmd_all[0]), [float(v) for v in mmd_all[1:]]
    per_test = options.alpha / 2
    p_auc, p_mmd = _p_value(auc, null_auc), _p_value(mmd2, null_mmd)
    done = len(null_auc)
    fired = [name for name, p in (("domain_classifier", p_auc), ("mmd", p_mmd)) if p <= per_test]
    critical = int(np.floor(per_test * (done + 1))) - 1  # nulls allowed above a flagged value
    result = {
        **base,
        "status": "drift" if fired else "ok",
        "score": auc,
        "drifted_by": fired,
        "per_test_alpha": per_test,
        "permutations": done,
        "smallest_p_value": 1 / (done + 1),
        "domain_classifier": {
            "auc": auc,
            "p_value": p_auc,
            "null_mean": float(np.mean(null_auc)) if null_auc else None,
            "threshold": _threshold(null_auc, critical),
            "folds": options.folds,
            "rows": [len(ref_c), len(cur_c)],
        },
        "mmd": {
            "mmd2": mmd2,
            "p_value": p_mmd,
            "bandwidth": bandwidth,
            "null_mean": float(np.mean(null_mmd)) if null_mmd else None,
            "threshold": _threshold(null_mmd, critical),
            "rows": [len(ref_m), len(cur_m)],
        },
        "duration_s": time.monotonic() - started,
    }
    if done < options.permutations:
        result["truncated"] = (
            f"time budget: {done} of {options.permutations} permutations ran in "
            f"{options.budget_s:g} s"
        )
    if 1 / (done + 1) > per_test:
        result["note"] = (
            f"with {done} permutations no p-value can reach {per_test:g}: the check cannot flag"
        )
    return result


def _threshold(null: list[float], critical: int) -> float | None:
    """The value a statistic must exceed to be flagged: the null's ``critical``-th
    largest value (None when too few permutations ran to flag anything)."""
    if critical < 0 or len(null) <= critical:
        return None
    return float(sorted(null, reverse=True)[critical])


def multivariate_metrics(drift: dict[str, Any]) -> dict[str, Any]:
    """The multivariate check's figures as MLflow metrics (empty when it did not run)."""
    found = drift.get(MULTIVARIATE) or {}
    if found.get("status") not in ("drift", "ok"):
        return {}
    return {
        "drift.multivariate.auc": found["domain_classifier"]["auc"],
        "drift.multivariate.auc_p_value": found["domain_classifier"]["p_value"],
        "drift.multivariate.mmd2": found["mmd"]["mmd2"],
        "drift.multivariate.mmd_p_value": found["mmd"]["p_value"],
        "drift.multivariate.drift": 1.0 if found["status"] == "drift" else 0.0,
    }


def multivariate_violation(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``multivariate_drift_check`` violation when the check found drift."""
    found = drift.get(MULTIVARIATE) or {}
    if found.get("status") != "drift":
        return []
    dc, mmd = found["domain_classifier"], found["mmd"]
    return [
        {
            "feature_name": found.get("space", "embedding"),
            "constraint_check_type": "multivariate_drift_check",
            "description": (
                f"Value: domain-classifier AUC {dc['auc']:.4g} (permutation p {dc['p_value']:.3g}, "
                f"null mean {_fmt(dc['null_mean'])}); MMD^2 {mmd['mmd2']:.4g} (permutation p "
                f"{mmd['p_value']:.3g}); flagged by {', '.join(found['drifted_by'])} at p <= "
                f"{found['per_test_alpha']:g} ({found['permutations']} permutations, alpha "
                f"{found['alpha']:g} over both tests). n={found['n_current']} vs reference "
                f"n={found['n_reference']} in {found['dimensions']} dimensions."
            ),
        }
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
