"""Per-column comparison of a batch with the baseline: completeness, type, distribution.

Every statistic of a column lands in one JSON-ready dict (``drift.json`` keeps them all);
the decision rules are the reference notes' section 5.2, each recorded by name with its
value and threshold (``rules``), the one that decided the score as ``rule``:

* numeric (continuous): drift when the L-infinity distance between the two CDFs, net of
  Deequ's noise term and the sketch's rank error, reaches ``linf_robust_warn`` (rule
  ``linf``), when the PSI on the baseline's decile bins, net of its finite-sample bias
  and spread, reaches ``psi_warn`` (``psi``), or when the share of values beyond the
  baseline's first and last decile edges moved by ``tail_share_warn`` net of its noise
  (``tail_share``; the first two barely see a change of spread; 0.04 is about a standard
  deviation x1.1 for a normal column);
* categorical and discrete numeric: drift when some value's share moved by more than its
  noise at the batch's ``n`` and the baseline's ``m`` (``share_change``: two-proportion
  tests, Bonferroni-corrected over the values, at most ``alpha`` false alarms per column;
  see :func:`_share_change`) plus the optional floor ``linf_robust_warn`` (0), or the
  net PSI over the baseline's values (plus one bucket for the rest) reaches ``psi_warn``
  (``psi``); unseen values are a separate ``categorical_values_check``;
* fewer than ``min_rows`` values: ``insufficient_data``, never drift.

Only drifted columns carry a ``level`` (``warn``, or ``alert`` when the net PSI reaches
``psi_alert``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.batch_profile import (
    CategoricalBatch,
    CentralMoments,
    ColumnBatch,
    NumericBatch,
)
from mlflow_clarity.monitors.baseline.column_profiles import KLL_K, OTHER, TOP_K
from mlflow_clarity.monitors.check import statistics as stats

if TYPE_CHECKING:
    import numpy as np

UNSEEN_EXAMPLES = 10
MIN_EXPECTED = 50
"""Values the batch expects fewer times than this are tested pooled (``RARE``)."""
RARE = "__rare__"
CUTOFF_MARGIN = 4.0
"""Standard deviations above a truncated baseline's cutoff count a value is tested alone."""


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


def _psi(expected: np.ndarray, actual: np.ndarray, c_alpha: float) -> dict[str, float]:
    """PSI, its finite-sample bias and spread, and what is left of it net of both."""
    n, m, buckets = int(actual.sum()), int(expected.sum()), len(actual)
    debiased = stats.psi_debiased(expected, actual)
    noise = stats.psi_noise(buckets, n, m, c_alpha)
    return {
        "psi": stats.psi(expected, actual),
        "psi_bias": stats.psi_bias(buckets, n, m),
        "psi_debiased": debiased,
        "psi_noise": noise,
        "psi_robust": max(0.0, debiased - noise),
    }


def _ratio(value: float, threshold: float) -> float:
    """How far a statistic is towards its threshold: 1 or more when the rule fires."""
    if threshold:
        return value / threshold
    return math.inf if value > 0 else 0.0


def _rule(
    name: str, value: float, threshold: float, severity: float | None = None
) -> dict[str, Any]:
    """One decision rule of a column: its statistic, threshold, outcome and severity.

    The severity is how far the rule is towards firing, 0 for what noise alone gives
    (1 when it fires): by default the ratio of a statistic net of noise to its threshold.
    """
    ratio = _ratio(value, threshold)
    fired = ratio >= 1
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "fired": fired,
        "severity": min(1.0, ratio if severity is None else max(severity, float(fired))),
    }


def _verdict(
    rules: list[dict[str, Any]], psi_robust: float, limits: dict[str, Any]
) -> dict[str, Any]:
    """Severity in [0, 1] (1 exactly when the column counts as drifted), status and rules.

    The score is the largest severity of a rule; ``rule`` is the rule that gave it (of
    those that fired, the one furthest past its threshold), so a violation can say which
    one fired. Drifted columns have a ``level``: ``alert`` when the net PSI reaches
    ``psi_alert``, else ``warn``.
    """

    def rank(rule: dict[str, Any]) -> tuple[bool, float]:
        if rule["fired"]:
            return True, _ratio(rule["value"], rule["threshold"])
        return False, rule["severity"]

    deciding = max(rules, key=rank)
    score = 1.0 if deciding["fired"] else deciding["severity"]
    verdict: dict[str, Any] = {
        "score": score,
        "status": "drift" if deciding["fired"] else "ok",
        "rule": deciding,
        "rules": rules,
    }
    if score >= 1:
        verdict["level"] = "alert" if psi_robust >= limits["psi_alert"] else "warn"
    return verdict


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
    psi = _psi(expected, actual, limits["c_alpha"])
    moments = batch.moments
    tails = _tail_mass(expected, actual, limits) if len(actual) > 2 else None
    return {
        "method": "L-infinity (robust) on CDFs; de-biased PSI on baseline decile bins",
        "n": n,
        "baseline_n": m,
        "linf": distance,
        "linf_noise": noise,
        "sketch_rank_error": rank_error,
        "linf_robust": linf_robust,
        **psi,
        "bins": {"edges": base.edges, "baseline": expected.tolist(), "current": actual.tolist()},
        "p_value": stats.ks_p_value(distance, n, m),
        "p_value_test": "Kolmogorov-Smirnov (asymptotic, on the grid)",
        "mean": {"baseline": base.mean, "current": moments.mean},
        "std_mean_shift": (moments.mean - base.mean) / base.std_dev if base.std_dev else None,
        "spread": _spread(moments, base.std_dev),
        "tails": tails,
        # the grid's ends are the baseline's exact minimum and maximum
        "out_of_range_share": float(batch.below[0] + n - batch.at_or_below[-1]) / n,
        **_verdict(_numeric_rules(linf_robust, psi, tails, limits), psi["psi_robust"], limits),
    }


def _numeric_rules(
    linf_robust: float,
    psi: dict[str, float],
    tails: dict[str, Any] | None,
    limits: dict[str, Any],
) -> list[dict[str, Any]]:
    rules = [
        _rule("linf", linf_robust, limits["linf_robust_warn"]),
        _rule("psi", psi["psi_robust"], limits["psi_warn"]),
    ]
    if tails is not None:
        rules.append(_rule("tail_share", tails["change_robust"], limits["tail_share_warn"]))
    return rules


def _spread(moments: CentralMoments, base_std: float | None) -> dict[str, Any]:
    """Standard deviations and their ratio (secondary evidence: its noise depends on tails)."""
    std = moments.std_dev
    ratio = std / base_std if base_std else None
    return {"baseline": base_std, "current": std, "ratio": ratio, "kurtosis": moments.kurtosis}


def _tail_mass(expected: np.ndarray, actual: np.ndarray, limits: dict[str, Any]) -> dict[str, Any]:
    """Change of the share outside the baseline's first and last decile edges.

    A change of spread moves mass into or out of the tails while L-infinity and PSI barely
    move (variance x1.5 moves PSI by ~0.05). The share is a proportion, so its noise is
    the two-proportion standard error, whatever the column's distribution.
    """
    n, m = int(actual.sum()), int(expected.sum())
    base = float(expected[0] + expected[-1]) / m
    current = float(actual[0] + actual[-1]) / n
    pooled = (base * m + current * n) / (n + m)
    noise = limits["c_alpha"] * math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    return {
        "baseline_share": base,
        "current_share": current,
        "noise": noise,
        "change_robust": max(0.0, abs(current - base) - noise),
        "threshold": limits["tail_share_warn"],
    }


def _share_groups(
    keys: list[str], expected: np.ndarray, actual: np.ndarray, cutoff: int | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The buckets the share test looks at one by one, and the rest pooled into ``RARE``.

    A bucket is tested on its own when the batch expects at least ``MIN_EXPECTED`` of its
    values under no change; below that the normal approximation of a count's tail is too
    light (a value expected 5 times is seen 10 times 40 times more often than the normal
    curve says). The expectation is the pooled share of both samples times ``n``: under no
    change, how a pooled count splits between the samples does not depend on it, so
    choosing buckets by it cannot bias the tests, where choosing them by the baseline's
    counts would (buckets picked for a low count in the baseline then look as if they
    grew).

    When the baseline kept only its most frequent values (``cutoff``: the smallest count
    it kept), that choice was made on its own counts: values near the cutoff were kept
    partly for a lucky count, and the rest (``__other__``) is short by as much. So
    ``__other__`` is never tested on its own, nor a value whose pooled count does not
    put it ``CUTOFF_MARGIN`` standard deviations above the cutoff; they join ``RARE``,
    which is whatever the tested values leave, hence unbiased too.
    """
    import numpy as np

    m, n = expected.sum(), actual.sum()
    pooled = (expected + actual) / (m + n)
    alone = pooled * n >= MIN_EXPECTED
    if cutoff is not None:
        alone &= pooled * m >= cutoff + CUTOFF_MARGIN * math.sqrt(cutoff)
        alone[-1] = False  # the last bucket is __other__
    names = [k for k, keep in zip(keys, alone, strict=True) if keep]
    groups_expected, groups_actual = [expected[alone]], [actual[alone]]
    if pooled[~alone].sum() * n >= MIN_EXPECTED:
        names.append(RARE)
        groups_expected.append([expected[~alone].sum()])
        groups_actual.append([actual[~alone].sum()])
    return names, np.concatenate(groups_expected), np.concatenate(groups_actual)


def _share_change(
    keys: list[str],
    expected: np.ndarray,
    actual: np.ndarray,
    cutoff: int | None,
    limits: dict[str, Any],
) -> dict[str, Any]:
    """The share of each value against its noise: two-proportion tests, Bonferroni-corrected.

    Each tested bucket's share in the batch is compared with its share in the baseline;
    under no change their difference is normal with the standard error of two
    proportions, ``sqrt(p(1 - p)(1/n + 1/m))`` (``p`` pooled), so the noise accounts for
    both the batch's ``n`` and the baseline's ``m``. A bucket's change is drift when it
    exceeds ``z * se`` (its noise) plus ``linf_robust_warn`` (an optional practical floor,
    0 by default), ``z`` the two-sided normal critical value at ``alpha`` divided by the
    number of tests (two buckets are one test): at most ``alpha`` of unchanged batches
    drift per column, however many values it has. The rule's value is the deciding
    bucket's change, its threshold that bucket's noise plus the floor; the deciding
    bucket is the one furthest past its threshold.
    """
    import numpy as np

    n, m = int(actual.sum()), int(expected.sum())
    names, expected, actual = _share_groups(keys, expected, actual, cutoff)
    floor = limits["linf_robust_warn"]
    if len(names) < 2:  # one bucket holds every value: its share cannot move
        return {"tests": 0, "value": None, "change": 0.0, "noise": 0.0, "threshold": floor}
    pooled = (expected + actual) / (m + n)
    # two buckets that hold every value are one test: one's change is the other's
    whole = int(expected.sum()) == m and int(actual.sum()) == n
    tests = 1 if len(names) == 2 and whole else len(names)
    z = stats.z_critical(limits["alpha"], tests)
    noise = z * stats.share_standard_errors(pooled, n, m)
    change = actual / n - expected / m
    ratios = np.array([_ratio(abs(c), t) for c, t in zip(change, noise + floor, strict=True)])
    i = int(np.argmax(ratios))
    return {
        "tests": tests,
        "z_critical": z,
        "value": str(names[i]),
        "baseline": float(expected[i] / m),
        "current": float(actual[i] / n),
        "change": float(abs(change[i])),
        "noise": float(noise[i]),
        "threshold": float(noise[i] + floor),
        "net_of_noise": float(max(0.0, np.max(np.abs(change) - noise))),
    }


def _share_severity(shares: dict[str, Any], floor: float) -> float:
    """The share rule's severity, 0 within the noise like the numeric rules' (its ratio of
    change to noise is about 0.5 for unchanged data, which would weigh on the dataset
    score): the change net of noise as a fraction of the floor; without a floor, a
    change beyond the noise fires."""
    net = max(0.0, shares["change"] - shares["noise"])
    return _ratio(net, floor) if floor else 0.0


def _categorical_distribution(
    base_counts: dict[Any, int],
    base_other: int,
    current: dict[Any, int],
    n: int,
    t: dict[str, Any],
    cutoff: int | None = None,
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
    se = stats.share_standard_errors(pooled, n, int(m))
    psi = _psi(expected, actual, limits["c_alpha"])
    unseen_values = sorted(
        ((k, c) for k, c in current.items() if k not in base_counts), key=lambda kv: -kv[1]
    )
    unseen_increase = float(share[-1] - base_share[-1])
    unseen_robust = max(0.0, unseen_increase - limits["noise_z"] * float(se[-1]))
    shares = _share_change([*map(str, keys), OTHER], expected, actual, cutoff, limits)
    return {
        "method": (
            "two-proportion tests of each value's share (Bonferroni over values); "
            "de-biased PSI over values"
        ),
        "n": n,
        "baseline_n": int(m),
        "linf": float(np.max(np.abs(share - base_share))),
        "linf_robust": shares["net_of_noise"] if shares["tests"] else 0.0,
        "largest_change": shares,
        **psi,
        "p_value": stats.chi2_homogeneity_p_value(expected, actual),
        "p_value_test": "chi-square test of homogeneity (Cochran's rule)",
        "unseen": {
            "baseline_other_share": float(base_share[-1]),
            "current_share": float(share[-1]),
            "increase": unseen_increase,
            "increase_robust": unseen_robust,
            "threshold": t["unseen_share_increase"],
            "examples": [str(k) for k, _ in unseen_values[:UNSEEN_EXAMPLES]],
            "status": "violation" if unseen_robust > t["unseen_share_increase"] else "ok",
        },
        **_verdict(
            [
                _rule(
                    "share_change",
                    shares["change"],
                    shares["threshold"],
                    severity=_share_severity(shares, limits["linf_robust_warn"]),
                ),
                _rule("psi", psi["psi_robust"], limits["psi_warn"]),
            ],
            psi["psi_robust"],
            limits,
        ),
    }


def _distribution(batch: ColumnBatch, t: dict[str, Any]) -> dict[str, Any]:
    if batch.count < t["min_rows"]:
        return {
            "status": "insufficient_data",
            "n": batch.count,
            "min_rows": t["min_rows"],
            "score": 0.0,
        }
    if batch.baseline.count == 0:  # an all-missing reference column: completeness judges it
        return {
            "status": "no_baseline_values",
            "reason": "the baseline holds no value of this column to compare with",
            "n": batch.count,
            "score": 0.0,
        }
    if isinstance(batch, CategoricalBatch):
        base = batch.baseline
        top = base.top()
        other = top.pop(OTHER, 0)
        # the baseline kept its TOP_K most frequent values: a choice made on its counts
        cutoff = min(top.values()) if other and len(top) >= TOP_K else None
        return _categorical_distribution(top, other, batch.values, batch.count, t, cutoff)
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
