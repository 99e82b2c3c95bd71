"""The drift statistics on their own: closed forms, worked examples, sampling behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_clarity.monitors.baseline.batch_profile import CentralMoments
from mlflow_clarity.monitors.check import statistics as stats


def test_ndcg_matches_sagemaker_worked_example() -> None:
    baseline = {"SAT": 0.70, "GPA": 0.50, "class rank": 0.05}
    current = {"SAT": 0.10, "GPA": 0.20, "class rank": 0.70}
    assert stats.ndcg(baseline, current) == pytest.approx(0.69, abs=0.005)
    assert stats.ndcg(baseline, baseline) == pytest.approx(1.0)
    assert stats.ndcg({"a": 0.0}, {"a": 1.0}) is None


def test_benjamini_hochberg_matches_the_step_up_definition() -> None:
    p = [0.01, 0.04, None, 0.03, 0.5]
    q = stats.benjamini_hochberg(p)
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.0533, 0.0533, 0.5
    assert q[0] == pytest.approx(0.04)
    assert q[3] == pytest.approx(0.04 * 4 / 3)
    assert q[1] == pytest.approx(0.04 * 4 / 3)
    assert q[2] is None and q[4] == pytest.approx(0.5)


def test_psi_bias_is_the_null_expectation() -> None:
    """Raw PSI of two samples of one distribution averages (B - 1)(1/n + 1/m)."""
    rng = np.random.default_rng(0)
    buckets, n, m = 10, 200, 5000
    p = np.full(buckets, 1 / buckets)
    values = [stats.psi(rng.multinomial(m, p), rng.multinomial(n, p)) for _ in range(2000)]
    assert np.mean(values) == pytest.approx(stats.psi_bias(buckets, n, m), rel=0.1)
    debiased = [
        stats.psi_debiased(rng.multinomial(m, p), rng.multinomial(n, p)) for _ in range(500)
    ]
    assert np.mean(np.array(debiased) >= 0.1) < 0.01


def test_chi2_homogeneity_merges_small_cells_and_stays_nominal() -> None:
    rng = np.random.default_rng(1)
    p = np.array([0.6, 0.3, 0.0999, 0.0001])  # a cell far too small for the test
    rejections = [
        stats.chi2_homogeneity_p_value(rng.multinomial(100_000, p), rng.multinomial(1000, p)) < 0.05
        for _ in range(400)
    ]
    assert 0.01 < np.mean(rejections) < 0.09
    assert stats.chi2_homogeneity_p_value(np.array([10, 0]), np.array([5, 0])) is None


def test_ks_p_value_and_noise_term() -> None:
    assert stats.ks_p_value(0.0, 100, 100) == pytest.approx(1.0)
    assert stats.ks_p_value(0.3, 1000, 1000) < 1e-30
    assert stats.linf_noise(1000, 1000, 1.8) == pytest.approx(1.8 * np.sqrt(2 / 1000))


def test_central_moments_merge_exactly() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(size=10_000) + 1e6  # a large offset breaks raw power sums
    merged = CentralMoments()
    for part in np.array_split(values, 7):
        merged.update(part)
    d = values - values.mean()
    assert merged.count == len(values)
    assert merged.mean == pytest.approx(values.mean(), rel=1e-12)
    assert merged.std_dev == pytest.approx(values.std(), rel=1e-9)
    assert merged.kurtosis == pytest.approx(len(d) * (d**4).sum() / (d**2).sum() ** 2, rel=1e-7)


def test_z_critical_is_bonferroni_over_the_tests() -> None:
    assert stats.z_critical(0.05, 1) == pytest.approx(1.959964, abs=1e-5)
    assert stats.z_critical(0.003, 5) == pytest.approx(3.4316, abs=1e-4)  # 0.0003 each side
    assert stats.z_critical(0.003, 0) == stats.z_critical(0.003, 1)


def test_share_standard_errors_match_the_spread_of_share_differences() -> None:
    rng = np.random.default_rng(3)
    n, m, p = 5000, 50_000, 0.25
    differences = rng.binomial(n, p, 4000) / n - rng.binomial(m, p, 4000) / m
    expected = stats.share_standard_errors(np.array([p]), n, m)[0]
    assert differences.std() == pytest.approx(expected, rel=0.05)
