"""Statistical quality of the checks (seeded): no false alarms at any n, real changes found.

The baseline comes from 100,000 rows, as in the issue; batches are drawn from the same or
a changed distribution and checked with the same code ``mlflow_clarity.check`` runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.violations import DATASET_FEATURE

CITIES = np.array(["paris", "lyon", "nice", "lille", "brest"])
CITY_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
MANY = np.array([f"sku-{i}" for i in range(2000)])


def _table(
    rows: int,
    rng: np.random.Generator,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    city_p: np.ndarray = CITY_P,
) -> pd.DataFrame:
    """12 columns of different shapes: normal, heavy-tailed, skewed, discrete, categorical."""
    columns: dict[str, object] = {f"normal_{i}": rng.normal(shift, scale, rows) for i in range(4)}
    columns["student_t3"] = rng.standard_t(3, rows)
    columns["lognormal"] = rng.lognormal(0, 1, rows)
    columns["exponential"] = rng.exponential(2.0, rows)
    columns["uniform"] = rng.uniform(-1, 1, rows)
    columns["children"] = rng.integers(0, 5, rows)
    columns["poisson"] = rng.poisson(3.0, rows)
    columns["city"] = rng.choice(CITIES, rows, p=city_p)
    columns["sku"] = rng.choice(MANY, rows)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline(_table(100_000, np.random.default_rng(12345)))


def _flagged(baseline: Baseline, batch: pd.DataFrame) -> set[str]:
    result = check_batch(baseline, [(batch, None)])
    return {v["feature_name"] for v in result.violations if v["feature_name"] != DATASET_FEATURE}


@pytest.mark.parametrize(
    ("rows", "repeats"), [(1000, 20), (10_000, 10), (100_000, 3), (1_000_000, 1)]
)
def test_no_drift_flags_at_most_five_percent_of_columns(
    baseline: Baseline, rows: int, repeats: int
) -> None:
    rng = np.random.default_rng(rows)
    shares = []
    for _ in range(repeats):
        batch = _table(rows, rng)
        shares.append(len(_flagged(baseline, batch)) / batch.shape[1])
    assert np.mean(shares) <= 0.05
    assert max(shares) <= 0.1  # never a burst of false alarms in one batch


CHANGES: dict[str, tuple[str, Callable[[int, np.random.Generator], pd.DataFrame]]] = {
    "mean +0.5 sd": ("normal_0", lambda n, rng: _table(n, rng, shift=0.5)),
    "variance x1.5": ("normal_0", lambda n, rng: _table(n, rng, scale=np.sqrt(1.5))),
    "category share +0.15": (
        "city",
        lambda n, rng: _table(n, rng, city_p=np.array([0.55, 0.1, 0.15, 0.12, 0.08])),
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changes_are_found_in_95_percent_of_batches_of_1000(
    baseline: Baseline, change: str
) -> None:
    column, make = CHANGES[change]
    rng = np.random.default_rng(7)
    found = [column in _flagged(baseline, make(1000, rng)) for _ in range(100)]
    assert np.mean(found) >= 0.95


def test_unseen_categories_are_a_categorical_values_violation(baseline: Baseline) -> None:
    rng = np.random.default_rng(3)
    batch = _table(5000, rng)
    batch.loc[:1499, "city"] = rng.choice(["tokyo", "<b>osaka</b>"], 1500)
    result = check_batch(baseline, [(batch, None)])
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}
    assert ("city", "categorical_values_check") in kinds
    unseen = result.drift["columns"]["city"]["distribution"]["unseen"]
    assert unseen["current_share"] == pytest.approx(0.3)
    assert set(unseen["examples"]) == {"tokyo", "<b>osaka</b>"}


def test_small_batches_are_insufficient_data_not_drift(baseline: Baseline) -> None:
    batch = _table(60, np.random.default_rng(4), shift=3.0)
    result = check_batch(baseline, [(batch, None)])
    statuses = {c["distribution"]["status"] for c in result.drift["columns"].values()}
    assert statuses == {"insufficient_data"}
    assert not [
        v for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"
    ]
