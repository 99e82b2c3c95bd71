"""The example third-party plugin in docs/examples/acme_clarity, tested as its author would."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest

import mlflow_clarity
from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.testing import check_explainer

from helpers import clarity_file, steps_by_name
from models import classification_data, logistic

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "acme_clarity"
STEP = "acme.effect_direction"
SCRIPT = "<script>alert(1)</script>"
TITLE = "Acme: direction of effect"


@pytest.fixture
def acme(install_plugin: Callable[..., None]) -> None:
    """The example installed for real: its module, a dist-info and its entry point."""
    source = (EXAMPLE / "acme_clarity" / "plugin.py").read_text()
    install_plugin("acme-clarity", "0.1.0", "acme_clarity_plugin", source, ep_name="acme")


def test_the_example_declares_its_entry_point() -> None:
    pyproject = (EXAMPLE / "pyproject.toml").read_text()
    assert '[project.entry-points.mlflow_clarity]\nacme = "acme_clarity.plugin"' in pyproject


def test_the_example_uses_only_the_public_api() -> None:
    tree = ast.parse((EXAMPLE / "acme_clarity" / "plugin.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {n.module for n in imports if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in imports if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in modules if m and m.startswith("mlflow_clarity")} == {"mlflow_clarity"}
    public = {
        a.name for n in imports if getattr(n, "module", None) == "mlflow_clarity" for a in n.names
    }
    assert public <= set(mlflow_clarity.__all__)
    assert {"ExplainerSpec", "ReportSection", "write_json", "hookimpl"} <= public


def test_the_example_keeps_the_contract(acme: None, clarity_context) -> None:
    spec = get_plugin_manager().step(STEP).spec
    conformance = check_explainer(spec, clarity_context)  # shap (its after=) runs first
    assert conformance.ran and "imports" in conformance.passed
    directions = conformance.result.results["directions"]
    assert directions["rows"] == 300 and len(directions["features"]) == 5


def test_a_logged_model_gets_the_step_file_and_report_section(tracking: str, acme: None) -> None:
    x, y = classification_data()  # the label rises with x0 and falls with x1
    x = x.rename(columns={"x0": SCRIPT})
    mlflow_clarity.autolog(steps=["shap", STEP])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(
            logistic(x, y), name="m", serialization_format="cloudpickle"
        )
    step = steps_by_name(info.model_id)[STEP]
    assert step["status"] == "ok" and step["plugin"] == "acme"
    assert step["artifacts"] == [f"explanations/{STEP}/effect_direction.json"]
    stored = clarity_file(info.model_id, f"explanations/{STEP}/effect_direction.json")
    directions = {f["feature"]: f["direction"] for f in stored["features"]}
    assert directions[SCRIPT] == "raises" and directions["x1"] == "lowers"
    assert stored["features"][0]["feature"] == SCRIPT  # the most important
    html = clarity_file(info.model_id, "report.html").read_text()
    assert TITLE in html and "Added by plugin acme." in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;, raises the output as it grows" in html
    assert "<script>alert(1)" not in html
    card = clarity_file(info.model_id, "model_card.md").read_text()
    assert f"## {TITLE}" in card and "raises the output as it grows" in card
    assert "<script>" not in card
