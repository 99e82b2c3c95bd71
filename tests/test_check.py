"""Checking production batches against the stored baseline, from Python and the CLI."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.data.files import iter_chunks
from mlflow_clarity.layout import CHECK_FILES
from mlflow_clarity.monitors import build_baseline
from mlflow_clarity.monitors.check.drift_check import CheckInputError, check_batch
from mlflow_clarity.monitors.check.violations import SAGEMAKER_CHECKS

from helpers import model_tags
from models import classification_data, logistic, regression_data

EXPERIMENT = "clarity-monitoring"


@pytest.fixture
def classifier(tracking: str) -> tuple[str, pd.DataFrame, pd.Series]:
    """A registered logistic regression logged with its training data and labels."""
    x, y = classification_data(rows=2000)
    mlflow_clarity.autolog(steps=["shap", "baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="churn")
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", "1")
    return info.model_id, x, y


def _kinds(result) -> set[tuple[str | None, str]]:
    return {(v.get("feature_name"), v["constraint_check_type"]) for v in result.violations}


def test_same_data_passes_by_version_alias_and_id(classifier) -> None:
    model_id, _, _ = classifier
    fresh, fresh_y = classification_data(rows=2000, seed=1)
    for uri in ("models:/churn/1", "models:/churn@champion", f"models:/{model_id}"):
        result = mlflow_clarity.check(uri, fresh, fresh_y, experiment=None)
        assert result.passed and result.exit_code == 0, result.violations
    drift = result.drift
    assert drift["model"]["model_id"] == model_id
    assert drift["predictions"]["status"] == "ok"
    assert drift["quality"]["status"] == "ok"
    assert drift["quality"]["baseline"]["accuracy"] > 0.8  # measured at log time
    assert abs(drift["quality"]["metrics"]["auc"] - drift["quality"]["baseline"]["auc"]) < 0.05
    assert drift["attribution"]["status"] == "ok" and drift["attribution"]["ndcg"] > 0.95
    assert drift["attribution"]["rows"] == drift["attribution"]["rows_sampled"] == 500
    assert drift["attribution"]["fewer_rows_reason"] is None
    assert drift["dataset"]["weights"] == "shap"


def test_drift_is_found_logged_and_charted_over_time(classifier) -> None:
    model_id, x, y = classifier
    shifted = x.assign(x0=x["x0"] + 1.0)
    run_ids = [mlflow_clarity.check("models:/churn/1", shifted, y).run_id for _ in range(2)]
    client = mlflow.MlflowClient()
    result = mlflow_clarity.check("models:/churn/1", shifted, y, experiment=EXPERIMENT)
    kinds = _kinds(result)
    assert ("x0", "baseline_drift_check") in kinds
    assert ("proba_1", "prediction_drift_check") in kinds
    assert ("accuracy", "model_quality_check") in kinds
    assert ("_dataset", "dataset_drift_check") in kinds  # x0 carries most of the SHAP importance
    drifted = [
        v["feature_name"]
        for v in result.violations
        if v["constraint_check_type"] == "baseline_drift_check"
    ]
    assert drifted == ["x0"]
    assert result.exit_code == 1
    run = client.get_run(result.run_id)
    assert run.info.experiment_id == client.get_experiment_by_name(EXPERIMENT).experiment_id
    assert run.data.tags["clarity.model_id"] == model_id
    assert run.data.tags["clarity.registered_version"] == "1"
    assert run.data.tags["clarity.check.status"] == "violations"
    steps = [
        client.get_metric_history(r, "drift.x0.score")[0].step for r in [*run_ids, result.run_id]
    ]
    assert steps == [0, 1, 2]
    assert model_tags(model_id)["clarity.check.count"] == "3"
    files = {f.path for f in client.list_artifacts(result.run_id, "clarity")}
    assert files == {f"clarity/{name}" for name in CHECK_FILES.values()}
    local = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="clarity"))
    stored = json.loads((local / "constraint_violations.json").read_text())
    ours = json.loads((local / "clarity_violations.json").read_text())
    assert stored["violations"] + ours["violations"] == result.violations
    assert {v["constraint_check_type"] for v in stored["violations"]} <= set(SAGEMAKER_CHECKS)
    assert all(v["feature_name"] for v in result.violations)
    batch_stats = json.loads((local / "statistics.json").read_text())
    assert batch_stats["dataset"]["item_count"] == len(shifted)
    description = next(
        v["description"]
        for v in result.violations
        if v["constraint_check_type"] == "baseline_drift_check"
    )
    assert description.startswith("Baseline drift distance: ")
    for word in ("exceeds threshold: ", "Method:", "n=2000", "baseline n=2000"):
        assert word in description


def test_cli_check_exit_codes(classifier, tmp_path: Path) -> None:
    _, x, y = classifier
    x.assign(label=y).to_csv("same.csv", index=False)
    x.assign(x0=x["x0"] * 3, label=y).to_csv("drifted.csv", index=False)
    runner = CliRunner()
    same = runner.invoke(
        cli, ["check", "models:/churn/1", "--data", "same.csv", "--labels", "label", "--no-log"]
    )
    assert same.exit_code == 0, same.output
    assert "passed, 0 violation(s)" in same.output
    drifted = runner.invoke(
        cli,
        [
            "check",
            "models:/churn@champion",
            "--data",
            "drifted.csv",
            "--labels",
            "label",
            "--output",
            str(tmp_path / "out"),
        ],
    )
    assert drifted.exit_code == 1, drifted.output
    assert "baseline_drift_check x0" in drifted.output
    assert "logged to run" in drifted.output
    assert (tmp_path / "out" / "drift_report.html").exists()
    relaxed = runner.invoke(
        cli,
        [
            "check",
            "models:/churn/1",
            "--data",
            "drifted.csv",
            "--labels",
            "label",
            "--no-log",
            "--no-attribution",
            "--threshold",
            "numeric.linf_robust_warn=0.9",
            "--threshold",
            "numeric.psi_warn=100",
            "--threshold",
            "numeric.tail_share_warn=0.9",
            "--threshold",
            "dataset_weighted_score_alert=0.99",
            "--threshold",
            "quality_score_drop=1",
            "--threshold",
            "quality_error_increase=100",
        ],
    )
    assert "baseline_drift_check" not in relaxed.output, relaxed.output
    for args, message in [
        (["--data", "missing.csv"], "does not exist"),
        (["--data", "same.csv", "--threshold", "numeric.nope=1"], "unknown threshold"),
        (["--data", "same.csv", "--threshold", "psi"], "expected NAME=NUMBER"),
    ]:
        bad = runner.invoke(cli, ["check", "models:/churn/1", *args, "--no-log"])
        assert bad.exit_code == 2, bad.output
        assert message in bad.output


def test_model_without_baseline_says_how_to_make_one(tracking: str) -> None:
    x, y = classification_data()
    mlflow_clarity.autolog(disable=True)
    with mlflow.start_run():
        mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="bare")
    x.to_csv("batch.csv", index=False)
    with pytest.raises(FileNotFoundError, match="mlflow-clarity explain models:/bare/1"):
        mlflow_clarity.check("models:/bare/1", x)
    result = CliRunner().invoke(cli, ["check", "models:/bare/1", "--data", "batch.csv"])
    assert result.exit_code == 2
    assert "has no clarity baseline" in result.output


def test_bad_batches_are_violations_or_clear_errors(
    classifier, tmp_path: Path, lenient: None
) -> None:
    _, x, _ = classifier
    batch = x.copy()
    batch["x1"] = batch["x1"].astype(object)
    batch.loc[: len(batch) // 2, "x1"] = "n/a"  # half the values of a numeric column are text
    batch["x2"] = np.nan  # all missing
    batch = batch.drop(columns=["x5"]).assign(extra=1.0)
    result = mlflow_clarity.check("models:/churn/1", batch, experiment=None, attribution=False)
    kinds = _kinds(result)
    assert ("x1", "data_type_check") in kinds
    assert ("x2", "completeness_check") in kinds
    assert ("x5", "missing_column_check") in kinds
    assert ("extra", "extra_column_check") not in kinds  # information unless strict_columns
    assert result.drift["schema"]["extra_columns"] == ["extra"]
    assert result.drift["columns"]["x2"]["distribution"]["status"] == "insufficient_data"
    assert "lacks model input columns: ['x5']" in result.drift["predictions"]["reason"]
    with pytest.warns(mlflow_clarity.ClarityWarning, match="calling the model on the batch"):
        text = mlflow_clarity.check("models:/churn/1", batch.drop(columns="extra").assign(x5=1.0))
    assert text.drift["predictions"]["status"] == "skipped"  # the text in x1 broke the model
    assert ("x1", "data_type_check") in _kinds(text)
    assert result.drift["columns"]["x1"]["data_type"]["nonconforming_share"] == pytest.approx(
        0.5, abs=0.01
    )
    with pytest.raises(CheckInputError, match="no rows"):
        mlflow_clarity.check("models:/churn/1", x.iloc[:0], experiment=None)
    garbage = tmp_path / "broken.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(ValueError, match="cannot read"):
        mlflow_clarity.check("models:/churn/1", garbage, experiment=None)
    with pytest.raises(ValueError, match="unknown threshold"):
        mlflow_clarity.check("models:/churn/1", x, experiment=None, thresholds={"psi": 1})


def test_regression_quality_is_compared_with_log_time(tracking: str) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=1000)
    mlflow_clarity.autolog(steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(LinearRegression().fit(x, y), name="m")
    uri = f"models:/{info.model_id}"
    good = mlflow_clarity.check(uri, x, y, experiment=None)
    assert good.drift["quality"]["status"] == "ok"
    assert good.drift["quality"]["metrics"]["r2"] > 0.99
    noisy = y + np.random.default_rng(0).normal(scale=3, size=len(y))
    bad = mlflow_clarity.check(uri, x, noisy, experiment=None)
    degraded = {d["metric"] for d in bad.drift["quality"]["degraded"]}
    assert {"mae", "rmse", "r2"} <= degraded
    assert bad.drift["attribution"]["status"] == "skipped"  # no SHAP stored: said why
    assert "no stored SHAP" in bad.drift["attribution"]["reason"]


def test_files_are_read_in_chunks_with_bounded_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(size=(20_000, 8)), columns=[f"c{i}" for i in range(8)])
    baseline = build_baseline(reference)
    batch = pd.DataFrame(rng.normal(size=(200_000, 8)), columns=reference.columns)
    path = tmp_path / "batch.parquet"
    batch.to_parquet(path, row_group_size=10_000)
    whole = check_batch(baseline, [(batch, None)]).drift["columns"]
    tracemalloc.start()
    chunked = check_batch(baseline, iter_chunks(path, rows=10_000)).drift["columns"]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < batch.memory_usage().sum() / 4  # 12.8 MB of data, a few chunks in memory
    for name in reference.columns:  # the same exact counts, chunk by chunk
        assert chunked[name]["distribution"]["bins"] == whole[name]["distribution"]["bins"]
        assert chunked[name]["distribution"]["linf"] == pytest.approx(
            whole[name]["distribution"]["linf"]
        )
    csv = tmp_path / "batch.csv"
    batch.head(30_000).to_csv(csv, index=False)
    chunks = list(iter_chunks(csv, rows=7_000))
    assert [len(c) for c, _ in chunks] == [7000, 7000, 7000, 7000, 2000]


def test_report_escapes_names_and_values(tmp_path: Path) -> None:
    from mlflow_clarity.monitors.check.runner import write_check_files

    rng = np.random.default_rng(0)
    evil = "<script>alert(1)</script>"
    reference = pd.DataFrame({evil: rng.normal(size=1000), "city": rng.choice(["a", "b"], 1000)})
    batch = reference.assign(city=np.where(rng.random(1000) < 0.5, "<img src=x onerror=1>", "a"))
    result = check_batch(build_baseline(reference), [(batch, None)])
    html = write_check_files(result, tmp_path)["report"].read_text()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http" not in html  # nothing fetched from anywhere
