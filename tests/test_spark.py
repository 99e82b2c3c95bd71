"""Spark models and Spark data: interception of mlflow.spark.log_model, Spark reference
data profiled distributed, checks on Spark (all on one shared local[2] session)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_spark_pipeline_is_explained_and_profiled(spark: Any, tracking: str) -> None:
    from pyspark.ml.classification import LogisticRegression

    data = _table(400)
    model = _pipeline(spark, data, LogisticRegression(maxIter=10))
    with mlflow.start_run() as run, mlflow_clarity.reference_data(data[FEATURES], data["label"]):
        info = mlflow.spark.log_model(model, "model", pip_requirements=["pyspark"])
    assert info.model_id is None  # a run-artifact model: no LoggedModel
    status = _run_file(run.info.run_id, "model/clarity/status.json")
    steps = {s["name"]: s for s in status["steps"]}
    assert status["status"] == "ok", steps
    assert steps["shap"]["status"] == "ok"
    assert steps["baseline"]["status"] == "ok"
    assert "pyspark.ml model" in json.dumps(steps["shap"]["summary"])
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["clarity.status"] == "ok"
