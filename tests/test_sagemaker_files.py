"""SageMaker and Clarify files in content, not only in shape.

A small Deequ-style reader, written here from Deequ's published definitions
(``QuantileNonSample``: an item of compactor level i weighs 2^i, the rank of x is the
weight of the items <= x; ``Distance.numericalDistance``: the largest CDF difference
over the union of both sketches' items, less 1.8 * sqrt((n + m) / (n * m)) when robust),
must reach the same verdict on our sketches as on the exact data. The committed fixtures
in ``tests/fixtures/sagemaker/`` follow the documented schema of SageMaker's files (with
the values of AWS's churn example); ours must have the same keys and value types.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.explainers.shap import step as shap_explainer
from mlflow_clarity.monitors import build_baseline, build_profile
from mlflow_clarity.monitors.baseline import sagemaker_files
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.runner import write_check_files
from mlflow_clarity.monitors.check.violations import SAGEMAKER_CHECKS
from mlflow_clarity.pipeline import run_pipeline

from helpers import config, context, registered
from models import classification_data, logistic

FIXTURES = Path(__file__).parent / "fixtures" / "sagemaker"
C_ALPHA = 1.8  # Deequ's default c(alpha)
THRESHOLD = 0.1  # SageMaker's default comparison_threshold


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- a Deequ-style reader --------------------------------------------------------------


def _ranked(levels: list[list[float]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted items, their cumulative weights (level i weighs 2^i), and the total."""
    items = np.concatenate([np.asarray(level, dtype=float) for level in levels])
    weights = np.concatenate([np.full(len(level), 2**i) for i, level in enumerate(levels)])
    order = np.argsort(items, kind="stable")
    cumulative = np.cumsum(weights[order])
    return items[order], cumulative, int(cumulative[-1])


def _cdf(ranked: tuple[np.ndarray, np.ndarray, int], keys: np.ndarray) -> np.ndarray:
    items, cumulative, total = ranked
    at = np.searchsorted(items, keys, side="right")
    return np.where(at > 0, cumulative[np.maximum(at - 1, 0)], 0) / total


def deequ_linf_robust(first: list[list[float]], second: list[list[float]]) -> float:
    """Deequ's robust L-infinity distance between two KLL sketches (as compactor levels)."""
    a, b = _ranked(first), _ranked(second)
    keys = np.union1d(a[0], b[0])
    simple = float(np.max(np.abs(_cdf(a, keys) - _cdf(b, keys))))
    n, m = a[2], b[2]
    return max(0.0, simple - C_ALPHA * math.sqrt((n + m) / (n * m)))


def _levels(values: np.ndarray) -> list[list[float]]:
    """Our statistics.json's sketch levels for a column of values (built directly)."""
    profile = build_profile([pd.DataFrame({"x": values})])
    feature = sagemaker_files.statistics(profile)["features"][0]
    return feature["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"]


@pytest.mark.parametrize("baseline_rows", [1000, 1_000_000])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_a_deequ_reader_gives_the_exact_verdict_on_our_sketches(
    baseline_rows: int, shift: float
) -> None:
    rng = np.random.default_rng(baseline_rows)
    reference = rng.normal(size=baseline_rows)
    batch = [rng.normal(shift, 1.0, 2000).tolist()]  # raw values: one level of weight 1
    exact = deequ_linf_robust([reference.tolist()], batch)
    sketched = deequ_linf_robust(_levels(reference), batch)
    assert (sketched > THRESHOLD) == (exact > THRESHOLD) == (shift > 0), (exact, sketched)
    assert abs(sketched - exact) < 0.03  # within the sketch's rank error


def test_sketch_weights_and_buckets_count_every_present_value() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "normal": rng.normal(size=50_000),
            "constant": np.full(50_000, 3.0),
            "counts": rng.poisson(4, 50_000),
            "gappy": np.where(rng.random(50_000) < 0.3, np.nan, rng.exponential(size=50_000)),
        }
    )
    stats = sagemaker_files.statistics(build_profile([frame]))
    for feature in stats["features"]:
        numeric = feature["numerical_statistics"]
        present = numeric["common"]["num_present"]
        levels = numeric["distribution"]["kll"]["sketch"]["data"]
        assert sum(len(level) * 2**i for i, level in enumerate(levels)) == present
        buckets = numeric["distribution"]["kll"]["buckets"]
        assert len(buckets) == 10, feature["name"]  # always 10, even for a constant
        assert all(type(b["count"]) is int for b in buckets)
        assert sum(b["count"] for b in buckets) == present
    assert stats["features"][3]["numerical_statistics"]["common"]["num_present"] == int(
        frame["gappy"].notna().sum()
    )


def test_strings_empty_columns_and_datetimes_have_sagemaker_types() -> None:
    rng = np.random.default_rng(1)
    rows = 3000
    frame = pd.DataFrame(
        {
            "sku": [f"sku-{i}" for i in rng.integers(0, 1500, rows)],
            "nothing": np.full(rows, np.nan),
            "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, rows), "s"),
        }
    )
    baseline = build_baseline(frame)
    features = {f["name"]: f for f in baseline.statistics()["features"]}
    assert {f["inferred_type"] for f in features.values()} == {"String"}
    sku = features["sku"]["string_statistics"]
    assert len(sku["distribution"]["categorical"]["buckets"]) == 1000  # like Deequ's histogram
    nothing = features["nothing"]["string_statistics"]
    assert nothing["common"] == {"num_present": 0, "num_missing": rows}
    assert (
        nothing["distinct_count"] == 0 and nothing["distribution"]["categorical"]["buckets"] == []
    )
    assert features["seen"]["string_statistics"]["common"]["num_present"] == rows
    types = {f["name"]: f["inferred_type"] for f in baseline.constraints()["features"]}
    assert types == {"sku": "String", "nothing": "String", "seen": "String"}
    assert any("'nothing' has no value" in note for note in baseline.manifest["notes"])


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime_epoch_seconds_are_right_in_every_unit(unit: str) -> None:
    stamps = pd.Series(
        pd.to_datetime(["1969-12-31 23:59:59", "2024-02-29 12:34:56", None, "2262-04-11 00:00:00"])
    ).astype(f"datetime64[{unit}]")  # pandas 3 keeps the parsed unit (often us or s)
    column = build_profile([pd.DataFrame({"t": stamps})]).to_dict()["columns"]["t"]
    expected = [t.timestamp() for t in stamps.dropna()]
    assert column["min"] == min(expected) == -1.0
    assert column["max"] == max(expected)
    assert column["sum"] == pytest.approx(sum(expected), abs=1.0)
    aware = build_profile([pd.DataFrame({"t": stamps.dt.tz_localize("Europe/Paris")})])
    assert (
        aware.columns["t"].min == pd.Timestamp("1969-12-31 23:59:59", tz="Europe/Paris").timestamp()
    )


# --- key by key against the documented schema -------------------------------------------


def _shape(value: Any) -> Any:
    """The structure of a JSON value: keys, element shape, and value types."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _same_keys(ours: Any, theirs: Any, where: str = "") -> None:
    """Every dict has exactly the fixture's keys, every value the fixture's type."""
    a, b = _shape(ours), _shape(theirs)
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), (where, a, b)
        for key in b:
            _same_keys(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(b, list) and b and a:
        _same_keys(ours[0], theirs[0], f"{where}[0]")
    elif not isinstance(b, list):
        assert a == b, (where, a, b)


def _mixed(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Churn": (rng.random(rows) < 0.14).astype(int),
            "Account Length": rng.integers(1, 244, rows),
            "Day Mins": rng.normal(180 + shift * 54, 54, rows),
            "State": rng.choice(["OH", "NJ", "TX", "CA"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def test_baseline_files_match_the_documented_schema_key_by_key() -> None:
    baseline = build_baseline(_mixed(5000, np.random.default_rng(2)))
    ours, theirs = baseline.statistics(), _fixture("statistics.json")
    _same_keys({**ours, "features": 0}, {**theirs, "features": 0})
    by_type = {f["inferred_type"]: f for f in theirs["features"]}
    for feature in ours["features"]:
        _same_keys(feature, by_type[feature["inferred_type"]], feature["name"])
    constraints, expected = baseline.constraints(), _fixture("constraints.json")
    _same_keys(constraints["monitoring_config"], expected["monitoring_config"])
    assert constraints["monitoring_config"] == expected["monitoring_config"]  # 1.0: must match
    by_name = {f["name"]: f for f in expected["features"]}
    for feature in constraints["features"]:
        _same_keys(feature, by_name[feature["name"]], feature["name"])


NUMBER = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
DISTANCE = re.compile(rf"^Baseline drift distance: {NUMBER} exceeds threshold: {NUMBER}")
VALUE = re.compile(rf"^Value: {NUMBER} does not meet the constraint requirement! ")
DATA_TYPE = re.compile(
    r"^Data type match requirement is not met\. Expected data type: (\w+), "
    r"Expected match: 100\.0%\. Observed: Only ([0-9.]+)% of data is (\w+)\."
)


def test_check_files_follow_sagemaker_and_keep_our_checks_apart(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    baseline = build_baseline(_mixed(20_000, rng))
    batch = _mixed(3000, rng, shift=0.5)
    batch["State"] = batch["State"].where(rng.random(3000) > 0.3, "WA")  # unseen values
    batch["Account Length"] = batch["Account Length"].astype(object)
    batch.loc[:400, "Account Length"] = "n/a"  # not numbers
    batch.loc[2000:, "Day Mins"] = np.nan  # completeness falls
    result = check_batch(baseline, [(batch.drop(columns=["Churn"]), None)])
    files = write_check_files(result, tmp_path)
    stored = json.loads(files["violations"].read_text())["violations"]
    ours = json.loads(files["clarity_violations"].read_text())["violations"]
    assert stored + ours == result.violations
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in stored}
    assert {
        ("Churn", "missing_column_check"),
        ("Day Mins", "baseline_drift_check"),
        ("Day Mins", "completeness_check"),
        ("State", "categorical_values_check"),
        ("Account Length", "data_type_check"),
    } <= kinds
    assert {v["constraint_check_type"] for v in ours} == {"dataset_drift_check"}
    example = _fixture("constraint_violations.json")["violations"][0]
    for violation in stored + ours:  # AWS's group_by_feature reads feature_name
        _same_keys(violation, example, violation["constraint_check_type"])
    assert {v["constraint_check_type"] for v in stored} <= set(SAGEMAKER_CHECKS)
    found = {v["constraint_check_type"]: v["description"] for v in stored}
    drift = DISTANCE.match(found["baseline_drift_check"])
    assert drift and float(drift[1]) >= float(drift[2])
    assert "(rule " in found["baseline_drift_check"]  # our detail follows SageMaker's sentence
    completeness = VALUE.match(found["completeness_check"])
    assert completeness and float(completeness[1]) == pytest.approx(2000 / 3000, abs=1e-3)
    unseen = VALUE.match(found["categorical_values_check"])
    assert unseen and 0.2 < float(unseen[1]) < 0.4
    typed = DATA_TYPE.match(found["data_type_check"])
    assert typed and typed[1] == typed[3] == "Integral"
    assert float(typed[2]) == pytest.approx(100 * (1 - 401 / 3000), abs=0.1)
    for fixture in _fixture("constraint_violations.json")["violations"]:  # AWS's own text
        pattern = {"baseline_drift_check": DISTANCE, "data_type_check": DATA_TYPE}
        assert pattern.get(fixture["constraint_check_type"], VALUE).match(fixture["description"])
    batch_stats = json.loads(files["statistics"].read_text())
    assert batch_stats["dataset"]["item_count"] == 3000
    assert {f["name"] for f in batch_stats["features"]} == {"Account Length", "Day Mins", "State"}
    batch_constraints = json.loads(files["constraints"].read_text())
    assert batch_constraints["monitoring_config"]["datatype_check_threshold"] == 1.0


# --- Clarify's analysis.json ---------------------------------------------------------------


def test_analysis_json_matches_global_json_and_the_values(tmp_path: Path) -> None:
    x, y = classification_data(rows=300)
    ctx = context(x, flavor="sklearn", model=logistic(x, y))
    (spec,) = shap_explainer.clarity_explainers()
    cfg = config(budget_s=60, step_options={"shap": {"plots": False}})
    (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path)
    assert result.status == "ok", result.reason
    folder = tmp_path / "explanations/shap"
    analysis = json.loads((folder / "analysis.json").read_text())
    clarify = _fixture("analysis.json")
    assert analysis["version"] == clarify["version"] == "1.0"
    assert set(analysis) == set(clarify) and set(analysis["explanations"]) == {"kernel_shap"}
    labels = analysis["explanations"]["kernel_shap"]
    (example,) = clarify["explanations"]["kernel_shap"].values()
    for entry in labels.values():  # labels and features are the model's own names
        assert set(entry) == set(example) and isinstance(entry["expected_value"], float)
    summary = json.loads((folder / "global.json").read_text())
    assert set(labels) == set(summary["outputs"])
    values = pd.read_parquet(folder / "values.parquet")
    for label, entry in labels.items():
        assert entry["global_shap_values"] == summary["outputs"][label]["mean_abs"]
        rows = values[values["output"] == label]
        for feature, mean_abs in entry["global_shap_values"].items():
            assert mean_abs == pytest.approx(rows[feature].abs().mean(), rel=1e-9)
        assert entry["expected_value"] == pytest.approx(rows["base_value"].mean(), rel=1e-9)
