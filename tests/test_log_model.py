"""Every flavor's log_model stores clarity/ inside the logged model (real sqlite store)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

import mlflow_clarity

from helpers import clarity_file, model_tags, status, steps_by_name
from models import classification_data, logistic, regression_data, torch_regressor


@pytest.fixture(autouse=True)
def _small(tracking: str) -> None:
    mlflow_clarity.autolog(sample_rows=150, budget_s=60)


def client_files(model_id: str, path: str) -> list[str]:
    """Paths of the LoggedModel's artifacts under ``path``."""
    return [a.path for a in mlflow.MlflowClient().list_logged_model_artifacts(model_id, path)]


def _assert_stored(model_id: str, source: str) -> dict:
    report = status(model_id)
    steps = {s["name"]: s for s in report["steps"]}
    assert report["status"] == "ok", report
    assert steps["shap"]["status"] == "ok" and steps["baseline"]["status"] == "ok"
    assert report["reference"]["source"] == source
    assert "explanations/shap/global.json" in steps["shap"]["artifacts"]
    assert "monitoring/profile.json" in steps["baseline"]["artifacts"]
    assert model_tags(model_id)["clarity.status"] == "ok"
    return report


def test_sklearn_estimator_with_explicit_data_and_registration() -> None:
    x, y = classification_data()
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="clf")
    report = _assert_stored(info.model_id, "explicit")
    assert report["reference"]["n_rows"] == 300 and report["reference"]["has_labels"]
    version = mlflow.MlflowClient().get_model_version("clf", "1")
    assert version.tags["clarity.status"] == "ok"
    # the artifacts travel with the registered version
    profile = mlflow.artifacts.download_artifacts("models:/clf/1/clarity/monitoring/profile.json")
    assert profile.endswith("profile.json")
    logged = mlflow.MlflowClient().get_logged_model(info.model_id).metrics
    metrics = {m.key: m.value for m in logged}
    assert len(metrics) <= 15  # the headline figures; the rest stay in status.json
    # the reference data is an input of the run, and the UI lists it as "Datasets used"
    assert {(m.dataset_name, m.dataset_digest) for m in logged} == {
        (d.dataset.name, d.dataset.digest)
        for d in mlflow.MlflowClient().get_run(info.run_id).inputs.dataset_inputs
        if any(t.key == "mlflow.data.context" and t.value == "reference" for t in d.tags)
    }
    assert metrics["clarity.baseline.rows"] == 300
    assert 0 <= metrics["clarity.lime.r2_mean"] <= 1
    assert 0 <= metrics["clarity.agreement.feature_agreement_at_3"] <= 1
    lime_pages = client_files(info.model_id, "clarity/explanations/lime/rows")
    assert len(lime_pages) == 10 and all(p.endswith(".html") for p in lime_pages)
    assert mlflow.pyfunc.load_model(info.model_uri).predict(x.head(3)).shape == (3,)


def test_sklearn_pipeline_with_logged_training_dataset() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = classification_data()
    model = make_pipeline(StandardScaler(), logistic(x, y)).fit(x, y)
    df = x.assign(label=y)
    with mlflow.start_run():
        mlflow.log_input(mlflow.data.from_pandas(df.head(10), name="holdout"), context="eval")
        mlflow.log_input(
            mlflow.data.from_pandas(df, targets="label", name="train"), context="training"
        )
        mlflow.log_input(mlflow.data.from_pandas(df.head(20), name="other"), context="test")
        info = mlflow.sklearn.log_model(model, name="pipe")
    report = _assert_stored(info.model_id, "dataset:train")
    assert report["reference"]["n_rows"] == 300 and report["reference"]["has_labels"]
    shap_card = clarity_file(info.model_id, "explanations/shap/card.json")
    assert shap_card["explainer"] == "pipeline_linear"  # scaler + logistic: closed form


def test_xgboost_with_set_reference_data() -> None:
    import xgboost as xgb

    x, y = classification_data()
    mlflow_clarity.set_reference_data(x, y)
    with mlflow.start_run():
        info = mlflow.xgboost.log_model(xgb.XGBClassifier(n_estimators=20).fit(x, y), name="xgb")
    _assert_stored(info.model_id, "explicit")
    assert clarity_file(info.model_id, "explanations/shap/card.json")["explainer"] == "native_tree"


def test_lightgbm_regressor() -> None:
    import lightgbm as lgb

    x, y = regression_data()
    with mlflow.start_run(), mlflow_clarity.reference_data(x):
        model = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(x, y)
        info = mlflow.lightgbm.log_model(model, name="lgb")
    _assert_stored(info.model_id, "explicit")
    top = model_tags(info.model_id)["clarity.shap.top_features"].split(",")
    assert top[:2] == ["x0", "x1"]


@pytest.mark.slow
def test_pytorch_with_input_example_only() -> None:
    x, y = regression_data(cols=4)
    net = torch_regressor(x, y)
    example = x.to_numpy(dtype=np.float32)[:60]
    with mlflow.start_run():
        info = mlflow.pytorch.log_model(net, name="torch", input_example=example)
    report = _assert_stored(info.model_id, "input_example")
    assert report["reference"]["n_rows"] == 60
    global_shap = clarity_file(info.model_id, "explanations/shap/global.json")
    assert global_shap["features"] == ["f0", "f1", "f2", "f3"]


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["x0"] * 2 + model_input["x1"]


def test_pyfunc_python_model() -> None:
    x, _ = regression_data(cols=3)
    with mlflow.start_run(), mlflow_clarity.reference_data(x):
        info = mlflow.pyfunc.log_model(
            name="pyfunc", python_model=_Doubler(), input_example=x.head(5)
        )
    _assert_stored(info.model_id, "explicit")
    global_shap = clarity_file(info.model_id, "explanations/shap/global.json")
    mean_abs = global_shap["outputs"]["prediction"]["mean_abs"]
    assert mean_abs["x2"] == pytest.approx(0.0, abs=1e-9)  # an unused feature gets nothing
    assert mean_abs["x0"] > mean_abs["x1"] > 0


def test_sklearn_autolog_uses_its_logged_training_data() -> None:
    from sklearn.ensemble import RandomForestRegressor

    x, y = regression_data()
    mlflow.sklearn.autolog(log_models=True, serialization_format="cloudpickle")
    try:
        with mlflow.start_run():
            RandomForestRegressor(n_estimators=10, random_state=0).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    (model,) = mlflow.search_logged_models(output_format="list")
    report = _assert_stored(model.model_id, "dataset:dataset")
    assert report["reference"]["n_rows"] == 300


def test_no_reference_data_skips_with_the_reason() -> None:
    x, y = classification_data()
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    report = status(info.model_id)
    assert report["status"] == "skipped"
    for step in report["steps"]:
        assert step["status"] == "skipped"
        assert "mlflow_clarity.reference_data" in step["reason"]
    assert model_tags(info.model_id)["clarity.status"] == "skipped"


def test_log_model_without_a_run() -> None:
    x, y = classification_data()
    with mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    assert status(info.model_id)["status"] == "ok"


def test_our_own_logging_is_not_intercepted_again() -> None:
    from mlflow_clarity import ExplainerSpec, hookimpl
    from mlflow_clarity.manager import get_plugin_manager

    x, y = classification_data()

    class Nested:
        @hookimpl
        def clarity_explainers(self):
            def log_another(ctx, ws):
                mlflow.sklearn.log_model(ctx.model, name="nested")

            return [ExplainerSpec(name="nested", run=log_another, needs_data=False)]

    get_plugin_manager().register(Nested(), name="nested-plugin")
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="outer")
    models = {m.name: m for m in mlflow.search_logged_models(output_format="list")}
    assert set(models) == {"outer", "nested"}
    assert "clarity.status" not in models["nested"].tags
    assert steps_by_name(info.model_id)["nested"]["status"] == "ok"


def test_disable_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_DISABLE", "1")
    x, y = classification_data()
    with mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    assert "clarity.status" not in model_tags(info.model_id)
    assert mlflow.MlflowClient().list_logged_model_artifacts(info.model_id, "clarity") == []


def test_disable_in_code() -> None:
    mlflow_clarity.autolog(disable=True)
    x, y = classification_data()
    with mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    assert "clarity.status" not in model_tags(info.model_id)


def test_no_steps_selected_still_records_status() -> None:
    mlflow_clarity.autolog(steps=[])
    x, y = classification_data()
    with mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    report = status(info.model_id)
    assert report["status"] == "skipped"
    assert {s["reason"] for s in report["steps"]} == {
        "not selected (MLFLOW_CLARITY_STEPS / autolog(steps=...))"
    }


def test_observers_see_the_stored_report_and_a_failing_one_is_contained(lenient) -> None:
    from mlflow_clarity import ClarityWarning, hookimpl
    from mlflow_clarity.manager import get_plugin_manager

    seen = []

    class Recorder:
        @hookimpl
        def clarity_results_stored(self, report):  # may take fewer arguments than the spec
            seen.append(report)

    class Grumpy:
        @hookimpl
        def clarity_results_stored(self, context, report):
            raise RuntimeError("observer broke")

    get_plugin_manager().register(Grumpy(), name="grumpy")
    get_plugin_manager().register(Recorder(), name="recorder")
    x, y = classification_data()
    with mlflow_clarity.reference_data(x, y), pytest.warns(UserWarning, match="observer broke"):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m")
    (report,) = seen
    assert report.model_id == info.model_id and report.status == "ok"
    assert issubclass(ClarityWarning, UserWarning)


@pytest.mark.slow
def test_thousands_of_columns() -> None:
    x, y = classification_data(rows=200, cols=2000)
    # LIME on 2,000 columns costs seconds per row: two rows keep the suite quick
    mlflow_clarity.autolog(sample_rows=150, budget_s=60, step_options={"lime": {"rows": 2}})
    with mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="wide")
    steps = steps_by_name(info.model_id)
    assert {steps[name]["status"] for name in ("baseline", "shap", "lime")} == {"ok"}
    assert len(clarity_file(info.model_id, "explanations/shap/global.json")["features"]) == 2000
