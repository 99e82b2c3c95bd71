"""Typical tabular models within the default budget: sklearn pipelines ending in trees get
exact TreeSHAP per input column, every step stops at its share and says so, and the
documented defaults are the ones in the code (issue 16)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_clarity.config import DEFAULT_BUDGET_S, EXPLAIN_BUDGET_S, ClarityConfig
from mlflow_clarity.explainers.lime import step as lime_step
from mlflow_clarity.explainers.shap import step as shap_step
from mlflow_clarity.explainers.shap.algorithms import AlgorithmUnavailable, input_owners
from mlflow_clarity.pipeline import run_pipeline

from helpers import config, context, registered

DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _mixed(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "num0": rng.normal(size=rows),
            "num1": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], size=rows)),
        }
    )
    logit = 2 * x["num0"] + (x["colour"] == "red") * 1.5 - (x["size"] == "L") * 1.0
    return x, pd.Series((logit + rng.normal(size=rows) > 0).astype(int))


def _pipeline(final: Any, x: pd.DataFrame, y: pd.Series) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), ["num0", "num1"]),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
        ]
    )
    return make_pipeline(columns, final).fit(x, y)


def _shap(tmp_path: Path, model: Any, x: pd.DataFrame, budget_s: float = 60.0) -> Any:
    (spec,) = shap_step.clarity_explainers()
    cfg = config(budget_s=budget_s, step_options={"shap": {"plots": False}})
    (result,) = run_pipeline(context(x, model=model), [registered(spec)], cfg, tmp_path)
    assert result.status == "ok", result.reason
    folder = tmp_path / "explanations/shap"
    card = json.loads((folder / "card.json").read_text())
    quality = json.loads((folder / "quality.json").read_text())
    return result, card, quality, pd.read_parquet(folder / "values.parquet")


def test_pipeline_ending_in_trees_gets_tree_shap_summed_per_input_column(tmp_path) -> None:
    import shap
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _mixed(400)
    model = _pipeline(GradientBoostingClassifier(n_estimators=20, random_state=0), x, y)
    result, card, quality, values = _shap(tmp_path, model, x)
    assert card["explainer"] == "pipeline_tree", card["fallbacks"]
    assert card["output_space"] == "margin (log-odds)"
    assert result.metrics["clarity.shap.rows_explained"] == 400  # trees: every reference row
    assert quality["additivity"]["max"] < 1e-6
    # the same as TreeSHAP on the transformed columns, one-hot columns added per input
    values = values.sort_values("reference_row")
    transformed = model[:-1].transform(x.iloc[values["reference_row"].to_numpy()])
    per_output = shap.TreeExplainer(model[-1]).shap_values(transformed)
    grouped = np.column_stack(
        [per_output[:, :2], per_output[:, 2:5].sum(axis=1), per_output[:, 5:8].sum(axis=1)]
    )
    columns = list(x.columns)
    np.testing.assert_allclose(values[columns].to_numpy(), grouped, atol=1e-9)
    ranking = json.loads((tmp_path / "explanations/shap/global.json").read_text())["ranking"]
    assert ranking[0] == "num0" and ranking[-1] == "num1"


def test_pipeline_ending_in_a_linear_model_gets_the_closed_form_per_input_column(
    tmp_path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _mixed(400)
    model = _pipeline(LogisticRegression(), x, y)
    _, card, quality, values = _shap(tmp_path, model, x)
    assert card["explainer"] == "pipeline_linear", card["fallbacks"]
    assert card["output_space"] == "margin (log-odds)"
    assert quality["additivity"]["max"] < 1e-9
    # closed form: coef * (z - background mean of z), one-hot columns added per input
    background = pd.read_parquet(tmp_path / "explanations/shap/background.parquet")
    values = values.sort_values("reference_row")
    rows = x.iloc[values["reference_row"].to_numpy()]
    centred = model[:-1].transform(rows) - model[:-1].transform(background[x.columns]).mean(0)
    terms = np.asarray(centred) * model[-1].coef_[0]
    expected = np.column_stack(
        [terms[:, 0], terms[:, 1], terms[:, 2:5].sum(axis=1), terms[:, 5:8].sum(axis=1)]
    )
    np.testing.assert_allclose(values[list(x.columns)].to_numpy(), expected, atol=1e-9)


def test_preprocessing_that_mixes_columns_falls_back_with_the_reason(tmp_path) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = x["a"] * x["b"] + x["c"]
    model = make_pipeline(
        PolynomialFeatures(degree=2), RandomForestRegressor(n_estimators=5, random_state=0)
    ).fit(x, y)
    _, card, quality, _ = _shap(tmp_path, model, x.head(30))
    assert card["explainer"] == "exact"
    (fallback,) = card["fallbacks"]
    assert fallback["explainer"] == "pipeline_tree"
    assert "mixes input columns" in fallback["reason"]
    assert quality["additivity"]["max"] < 1e-6


def test_input_owners_trace_each_transformed_column() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, _ = _mixed(50)
    columns = ColumnTransformer(
        [("n", StandardScaler(), ["num1", "num0"]), ("c", OneHotEncoder(), ["size"])],
        remainder="drop",
    ).fit(x)
    # num1, num0, then size's three categories; colour is dropped
    assert input_owners(columns, x).tolist() == [1, 0, 3, 3, 3]
    numeric = x[["num0", "num1"]]
    try:
        input_owners(PCA(n_components=2).fit(numeric), numeric)
    except AlgorithmUnavailable as exc:
        assert "'num0' and 'num1'" in str(exc)
    else:
        raise AssertionError("PCA mixes its input columns")


def test_tree_shap_stops_at_its_share_and_says_how_far_it_got(tmp_path) -> None:
    """A forest too slow to explain every row in the budget: the step is ok, explains a
    prefix, and records how many of the rows it wanted."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = _mixed(3000)
    forest = RandomForestClassifier(n_estimators=60, random_state=0, n_jobs=1)
    model = _pipeline(forest, x, y)
    result, card, _, values = _shap(tmp_path, model, x, budget_s=2.0)
    explained = int(result.metrics["clarity.shap.rows_explained"])
    assert 1 <= explained < 3000
    assert result.truncated == card["truncated"]
    assert f"explained {explained:,} of 3,000 rows with pipeline_tree" in result.truncated
    assert values["reference_row"].nunique() == explained


def test_documented_defaults_are_the_code_defaults() -> None:
    """docs/performance.md states the defaults; they must be the code's."""
    text = DOCS.read_text()
    documented = {
        name: float(value.replace(",", ""))
        for name, value in re.findall(r"^\| `([^`]+)` \| ([\d,.]+) ", text, flags=re.M)
    }
    assert documented == {
        "budget_s": DEFAULT_BUDGET_S,
        "explain --budget": EXPLAIN_BUDGET_S,
        "sample_rows": ClarityConfig().sample_rows,
        "shap.tree_max_rows": shap_step.TREE_MAX_ROWS,
        "shap.background_rows": shap_step.BACKGROUND_ROWS,
        "lime.rows": lime_step.ROWS,
        "lime.num_samples": lime_step.NUM_SAMPLES,
    }
    assert ClarityConfig().budget_s == DEFAULT_BUDGET_S


def test_logged_pipeline_and_its_check_explain_with_tree_shap(tracking: str) -> None:
    """log_model with the default settings, then a check: the pipeline's trees explain
    the whole 500-row attribution sample, with nothing to say about fewer rows."""
    import mlflow
    from sklearn.ensemble import GradientBoostingClassifier

    import mlflow_clarity

    x, y = _mixed(3000)
    model = _pipeline(GradientBoostingClassifier(n_estimators=20, random_state=0), x, y)
    mlflow_clarity.autolog()
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(model, name="m", serialization_format="cloudpickle")
    batch, _ = _mixed(800, seed=1)
    result = mlflow_clarity.check(f"models:/{info.model_id}", batch, experiment=None)
    attribution = result.drift["attribution"]
    assert attribution["explainer"] == "pipeline_tree"
    assert attribution["rows"] == attribution["rows_sampled"] == 500
    assert attribution["fewer_rows_reason"] is None
    assert attribution["ndcg"] > 0.95  # same distribution: same ranking


def test_outputs_profile_out_of_time_keeps_the_samples_outputs() -> None:
    """No chunk of model outputs fits: the sample's outputs (computed anyway) are the
    profile, so later checks still have one, and the manifest says so."""
    import time

    from sklearn.linear_model import LogisticRegression

    from mlflow_clarity.monitors.baseline.step import build

    x, y = _mixed(3000)
    numeric = x[["num0", "num1"]]
    ctx = context(numeric, y, model=LogisticRegression().fit(numeric, y), sample_rows=500)
    baseline = build(ctx.reference, ctx=ctx, deadline=time.monotonic())
    assert baseline.predictions is not None and baseline.predictions.item_count == 500
    assert baseline.manifest["truncated"] == (
        "time budget: model outputs profiled on the 500 rows of the seeded sample of all 3,000 "
        "rows (time ran out after 0 rows in file order)"
    )
    assert baseline.manifest["quality"]["metrics"]["accuracy"] > 0.5  # on the sample's labels
    assert baseline.profile.item_count == 3000  # the inputs are always profiled in full


def test_pipeline_tree_without_reference_data_traces_columns_on_the_background() -> None:
    """Online explanations have a stored background and no reference data."""
    from sklearn.ensemble import GradientBoostingClassifier

    from mlflow_clarity.data.encoding import TableEncoding
    from mlflow_clarity.explainers.shap.algorithms import ExplainSetup, pipeline_tree

    x, y = _mixed(300)
    model = _pipeline(GradientBoostingClassifier(n_estimators=10, random_state=0), x, y)
    encoding = TableEncoding.fit(x)
    matrix = encoding.encode(x)
    setup = ExplainSetup(context(model=model), encoding, None)
    attribution = pipeline_tree(setup, matrix[:5], matrix[100:200])
    assert attribution.values.shape == (5, 4, 1)
    total = attribution.values.sum(axis=1) + attribution.base
    np.testing.assert_allclose(total, attribution.output, atol=1e-9)


def test_cli_explain_takes_its_own_budget(tracking: str) -> None:
    """`mlflow-clarity explain` is the way to bigger explanations: its budget is its own
    (120 s unless --budget), not log_model's default."""
    import mlflow
    from click.testing import CliRunner

    import mlflow_clarity
    from mlflow_clarity.cli import cli

    from helpers import status
    from models import classification_data, logistic

    x, y = classification_data(rows=200)
    mlflow_clarity.autolog(disable=True)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    mlflow_clarity.autolog(sample_rows=100, steps=["baseline"])
    x.to_csv("train.csv", index=False)
    uri = f"models:/{info.model_id}"
    result = CliRunner().invoke(cli, ["explain", uri, "--data", "train.csv", "--budget", "30"])
    assert result.exit_code == 0, result.output
    assert status(info.model_id)["config"]["budget_s"] == 30
    assert CliRunner().invoke(cli, ["explain", uri, "--data", "train.csv"]).exit_code == 0
    assert status(info.model_id)["config"]["budget_s"] == EXPLAIN_BUDGET_S


def test_compilation_that_cannot_fit_is_refused_with_the_reason(tmp_path) -> None:
    """The first exact or permutation explanation in a process compiles shap's code
    (seconds): with less time left than that, a skip with the reason, never a step
    abandoned in the middle of the compilation."""
    from sklearn.linear_model import LinearRegression

    from models import regression_data

    x, y = regression_data(rows=60, cols=12)
    (spec,) = shap_step.clarity_explainers()
    options = {"shap": {"explainer": "permutation", "plots": False}}
    ctx = context(x, model=LinearRegression().fit(x, y))
    was_compiled = shap_step._COMPILED.is_set()
    shap_step._COMPILED.clear()  # as in a fresh process
    try:
        cfg = config(budget_s=3.0, step_options=options)
        (result,) = run_pipeline(ctx, [registered(spec)], cfg, tmp_path)
    finally:
        if was_compiled:
            shap_step._COMPILED.set()
    assert result.status == "skipped"
    assert "compiles its permutation code once per process" in result.reason
    assert "budget_s" in result.reason
