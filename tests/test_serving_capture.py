"""Data capture of a real ``mlflow-clarity serve`` process, and checks on what it captured."""

from __future__ import annotations

import io
import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from serving_server import ScoringServer, Store, clarity_server

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.data.capture_files import CaptureFolder, capture_files

from models import regression_data

BATCHES, ROWS = 10, 50
SAMPLED_REQUESTS, PERCENT = 300, 30
UPLOADS = "capture-uploads"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One model, three servers: full capture, 30 % capture, an unwritable capture folder."""
    import xgboost as xgb

    store = Store(tmp_path_factory.mktemp("capture"))
    x, y = regression_data(rows=2000, cols=4)
    held_out = regression_data(rows=2000, cols=4, seed=5)  # quality as on unseen rows
    mlflow_clarity.autolog(steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(*held_out):
        model = xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(x, y)
        info = mlflow.xgboost.log_model(model, name="m", input_example=x.head(2))
    uri = f"models:/{info.model_id}"
    blocker = store.root / "not-a-folder"
    blocker.write_text("a file where the capture folder's parent should be")
    folders = {
        "full": store.root / "full",
        "sampled": store.root / "sampled",
        "unwritable": blocker / "capture",
    }
    servers: dict[str, ScoringServer] = {
        "full": clarity_server(
            store.root,
            uri,
            store.uri,
            "--capture",
            str(folders["full"]),
            "--capture-artifacts",
            "--capture-experiment",
            UPLOADS,
        ),
        "sampled": clarity_server(
            store.root,
            uri,
            store.uri,
            "--capture",
            str(folders["sampled"]),
            "--capture-percent",
            str(PERCENT),
            name="sampled",
        ),
        "unwritable": clarity_server(
            store.root, uri, store.uri, "--capture", str(folders["unwritable"]), name="ro"
        ),
    }
    try:
        for server in servers.values():
            server.wait_ready()
        yield {"uri": uri, "servers": servers, "folders": folders, "store": store}
    finally:
        for server in servers.values():
            server.stop()
        store.close()


def _split(frame) -> str:
    return json.dumps({"dataframe_split": frame.to_dict(orient="split")})


@pytest.fixture(scope="module")
def traffic(served) -> dict[str, Any]:
    """Unchanged traffic, then (from ``boundary`` on) traffic with x0 shifted; the full
    capture server is then stopped, so its files are complete."""
    server = served["servers"]["full"]
    sent: dict[str, Any] = {}
    x, y = regression_data(rows=BATCHES * ROWS, cols=4, seed=1)
    for i in range(BATCHES):
        rows = x.iloc[i * ROWS : (i + 1) * ROWS]
        reply = server.invoke(_split(rows), "application/json", **{"X-Inference-Id": f"u-{i}"})
        assert reply.status == 200
        sent[f"u-{i}"] = y.iloc[i * ROWS : (i + 1) * ROWS].tolist()
    boundary = math.floor(time.time()) + 1
    time.sleep(max(boundary - time.time(), 0) + 0.05)
    shifted = x.assign(x0=x["x0"] + 3)
    for i in range(BATCHES):
        rows = shifted.iloc[i * ROWS : (i + 1) * ROWS]
        headers = {"X-Amzn-SageMaker-Inference-Id": f"s-{i}"}
        assert server.invoke(rows.to_csv(index=False), "text/csv", **headers).status == 200
    buffer = io.BytesIO()
    shifted.head(3).to_parquet(buffer)
    parquet = server.invoke(buffer.getvalue(), "application/vnd.apache.parquet")
    assert parquet.status == 200
    failed = server.invoke(
        '{"dataframe_split": {"columns": ["a"], "data": [[1]]}}', "application/json"
    )
    assert failed.status == 400
    log = server.stop()
    return {"labels": sent, "boundary": boundary, "log": log, "requests": 2 * BATCHES + 1}


def _records(folder: Path) -> list[dict[str, Any]]:
    lines = [line for path in capture_files(folder) for line in path.read_text().splitlines()]
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_records_follow_sagemaker_data_capture_and_none_is_lost(served, traffic) -> None:
    folder = served["folders"]["full"]
    files = capture_files(folder)
    assert files and all(p.read_bytes().endswith(b"\n") for p in files)  # whole lines only
    for path in files:
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}", path.parent.relative_to(folder).as_posix())
    records = _records(folder)
    assert len(records) == traffic["requests"]  # every successful request, none lost
    encodings = set()
    for record in records:
        assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
        assert record["eventVersion"] == "0"
        inputs, outputs = (
            record["captureData"]["endpointInput"],
            record["captureData"]["endpointOutput"],
        )
        assert set(inputs) == set(outputs) == {"observedContentType", "mode", "data", "encoding"}
        assert (inputs["mode"], outputs["mode"]) == ("INPUT", "OUTPUT")
        assert outputs["encoding"] == "JSON" and "predictions" in json.loads(outputs["data"])
        encodings.add((inputs["observedContentType"], inputs["encoding"]))
        meta = record["eventMetadata"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["inferenceTime"])
        assert re.fullmatch(r"[0-9a-f-]{36}", meta["eventId"])
    assert encodings == {
        ("application/json", "JSON"),
        ("text/csv", "CSV"),
        ("application/vnd.apache.parquet", "BASE64"),
    }
    ids = {r["eventMetadata"].get("inferenceId") for r in records}
    assert ids == {*traffic["labels"], *(f"s-{i}" for i in range(BATCHES)), None}
    stats = json.loads(re.search(r"clarity capture: (\{.*\})", traffic["log"]).group(1))
    assert stats["written"] == traffic["requests"] and stats["not_captured_error_status"] == 1
    assert stats["dropped_queue_full"] == stats["dropped_write_error"] == 0


@pytest.mark.slow
def test_check_on_unchanged_capture_passes_and_joins_labels(served, traffic, tmp_path) -> None:
    labels = tmp_path / "ground_truth.jsonl"  # SageMaker's ground-truth records
    labels.write_text(
        "".join(
            json.dumps(
                {
                    "groundTruthData": {"data": ",".join(map(str, ys)), "encoding": "CSV"},
                    "eventMetadata": {"eventId": event},
                    "eventVersion": "0",
                }
            )
            + "\n"
            for event, ys in traffic["labels"].items()
        )
    )
    folder = str(served["folders"]["full"])
    args = ["check", served["uri"], "--data", folder, "--until", _utc(traffic["boundary"])]
    args += ["--labels", str(labels), "--no-log", "--no-attribution", "--output", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    drift = json.loads((tmp_path / "drift.json").read_text())
    assert drift["batch"]["rows"] == BATCHES * ROWS
    assert (
        drift["predictions"]["status"] == "ok" and "prediction" in drift["predictions"]["columns"]
    )
    assert drift["quality"]["metrics"]["n"] == BATCHES * ROWS
    assert drift["quality"]["status"] == "ok"
    assert "inferenceId" in drift["schema"]["ignored_columns"]


@pytest.mark.slow
def test_closed_hour_files_are_uploaded_to_a_monitoring_run(served, traffic, tmp_path) -> None:
    runs = mlflow.search_runs(experiment_names=[UPLOADS], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["clarity.capture"] == "true"
    assert runs[0].data.tags["clarity.model_uri"] == served["uri"]
    assert runs[0].info.status == "FINISHED"
    local = Path(mlflow.artifacts.download_artifacts(run_id=runs[0].info.run_id, dst_path=tmp_path))
    uploaded = sorted(p.relative_to(local / "capture") for p in local.rglob("*.jsonl"))
    on_disk = sorted(
        p.relative_to(served["folders"]["full"]) for p in capture_files(served["folders"]["full"])
    )
    assert uploaded == on_disk
    assert len(_records(local / "capture")) == traffic["requests"]
    stats = json.loads(re.search(r"clarity capture: (\{.*\})", traffic["log"]).group(1))
    assert stats["uploaded_files"] == len(on_disk) and stats["upload_errors"] == 0


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@pytest.mark.slow
def test_check_on_shifted_capture_flags_columns_and_predictions(served, traffic) -> None:
    batch = CaptureFolder(served["folders"]["full"], since=_utc(traffic["boundary"]))
    result = mlflow_clarity.check(
        served["uri"],
        batch,
        experiment=None,
        attribution=False,
        output_dir=served["store"].root / "shifted",
    )
    assert not result.passed
    drift = result.drift
    assert drift["batch"]["rows"] == BATCHES * ROWS + 3
    assert "x0" in drift["dataset"]["columns_drifted"]
    assert "x1" not in drift["dataset"]["columns_drifted"]
    assert drift["predictions"]["status"] == "drift"
    assert drift["predictions"]["drifted"] == ["prediction"]


def _stats(server: ScoringServer, settled: int) -> dict[str, Any]:
    """The capture counters, once ``settled`` records were written or dropped."""
    deadline = time.monotonic() + 30
    while True:
        stats = server.request("GET", "/clarity/capture-stats").json()["capture"]
        done = stats["written"] + stats["dropped_write_error"] + stats["dropped_queue_full"]
        if done >= settled or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


@pytest.mark.slow
def test_percent_sampling_is_within_its_binomial_error(served) -> None:
    server = served["servers"]["sampled"]
    x, _ = regression_data(rows=SAMPLED_REQUESTS, cols=4, seed=2)
    for i in range(SAMPLED_REQUESTS):
        assert server.invoke(x.iloc[[i]].to_csv(index=False), "text/csv").status == 200
    first = server.request("GET", "/clarity/capture-stats").json()["capture"]
    assert first["seen"] == SAMPLED_REQUESTS
    p = PERCENT / 100
    sd = math.sqrt(SAMPLED_REQUESTS * p * (1 - p))
    assert abs(first["sampled"] - SAMPLED_REQUESTS * p) < 4 * sd
    server.stop()
    assert len(_records(served["folders"]["sampled"])) == first["sampled"]


@pytest.mark.slow
def test_unwritable_capture_folder_drops_and_counts_requests_succeed(served) -> None:
    server = served["servers"]["unwritable"]
    x, _ = regression_data(rows=20, cols=4, seed=3)
    for i in range(20):
        reply = server.invoke(_split(x.iloc[[i]]), "application/json")
        assert reply.status == 200 and len(reply.json()["predictions"]) == 1
    stats = _stats(server, 20)
    assert stats["written"] == 0 and stats["dropped_write_error"] == 20
    assert "NotADirectoryError" in stats["last_write_error"]


def test_a_full_queue_drops_and_counts_and_never_blocks(tmp_path) -> None:
    """The writer itself: a 2-slot queue flooded from one thread; every record is either
    written (whole lines) or counted as dropped."""
    from mlflow_clarity.serving.capture import CaptureWriter, Exchange

    writer = CaptureWriter(tmp_path, queue_size=2)
    submitted = 2000
    for i in range(submitted):
        writer.submit(Exchange("text/csv", b"x0\n1\n", "application/json", b"[1]", str(i), 0.0))
    stats = writer.close()
    assert stats["dropped_queue_full"] > 0
    assert stats["written"] + stats["dropped_queue_full"] == submitted
    assert len(_records(tmp_path)) == stats["written"]
    small = CaptureWriter(tmp_path / "small", queue_bytes=100)  # bodies can be megabytes
    small.submit(Exchange("text/csv", b"x" * 101, "application/json", b"[1]", None, 0.0))
    small.submit(Exchange("text/csv", b"x0\n1\n", "application/json", b"[1]", None, 0.0))
    stats = small.close()
    assert (stats["dropped_queue_full"], stats["written"]) == (1, 1)


@pytest.mark.parametrize("form", ["csv", "split", "records", "inputs", "instances", "lists"])
def test_requests_read_back_in_every_mlflow_format(form: str) -> None:
    from mlflow_clarity.data.capture_files import request_frame

    frame, _ = regression_data(rows=3, cols=4)
    records = frame.to_dict("records")
    bodies = {
        "csv": (frame.to_csv(index=False), "text/csv"),
        "split": (_split(frame), "application/json"),
        "records": (json.dumps({"dataframe_records": records}), "application/json"),
        "inputs": (json.dumps({"inputs": records}), "application/json"),
        "instances": (json.dumps({"instances": records}), "application/json"),
        "lists": (json.dumps({"inputs": frame.to_numpy().tolist()}), "application/json"),
    }
    read = request_frame(*bodies[form], column_hint=list(frame.columns))
    assert list(read.columns) == list(frame.columns)
    assert all(kind == "float64" for kind in read.dtypes.astype(str))
    assert np.allclose(read.to_numpy(), frame.to_numpy())


def test_capture_chunks_join_a_label_table_by_inference_id(tmp_path) -> None:
    """A hand-written SageMaker capture hour: one-row records, labels from a CSV table."""
    from datetime import datetime, timezone

    from mlflow_clarity.data.capture_files import capture_chunks
    from mlflow_clarity.serving.capture import Exchange, capture_record

    hour = tmp_path / "capture" / "2026" / "12" / "02" / "13"
    hour.mkdir(parents=True)
    at = datetime(2026, 12, 2, 13, 5, tzinfo=timezone.utc).timestamp()
    lines = []
    for i in range(4):
        request = f"x0,x1\n{i}.0,{i + 1}.0\n".encode()
        response = json.dumps({"predictions": [i * 10]}).encode()
        exchange = Exchange("text/csv", request, "application/json", response, f"id-{i}", at)
        lines.append(json.dumps(capture_record(exchange)))
    (hour / "00-00-1-a.jsonl").write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("inferenceId,label\nid-0,0.5\nid-2,20.5\nother,1\n")
    [(inputs, joined, outputs)] = list(capture_chunks(tmp_path / "capture", labels))
    assert inputs["inferenceId"].tolist() == ["id-0", "id-1", "id-2", "id-3"]
    assert inputs["x0"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert outputs["prediction"].tolist() == [0, 10, 20, 30]
    assert joined.tolist()[0] == 0.5 and joined.tolist()[2] == 20.5
    assert joined.isna().tolist() == [False, True, False, True]


def test_captured_outputs_take_the_prediction_profiles_names() -> None:
    import pandas as pd

    from mlflow_clarity.data.capture_files import outputs_as_profile_columns, response_frame

    clarify = {  # an explained response, as captured
        "version": "1.0",
        "predictions": {"content_type": "application/json", "data": '{"predictions": [1.5]}'},
        "explanations": {"tree_shap": [[]]},
    }
    assert response_frame(json.dumps(clarify))["prediction"].tolist() == [1.5]

    regression, values = outputs_as_profile_columns(
        pd.DataFrame({"prediction": [1.5, 2.5]}), ["prediction"]
    )
    assert regression["prediction"].tolist() == [1.5, 2.5] and values.shape == (2, 1)
    classifier = ["proba_0", "proba_1", "predicted_label"]
    labels, none = outputs_as_profile_columns(pd.DataFrame({"prediction": [1.0, 0.0]}), classifier)
    assert labels["predicted_label"].tolist() == ["1", "0"] and none is None
    answered = pd.DataFrame({"output_0": [0.2, 0.7], "output_1": [0.8, 0.3]})
    probabilities, values = outputs_as_profile_columns(answered, classifier)
    assert list(probabilities.columns) == classifier
    assert probabilities["predicted_label"].tolist() == ["1", "0"] and values.shape == (2, 2)


def test_only_folders_with_json_lines_are_capture_folders(tmp_path) -> None:
    from mlflow_clarity.data.capture_files import is_capture

    images = tmp_path / "images" / "cats"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(b"\x89PNG")
    hour = tmp_path / "capture" / "2026" / "12" / "02" / "13"
    hour.mkdir(parents=True)
    (hour / "x.jsonl").write_text("")
    sagemaker = tmp_path / "sm" / "endpoint" / "AllTraffic" / "2026" / "12" / "02" / "13"
    sagemaker.mkdir(parents=True)
    (sagemaker / "y.jsonl").write_text("")
    assert not is_capture(tmp_path / "images") and not is_capture(tmp_path / "missing")
    assert is_capture(tmp_path / "capture") and is_capture(tmp_path / "sm")
    assert is_capture(CaptureFolder(tmp_path / "anything"))
