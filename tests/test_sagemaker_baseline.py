"""Checking against a SageMaker baseline (``--baseline-statistics``/``--baseline-constraints``).

Our own baseline, written as SageMaker files and read back, gives the same check result as
the native path; a real-format SageMaker baseline (the committed fixture) is usable as is.
"""

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
from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.baseline.step import THRESHOLDS
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.sagemaker_baseline import (
    SageMakerBaselineError,
    read_sagemaker_baseline,
    sagemaker_baseline,
)

from models import classification_data, logistic

FIXTURES = Path(__file__).parent / "fixtures" / "sagemaker"


def _table(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.lognormal(shift, 1.0, rows),
            "score": rng.normal(shift, 1.0, rows),
            "children": rng.integers(0, 4, rows),  # discrete: checked as categorical
            "visits": rng.integers(0, 5000, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


def _kinds(baseline: Baseline, batch: pd.DataFrame) -> set[tuple[str, str]]:
    result = check_batch(baseline, [(batch, None)])
    return {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}


def _batches(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    same = _table(4000, rng)
    recity = same.assign(city=rng.choice(["paris", "lyon", "brest"], 4000))
    return {
        "same": same,
        "shifted": _table(4000, rng, shift=0.5),
        "recity": recity,
        "fewer children": same.assign(children=rng.integers(0, 2, 4000)),
    }


def test_our_baseline_read_back_as_sagemaker_files_checks_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    native = build_baseline(_table(20_000, rng))
    native.write(tmp_path)
    imported = read_sagemaker_baseline(tmp_path / "statistics.json", tmp_path / "constraints.json")
    assert imported.manifest["thresholds"] == THRESHOLDS  # SageMaker's defaults: ours
    for name in native.profile.columns:
        assert imported.profile.columns[name].check_type == native.profile.columns[name].check_type
    for case, batch in _batches(rng).items():
        expected = _kinds(native, batch)
        assert _kinds(imported, batch) == expected, case
        assert bool(expected) == (case != "same"), (case, expected)


def test_a_real_format_sagemaker_baseline_is_checked_as_is() -> None:
    baseline = read_sagemaker_baseline(FIXTURES / "statistics.json", FIXTURES / "constraints.json")
    assert baseline.profile.item_count == 300
    assert baseline.profile.columns["Churn"].check_type == "categorical"  # 0/1 Integral
    rng = np.random.default_rng(11)
    rows = 2000
    batch = pd.DataFrame(
        {
            "Churn": (rng.random(rows) < 0.14).astype(int),
            "Account Length": rng.integers(1, 244, rows),
            "Day Mins": rng.normal(180, 54, rows).clip(0, 350.8),
            "State": rng.choice(["OH", "NJ", "TX", "CA"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    assert _kinds(baseline, batch) == set()
    shifted = _kinds(baseline, batch.assign(**{"Day Mins": batch["Day Mins"] + 54}))
    assert ("Day Mins", "baseline_drift_check") in shifted


def test_changed_monitoring_config_values_override_our_thresholds() -> None:
    statistics = json.loads((FIXTURES / "statistics.json").read_text())
    constraints = json.loads((FIXTURES / "constraints.json").read_text())
    config = constraints["monitoring_config"]
    config["datatype_check_threshold"] = 0.9  # SageMaker: 90 % must match
    config["distribution_constraints"]["comparison_threshold"] = 0.3
    thresholds = sagemaker_baseline(statistics, constraints).manifest["thresholds"]
    assert thresholds["datatype_check"] == pytest.approx(0.1)  # ours: at most 10 % may not
    assert thresholds["numeric"]["linf_robust_warn"] == 0.3
    assert thresholds["categorical"] == THRESHOLDS["categorical"]
    with pytest.raises(SageMakerBaselineError, match="features"):
        sagemaker_baseline({"version": 0.0}, None)


@pytest.mark.slow
def test_cli_checks_against_downloaded_sagemaker_files_like_the_native_path(
    tracking: str, tmp_path: Path
) -> None:
    x, y = classification_data(rows=1500)
    mlflow_clarity.autolog(sample_rows=200, steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="churn")
    files = Path(
        mlflow.artifacts.download_artifacts("models:/churn/1/clarity/monitoring", dst_path=".")
    )
    x.assign(x0=x["x0"] + 1.0).to_csv("drifted.csv", index=False)
    common = ["check", "models:/churn/1", "--data", "drifted.csv", "--no-log", "--no-attribution"]
    sagemaker = [
        "--baseline-statistics",
        str(files / "statistics.json"),
        "--baseline-constraints",
        str(files / "constraints.json"),
    ]
    outputs = {}
    for name, extra in (("native", []), ("sagemaker", sagemaker)):
        run = CliRunner().invoke(cli, [*common, *extra, "--output", str(tmp_path / name)])
        assert run.exit_code == 1, run.output
        stored = json.loads((tmp_path / name / "constraint_violations.json").read_text())
        outputs[name] = [
            (v["feature_name"], v["constraint_check_type"]) for v in stored["violations"]
        ]
    assert outputs["sagemaker"] == outputs["native"]  # figures differ within the sketch's error
    assert ("x0", "baseline_drift_check") in outputs["native"]
    Path("broken.json").write_text("{not json")
    bad = CliRunner().invoke(cli, [*common, "--baseline-statistics", "broken.json"])
    assert bad.exit_code == 2 and "not JSON" in bad.output
