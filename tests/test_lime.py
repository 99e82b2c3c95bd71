"""The built-in lime explainer and the SHAP-LIME agreement step."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.pipeline import run_pipeline

from helpers import config, context
from models import regression_data


def _explainers(names: tuple[str, ...] = ("shap", "lime", "agreement")):
    return [s for s in get_plugin_manager().steps() if s.spec.name in names]


def _run(tmp_path: Path, model: Any, x: pd.DataFrame, names=("shap", "lime", "agreement"), **lime):
    ctx = context(x, model=model)
    options = {"shap": {"plots": False}, "lime": {"num_samples": 1000, **lime}}
    results = run_pipeline(ctx, _explainers(names), config(step_options=options), tmp_path)
    return {r.name: r for r in results}


def _json(tmp_path: Path, name: str) -> Any:
    return json.loads((tmp_path / "explanations" / name).read_text())


def _linear_on_three_of_ten() -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 10)), columns=[f"x{i}" for i in range(10)])
    y = 3 * x["x0"] - 2 * x["x1"] + 1.5 * x["x2"]
    return LinearRegression().fit(x, y), x


def test_shap_and_lime_agree_on_a_linear_model(tmp_path: Path) -> None:
    model, x = _linear_on_three_of_ten()
    results = _run(tmp_path, model, x, num_samples=5000)
    assert all(r.status == "ok" for r in results.values()), results
    agreement = _json(tmp_path, "agreement.json")
    assert agreement["overall"]["feature_agreement@3"] == 1.0
    assert agreement["overall"]["sign_agreement@3"] == 1.0
    assert agreement["rows_compared"] == 10
    assert results["agreement"].metrics["clarity.agreement.feature_agreement_at_3"] == 1.0


def test_explanations_report_fit_and_stability(tmp_path: Path) -> None:
    model, x = _linear_on_three_of_ten()
    results = _run(tmp_path, model, x, names=("lime",), rows=4)
    explained = _json(tmp_path, "lime/explanations.json")["rows"]
    assert len(explained) == 4
    for row in explained:
        assert set(row["weights"]) <= set(x.columns)
        assert 0 <= row["r2"] <= 1 and row["abs_error"] >= 0
        assert 0 <= row["stability_jaccard"] <= 1
        assert row["model_prediction"] == pytest.approx(
            model.predict(x.iloc[[row["reference_row"]]])[0]
        )
    quality = _json(tmp_path, "lime/quality.json")
    assert quality["stability"]["seeds"] == [0, 1, 2]
    assert results["lime"].metrics["clarity.lime.rows_explained"] == 4


def test_rows_spread_over_the_output_range(tmp_path: Path) -> None:
    model, x = _linear_on_three_of_ten()
    _run(tmp_path, model, x, names=("lime",), rows=5)
    rows = [r["reference_row"] for r in _json(tmp_path, "lime/explanations.json")["rows"]]
    predictions = model.predict(x)
    assert predictions.argmin() in rows and predictions.argmax() in rows


def test_same_seed_same_files(tmp_path: Path) -> None:
    model, x = _linear_on_three_of_ten()
    _run(tmp_path / "a", model, x)
    _run(tmp_path / "b", model, x)
    for name in ("lime/explanations.json", "lime/quality.json", "agreement.json"):
        first = (tmp_path / "a/explanations" / name).read_bytes()
        assert first == (tmp_path / "b/explanations" / name).read_bytes(), name


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=200, cols=3)
    x = x.rename(columns={"x0": "<script>alert(1)</script>"})
    model = LinearRegression().fit(x, y)
    _run(tmp_path, model, x, names=("lime",), rows=2, min_r2=1.01)
    pages = list((tmp_path / "explanations/lime/rows").glob("*.html"))
    assert len(pages) == 2
    for page in pages:
        html = page.read_text()
        assert not re.search(r"https?:|//[a-z]|<script|src=|url\(|@import", html, re.I)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "Low fidelity" in html  # min_r2 above 1 flags every row
    assert all(r["low_fidelity"] for r in _json(tmp_path, "lime/explanations.json")["rows"])


@pytest.mark.slow
def test_classifier_with_string_and_categorical_columns(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "city": rng.choice([f"city{i}" for i in range(300)], size=600),  # hundreds of levels
            "plan": pd.Categorical(rng.choice(["basic", "pro"], size=600)),
            "usage": rng.normal(size=600),
            "constant": 1.0,
        }
    )
    y = np.select([x["usage"] > 0.5, x["plan"] == "pro"], ["high", "mid"], "low")
    pipe = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"])],
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=500),
    ).fit(x, y)
    results = _run(tmp_path, pipe, x, rows=4)
    assert results["lime"].status == "ok", results["lime"].reason
    explained = _json(tmp_path, "lime/explanations.json")["rows"]
    assert explained[0]["explained_output"] in {"high", "mid", "low"}
    assert results["agreement"].status == "ok"


def test_torch_model(tmp_path: Path) -> None:
    from models import torch_regressor

    x, y = regression_data(rows=200, cols=4)
    results = _run(tmp_path, torch_regressor(x, y), x, rows=3)
    assert results["lime"].status == "ok" and results["agreement"].status == "ok"


class _FailsAroundLargeValues:
    """A model that fails on batches built around a row with x0 above 2.

    LIME's batch for a row starts with the row itself.
    """

    def predict(self, frame):
        if frame["x0"].iloc[0] > 2:
            raise ValueError("x0 out of range")
        return frame["x0"] * 2.0


def test_a_failing_row_is_recorded_and_the_others_explained(tmp_path: Path) -> None:
    x, _ = regression_data(rows=300, cols=3)
    x["x0"] = np.linspace(-1, 1.5, 300)
    x.loc[299, "x0"] = 5.0  # the largest output: chosen, and fails
    results = _run(tmp_path, _FailsAroundLargeValues(), x, names=("lime",), rows=4)
    assert results["lime"].status == "ok"
    data = _json(tmp_path, "lime/explanations.json")
    assert len(data["rows"]) >= 1
    assert any("x0 out of range" in f["reason"] for f in data["failed_rows"])


def test_agreement_skips_without_shap(tmp_path: Path) -> None:
    model, x = _linear_on_three_of_ten()
    results = _run(tmp_path, model, x, names=("lime", "agreement"), rows=2)
    assert results["agreement"].status == "skipped"
    assert "needs both" in results["agreement"].reason


def test_model_lime_cannot_call_is_skipped(tmp_path: Path) -> None:
    class Broken:
        def predict(self, frame):
            raise RuntimeError("no")

    x, _ = regression_data(rows=50, cols=2)
    results = _run(tmp_path, Broken(), x, names=("lime",))
    assert results["lime"].status == "skipped"
    assert "cannot be called" in results["lime"].reason


class _Slow:
    """A model that takes 50 ms per call."""

    def predict(self, frame):
        import time

        time.sleep(0.05)
        return frame["x0"] * 2.0


def test_lime_stays_within_its_share_of_the_budget(tmp_path: Path) -> None:
    x, _ = regression_data(rows=200, cols=3)
    ctx = context(x, model=_Slow())
    options = {"lime": {"num_samples": 500, "rows": 40}}
    (result,) = run_pipeline(
        ctx, _explainers(("lime",)), config(budget_s=5.0, step_options=options), tmp_path
    )
    assert result.status == "ok", result.reason  # not timed out: it stopped by itself
    data = _json(tmp_path, "lime/explanations.json")
    assert 1 <= len(data["rows"]) < 40
    assert any(f["reason"] == "time budget used up" for f in data["failed_rows"])
    explained = len(data["rows"])
    assert result.truncated.startswith(f"time budget: explained {explained} of 40 rows")
    measured = sum(row["stability_jaccard"] is not None for row in data["rows"])
    if measured < explained:  # rows first: stability under the other seeds if time is left
        assert f"stability under 3 seeds on {measured} of {explained} rows" in result.truncated
