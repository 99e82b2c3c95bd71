"""The built-in baseline monitor: SageMaker files, a mergeable profile, all rows, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_clarity
from mlflow_clarity.data.reference import ReferenceDataError
from mlflow_clarity.monitors import Baseline, DataProfile, build_baseline, build_profile

from models import classification_data, logistic


def _mixed(rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(size=rows),
            "score": rng.normal(size=rows),
            "children": rng.integers(0, 4, rows),  # low-cardinality integer: categorical
            "visits": rng.integers(0, 10_000, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], rows)),
            "active": rng.random(rows) > 0.3,
            "signup": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 10**7, rows), "s"),
        }
    )
    frame.loc[::50, "score"] = np.nan
    frame.loc[3, "score"] = np.inf
    return frame


NUMBER = (int, float)


def _check_statistics(stats: dict[str, Any], rows: int) -> None:
    """The schema of SageMaker's statistics.json (reference notes, section 1.3)."""
    assert stats["version"] == 0.0 and stats["dataset"] == {"item_count": rows}
    for feature in stats["features"]:
        strings = feature["inferred_type"] == "String"
        kind = "string_statistics" if strings else "numerical_statistics"
        assert set(feature) == {"name", "inferred_type", kind}
        if feature["inferred_type"] in ("Integral", "Fractional"):
            numeric = feature["numerical_statistics"]
            assert set(numeric["common"]) == {"num_present", "num_missing"}
            for key in ("mean", "sum", "std_dev", "min", "max"):
                assert isinstance(numeric[key], NUMBER), key
            kll = numeric["distribution"]["kll"]
            assert len(kll["buckets"]) == 10
            assert all(isinstance(b["count"], int) for b in kll["buckets"])
            assert sum(b["count"] for b in kll["buckets"]) == numeric["common"]["num_present"]
            for bucket in kll["buckets"]:
                assert set(bucket) == {"lower_bound", "upper_bound", "count"}
            widths = {round(b["upper_bound"] - b["lower_bound"], 9) for b in kll["buckets"]}
            assert len(widths) == 1  # equal width between min and max
            assert set(kll["sketch"]["parameters"]) == {"c", "k"}
            levels = kll["sketch"]["data"]  # level i holds items of weight 2^i
            weight = sum(len(level) * 2**i for i, level in enumerate(levels))
            assert weight == numeric["common"]["num_present"]
        else:
            assert feature["inferred_type"] == "String"
            strings = feature["string_statistics"]
            assert set(strings["common"]) == {"num_present", "num_missing"}
            assert isinstance(strings["distinct_count"], NUMBER)
            for bucket in strings["distribution"]["categorical"]["buckets"]:
                assert set(bucket) == {"value", "count"}


def _check_constraints(constraints: dict[str, Any]) -> None:
    """The schema of SageMaker's constraints.json (reference notes, section 1.4)."""
    assert constraints["version"] == 0.0
    config = constraints["monitoring_config"]
    assert config["evaluate_constraints"] == "Enabled"
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    assert config["distribution_constraints"]["categorical_drift_method"] == "LInfinity"
    assert config["datatype_check_threshold"] == 1.0  # SageMaker: the share that must match
    for feature in constraints["features"]:
        assert feature["inferred_type"] in ("Integral", "Fractional", "String")
        assert 0 <= feature["completeness"] <= 1
        if feature["inferred_type"] in ("Integral", "Fractional"):
            assert isinstance(feature["num_constraints"]["is_non_negative"], bool)


def test_sagemaker_files_follow_the_schema(tmp_path: Path) -> None:
    frame = _mixed()
    build_baseline(frame).write(tmp_path)
    stats = json.loads((tmp_path / "statistics.json").read_text())
    _check_statistics(stats, len(frame))
    constraints = json.loads((tmp_path / "constraints.json").read_text())
    _check_constraints(constraints)
    by_name = {f["name"]: f for f in stats["features"]}
    amount = by_name["amount"]["numerical_statistics"]
    assert amount["mean"] == pytest.approx(frame["amount"].mean())
    assert amount["std_dev"] == pytest.approx(frame["amount"].std(ddof=0))  # population std
    assert amount["sum"] == pytest.approx(frame["amount"].sum())
    assert sum(b["count"] for b in amount["distribution"]["kll"]["buckets"]) == len(frame)
    assert by_name["score"]["numerical_statistics"]["common"]["num_missing"] == 401
    assert by_name["visits"]["inferred_type"] == "Integral"
    domains = {f["name"]: f.get("string_constraints") for f in constraints["features"]}
    assert domains["city"] == {"domains": ["lyon", "nice", "paris"]}
    assert {
        f["name"]: f["num_constraints"]["is_non_negative"]
        for f in constraints["features"]
        if "num_constraints" in f
    }["amount"] is True


def test_manifest_roles_types_and_fingerprint(tmp_path: Path) -> None:
    frame = _mixed(5000)
    baseline = build_baseline(frame)
    columns = baseline.manifest["columns"]
    assert columns["children"]["logical_type"] == "categorical"  # integer with 4 values
    assert columns["visits"]["logical_type"] == "numeric"
    assert columns["signup"]["logical_type"] == "datetime"
    assert columns["active"]["logical_type"] == "boolean"
    assert columns["plan"]["logical_type"] == "categorical"
    assert baseline.manifest["data"]["item_count"] == 5000
    assert baseline.manifest["matching"] == "by column name"
    assert baseline.manifest["thresholds"]["numeric"]["c_alpha"] == 1.8
    again = build_baseline(frame).manifest["data"]["fingerprint_sha256"]
    assert again == baseline.manifest["data"]["fingerprint_sha256"]
    other = build_baseline(frame.assign(score=0.0)).manifest["data"]["fingerprint_sha256"]
    assert other != again


def test_two_halves_merge_into_the_whole() -> None:
    frame = _mixed(40_000)
    sample = frame.sample(2000, random_state=0)
    whole = build_profile([frame], sample=sample)
    first = build_profile([frame.iloc[:15_000]], sample=sample)
    second = build_profile([frame.iloc[15_000:]], sample=sample)
    merged = first.merge(second)
    assert merged.item_count == whole.item_count == 40_000
    for name in frame.columns:
        a, b = merged.columns[name].to_dict(), whole.columns[name].to_dict()
        for key in ("count", "missing", "non_finite", "min", "max", "bins", "values", "top"):
            assert a.get(key) == b.get(key), (name, key)
        for key in ("mean", "std_dev", "sum"):
            if b.get(key) is not None:
                assert a[key] == pytest.approx(b[key], rel=1e-9), (name, key)
        if a.get("quantile_grid") and a["quantile_grid"]["values"] and a["values"] is None:
            # the merged sketch's deciles sit at the right ranks, within the KLL error
            estimated = [a["quantile_grid"]["values"][i] for i in (10, 50, 90)]
            ranks = [np.mean(_finite(frame[name]) <= e) for e in estimated]
            assert np.allclose(ranks, [0.1, 0.5, 0.9], atol=0.03), (name, ranks)


def _finite(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        return np.array([t.timestamp() for t in column])
    values = column.to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def test_profile_round_trips_through_json() -> None:
    profile = build_profile([_mixed(3000)])
    text = json.dumps(profile.to_dict(), allow_nan=False)
    again = DataProfile.from_dict(json.loads(text))
    assert again.to_dict() == profile.to_dict()


def test_profile_covers_all_rows_not_the_sample() -> None:
    frame = _mixed(30_000)
    baseline = build_baseline(frame, sample_rows=500)
    assert baseline.statistics()["dataset"]["item_count"] == 30_000


BAD = {
    "all-missing": lambda: pd.DataFrame({"a": [np.nan] * 50, "s": [None] * 50}),
    "mixed-object": lambda: pd.DataFrame({"m": [1, "x", 2.5, None, b"y"] * 20}),
    "inf": lambda: pd.DataFrame({"a": [np.inf, -np.inf, 1.0, 2.0] * 25}),
    "datetime-and-bool": lambda: pd.DataFrame(
        {"t": pd.date_range("2024-01-01", periods=100, freq="h"), "b": [True, False] * 50}
    ),
    "wide": lambda: pd.DataFrame(
        np.random.default_rng(0).normal(size=(200, 2000)), columns=[f"c{i}" for i in range(2000)]
    ),
    "high-cardinality": lambda: pd.DataFrame({"id": [f"user{i}" for i in range(100_000)]}),
}


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is not valid JSON")


@pytest.mark.parametrize("case", sorted(BAD))
def test_awkward_data_gets_a_defined_treatment(case: str, tmp_path: Path) -> None:
    frame = BAD[case]()
    baseline = build_baseline(frame)
    baseline.write(tmp_path)
    for name in ("profile.json", "statistics.json", "constraints.json", "baseline.json"):
        json.loads((tmp_path / name).read_text(), parse_constant=_no_constants)
    _check_statistics(baseline.statistics(), len(frame))
    profile = baseline.profile.to_dict()["columns"]
    if case == "mixed-object":
        assert profile["m"]["mixed_types"] == {"int": 20, "str": 20, "float": 20, "bytes": 20}
    if case == "inf":
        assert (profile["a"]["count"], profile["a"]["non_finite"]) == (50, 50)
    if case == "high-cardinality":
        assert profile["id"]["distinct"] == 100_000
        assert len(profile["id"]["top"]) == 1001  # top 1,000 and __other__
        assert (tmp_path / "profile.json").stat().st_size < 1_000_000
    if case == "all-missing":
        assert profile["a"]["count"] == 0 and profile["a"]["mean"] is None
        features = {f["name"]: f for f in baseline.statistics()["features"]}
        assert features["a"]["inferred_type"] == "String"  # SageMaker has no Unknown type
        assert features["a"]["string_statistics"]["common"] == {"num_present": 0, "num_missing": 50}
        assert any("'a' has no value" in note for note in baseline.manifest["notes"])
        _check_constraints(baseline.constraints())


def test_empty_data_is_a_clear_error() -> None:
    with pytest.raises(ReferenceDataError, match="no rows"):
        build_baseline(pd.DataFrame({"a": []}))


def test_logged_model_carries_its_baseline(tracking: str) -> None:
    x, y = classification_data(rows=400)
    mlflow_clarity.autolog(
        sample_rows=100,
        steps=["baseline"],
        step_options={"baseline": {"reference_sample_rows": 50}},
    )
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="churn")
    baseline = Baseline.read("models:/churn/1")
    assert baseline.profile.item_count == 400
    assert baseline.manifest["registered_model"] == "churn"
    assert set(baseline.manifest["outputs"]) == {"proba_0", "proba_1", "predicted_label"}
    assert baseline.manifest["outputs"]["proba_1"]["role"] == "probability"
    assert baseline.predictions is not None and baseline.predictions.item_count == 400
    sample = mlflow.artifacts.download_artifacts(
        "models:/churn/1/clarity/monitoring/reference_sample.parquet"
    )
    assert len(pd.read_parquet(sample)) == 50


def test_outputs_profile_stops_at_the_deadline() -> None:
    import time

    from mlflow_clarity.monitors.baseline import step as baseline_module

    from helpers import context

    x, y = classification_data(rows=300)
    ctx = context(x, y, model=logistic(x, y))
    late = baseline_module.build(ctx.reference, ctx=ctx, deadline=time.monotonic() - 1)
    # no chunk fits: the sample's outputs (here every row) stand in, never an empty profile
    assert late.predictions is not None and late.predictions.item_count == 300
    assert any("time budget" in note for note in late.manifest["notes"])
    assert late.manifest["truncated"] == (
        "time budget: model outputs profiled on the 300 rows of the seeded sample of all 300 "
        "rows (time ran out after 0 rows in file order)"
    )
    assert late.manifest["quality"] is not None  # measured on the sample's labels
    assert late.profile.item_count == 300  # the inputs are always profiled in full
    on_time = baseline_module.build(ctx.reference, ctx=ctx)
    assert on_time.predictions is not None and on_time.predictions.item_count == 300
    assert on_time.manifest["truncated"] is None


def test_manifest_lists_reference_columns_that_are_not_model_inputs() -> None:
    from mlflow_clarity.data.reference import RawReference, expected_columns, prepare_reference
    from mlflow_clarity.monitors.baseline import step as baseline_module

    x, y = classification_data(rows=200)
    model = logistic(x, y)
    with_extras = x.assign(row_id=range(len(x)), note="n/a")
    reference = prepare_reference(
        RawReference(with_extras, y), expected_columns(None, model), sample_rows=100, seed=0
    )
    assert reference.dropped_columns == ("row_id", "note")
    manifest = baseline_module.build(reference).manifest
    assert manifest[baseline_module.NOT_MODEL_INPUTS] == ["row_id", "note"]
