"""Sensitivity without false alarms (seeded simulations at the comparison level).

Categorical and discrete columns: a value's share moved by 0.03 in batches of 5,000 rows
against a 50,000-row baseline is found in at least 95 % of 100 batches, and unchanged
batches are flagged in at most 1 % per column. Model quality: an accuracy 0.03 lower in
5,000 rows is found in at least 90 % of batches, unchanged accuracy in at most 5 %.
Profiles are built from arrays and compared with the functions ``mlflow_clarity.check``
runs (``compare_column``, ``compare_quality``), so that 100 batches take seconds; one
test goes through ``mlflow_clarity.check`` to show the wiring.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_clarity
from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.baseline.batch_profile import BatchProfile
from mlflow_clarity.monitors.baseline.column_profiles import TOP_K
from mlflow_clarity.monitors.baseline.model_quality import (
    ClassifierQuality,
    RegressorQuality,
    compare_quality,
)
from mlflow_clarity.monitors.check.column_drift import compare_column
from mlflow_clarity.monitors.check.drift_check import effective_thresholds

from models import classification_data, logistic

BASELINE_ROWS, BATCH_ROWS, BATCHES = 50_000, 5_000, 100
CITIES = np.array(["paris", "lyon", "nice", "lille", "brest"])
SKUS = np.array([f"sku-{i}" for i in range(2 * TOP_K)])  # more values than the baseline keeps
SHARES = {
    "city": (CITIES, [0.4, 0.25, 0.15, 0.12, 0.08]),
    "plan": (np.arange(4), [0.3, 0.3, 0.2, 0.2]),  # an integer column: checked as categorical
    "flag": (np.array(["no", "yes"]), [0.8, 0.2]),
    "region": (np.array([f"r{i:02d}" for i in range(40)]), [1 / 40] * 40),
    "sku": (SKUS, [1 / len(SKUS)] * len(SKUS)),
}
MOVED = {  # each a share moved by 0.03 (and another by -0.03 to keep the sum)
    "city": [0.4, 0.25, 0.18, 0.09, 0.08],
    "plan": [0.3, 0.27, 0.23, 0.2],
    "flag": [0.77, 0.23],
}


def _table(rows: int, rng: np.random.Generator, moved: str | None = None) -> pd.DataFrame:
    columns = {}
    for name, (values, shares) in SHARES.items():
        p = MOVED[name] if name == moved else shares
        columns[name] = rng.choice(values, rows, p=p)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build_baseline(_table(BASELINE_ROWS, np.random.default_rng(0)))


def _drifted(baseline: Baseline, batch: pd.DataFrame) -> dict[str, dict]:
    """Each column's distribution comparison, as the check computes it."""
    thresholds = effective_thresholds(baseline.manifest["thresholds"], None)
    profile = BatchProfile.for_baseline(baseline.profile.columns)
    profile.update(batch)
    return {
        name: compare_column(column, thresholds)["distribution"]
        for name, column in profile.columns.items()
    }


@pytest.mark.parametrize("column", sorted(MOVED))
def test_a_share_moved_by_003_is_found_in_95_percent_of_batches(
    baseline: Baseline, column: str
) -> None:
    rng = np.random.default_rng(1)
    found = []
    for _ in range(BATCHES):
        dist = _drifted(baseline, _table(BATCH_ROWS, rng, moved=column))[column]
        found.append(dist["status"] == "drift")
    assert np.mean(found) >= 0.95
    assert dist["rule"]["name"] == "share_change" or not found[-1]


def test_unchanged_batches_are_flagged_in_at_most_1_percent_per_column(
    baseline: Baseline,
) -> None:
    assert baseline.profile.columns["plan"].check_type == "categorical"
    rng = np.random.default_rng(2)
    flagged, scores = dict.fromkeys(SHARES, 0), []
    for _ in range(BATCHES):
        for name, dist in _drifted(baseline, _table(BATCH_ROWS, rng)).items():
            flagged[name] += dist["status"] == "drift"
            scores.append(dist["score"])
    assert max(flagged.values()) <= 0.01 * BATCHES, flagged
    # severities stay near 0 within the noise, so they do not add up to a dataset drift
    assert np.mean(scores) < 0.02


def test_a_truncated_baseline_is_not_mistaken_for_drift(baseline: Baseline) -> None:
    """The baseline kept its 1,000 most frequent SKUs, picked on its own counts: those are
    a little too frequent there and ``__other__`` too rare, by more than the noise."""
    sku = _drifted(baseline, _table(BATCH_ROWS, np.random.default_rng(3)))["sku"]
    assert sku["unseen"]["baseline_other_share"] < 0.5 - 0.03  # the bias is there
    assert sku["status"] == "ok"
    assert sku["largest_change"]["value"] in ("__rare__", None)


def test_the_floor_trades_sensitivity_for_practical_significance(baseline: Baseline) -> None:
    """``categorical.linf_robust_warn`` adds a fixed floor to each value's noise."""
    batch = _table(BATCH_ROWS, np.random.default_rng(4), moved="city")
    profile = BatchProfile.for_baseline(baseline.profile.columns)
    profile.update(batch)
    city = profile.columns["city"]
    default = compare_column(city, effective_thresholds(None, None))["distribution"]
    floored = compare_column(
        city, effective_thresholds(None, {"categorical": {"linf_robust_warn": 0.1}})
    )["distribution"]
    assert default["status"] == "drift" and floored["status"] == "ok"
    change = default["largest_change"]
    assert change["value"] in ("nice", "lille")
    assert change["threshold"] == pytest.approx(change["noise"])
    assert change["noise"] < 0.03
    assert floored["rule"]["threshold"] == pytest.approx(floored["largest_change"]["noise"] + 0.1)


def _classifier_quality(rows: int, accuracy: float, rng: np.random.Generator) -> dict:
    """A binary classifier right on ``accuracy`` of the rows, with informative scores."""
    labels = rng.integers(0, 2, rows)
    right = rng.random(rows) < accuracy
    predicted = np.where(right, labels, 1 - labels)
    score = np.clip(np.where(predicted == 1, 0.75, 0.25) + rng.normal(0, 0.15, rows), 0, 1)
    quality = ClassifierQuality(("0", "1"))
    quality.update(np.column_stack([1 - score, score]), pd.Series(labels.astype(str)))
    return quality.metrics()


def test_an_accuracy_003_lower_is_found_and_unchanged_quality_rarely_flagged() -> None:
    rng = np.random.default_rng(5)
    thresholds = effective_thresholds(None, None)
    base = _classifier_quality(BASELINE_ROWS, 0.8, rng)
    lower = [
        compare_quality(base, _classifier_quality(BATCH_ROWS, 0.77, rng), thresholds)
        for _ in range(BATCHES)
    ]
    same = [
        compare_quality(base, _classifier_quality(BATCH_ROWS, 0.8, rng), thresholds)
        for _ in range(BATCHES)
    ]
    found = [any(d["metric"] == "accuracy" for d in c["degraded"]) for c in lower]
    assert np.mean(found) >= 0.9
    assert np.mean([c["status"] == "violation" for c in same]) <= 0.05
    degraded = next(d for c in lower for d in c["degraded"] if d["metric"] == "accuracy")
    assert degraded["limit"].startswith("drop ") and "noise" in degraded["limit"]
    # the fixed floor of before (0.05) misses a 0.03 drop whatever the batch size
    floored = effective_thresholds(None, {"quality_score_drop": 0.05})
    assert compare_quality(base, lower[0]["metrics"], floored)["status"] == "ok"


def _regressor_quality(rows: int, error_sd: float, rng: np.random.Generator) -> dict:
    truth = rng.normal(0, 3, rows)
    quality = RegressorQuality()
    quality.update((truth + rng.normal(0, error_sd, rows))[:, None], pd.Series(truth))
    return quality.metrics()


def test_regression_quality_is_judged_both_ways() -> None:
    rng = np.random.default_rng(6)
    thresholds = effective_thresholds(None, None)
    base = _regressor_quality(BASELINE_ROWS, 1.0, rng)
    worse = compare_quality(base, _regressor_quality(BATCH_ROWS, 1.1, rng), thresholds)
    better = compare_quality(base, _regressor_quality(BATCH_ROWS, 0.9, rng), thresholds)
    same = compare_quality(base, _regressor_quality(BATCH_ROWS, 1.0, rng), thresholds)
    assert {d["metric"] for d in worse["degraded"]} == {"mae", "rmse", "r2"}
    assert worse["status"] == "violation" and not worse["improved"]
    assert better["status"] == "ok" and not better["degraded"]
    assert {d["metric"] for d in better["improved"]} == {"mae", "rmse", "r2"}
    assert better["improved"][0]["limit"].startswith("improvement ")
    assert same["status"] == "ok" and not same["improved"]


def test_check_wires_the_share_and_quality_tests(tracking: str) -> None:
    """Through ``mlflow_clarity.check``: a moved share of an integer input and a quality
    drop are violations naming their noise; the unchanged batch passes."""
    x, y = classification_data(rows=20_000)
    rng = np.random.default_rng(7)
    x["visits"] = rng.choice(4, len(x), p=[0.4, 0.3, 0.2, 0.1])
    mlflow_clarity.autolog(steps=["baseline"])
    mlflow.set_experiment("check-sensitivity")
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    uri = f"models:/{info.model_id}"
    fresh, fresh_y = classification_data(rows=5000, seed=1)
    fresh["visits"] = rng.choice(4, len(fresh), p=[0.4, 0.3, 0.2, 0.1])
    assert mlflow_clarity.check(uri, fresh, fresh_y, experiment=None).passed

    moved = fresh.assign(visits=rng.choice(4, len(fresh), p=[0.4, 0.3, 0.15, 0.15]))
    wrong = fresh_y.where(rng.random(len(fresh_y)) > 0.08, 1 - fresh_y)  # ~8 % flipped
    result = mlflow_clarity.check(uri, moved, wrong, experiment=None)
    drift = result.drift["columns"]["visits"]["distribution"]
    assert drift["status"] == "drift" and drift["rule"]["name"] == "share_change"
    assert result.drift["quality"]["status"] == "violation"
    assert result.drift["quality"]["z_critical"] > 2
    found = result.drift["quality"]["degraded"]
    assert {"accuracy"} <= {d["metric"] for d in found}
    assert all("noise" in d["limit"] for d in found)


def test_column_names_and_order_do_not_change_the_verdicts(baseline: Baseline) -> None:
    """The same data under other names, in another order, gives the same statistics
    (the report's 5-of-5 vs 1-of-5 on a renamed copy did not come from the names)."""
    rng = np.random.default_rng(8)
    reference = _table(BASELINE_ROWS, np.random.default_rng(0))
    names = {c: f"renamed_{i}" for i, c in enumerate(reversed(reference.columns))}
    renamed = build_baseline(reference[list(reversed(reference.columns))].rename(columns=names))
    batch = _table(BATCH_ROWS, rng, moved="plan")
    mine = _drifted(baseline, batch)
    theirs = _drifted(renamed, batch.rename(columns=names))
    for name, dist in mine.items():
        other = theirs[names[name]]
        assert dist["status"] == other["status"]
        assert dist["largest_change"] == other["largest_change"]
