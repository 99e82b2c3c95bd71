"""Correctness of the built-in steps: SHAP against closed forms, the profile against numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.explainers import shap_explainer
from mlflow_clarity.monitors import baseline
from mlflow_clarity.pipeline import run_pipeline

from helpers import config, context, registered
from models import classification_data, regression_data


def _shap(tmp_path: Path, model, x: pd.DataFrame, flavor: str = "sklearn", **options):
    ctx = context(x, flavor=flavor, model=model)
    (spec,) = shap_explainer.clarity_explainers()
    cfg = config(step_options={"shap": options})
    (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path)
    assert result.status == "ok", result.reason
    folder = tmp_path / "explanations/shap"
    card = json.loads((folder / "card.json").read_text())
    values = pd.read_csv(folder / "values.csv")
    return card, values, json.loads((folder / "global.json").read_text())


def test_linear_model_matches_the_closed_form(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=150)
    model = LinearRegression().fit(x, y)
    card, values, _ = _shap(tmp_path, model, x)
    assert card["explainer"] == "linear"
    background = x.to_numpy()[np.sort(np.random.default_rng(0).choice(150, 100, replace=False))]
    expected = model.coef_ * (x.to_numpy() - background.mean(axis=0))
    np.testing.assert_allclose(values[list(x.columns)].to_numpy(), expected, atol=1e-8)


def test_tree_shap_equals_xgboost_native_contributions(tmp_path: Path) -> None:
    import xgboost as xgb

    x, y = regression_data(rows=200)
    model = xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(x, y)
    card, values, _ = _shap(tmp_path, model, x, flavor="xgboost")
    assert card["explainer"] == "tree"
    native = model.get_booster().predict(xgb.DMatrix(x), pred_contribs=True)[:, :-1]
    np.testing.assert_allclose(values[list(x.columns)].to_numpy(), native, atol=1e-4)


def test_permutation_is_additive_and_classes_are_outputs(tmp_path: Path) -> None:
    from sklearn.neural_network import MLPClassifier

    x, y = classification_data(rows=120, cols=4)
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(x, y)
    card, values, global_shap = _shap(tmp_path, model, x)
    assert card["explainer"] == "permutation"
    assert card["evaluations_per_row"] >= 2 * 4 + 1
    assert card["additivity_max_abs"] < 1e-6
    assert set(values["output"].astype(str)) == {"0", "1"}
    assert set(global_shap["outputs"]) == {"0", "1"}


def test_forced_explainer_and_unknown_choice(tmp_path: Path, lenient) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=60)
    model = LinearRegression().fit(x, y)
    card, _, _ = _shap(tmp_path, model, x, explainer="permutation")
    assert card["explainer"] == "permutation" and card["reason"] == "forced by step_options"
    ctx = context(x, model=model)
    (spec,) = shap_explainer.clarity_explainers()
    (result,) = run_pipeline(
        ctx,
        [registered(spec)],
        config(step_options={"shap": {"explainer": "magic"}}),
        tmp_path / "again",
    )
    assert result.status == "failed" and "unknown explainer 'magic'" in result.reason


def test_profile_merges_chunks_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {
            "num": rng.normal(5, 2, size=25_000),
            "cat": rng.choice(["a", "b", "c"], size=25_000),
        }
    )
    x.loc[::1000, "num"] = np.nan
    x.loc[1, "num"] = np.inf
    rows, stats = baseline.profile_chunks(x.iloc[i : i + 999] for i in range(0, len(x), 999))
    assert rows == 25_000
    num = stats["num"].to_dict()
    finite = x["num"][np.isfinite(x["num"])]
    assert (num["count"], num["missing"], num["non_finite"]) == (len(finite), 25, 1)
    assert num["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert num["std_dev"] == pytest.approx(finite.std(ddof=0), rel=1e-10)
    assert (num["min"], num["max"]) == (finite.min(), finite.max())
    cat = stats["cat"].to_dict()
    assert cat["top"] == x["cat"].value_counts().to_dict() and cat["distinct"] == 3


def test_profile_counts_all_rows_not_the_sample(tmp_path: Path) -> None:
    x, _ = regression_data(rows=5000)
    ctx = context(x, sample_rows=100)
    (spec,) = baseline.clarity_monitors()
    (result,) = run_pipeline(ctx, [registered(spec)], config(), tmp_path)
    profile = json.loads((tmp_path / "monitoring/profile.json").read_text())
    assert profile["item_count"] == 5000 and result.metrics["clarity.baseline.rows"] == 5000


def test_profile_json_has_no_nan_literals(tmp_path: Path) -> None:
    x = pd.DataFrame({"empty": [np.nan] * 10, "s": ["x"] * 10})
    ctx = context(x)
    (spec,) = baseline.clarity_monitors()
    run_pipeline(ctx, [registered(spec)], config(), tmp_path)
    text = (tmp_path / "monitoring/profile.json").read_text()
    assert "NaN" not in text and json.loads(text)["columns"]["empty"]["std_dev"] is None
