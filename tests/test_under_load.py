"""With every core busy elsewhere and default settings, nothing is abandoned: each step
finishes by itself, ok or ok-but-truncated, and the model's results are stored."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

import mlflow_clarity
from mlflow_clarity.explainers.shap import step as shap_step
from mlflow_clarity.pipeline import run_pipeline
from mlflow_clarity.testing import cpu_load

from helpers import config, context, registered, steps_by_name
from models import regression_data


def _compile_shap_once(tmp_path: Path) -> None:
    """shap compiles its permutation code once per process (about 5 s on 2 cores, twice
    that next to a hog); the 12 s default budget refuses it when it would not fit, so
    compile it here, outside the hog, as any process that explained a model before."""
    from sklearn.linear_model import LinearRegression

    x, y = regression_data(rows=50, cols=12)
    (spec,) = shap_step.clarity_explainers()
    options = {"shap": {"explainer": "permutation", "max_rows": 1, "plots": False}}
    ctx = context(x, model=LinearRegression().fit(x, y))
    run_pipeline(ctx, [registered(spec)], config(step_options=options), tmp_path)


@pytest.mark.slow
def test_pipeline_next_to_a_cpu_hog_abandons_nothing(tracking: str, tmp_path: Path) -> None:
    from sklearn.neural_network import MLPRegressor

    x, y = regression_data(rows=600, cols=12)
    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(x, y)
    _compile_shap_once(tmp_path / "compile")
    mlflow.set_experiment("under-load")  # the store is new: no experiment is active in it
    with cpu_load(os.cpu_count() or 2), mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(model, name="m", serialization_format="cloudpickle")
    steps = steps_by_name(info.model_id)
    tabular = {"baseline", "shap", "lime", "agreement"}
    assert {name: step["status"] for name, step in steps.items() if name in tabular} == {
        "baseline": "ok",
        "shap": "ok",
        "lime": "ok",
        "agreement": "ok",
    }
    assert steps["shap"]["summary"]["explainer"] == "permutation"  # divisible work
    for step in steps.values():
        assert step["truncated"] is None or step["truncated"].startswith("time budget")
