"""Explaining models logged earlier, from Python and from the command line."""

from __future__ import annotations

import mlflow
import pytest
from click.testing import CliRunner

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.logged_models import ModelUriError

from helpers import model_tags, status
from models import classification_data, logistic


@pytest.fixture
def logged(tracking: str) -> tuple[str, str]:
    """A registered model logged with mlflow-clarity disabled, and its training data file."""
    x, y = classification_data()
    mlflow_clarity.autolog(disable=True)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="late")
    mlflow_clarity.autolog(sample_rows=100)
    path = "train.csv"
    x.assign(label=y).to_csv(path, index=False)
    mlflow.MlflowClient().set_registered_model_alias("late", "champion", "1")
    return info.model_id, path


def test_explain_by_version_stores_into_the_logged_model(logged) -> None:
    model_id, path = logged
    report = mlflow_clarity.explain("models:/late/1", path, labels="label")
    assert report.status == "ok"
    assert report.step("shap").status == "ok"
    assert status(model_id)["reference"]["has_labels"] is True
    assert model_tags(model_id)["clarity.status"] == "ok"
    assert mlflow.MlflowClient().get_model_version("late", "1").tags["clarity.status"] == "ok"


def test_explain_by_alias_and_by_model_id(logged) -> None:
    model_id, path = logged
    assert mlflow_clarity.explain("models:/late@champion", path).model_id == model_id
    assert mlflow_clarity.explain(f"models:/{model_id}", path).status == "ok"


def test_explain_rejects_bad_input(logged) -> None:
    _, path = logged
    with pytest.raises(ModelUriError, match="unsupported model URI"):
        mlflow_clarity.explain("s3://bucket/model", path)
    with pytest.raises(ModelUriError, match="no run 'abc'"):
        mlflow_clarity.explain("runs:/abc/model", path)
    with pytest.raises(ValueError, match="does not exist"):
        mlflow_clarity.explain("models:/late/1", "missing.csv")
    with pytest.raises(ValueError, match="label column 'nope' is not in the data"):
        mlflow_clarity.explain("models:/late/1", path, labels="nope")


def test_cli_explain(logged) -> None:
    model_id, path = logged
    result = CliRunner().invoke(
        cli, ["explain", "models:/late/1", "--data", path, "--labels", "label"]
    )
    assert result.exit_code == 0, result.output
    assert f"model {model_id}: clarity.status=ok" in result.output
    assert "shap" in result.output


def test_cli_explain_usage_errors_exit_2(logged) -> None:
    result = CliRunner().invoke(cli, ["explain", "models:/late/1", "--data", "nope.txt"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = CliRunner().invoke(cli, ["explain", "models:/nosuch/1", "--data", logged[1]])
    assert result.exit_code == 2
