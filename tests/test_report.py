"""The report page and the model card: content, escaping, regeneration, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.report.card import md
from mlflow_clarity.report.model_summary import describe_model

from helpers import clarity_file
from models import classification_data, torch_regressor

EVIL = "<script>alert(1)</script>"


def _text(model_id: str, path: str) -> str:
    return Path(clarity_file(model_id, path)).read_text(encoding="utf-8")


@pytest.fixture
def forest(tracking: str) -> tuple[str, pd.DataFrame, pd.Series]:
    """A registered random forest logged with every step, data with a hostile column name."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = classification_data(rows=600)
    x = x.rename(columns={"x1": EVIL})
    x["city"] = np.where(x["x2"] > 0, "<b>paris</b>", "lyon")
    features = x.drop(columns="city")
    mlflow_clarity.autolog(sample_rows=300)
    with mlflow.start_run():
        mlflow.log_param("n_estimators", 20)
        mlflow.log_metric("cv_auc", 0.91)
        with mlflow_clarity.reference_data(features, y):
            info = mlflow.sklearn.log_model(
                RandomForestClassifier(20, max_depth=4, random_state=0).fit(features, y),
                name="m",
                registered_model_name="forest",
                serialization_format="cloudpickle",
            )
    return info.model_id, features, y


def test_report_is_one_self_contained_page(forest) -> None:
    model_id, _, _ = forest
    html = _text(model_id, "report.html")
    assert "<h1>Clarity report: forest version 1</h1>" in html
    assert "data:image/png;base64," in html  # importance chart inlined
    for section in ("Global importance", "Local explanations", "How far to trust", "Training data"):
        assert section in html
    assert "LIME weight" in html and "SHAP value" in html  # LIME next to SHAP, same rows
    assert "additivity" in html and ">good<" in html
    assert len(html.encode()) < 5_000_000
    assert not re.search(r"<script|\bsrc=['\"]?(https?:|//)|@import|<link", html)
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_model_card_describes_model_data_run_and_explanations(forest) -> None:
    model_id, _, _ = forest
    card = _text(model_id, "model_card.md")
    assert card.startswith("# Model card: forest version 1")
    assert "sklearn.ensemble._forest.RandomForestClassifier" in card
    assert "- Trees: 20" in card and "- Maximum depth: 4" in card
    assert "| n\\_estimators | 20 |" in card and "| cv\\_auc | 0.91 |" in card
    assert "- Rows: 600" in card
    assert "## Intended use (owner)" in card and "## Limitations" in card
    assert EVIL not in card and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in card


def test_skipped_steps_show_their_reason(tracking: str) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = classification_data()
    with mlflow.start_run():  # no reference data and no input example
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="m")
    html = _text(info.model_id, "report.html")
    assert "no reference data: wrap log_model" in html
    assert "No SHAP explanation was stored." in html
    card = _text(info.model_id, "model_card.md")
    assert "No drift baseline was stored" in card


def test_checks_regenerate_the_report_and_the_cli_writes_it(forest, tmp_path: Path) -> None:
    model_id, x, y = forest
    before = _text(model_id, "report.html")
    assert "No check yet" in before
    mlflow_clarity.check("models:/forest/1", x.assign(x0=x["x0"] + 2), y)
    after = _text(model_id, "report.html")
    assert "Latest drift check" in after and "baseline_drift_check" in after
    assert "violations" in _text(model_id, "model_card.md")
    result = CliRunner().invoke(
        cli, ["report", "models:/forest/1", "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").read_text().count("Latest drift check") == 1
    assert (tmp_path / "out" / "model_card.md").exists()


def test_report_cli_without_results_exits_2(tracking: str, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = classification_data()
    mlflow_clarity.autolog(disable=True)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="m")
    result = CliRunner().invoke(
        cli, ["report", f"models:/{info.model_id}", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "mlflow-clarity explain" in result.output


def test_describe_models_of_every_kind() -> None:
    import lightgbm
    import xgboost
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = classification_data(rows=200)
    booster = xgboost.XGBClassifier(n_estimators=7, max_depth=3).fit(x, y)
    assert describe_model(booster)["trees"] == 7
    assert describe_model(booster)["max_depth"] <= 3
    light = lightgbm.LGBMClassifier(n_estimators=5, max_depth=2, verbose=-1).fit(x, y)
    assert describe_model(light)["trees"] == 5 and describe_model(light)["max_depth"] <= 2
    pipeline = describe_model(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y))
    assert [s["name"] for s in pipeline["steps"]] == ["standardscaler", "logisticregression"]
    assert pipeline["steps"][1]["parameters"]["C"] == 1.0
    module = torch_regressor(x, y.astype(float))
    summary = describe_model(module)
    assert summary["parameters"] == sum(p.numel() for p in module.parameters())
    assert any("Linear" in line for line in summary["module_tree"])


def test_markdown_escaping() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<img src=x>") == "&lt;img src=x&gt;"
    assert md("line\nbreak [link](http://x)") == "line break \\[link\\]\\(http://x\\)"
