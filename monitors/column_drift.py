"""Per-column comparison of a batch with the baseline: completeness, type, distribution.

Every statistic of a column lands in one JSON-ready dict (``drift.json`` keeps them all);
the decision rules are the reference notes' section 5.2:

* numeric (continuous): drift when the L-infinity distance between the two CDFs, net of
  Deequ's noise term and the sketch's rank error, reaches ``linf_robust_warn``, when
  the PSI on the baseline's decile bins, net of its finite-sample bias, reaches
  ``psi_warn``, or when the standard deviation changed by a factor beyond
  ``std_ratio_warn`` net of its noise (the first two barely see a change of spread);
* categorical and discrete numeric: drift when some value's frequency moved by more than
  ``linf_robust_warn`` plus ``noise_z`` standard errors, or the de-biased PSI over the
  baseline's values (plus one bucket for the rest) reaches ``psi_warn``; unseen values
  are a separate ``categorical_values_check``;
* fewer than ``min_rows`` values: ``insufficient_data``, never drift.
"""

from __future__ import annotations

import math
from typing import Any

from . import drift_statistics as stats
from .batch_profile import CategoricalBatch, CentralMoments, ColumnBatch, NumericBatch
from .column_profiles import KLL_K, OTHER

UNSEEN_EXAMPLES = 10


def _completeness(
    base_missing: int, base_total: int, batch: ColumnBatch, t: dict[str, Any]
) -> dict[str, Any]:
    base_rate = base_missing / base_total if base_total else 0.0
    rate = batch.missing / batch.rows if batch.rows else 0.0
    z = stats.two_proportion_z(base_missing, base_total, batch.missing, batch.rows)
    dropped = (rate - base_rate) > t["completeness_drop"]
    multiplied = rate > t["completeness_missing_ratio"] * base_rate and rate - base_rate >= 0.01
    flagged = bool((dropped or multiplied) and z >= t["numeric"]["c_alpha"])
    return {
        "baseline": 1 - base_rate,
        "current": 1 - rate,
        "z": z,
        "threshold_drop": t["completeness_drop"],
        "status": "violation" if flagged else "ok",
    }


def _data_type(batch: ColumnBatch, t: dict[str, Any]) -> dict[str, Any]:
    present = batch.rows - batch.missing
    share = batch.nonconforming / present if present else 0.0
    return {
        "nonconforming": batch.nonconforming,
        "nonconforming_share": share,
        "threshold": t["datatype_check"],
        "status": "violation" if share > t["datatype_check"] else "ok",
    }


def _sketch_rank_error(batch: NumericBatch) -> float:
    from datasketches import kll_doubles_sketch

    if not batch.baseline.sketch.is_estimation_mode():
        return 0.0
    return float(kll_doubles_sketch.get_normalized_rank_error(KLL_K, False))


def _verdict(
    linf_robust: float, psi_debiased: float, limits: dict[str, Any], log_scale: float = 0.0
) -> dict[str, Any]:
    """Severity in [0, 1] (1 exactly when the column counts as drifted) and the status."""
    ratios = [linf_robust / limits["linf_robust_warn"], psi_debiased / limits["psi_warn"]]
    if log_scale:
        ratios.append(log_scale / math.log(limits["std_ratio_warn"]))
    score = min(1.0, max(ratios))
    level = "alert" if psi_debiased >= limits["psi_alert"] else "warn"
    return {"score": score, "status": "drift" if score >= 1 else "ok", "level": level}


def _numeric_distribution(batch: NumericBatch, t: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    limits = t["numeric"]
    base = batch.baseline
    n, m = batch.count, base.count
    base_cdf = np.asarray(base.sketch.get_cdf(batch.points.tolist(), True)[:-1])
    distance = float(np.max(np.abs(base_cdf - batch.at_or_below / n)))
    rank_error = _sketch_rank_error(batch)
    noise = stats.linf_noise(n, m, limits["c_alpha"]) + rank_error
    linf_robust = stats.linf_robust(distance, noise)
    expected = np.asarray(base.bin_counts)
    actual = batch.bin_counts()
    psi = stats.psi(expected, actual)
    psi_debiased = stats.psi_debiased(expected, actual)
    moments = batch.moments
    scale = _scale_change(moments, base.std_dev, m, limits)
    return {
        "method": "L-infinity (robust) on CDFs; de-biased PSI on baseline decile bins",
        "n": n,
        "baseline_n": m,
        "linf": distance,
        "linf_noise": noise,
        "sketch_rank_error": rank_error,
        "linf_robust": linf_robust,
        "psi": psi,
        "psi_bias": stats.psi_bias(len(actual), n, m),
        "psi_debiased": psi_debiased,
        "bins": {"edges": base.edges, "baseline": expected.tolist(), "current": actual.tolist()},
        "p_value": stats.ks_p_value(distance, n, m),
        "p_value_test": "Kolmogorov-Smirnov (asymptotic, on the grid)",
        "mean": {"baseline": base.mean, "current": moments.mean},
        "std_mean_shift": (moments.mean - base.mean) / base.std_dev if base.std_dev else None,
        "scale": scale,
        # the grid's ends are the baseline's exact minimum and maximum
        "out_of_range_share": float(batch.below[0] + n - batch.at_or_below[-1]) / n,
        **_verdict(linf_robust, psi_debiased, limits, scale["log_ratio_robust"]),
    }


def _scale_change(
    moments: CentralMoments, base_std: float | None, m: int, limits: dict[str, Any]
) -> dict[str, Any]:
    """Change of the standard deviation, as ``|log(s / s0)|`` net of its noise.

    The noise is ``c_alpha`` standard errors of the log ratio, ``sqrt((k - 1) / 4 *
    (1/n + 1/m))`` with ``k`` the batch's kurtosis, so heavy tails widen it. L-infinity
    and PSI barely move when only the spread changes (variance x1.5 moves PSI by ~0.05).
    """
    std = moments.std_dev
    entry: dict[str, Any] = {"baseline": base_std, "current": std, "log_ratio_robust": 0.0}
    if not base_std or not std:
        return entry
    log_ratio = abs(math.log(std / base_std))
    se = math.sqrt(max(moments.kurtosis - 1, 0.0) / 4 * (1 / moments.count + 1 / m))
    entry.update(
        ratio=std / base_std,
        kurtosis=moments.kurtosis,
        log_ratio_noise=limits["c_alpha"] * se,
        log_ratio_robust=max(0.0, log_ratio - limits["c_alpha"] * se),
        threshold_ratio=limits["std_ratio_warn"],
    )
    return entry


def _categorical_distribution(
    base_counts: dict[Any, int],
    base_other: int,
    current: dict[Any, int],
    n: int,
    t: dict[str, Any],
) -> dict[str, Any]:
    import numpy as np

    limits = t["categorical"]
    keys = list(base_counts)
    expected = np.array([*base_counts.values(), base_other], dtype=float)
    known = np.array([current.get(k, 0) for k in keys], dtype=float)
    unseen = n - known.sum()
    actual = np.append(known, unseen)
    m = expected.sum()
    base_share, share = expected / m, actual / n
    pooled = (expected + actual) / (m + n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    moved = np.abs(share - base_share)
    linf_robust = float(max(0.0, np.max(moved - limits["noise_z"] * se)))
    psi_debiased = stats.psi_debiased(expected, actual)
    unseen_values = sorted(
        ((k, c) for k, c in current.items() if k not in base_counts), key=lambda kv: -kv[1]
    )
    unseen_increase = float(share[-1] - base_share[-1])
    largest = int(np.argmax(moved))
    return {
        "method": "L-infinity (robust) on frequencies; de-biased PSI over values",
        "n": n,
        "baseline_n": int(m),
        "linf": float(moved.max()),
        "linf_robust": linf_robust,
        "largest_change": {
            "value": str(keys[largest]) if largest < len(keys) else OTHER,
            "baseline": float(base_share[largest]),
            "current": float(share[largest]),
        },
        "psi": stats.psi(expected, actual),
        "psi_bias": stats.psi_bias(len(actual), n, int(m)),
        "psi_debiased": psi_debiased,
        "p_value": stats.chi2_homogeneity_p_value(expected, actual),
        "p_value_test": "chi-square test of homogeneity (Cochran's rule)",
        "unseen": {
            "baseline_other_share": float(base_share[-1]),
            "current_share": float(share[-1]),
            "increase": unseen_increase,
            "threshold": t["unseen_share_increase"],
            "examples": [str(k) for k, _ in unseen_values[:UNSEEN_EXAMPLES]],
            "status": "violation" if unseen_increase > t["unseen_share_increase"] else "ok",
        },
        **_verdict(linf_robust, psi_debiased, limits),
    }


def _distribution(batch: ColumnBatch, t: dict[str, Any]) -> dict[str, Any]:
    if batch.count < t["min_rows"]:
        return {
            "status": "insufficient_data",
            "n": batch.count,
            "min_rows": t["min_rows"],
            "score": 0.0,
        }
    if isinstance(batch, CategoricalBatch):
        base = batch.baseline
        top = base.top()
        other = top.pop(OTHER, 0)
        return _categorical_distribution(top, other, batch.values, batch.count, t)
    if batch.discrete:
        assert batch.baseline.values is not None
        values = dict(batch.baseline.values)
        return _categorical_distribution(values, 0, batch.values, batch.count, t)
    return _numeric_distribution(batch, t)


def _baseline_missing(batch: ColumnBatch) -> tuple[int, int]:
    base = batch.baseline
    present = base.count + (base.non_finite if isinstance(batch, NumericBatch) else 0)
    return base.missing, present + base.missing


def compare_column(batch: ColumnBatch, thresholds: dict[str, Any]) -> dict[str, Any]:
    """Every statistic of one column of the batch against its baseline.

    Args:
        batch: The column's batch summary (it holds the baseline's profile).
        thresholds: The effective thresholds (baseline manifest plus overrides).

    Returns:
        ``check_type``, ``rows``, ``completeness``, ``data_type`` and ``distribution``.
    """
    base_missing, base_total = _baseline_missing(batch)
    return {
        "check_type": batch.baseline.check_type,
        "rows": batch.rows,
        "completeness": _completeness(base_missing, base_total, batch, thresholds),
        "data_type": _data_type(batch, thresholds),
        "distribution": _distribution(batch, thresholds),
    }
