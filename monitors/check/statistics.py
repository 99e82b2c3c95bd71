"""Drift statistics that stay honest at every sample size.

Each decision statistic is an effect size net of its sampling noise, so that identical
distributions do not look different just because the batch is large (raw KS p-values)
or small (raw PSI). p-values are kept as secondary evidence and corrected across
columns with Benjamini-Hochberg.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def linf_noise(n: int, m: int, c_alpha: float) -> float:
    """Deequ's "Robust" noise term ``c_alpha * sqrt((n + m) / (n * m))`` for a KS distance."""
    return c_alpha * math.sqrt((n + m) / (n * m))


def linf_robust(distance: float, noise: float) -> float:
    """An L-infinity distance net of its noise, floored at zero."""
    return max(0.0, distance - noise)


def smoothed_shares(counts: np.ndarray) -> np.ndarray:
    """Shares with half a count added to every bucket, so that none is zero."""
    return (counts + 0.5) / (counts.sum() + 0.5 * len(counts))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two count vectors over the same buckets."""
    import numpy as np

    p, q = smoothed_shares(actual), smoothed_shares(expected)
    return float(np.sum((p - q) * np.log(p / q)))


def psi_bias(buckets: int, n: int, m: int) -> float:
    """Expected PSI of two samples of one distribution: ``(B - 1)(1/n + 1/m)``."""
    return (buckets - 1) * (1 / n + 1 / m)


def psi_debiased(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI minus its expected value under no drift, floored at zero."""
    n, m = int(actual.sum()), int(expected.sum())
    return max(0.0, psi(expected, actual) - psi_bias(len(actual), n, m))


def psi_noise(buckets: int, n: int, m: int, c_alpha: float) -> float:
    """``c_alpha`` standard deviations of PSI under no drift, ``sqrt(2(B - 1))(1/n + 1/m)``.

    Under no drift, PSI is about ``(1/n + 1/m)`` times a chi-square with ``B - 1``
    degrees of freedom: its bias is the mean, this is the spread.
    """
    return c_alpha * math.sqrt(2 * (buckets - 1)) * (1 / n + 1 / m)


def ks_p_value(distance: float, n: int, m: int) -> float:
    """Asymptotic two-sample Kolmogorov-Smirnov p-value of ``distance``."""
    from scipy.stats import kstwobign

    return float(kstwobign.sf(distance * math.sqrt(n * m / (n + m))))


def chi2_homogeneity_p_value(expected: np.ndarray, actual: np.ndarray) -> float | None:
    """p-value of the chi-square test of homogeneity (never the goodness-of-fit form).

    Buckets whose pooled count would give expected cells under 5 are merged (Cochran's
    rule), as Deequ does. None when fewer than two buckets remain.
    """
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([expected, actual]).astype(float)
    share = table.sum(axis=1, keepdims=True) / table.sum()
    small = (share * table.sum(axis=0)).min(axis=0) < 5
    if small.any():
        table = np.column_stack([table[:, ~small], table[:, small].sum(axis=1)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None
    return float(chi2_contingency(table, correction=False)[1])


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q-values); None entries stay None."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    total = len(present)
    for rank in range(total, 0, -1):
        p, index = present[rank - 1]
        running = min(running, p * total / rank)
        adjusted[index] = running
    return adjusted


def z_critical(alpha: float, tests: int) -> float:
    """Two-sided normal critical value at family-wise level ``alpha`` over ``tests`` tests.

    Bonferroni: each test runs at ``alpha / tests``, so the chance that any of them fires
    on unchanged data is at most ``alpha`` whatever their correlation.
    """
    from scipy.stats import norm

    return float(norm.isf(alpha / (2 * max(1, tests))))


def share_standard_errors(pooled: np.ndarray, n: int, m: int) -> np.ndarray:
    """Standard errors of the differences of shares between samples of ``n`` and ``m``.

    Under no change both samples share the pooled proportion ``p``; the difference of
    the two observed shares then has variance ``p(1 - p)(1/n + 1/m)``.
    """
    import numpy as np

    return np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """z statistic of ``x2/n2 - x1/n1`` with the pooled proportion (0 when undefined)."""
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else (x2 / n2 - x1 / n1) / se


def ndcg(baseline: dict[str, float], current: dict[str, float]) -> float | None:
    """SageMaker Clarify's NDCG of the current feature ranking under baseline scores.

    ``DCG = sum a(f'_i) / log2(i + 1)`` over features ``f'`` sorted by current attribution,
    ``a`` the baseline attribution; divided by the same sum in the baseline's own order.
    None when the baseline attributions are all zero.
    """
    features = [f for f in baseline if f in current]
    ideal_order = sorted(features, key=lambda f: -baseline[f])
    current_order = sorted(features, key=lambda f: -current[f])
    ideal = sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(ideal_order))
    if ideal <= 0:
        return None
    return sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(current_order)) / ideal
