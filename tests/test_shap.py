"""The built-in shap explainer: the right algorithm, exact where it can be, honest quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.explainers.shap import step as shap_explainer
from mlflow_clarity.pipeline import run_pipeline
from mlflow_clarity.types import StepResult

from helpers import config, context, registered
from models import classification_data, regression_data


def _run(tmp_path: Path, model: Any, x: pd.DataFrame, flavor: str = "sklearn", **options):
    ctx = context(x, flavor=flavor, model=model)
    (spec,) = shap_explainer.clarity_explainers()
    cfg = config(budget_s=60, step_options={"shap": {"plots": False, **options}})
    (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path)
    return result


def _read(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text())


def _explain(tmp_path: Path, model: Any, x: pd.DataFrame, flavor: str = "sklearn", **options):
    result = _run(tmp_path, model, x, flavor, **options)
    assert result.status == "ok", result.reason
    folder = tmp_path / "explanations/shap"
    values = pd.read_parquet(folder / "values.parquet")
    return (
        _read(folder, "card.json"),
        values,
        _read(folder, "global.json"),
        _read(folder, "quality.json"),
    )


def _matrix(values: pd.DataFrame, columns, output=None) -> np.ndarray:
    """Values in the order of the user's data (rows are explained in sampling order)."""
    if output is not None:
        values = values[values["output"] == output]
    return values.sort_values("reference_row")[list(columns)].to_numpy()


def test_linear_model_matches_the_closed_form(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=150)
    model = LinearRegression().fit(x, y)
    card, values, _, quality = _explain(tmp_path, model, x)
    assert card["explainer"] == "linear" and card["background_rows"] == 100
    background = pd.read_parquet(tmp_path / "explanations/shap/background.parquet")
    expected = model.coef_ * (x.to_numpy() - background.to_numpy().mean(axis=0))
    np.testing.assert_allclose(_matrix(values, x.columns), expected, atol=1e-6)
    assert quality["additivity"]["max"] < 1e-6


def test_xgboost_equals_the_boosters_own_contributions(tmp_path: Path) -> None:
    import xgboost as xgb

    x, y = classification_data(rows=300)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(x, y)
    card, values, _, quality = _explain(tmp_path, model, x, flavor="xgboost")
    assert card["explainer"] == "native_tree" and card["output_space"] == "margin (log-odds)"
    native = model.get_booster().predict(xgb.DMatrix(x), pred_contribs=True)[:, :-1]
    np.testing.assert_allclose(_matrix(values, x.columns), native, atol=1e-6)
    assert quality["additivity"]["max"] < 1e-4
    assert quality["background_agreement"]["status"] == "not applicable"


def test_lightgbm_multiclass_equals_its_own_contributions(tmp_path: Path) -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    y = np.select([x["a"] > 0.5, x["b"] > 0], ["high", "mid"], "low")  # string labels
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    card, values, global_shap, quality = _explain(tmp_path, model, x, flavor="lightgbm")
    assert card["outputs"] == ["high", "low", "mid"]
    assert set(global_shap["outputs"]) == {"high", "low", "mid"}
    native = model.predict(x, pred_contrib=True).reshape(300, 3, 6)
    for k, label in enumerate(card["outputs"]):
        np.testing.assert_allclose(_matrix(values, x.columns, label), native[:, k, :-1], atol=1e-6)
    assert quality["additivity"]["max"] < 1e-4


def test_sklearn_forest_uses_tree_shap_with_probabilities(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = classification_data(rows=200)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    card, _, _, quality = _explain(tmp_path, model, x)
    assert (card["explainer"], card["output_space"]) == ("tree", "probability")
    assert quality["additivity"]["max"] < 1e-6


@pytest.mark.slow
def test_the_features_the_label_depends_on_rank_first(tmp_path: Path) -> None:
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 10)), columns=[f"x{i}" for i in range(10)])
    y = ((x["x0"] + x["x1"]) > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0).fit(x, y)
    card, _, global_shap, quality = _explain(tmp_path, model, x.head(100))
    assert card["explainer"] == "exact"  # 10 features: exact enumeration
    assert set(global_shap["ranking"][:2]) == {"x0", "x1"}
    assert quality["additivity"]["max"] < 1e-6


def test_permutation_reports_its_standard_error(tmp_path: Path) -> None:
    from sklearn.neural_network import MLPRegressor

    x, y = regression_data(rows=200, cols=12)
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(x, y)
    card, _, global_shap, quality = _explain(tmp_path, model, x.head(40))
    assert card["explainer"] == "permutation"
    assert card["model_rows_per_explained_row"] >= (2 * 12 + 1) * 100
    assert quality["additivity"]["max"] < 1e-6
    assert 0 <= quality["sampling_error"]["mean_relative"] < 0.5
    assert quality["background_agreement"]["status"] == "ok"
    assert global_shap["ranking"][:2] == ["x0", "x1"]


def test_pipeline_with_one_hot_is_explained_per_raw_column(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], size=300),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], size=300)),
            "weight": rng.normal(size=300),
        }
    )
    y = np.where((x["colour"] == "red") | (x["weight"] > 1), "yes", "no")
    pipe = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(), ["colour", "size"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(x, y)
    card, values, global_shap, quality = _explain(tmp_path, pipe, x.head(80))
    assert card["explainer"] == "pipeline_linear"  # the log-odds of the positive class
    assert global_shap["features"] == ["colour", "size", "weight"]
    assert set(card["outputs"]) == {"yes"}
    assert global_shap["ranking"][0] == "colour"
    assert quality["additivity"]["max"] < 1e-6
    assert set(values["output"]) == {"yes"}
    # model-agnostic on the raw columns: each class's probability
    card, values, global_shap, quality = _explain(
        tmp_path / "exact", pipe, x.head(80), explainer="exact"
    )
    assert card["explainer"] == "exact"
    assert set(card["outputs"]) == {"no", "yes"}
    assert global_shap["ranking"][0] == "colour"
    assert quality["additivity"]["max"] < 1e-6


def test_torch_network_uses_deep_shap(tmp_path: Path) -> None:
    from models import torch_regressor

    x, y = regression_data(rows=200, cols=4)
    net = torch_regressor(x, y)
    card, _, _, quality = _explain(tmp_path, net, x, flavor="pytorch")
    assert card["explainer"] == "deep"
    assert quality["additivity"]["max"] < 1e-3


def test_forced_explainer_and_unknown_choice(tmp_path: Path, lenient) -> None:
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=60)
    model = LinearRegression().fit(x, y)
    card, _, _, _ = _explain(tmp_path, model, x, explainer="kernel", nsamples=100)
    assert card["explainer"] == "kernel" and card["reason"] == "forced by step_options"
    result = _run(tmp_path / "again", model, x, explainer="magic")
    assert result.status == "failed" and "unknown explainer 'magic'" in result.reason


class _Broken:
    """A model whose predict always fails."""

    def predict(self, frame):
        raise RuntimeError("predict is broken")


def test_a_model_that_cannot_predict_is_skipped_with_every_reason(tmp_path: Path) -> None:
    x, _ = regression_data(rows=50)
    result: StepResult = _run(tmp_path, _Broken(), x)
    assert result.status == "skipped"
    assert "no SHAP algorithm could explain this model" in result.reason
    assert "predict is broken" in result.reason


AWKWARD = ["single-feature", "constant-column", "all-nan-column", "nan-rows"]


@pytest.mark.parametrize("case", AWKWARD)
def test_awkward_data_still_explains(tmp_path: Path, case: str) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = regression_data(rows=200, cols=3)
    if case == "single-feature":
        x = x[["x0"]]
    elif case == "constant-column":
        x["x2"] = 1.0
    elif case == "nan-rows":
        x.iloc[::7, 1] = np.nan
    model = HistGradientBoostingRegressor(max_iter=20).fit(x, y)
    if case == "all-nan-column":  # the model saw values; the reference data has none
        x["x2"] = np.nan
    card, _, global_shap, quality = _explain(tmp_path, model, x)
    assert card["explainer"] == "tree"
    assert quality["additivity"]["max"] < 1e-6
    assert global_shap["ranking"][0] == "x0"


def test_model_rejecting_missing_values_explains_complete_rows(tmp_path: Path) -> None:
    from sklearn.neural_network import MLPRegressor

    x, y = regression_data(rows=200, cols=3)
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=200, random_state=0).fit(x, y)
    x.iloc[::4, 2] = np.nan
    card, values, _, _ = _explain(tmp_path, model, x)
    assert len(values) == 150
    assert "dropped 50 row(s) with missing values" in card["notes"][0]


def test_artifacts_and_plots(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor

    x, y = regression_data(rows=300)
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, y)
    result = _run(tmp_path, model, x, plots=True)
    folder = tmp_path / "explanations/shap"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    expected = {"card.json", "global.json", "quality.json", "values.csv", "values.parquet"}
    expected |= {"background.parquet", "plots/importance.png", "plots/beeswarm.png"}
    assert expected <= names
    assert len([n for n in names if n.startswith("plots/waterfall_")]) == 3
    assert len([n for n in names if n.startswith("plots/dependence_")]) == 3
    assert (folder / "plots/importance.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(folder / "values.csv")) == 200  # the UI table is capped
    assert len(pd.read_parquet(folder / "values.parquet")) == 300  # every explained row
    global_shap = _read(folder, "global.json")
    assert set(global_shap["outputs"]["prediction"]) == {"mean_abs", "median", "mean_sq"}
    assert result.tags["clarity.shap.top_features"].startswith("x0,x1")
    assert result.metrics["clarity.shap.additivity_max"] < 1e-6


def test_trees_explain_more_rows_than_the_sample(tmp_path: Path) -> None:
    import xgboost as xgb

    x, y = regression_data(rows=3000)
    model = xgb.XGBRegressor(n_estimators=10).fit(x, y)
    ctx = context(x, flavor="xgboost", model=model, sample_rows=500)
    (spec,) = shap_explainer.clarity_explainers()
    cfg = config(step_options={"shap": {"plots": False}})
    (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path)
    assert result.metrics["clarity.shap.rows_explained"] == 3000


def _slow_mlp(rows: int = 200) -> tuple[Any, pd.DataFrame]:
    from sklearn.neural_network import MLPRegressor

    x, y = regression_data(rows=rows, cols=12)
    return MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(x, y), x


def test_sampled_rows_do_not_depend_on_how_many_fit(tmp_path: Path) -> None:
    """Rows are explained in fixed chunks, so a row's values are the same whether the
    budget allowed 7 rows or 40: a time limit changes how many rows, never their values."""
    model, x = _slow_mlp()
    _, few, _, _ = _explain(tmp_path / "few", model, x.head(40), max_rows=7)
    _, many, _, _ = _explain(tmp_path / "many", model, x.head(40))
    first = many[many["reference_row"].isin(few["reference_row"])]
    assert len(few) == 7 and len(many) == 40
    np.testing.assert_array_equal(_matrix(few, x.columns), _matrix(first, x.columns))


def test_out_of_time_keeps_the_rows_it_explained(tmp_path: Path) -> None:
    """A budget that fits a few rows only: the step is ok, says it stopped early and how
    far it got, and stores the rows it explained."""
    model, x = _slow_mlp(rows=2000)
    _explain(tmp_path / "warm", model, x.head(20), max_rows=1)  # shap's numba compiles once
    ctx = context(x, model=model)
    (spec,) = shap_explainer.clarity_explainers()
    cfg = config(budget_s=4, step_options={"shap": {"plots": False}})
    (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path / "run")
    assert result.status == "ok", result.reason
    assert result.truncated is not None and "of 2,000 rows" in result.truncated
    assert result.to_dict()["truncated"] == result.truncated
    explained = int(result.metrics["clarity.shap.rows_explained"])
    assert 1 <= explained < 2000
    card = _read(tmp_path / "run/explanations/shap", "card.json")
    assert card["truncated"] == result.truncated
    assert len(pd.read_parquet(tmp_path / "run/explanations/shap/values.parquet")) == explained
