"""Spark models and Spark data: interception of mlflow.spark.log_model, Spark reference
data profiled distributed, checks on Spark (all on one shared local[2] session)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_clarity

pytestmark = pytest.mark.spark
pytest_plugins = ["spark_session"]  # the shared session fixture ``spark``

FEATURES = ["a", "b", "c", "d"]


def _table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    data["label"] = (data["a"] + 0.5 * data["b"] > 0).astype(int)
    return data


def _pipeline(spark: Any, data: pd.DataFrame, classifier: Any) -> Any:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    stages = [VectorAssembler(inputCols=FEATURES, outputCol="features"), classifier]
    return Pipeline(stages=stages).fit(spark.createDataFrame(data))


def _run_file(run_id: str, path: str) -> Any:
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    return json.loads(Path(local).read_text())


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two steps, with room for a busy 2-core machine."""
    monkeypatch.setenv("MLFLOW_CLARITY_STEPS", "baseline,shap")
    monkeypatch.setenv("MLFLOW_CLARITY_BUDGET_S", "60")


def test_spark_pipeline_is_explained_and_profiled_on_spark_data(spark: Any, tracking: str) -> None:
    from pyspark.ml.classification import LogisticRegression

    data = _table(400)
    model = _pipeline(spark, data, LogisticRegression(maxIter=10))
    reference = spark.createDataFrame(data).repartition(3)
    with mlflow.start_run() as run, mlflow_clarity.reference_data(reference, label_col="label"):
        info = mlflow.spark.log_model(
            model, "model", pip_requirements=["pyspark"], registered_model_name="spark-churn"
        )
    assert info.model_id is None  # a run-artifact model: no LoggedModel
    status = _run_file(run.info.run_id, "model/clarity/status.json")
    steps = {s["name"]: s for s in status["steps"]}
    assert status["status"] == "ok", steps
    assert steps["shap"]["status"] == "ok"
    assert "pyspark.ml model" in steps["shap"]["summary"]["reason"]
    manifest = _run_file(run.info.run_id, "model/clarity/monitoring/baseline.json")
    assert manifest["data"]["item_count"] == 400
    assert set(manifest["columns"]) == set(FEATURES)
    assert manifest["quality"] is not None  # labels read from the Spark column
    client = mlflow.MlflowClient()
    assert client.get_run(run.info.run_id).data.tags["clarity.status"] == "ok"
    assert client.get_model_version("spark-churn", "1").tags["clarity.status"] == "ok"
    # checked through the version registered from the run, on a Spark batch, and logged
    drifted = spark.createDataFrame(data.assign(a=data["a"] * 3 + 2))
    result = mlflow_clarity.check("models:/spark-churn/1", drifted, "label", attribution=False)
    kinds = {(v.get("feature_name"), v["constraint_check_type"]) for v in result.violations}
    assert ("a", "baseline_drift_check") in kinds
    assert result.drift["predictions"]["status"] in ("ok", "drift")  # the model was called
    engine = result.drift["batch"]["engine"]  # a pyspark.ml model: streamed, with the reason
    assert engine["engine"] == "driver" and "pyspark.ml model" in engine["reason"]
    assert result.run_id is not None
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["clarity.check.last_run_id"] == result.run_id


def _mixed(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.exponential(size=rows) * 1e6,
            "k": rng.integers(0, 5, rows),
            "s": rng.choice(["red", "green", "blue"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    data.loc[::97, "x"] = np.nan
    return data


def test_spark_baseline_equals_pandas_and_ignores_partitioning(spark: Any) -> None:
    from mlflow_clarity.data.reference import RawReference, prepare_reference
    from mlflow_clarity.monitors.baseline.data_profile import build_profile
    from mlflow_clarity.monitors.baseline.spark_profile import spark_profile
    from mlflow_clarity.monitors.baseline.step import _fingerprint

    rows = 50_000  # 200,000 takes ~30 s on a busy local[2]; the code path is the same
    data = _mixed(rows)
    frame = spark.createDataFrame(data)
    profiles = []
    for parts in (3, 8):
        split = frame.repartition(parts)
        ref = prepare_reference(RawReference(split, "label"), None, sample_rows=2000, seed=0)
        profiles.append(spark_profile(ref.chunk_source, ref.sample))
    spark_prof = profiles[1]
    assert _fingerprint(profiles[0]) == _fingerprint(spark_prof)  # exact sums, full counts
    assert spark_prof.item_count == rows
    pandas_prof = build_profile([data.drop(columns="label")], sample=ref.sample)
    for name, column in pandas_prof.columns.items():
        ours, theirs = spark_prof.columns[name].to_dict(), column.to_dict()
        for key in ("count", "missing", "non_finite", "min", "max", "bins", "values", "top"):
            assert ours.get(key) == theirs.get(key), (name, key)
        if "sum" in theirs:
            assert ours["sum"] == pytest.approx(theirs["sum"], rel=1e-12)
        if name in ("x", "y"):  # continuous: the sketch's quantiles within its rank error
            values = data[name].dropna().to_numpy(dtype=float)
            grid = ours["quantile_grid"]
            for point, q in zip(grid["points"], grid["values"], strict=True):
                assert abs(np.mean(values <= q) - point) <= 0.02, (name, point)


def test_logged_spark_dataset_is_reference_data(spark: Any, tracking: str) -> None:
    from mlflow_clarity.data.capture import logged_dataset_reference
    from mlflow_clarity.data.reference import prepare_reference

    frame = spark.createDataFrame(_table(300))
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_spark(frame, targets="label"), context="training")
    raw = logged_dataset_reference(run.info.run_id)
    assert raw is not None and raw.labels == "label"
    reference = prepare_reference(raw, None, sample_rows=100, seed=0)
    assert reference.n_rows == 300 and reference.columns == tuple(FEATURES)
    assert len(reference.sample) == 100 and reference.sample_labels is not None


def test_bad_spark_data_gets_clear_messages(spark: Any) -> None:
    from pyspark.sql import functions as F

    from mlflow_clarity.data.reference import RawReference, prepare_reference
    from mlflow_clarity.data.sampling import ReferenceDataError

    frame = spark.createDataFrame(_table(60))
    with pytest.raises(ReferenceDataError, match="no rows"):
        prepare_reference(RawReference(frame.limit(0), "label"), None, sample_rows=10, seed=0)
    nested = frame.withColumn("pair", F.struct("a", "b")).withColumn("seq", F.array("c", "d"))
    reference = prepare_reference(RawReference(nested, "label"), None, sample_rows=10, seed=0)
    assert reference.columns == tuple(FEATURES)
    assert any("'pair' (struct" in note and "'seq' (array" in note for note in reference.notes)
    with pytest.raises(ReferenceDataError, match="label column 'nope'"):
        prepare_reference(RawReference(frame, "nope"), None, sample_rows=10, seed=0)


def _assert_same_statistics(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Every column's and output's statistics equal, floats to rounding (the moments of
    the partitions merge in another order than the chunks')."""

    def same(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for key in a:
                same(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, float) and isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
        else:
            assert a == b, where

    same(ours["columns"], theirs["columns"], "columns")
    assert ours["predictions"]["status"] != "skipped"
    same(ours["predictions"], theirs["predictions"], "predictions")
    same(ours["dataset"], theirs["dataset"], "dataset")


def test_spark_check_of_a_parquet_folder_matches_pandas(
    spark: Any, tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mlflow_clarity.cli import cli
    from mlflow_clarity.exceptions import ClarityWarning
    from mlflow_clarity.monitors.check import spark_batch

    from models import classification_data, logistic

    x, y = classification_data(rows=2000)
    mlflow_clarity.autolog(steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    uri = f"models:/{info.model_id}"
    drifted = x.assign(x0=x["x0"] * 3 + 1, label=y, id=np.arange(2000))
    drifted["at"] = pd.date_range("2026-01-01", periods=2000, freq="min", tz="UTC")
    folder = str(tmp_path / "batch")
    spark.createDataFrame(drifted).repartition(4).write.parquet(folder)
    batch = spark.read.parquet(folder)
    options = {"experiment": None, "attribution": False, "chunk_rows": 700}
    options |= {"id_column": "id", "timestamp_column": "at"}
    on_spark = mlflow_clarity.check(uri, batch, "label", **options)
    on_pandas = mlflow_clarity.check(uri, drifted, "label", **options)
    kinds = {(v.get("feature_name"), v["constraint_check_type"]) for v in on_spark.violations}
    assert ("x0", "baseline_drift_check") in kinds
    assert kinds == {
        (v.get("feature_name"), v["constraint_check_type"]) for v in on_pandas.violations
    }
    assert on_spark.drift["batch"]["rows"] == 2000
    partitions = batch.rdd.getNumPartitions()
    assert on_spark.drift["batch"]["engine"] == {"engine": "spark", "partitions": partitions}
    assert "engine" not in on_pandas.drift["batch"]
    assert on_spark.drift["batch"] == {**on_pandas.drift["batch"], "engine": ANY}
    assert on_spark.drift["batch"]["time_range"]["first"].startswith("2026-01-01T00:00:00")
    assert on_spark.drift["quality"] == on_pandas.drift["quality"]
    _assert_same_statistics(on_spark.drift, on_pandas.drift)

    def job_fails(*args: Any) -> None:  # as on workers without mlflow-clarity
        raise RuntimeError("ModuleNotFoundError: No module named 'mlflow_clarity'")

    warned = pytest.warns(ClarityWarning, match="summarising the Spark batch on Spark")
    with monkeypatch.context() as patch, warned:
        patch.setenv("MLFLOW_CLARITY_STRICT", "0")  # swallowed and reported, as for users
        patch.setattr(spark_batch, "_summarise", job_fails)
        streamed = mlflow_clarity.check(uri, batch, "label", **options)
    engine = streamed.drift["batch"]["engine"]
    assert engine["engine"] == "driver" and "No module named" in engine["reason"]
    assert streamed.drift["batch"]["rows"] == 2000
    _assert_same_statistics(streamed.drift, on_pandas.drift)
    args = ["check", uri, "--data", folder, "--spark", "--labels", "label", "--no-log"]
    result = CliRunner().invoke(cli, [*args, "--no-attribution", "--output", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "baseline_drift_check x0" in result.output
    missing = CliRunner().invoke(cli, ["check", uri, "--data", str(tmp_path / "no"), "--spark"])
    assert missing.exit_code == 2 and "cannot read" in missing.output


@pytest.mark.slow
def test_remote_style_path_through_record_logged_model(
    spark: Any, tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run artifact URI Spark writes itself (hdfs://, s3a://, dbfs:/): MLflow saves the
    model with Spark, logs its metadata by hand and calls _record_logged_model; the local
    artifact store stands in for it once MLflow no longer takes it for a local URI."""
    import mlflow.spark as mlflow_spark
    from pyspark.ml.classification import LogisticRegression

    data = _table(300)
    model = _pipeline(spark, data, LogisticRegression(maxIter=5))
    from mlflow.models import Model

    def no_log_v2(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("log_model took the Model._log_v2 path")

    monkeypatch.setattr(mlflow_spark, "is_local_uri", lambda uri: False)
    monkeypatch.setattr(Model, "_log_v2", classmethod(no_log_v2))
    reference = spark.createDataFrame(data)
    with mlflow.start_run() as run, mlflow_clarity.reference_data(reference, label_col="label"):
        mlflow.spark.log_model(model, "model", pip_requirements=["pyspark"])
    status = _run_file(run.info.run_id, "model/clarity/status.json")
    assert status["model_id"] == f"runs:/{run.info.run_id}/model"
    assert status["status"] == "ok", status["steps"]
    assert {s["name"]: s["status"] for s in status["steps"]}["shap"] == "ok"


def test_spark_that_cannot_start_gets_a_clear_message(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    pytest.importorskip("pyspark")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java")}
    command = "from mlflow_clarity.cli import main; main()"
    args = ["check", "models:/m-0", "--data", str(tmp_path), "--spark", "--master", "local[1]"]
    done = subprocess.run(
        [sys.executable, "-c", command, *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Spark could not start" in done.stderr and "Java 17+" in done.stderr


@pytest.mark.slow
def test_explain_batch_writes_per_row_values_and_the_global_ranking(
    spark: Any, tracking: str, tmp_path: Path
) -> None:
    from models import classification_data, logistic

    x, y = classification_data(rows=600)
    mlflow_clarity.autolog(steps=["shap"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    batch = spark.createDataFrame(x.iloc[:300]).repartition(2)
    output = str(tmp_path / "shap_values")
    summary = mlflow_clarity.explain_batch(f"models:/{info.model_id}", batch, output)
    values = pd.read_parquet(output)
    assert set(values["partition"]) == {0, 1}
    assert summary["rows_explained"] == 300 and summary["rows_in_batch"] == 300
    per_output = values.groupby("output").size()
    assert (per_output == 300).all()
    # additivity per row: base value + sum of SHAP values = the model's output
    features = list(x.columns)
    total = values["base_value"] + values[features].sum(axis=1)
    assert np.allclose(total, values["model_output"], atol=1e-6)
    stored = json.loads((Path(output) / "_global.json").read_text())
    assert stored["ranking"][0] == summary["ranking"][0]


@pytest.mark.slow
def test_spark_gbt_pipeline_is_evaluated_on_the_driver(
    spark: Any, tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.ml.classification import GBTClassifier

    from mlflow_clarity import processing
    from mlflow_clarity.spark_models import callable_spark_model

    processed: list[str] = []
    original = processing.process

    def counted(ctx: Any, *args: Any) -> Any:
        processed.append(ctx.model_id)
        return original(ctx, *args)

    monkeypatch.setattr(processing, "process", counted)

    data = _table(300)
    model = _pipeline(spark, data, GBTClassifier(maxIter=8, maxDepth=3))
    wrapped = callable_spark_model(model)
    probabilities = wrapped.predict_proba(data[FEATURES])
    assert wrapped.evaluation == "driver"  # trees read once, checked against Spark
    assert np.allclose(probabilities, wrapped._spark_probabilities(data[FEATURES]), atol=1e-9)
    with mlflow.start_run() as run, mlflow_clarity.reference_data(data[FEATURES], data["label"]):
        mlflow.spark.log_model(model, "model", pip_requirements=["pyspark"])
    status = _run_file(run.info.run_id, "model/clarity/status.json")
    steps = {s["name"]: s for s in status["steps"]}
    assert status["status"] == "ok", steps
    assert steps["shap"]["status"] == "ok" and steps["baseline"]["status"] == "ok"
    # _log_v2 calls _record_logged_model: both wrapped, the model processed once
    assert processed == [f"runs:/{run.info.run_id}/model"]
