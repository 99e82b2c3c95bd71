"""``mlflow-clarity serve`` answers exactly as ``mlflow models serve`` (a real process each)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import mlflow
import pytest
from click.testing import CliRunner
from serving_server import ScoringServer, Store, clarity_server, free_port, mlflow_server

import mlflow_clarity
from mlflow_clarity.cli import cli

from models import regression_data

# a logged model and real server processes per module (tens of seconds)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An xgboost regressor served by MLflow's own server and by ours (capture on)."""
    import xgboost as xgb

    store = Store(tmp_path_factory.mktemp("serving"))
    x, y = regression_data(rows=300, cols=4)
    mlflow_clarity.autolog(steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        model = xgb.XGBRegressor(n_estimators=20, max_depth=3).fit(x, y)
        info = mlflow.xgboost.log_model(model, name="m", input_example=x.head(3))
    uri = f"models:/{info.model_id}"
    started: list[ScoringServer] = []
    try:
        capture = store.root / "capture"
        ours = clarity_server(store.root, uri, store.uri, "--capture", str(capture))
        started.append(ours)
        theirs = mlflow_server(store.root, uri, store.uri)
        started.append(theirs)
        ours.wait_ready()
        theirs.wait_ready()
        yield {"ours": ours, "theirs": theirs, "x": x, "capture": capture, "uri": uri}
    finally:
        for server in started:
            server.stop()
        store.close()


def _payloads(x) -> dict[str, tuple[str, str]]:
    rows = x.head(5)
    return {
        "csv": (rows.to_csv(index=False), "text/csv"),
        "split": (
            json.dumps({"dataframe_split": rows.to_dict(orient="split")}),
            "application/json",
        ),
        "records": (
            json.dumps({"dataframe_records": rows.to_dict(orient="records")}),
            "application/json",
        ),
        "inputs": (json.dumps({"inputs": rows.to_dict(orient="records")}), "application/json"),
        "instances": (
            json.dumps({"instances": rows.to_dict(orient="records")}),
            "application/json; charset=utf-8",
        ),
        "malformed": ('{"dataframe_split": {"columns": [', "application/json"),
        "wrong_columns": (
            json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}),
            "application/json",
        ),
        "no_format_key": (json.dumps({"rows": [[1, 2, 3, 4]]}), "application/json"),
        "unknown_type": ("x0,x1\n1,2\n", "text/plain"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "csv",
        "split",
        "records",
        "inputs",
        "instances",
        "malformed",
        "wrong_columns",
        "no_format_key",
        "unknown_type",
    ],
)
def test_same_response_as_mlflow_models_serve(servers, name: str) -> None:
    body, content_type = _payloads(servers["x"])[name]
    ours = servers["ours"].invoke(body, content_type)
    theirs = servers["theirs"].invoke(body, content_type)
    assert (ours.status, ours.content_type) == (theirs.status, theirs.content_type)
    assert ours.body == theirs.body  # MLflow's own errors too
    if name in ("csv", "split", "records", "inputs", "instances"):
        assert ours.status == 200 and len(ours.json()["predictions"]) == 5
    else:
        assert ours.status in (400, 415)


def test_other_routes_are_mlflows(servers) -> None:
    for path in ("/ping", "/health", "/version"):
        ours = servers["ours"].request("GET", path)
        theirs = servers["theirs"].request("GET", path)
        assert (ours.status, ours.body) == (theirs.status, theirs.body)
    assert servers["ours"].request("GET", "/nothing").status == 404


def test_explanations_are_off_without_explain(servers) -> None:
    body, content_type = _payloads(servers["x"])["split"]
    asked = servers["ours"].invoke(body, content_type, **{"X-Clarity-Explain": "true"})
    assert asked.body == servers["theirs"].invoke(body, content_type).body
    route = servers["ours"].request("POST", "/explain", body, content_type)
    assert route.status == 404 and "--explain" in route.json()["message"]


def test_a_50_mb_body_is_refused_cleanly(servers) -> None:
    ours = servers["ours"]
    huge = b"x0,x1,x2,x3\n" + b"1.0,2.0,3.0,4.0\n" * (50 * 1024 * 1024 // 16)
    reply = ours.invoke(huge, "text/csv")
    assert reply.status == 413
    assert reply.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "20 MB" in reply.json()["message"]
    body, content_type = _payloads(servers["x"])["csv"]
    assert ours.invoke(body, content_type).status == 200  # still serving
    stats = ours.request("GET", "/clarity/capture-stats").json()["capture"]
    assert stats["seen"] >= 1 and stats["dropped_queue_full"] == 0


def test_explain_needs_a_stored_explainer(servers) -> None:
    """The model was logged without SHAP and without a reference sample: a clear refusal."""
    args = ["serve", servers["uri"], "--explain", "--port", str(free_port())]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "no stored SHAP background nor reference sample" in result.output
    assert "mlflow-clarity explain" in result.output


def test_a_chunked_body_over_the_limit_is_refused(servers) -> None:
    """No Content-Length: the bytes read are counted."""
    ours = servers["ours"]
    chunk = b"1.0,2.0,3.0,4.0\n" * 65536  # 1 MB
    reply = ours.invoke(iter([b"x0,x1,x2,x3\n", *[chunk] * 21]), "text/csv")
    assert reply.status == 413 and reply.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    body, content_type = _payloads(servers["x"])["csv"]
    assert ours.invoke(body, content_type).status == 200
