"""Against a real `mlflow server` on 127.0.0.1: results land in proxied model artifacts."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

import mlflow_clarity
from mlflow_clarity import ClarityWarning, ExplainerSpec, hookimpl
from mlflow_clarity.manager import get_plugin_manager

from helpers import model_tags, status
from models import classification_data, logistic
from tracking_server import Server

pytestmark = pytest.mark.server


@pytest.fixture
def remote(server: Server) -> Iterator[Server]:
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    mlflow_clarity.autolog(sample_rows=100, budget_s=60)
    yield server
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def test_results_are_stored_in_the_models_proxied_artifacts(remote: Server) -> None:
    x, y = classification_data()
    mlflow.set_experiment("server-test")
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(logistic(x, y), name="m", registered_model_name="srv")
    client = mlflow.MlflowClient()
    assert client.get_logged_model(info.model_id).artifact_location.startswith("mlflow-artifacts:")
    files = {a.path for a in client.list_logged_model_artifacts(info.model_id, "clarity")}
    assert {"clarity/status.json", "clarity/explanations", "clarity/monitoring"} <= files
    assert status(info.model_id)["status"] == "ok"
    assert model_tags(info.model_id)["clarity.status"] == "ok"
    assert client.get_model_version("srv", "1").tags["clarity.status"] == "ok"
    local = mlflow.artifacts.download_artifacts("models:/srv/1/clarity/status.json")
    assert Path(local).read_text().startswith("{")


def test_server_that_stops_answering_does_not_hang_log_model(remote: Server, lenient) -> None:
    mlflow_clarity.autolog(sample_rows=100, budget_s=2, store_timeout_s=3)

    class Freezer:
        @hookimpl
        def clarity_explainers(self):
            def freeze(ctx, ws):
                remote.signal(signal.SIGSTOP)

            return [ExplainerSpec(name="freezer", run=freeze, needs_data=False)]

    get_plugin_manager().register(Freezer())
    x, y = classification_data()
    mlflow.set_experiment("server-freeze")
    run = mlflow.start_run()
    try:
        with pytest.warns(ClarityWarning, match="not finished after"):
            info = mlflow.sklearn.log_model(logistic(x, y), name="m")
        # log_model returned while the server was still stopped: nothing waited on it
    finally:
        remote.signal(signal.SIGCONT)  # before MLflow's own end_run talks to the server
    mlflow.end_run()
    assert run.info.run_id == info.run_id
    assert isinstance(info, mlflow.models.model.ModelInfo)
    mlflow_clarity.wait(timeout=120)
    assert len(mlflow.pyfunc.load_model(info.model_uri).predict(x.head(2))) == 2
