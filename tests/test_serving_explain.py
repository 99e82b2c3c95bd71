"""Online explanations of a real ``mlflow-clarity serve --explain`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import mlflow
import numpy as np
import pytest
from serving_server import ScoringServer, Store, clarity_server

import mlflow_clarity

from models import regression_data

# a logged model and real server processes per module (tens of seconds)
pytestmark = pytest.mark.slow

SLOW_MODEL = '''
import os
import time

import mlflow


class Slow(mlflow.pyfunc.PythonModel):
    """A linear model that takes CLARITY_TEST_SLOW seconds per call (when that is set)."""

    def predict(self, context, model_input, params=None):
        time.sleep(float(os.environ.get("CLARITY_TEST_SLOW", "0")))
        return (2 * model_input["x0"] - model_input["x1"]).to_numpy()


mlflow.models.set_model(Slow())
'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An xgboost regressor and a slow pyfunc model, each served with --explain."""
    import xgboost as xgb

    store = Store(tmp_path_factory.mktemp("explain"))
    x, y = regression_data(rows=500, cols=4)
    mlflow_clarity.autolog(steps=["shap"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        model = xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(x, y)
        tree = mlflow.xgboost.log_model(model, name="tree", input_example=x.head(2))
        # no SHAP at log time: the server falls back to the explainer chain's choice and
        # the baseline's reference sample as background
        sample = {"baseline": {"reference_sample_rows": 50}}
        mlflow_clarity.autolog(steps=["baseline"], step_options=sample)
        code = store.root / "slow_model.py"
        code.write_text(SLOW_MODEL)
        slow = mlflow.pyfunc.log_model(name="slow", python_model=str(code), input_example=x.head(2))
    servers = {
        "tree": clarity_server(store.root, f"models:/{tree.model_id}", store.uri, "--explain"),
        "slow": clarity_server(
            store.root,
            f"models:/{slow.model_id}",
            store.uri,
            "--explain",
            "--explain-timeout",
            "1",
            name="slow",
            env={"CLARITY_TEST_SLOW": "0.3"},
        ),
    }
    try:
        for server in servers.values():
            server.wait_ready()
        yield {"servers": servers, "x": x, "store": store, "uri": f"models:/{tree.model_id}"}
    finally:
        for server in servers.values():
            server.stop()
        store.close()


def _split(frame) -> str:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split")})


def _explained(reply) -> tuple[list[float], dict[str, Any]]:
    assert reply.status == 200 and reply.content_type == "application/json"
    body = reply.json()
    assert body["version"] == "1.0"
    assert body["predictions"]["content_type"] == "application/json"
    return json.loads(body["predictions"]["data"])["predictions"], body


def test_tree_attributions_add_up_to_the_prediction(served) -> None:
    server: ScoringServer = served["servers"]["tree"]
    rows = served["x"].head(5)
    plain = server.invoke(_split(rows), "application/json")
    explained = server.invoke(_split(rows), "application/json", **{"X-Clarity-Explain": "true"})
    predictions, body = _explained(explained)
    assert body["predictions"]["data"] == plain.body.decode()  # MLflow's answer, as it was
    records = body["explanations"]["tree_shap"]
    assert len(records) == 5
    details = body["clarity"]
    assert details["method"] == "native_tree" and details["output_space"] == "raw prediction"
    for record, prediction, base in zip(records, predictions, details["base_values"], strict=True):
        assert [f["feature_header"] for f in record] == list(rows.columns)
        total = sum(f["attributions"][0]["attribution"][0] for f in record) + base[0]
        assert total == pytest.approx(prediction, abs=1e-4)  # additivity (float32 trees)
    assert details["additivity_max_abs_error"] < 1e-4


def test_enable_explanations_expression_chooses_records(served) -> None:
    server: ScoringServer = served["servers"]["tree"]
    rows = served["x"].head(8)
    header = "X-Amzn-SageMaker-Enable-Explanations"
    predictions, body = _explained(
        server.invoke(_split(rows), "application/json", **{header: "[0] > `0.5`"})
    )
    chosen = [i for i, p in enumerate(predictions) if p > 0.5]
    assert 0 < len(chosen) < 8
    records = body["explanations"]["tree_shap"]
    assert [i for i, r in enumerate(records) if r] == chosen == body["clarity"]["explained_records"]
    _, body = _explained(server.invoke(_split(rows), "application/json", **{header: "`false`"}))
    assert body["explanations"] == {} and body["clarity"]["explained_records"] == []
    bad = server.invoke(_split(rows), "application/json", **{header: "[0] >"})
    assert bad.status == 400 and "EnableExplanations" in bad.json()["message"]


def test_explain_route_takes_csv(served) -> None:
    server: ScoringServer = served["servers"]["tree"]
    rows = served["x"].head(3)
    reply = server.request("POST", "/explain", rows.to_csv(index=False), "text/csv")
    predictions, body = _explained(reply)
    values = np.array(
        [
            [f["attributions"][0]["attribution"][0] for f in r]
            for r in body["explanations"]["tree_shap"]
        ]
    )
    assert values.shape == (3, 4)
    assert np.argmax(np.abs(values).mean(axis=0)) in (0, 1)  # the target is 3 x0 - 2 x1
    assert len(predictions) == 3


def test_wrong_columns_get_mlflows_error_not_an_explanation(served) -> None:
    server: ScoringServer = served["servers"]["tree"]
    body = json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}})
    reply = server.invoke(body, "application/json", **{"X-Clarity-Explain": "true"})
    plain = server.invoke(body, "application/json")
    assert reply.status == plain.status == 400
    assert reply.body == plain.body and "Failed to enforce schema" in reply.json()["message"]


def test_slow_explanation_times_out_and_the_prediction_is_returned(served) -> None:
    server: ScoringServer = served["servers"]["slow"]
    rows = served["x"].head(2)
    predictions, body = _explained(
        server.invoke(_split(rows), "application/json", **{"X-Clarity-Explain": "true"})
    )
    expected = (2 * rows["x0"] - rows["x1"]).tolist()
    assert predictions == pytest.approx(expected)
    assert body["explanations"] == {}
    assert body["clarity"]["method"] == "exact"
    assert body["clarity"]["method_source"].startswith("the explainer chain")
    assert "timed out after 1 s" in body["clarity"]["error"]
    assert "prediction is returned" in body["clarity"]["error"]
    plain = server.invoke(_split(rows), "application/json")  # the server still answers
    assert plain.status == 200 and plain.json()["predictions"] == pytest.approx(expected)


def test_mlflow_deployments_target_predicts_and_explains(served, tmp_path) -> None:
    from mlflow.deployments import get_deploy_client

    """`mlflow deployments run-local -t clarity` serves; the client and the CLI call it."""
    run_local = [sys.executable, "-m", "mlflow", "deployments", "run-local", "-t", "clarity"]
    run_local += ["-m", served["uri"], "--name", "local", "-C", "port={port}", "-C", "explain=true"]
    env = {"MLFLOW_TRACKING_URI": served["store"].uri}
    server = ScoringServer(run_local, served["store"].root, "run-local", env).wait_ready()
    target = f"clarity:/http://127.0.0.1:{server.port}"
    rows = served["x"].head(3)
    client = get_deploy_client(target)
    predictions = client.predict(inputs=rows)["predictions"]
    explained = client.explain(df=rows)
    assert json.loads(explained["predictions"]["data"])["predictions"] == predictions
    assert len(explained["explanations"]["tree_shap"]) == 3
    assert client.list_deployments() == [{"name": f"http://127.0.0.1:{server.port}"}]
    rows.to_json(tmp_path / "rows.json")
    out = tmp_path / "explained.json"
    command = [sys.executable, "-m", "mlflow", "deployments", "explain", "-t", target]
    command += ["--name", "local", "--input-path", str(tmp_path / "rows.json")]
    done = subprocess.run(
        [*command, "--output-path", str(out)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["explanations"]["tree_shap"] == explained["explanations"]["tree_shap"]
    server.stop()
