"""Checks an operator can run every hour: which rule fired, real batches, kept outputs."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.layout import CHECK_FILES
from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.check.attribution_drift import fewer_rows_reason
from mlflow_clarity.monitors.check.batch_columns import NOT_MODEL_INPUTS, BatchColumns
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.runner import check_model
from mlflow_clarity.monitors.review.policy import Policy, PolicyError

from models import classification_data, logistic

OFF = 1e9  # a threshold no statistic reaches: turns a rule off


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 20_000
    return pd.DataFrame(
        {
            "income": rng.normal(50.0, 10.0, rows),
            "city": rng.choice(["paris", "lyon", "nice", "brest"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def baseline(reference: pd.DataFrame) -> Baseline:
    return build_baseline(reference)


def _drift_violation(baseline: Baseline, batch: pd.DataFrame, thresholds: dict) -> dict:
    result = check_batch(baseline, [(batch, None)], thresholds=thresholds)
    found = [v for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"]
    assert len(found) == 1, result.violations
    return found[0]


def _shifted(reference: pd.DataFrame) -> pd.DataFrame:
    return reference.head(5000).assign(income=lambda f: f["income"] + 4.0)


def _widened(reference: pd.DataFrame) -> pd.DataFrame:
    return reference.head(5000).assign(income=lambda f: 50.0 + (f["income"] - 50.0) * 1.3)


def _recity(reference: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cities = rng.choice(["paris", "lyon", "nice", "brest"], 5000, p=[0.6, 0.2, 0.1, 0.1])
    return reference.head(5000).assign(city=cities)


RULE_CASES = {
    "linf": (_shifted, {"numeric": {"psi_warn": OFF, "tail_share_warn": OFF}}, "L-infinity"),
    "psi": (_shifted, {"numeric": {"linf_robust_warn": OFF, "tail_share_warn": OFF}}, "PSI"),
    "tail_share": (
        _widened,
        {"numeric": {"linf_robust_warn": OFF, "psi_warn": OFF}},
        "change of the share beyond the outer deciles",
    ),
    "share_change": (
        _recity,
        {"categorical": {"psi_warn": OFF}},
        "largest change of a value's share",
    ),
    "categorical psi": (_recity, {"categorical": {"linf_robust_warn": OFF}}, "PSI"),
}


@pytest.mark.parametrize("case", sorted(RULE_CASES))
def test_a_violation_names_the_rule_that_fired_first(
    reference: pd.DataFrame, baseline: Baseline, case: str
) -> None:
    make, thresholds, label = RULE_CASES[case]
    rule = case.split()[-1]
    violation = _drift_violation(baseline, make(reference), thresholds)
    description = violation["description"]
    sentence, fired = description.split("Other rules:")[0].split(". ", 1)
    assert sentence.startswith("Baseline drift distance: ")  # SageMaker's sentence first
    assert "exceeds threshold: " in sentence
    assert fired.startswith(f"{label} ")
    assert f"(rule {rule};" in fired and ">= threshold" in fired
    assert "Method:" in description and "n=5000 vs baseline n=20000" in description


def test_drift_json_names_the_rule_and_ok_columns_carry_no_level(
    reference: pd.DataFrame, baseline: Baseline
) -> None:
    result = check_batch(baseline, [(_widened(reference), None)])
    income = result.drift["columns"]["income"]["distribution"]
    city = result.drift["columns"]["city"]["distribution"]
    assert income["status"] == "drift" and income["level"] in ("warn", "alert")
    assert income["rule"]["name"] == "tail_share"
    assert income["rule"]["value"] >= income["rule"]["threshold"] == 0.04
    assert {r["name"] for r in income["rules"]} == {"linf", "psi", "tail_share"}
    assert city["status"] == "ok" and "level" not in city
    assert {r["name"] for r in city["rules"]} == {"share_change", "psi"}


def _with_extras(x: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """A real batch: the model's inputs with an id, event times, logged outputs and labels."""
    times = pd.date_range("2025-03-01T00:00:00Z", periods=len(x), freq="s")
    return x.assign(
        request_id=[f"r-{i}" for i in range(len(x))],
        served_at=times.astype(str),
        prediction=y.to_numpy(),
        proba_1=np.linspace(0, 1, len(x)),
        label=y.to_numpy(),
    )


@pytest.fixture
def churn(tracking: str) -> tuple[pd.DataFrame, pd.Series]:
    """A registered logistic regression logged with a baseline (no explanations)."""
    x, y = classification_data(rows=2000)
    mlflow_clarity.autolog(steps=["baseline"])
    mlflow.set_experiment("check-batches")  # not an active experiment of another store
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="churn")
    return classification_data(rows=2000, seed=1)


def test_a_clean_batch_with_ids_times_outputs_and_labels_passes(churn) -> None:
    batch = _with_extras(*churn)
    result = check_model("models:/churn/1", batch, experiment=None, attribution=False)
    assert result.passed, result.violations
    schema = result.drift["schema"]
    assert schema["extra_columns"] == ["request_id", "served_at", "prediction", "proba_1", "label"]
    assert schema["strict_columns"] is False and schema["missing_columns"] == []
    strict = check_model(
        "models:/churn/1", batch, experiment=None, attribution=False, strict_columns=True
    )
    assert {v["feature_name"] for v in strict.violations} == set(schema["extra_columns"])
    assert {v["constraint_check_type"] for v in strict.violations} == {"extra_column_check"}
    named = check_model(
        "models:/churn/1",
        batch,
        "label",
        experiment=None,
        attribution=False,
        strict_columns=True,
        ignore_columns=["prediction", "proba_1"],
        id_column="request_id",
        timestamp_column="served_at",
    )
    assert named.passed, named.violations
    assert named.drift["schema"]["ignored_columns"] == {
        "request_id": "id column",
        "served_at": "timestamp column",
        "prediction": "ignore_columns",
        "proba_1": "ignore_columns",
    }
    assert named.drift["quality"]["status"] == "ok"  # the label column gave quality
    assert named.drift["batch"]["id"] == {
        "column": "request_id",
        "present": True,
        "rows_with_id": 2000,
    }
    span = named.drift["batch"]["time_range"]
    assert span["first"].startswith("2025-03-01T00:00:00")
    assert span["last"].startswith("2025-03-01T00:33:19") and span["unparsed"] == 0


def test_cli_without_logging_keeps_the_files_and_says_where(
    churn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _with_extras(*churn).to_csv("batch.csv", index=False)
    runner = CliRunner()
    args = ["check", "models:/churn/1", "--data", "batch.csv", "--no-log", "--budget", "5"]
    passed = runner.invoke(cli, [*args, "--ignore-columns", "prediction, proba_1"])
    assert passed.exit_code == 0, passed.output
    assert "info: not in the baseline, not checked: request_id, served_at, label" in passed.output
    assert "prediction (ignore_columns)" in passed.output
    [folder] = tmp_path.glob("clarity-check-*Z")
    assert f"files written to {folder}" in passed.output
    assert {p.name for p in folder.iterdir()} == set(CHECK_FILES.values())
    stored = json.loads((folder / "drift.json").read_text())
    assert stored["schema"]["ignored_columns"] == {
        "prediction": "ignore_columns",
        "proba_1": "ignore_columns",
    }
    strict = runner.invoke(cli, [*args, "--strict-columns", "--id", "request_id"])
    assert strict.exit_code == 1, strict.output
    assert "extra_column_check served_at" in strict.output
    assert "extra_column_check request_id" not in strict.output
    assert len(list(tmp_path.glob("clarity-check-*"))) == 2  # a second folder, never reused
    result = check_model("models:/churn/1", churn[0], experiment=None, attribution=False)
    assert result.files["drift"].parent.parent == tmp_path


def test_reference_columns_that_were_not_model_inputs_are_ignored(
    reference: pd.DataFrame, baseline: Baseline
) -> None:
    stored = Baseline(
        baseline.profile,
        baseline.predictions,
        {**baseline.manifest, NOT_MODEL_INPUTS: ["customer_id"]},
    )
    batch = reference.head(1000).assign(customer_id=range(1000))
    columns = BatchColumns(strict=True)
    result = check_batch(stored, [(batch, None)], columns=columns)
    assert result.passed, result.violations
    assert result.drift["schema"]["ignored_columns"] == {
        "customer_id": "not a model input at log time"
    }
    ignored = check_batch(baseline, [(batch, None)], columns=BatchColumns(("income",), True))
    assert "income" not in ignored.drift["columns"]
    assert [v["feature_name"] for v in ignored.violations] == ["customer_id"]


def test_review_policies_take_ignore_columns() -> None:
    policy = Policy.from_mapping({"ignore_columns": ["request_id"]})
    assert policy.ignore_columns == ("request_id",)
    with pytest.raises(PolicyError, match="list of names"):
        Policy.from_mapping({"ignore_columns": "request_id"})


def test_fewer_rows_explained_than_sampled_says_why() -> None:
    card = {"rows_explained": 120, "truncated": "time budget: explained 120 of 500 rows"}
    assert fewer_rows_reason(card, 500) == "time budget: explained 120 of 500 rows"
    assert fewer_rows_reason({**card, "rows_explained": 500}, 500) is None
    assert fewer_rows_reason({"rows_explained": 9, "notes": ["NaN rows left out"]}, 10) == (
        "NaN rows left out"
    )


def test_a_column_empty_in_the_reference_is_compared_by_completeness_only() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"income": rng.normal(50.0, 10.0, 2_000), "empty": np.nan})
    batch = reference.head(1_000).assign(empty=1.0)
    result = check_batch(build_baseline(reference), [(batch, None)])
    distribution = result.drift["columns"]["empty"]["distribution"]
    assert distribution["status"] == "no_baseline_values", distribution
    assert result.passed, result.violations
