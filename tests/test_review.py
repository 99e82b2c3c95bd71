"""Registry review: policies, the description section, signatures, and a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

import mlflow_clarity
from mlflow_clarity.cli import cli
from mlflow_clarity.monitors.review.description import END, START, with_review_section
from mlflow_clarity.monitors.review.policy import Policy, PolicyError
from mlflow_clarity.monitors.review.result import ReviewResult, Rule
from mlflow_clarity.monitors.review.service import DeliveryRejected, DeliveryVerifier

from models import classification_data
from tracking_server import Server

SECRET = "s3cret-for-tests"
SERVER_ENV = {  # webhooks to a local receiver (reference notes, section 7.1)
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",  # the server caches webhook lists (60 s by default)
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


# --- policies ---------------------------------------------------------------------------


def test_policy_defaults_and_validation(tmp_path: Path) -> None:
    assert Policy.load(None) == Policy()
    path = tmp_path / "policy.yaml"
    path.write_text("protected_features: [gender]\ntop_k: 3\nmax_drift_score: null\n")
    policy = Policy.load(path)
    assert policy.protected_features == ("gender",) and policy.top_k == 3
    assert policy.max_drift_score is None and policy.max_additivity_residual == 0.01
    for text, message in [
        ("max_addditivity_residual: 0.1\n", "unknown key"),
        ("top_k: 0\n", "positive integer"),
        ("min_lime_fidelity: 1.5\n", "between 0 and 1"),
        ("max_drift_score: high\n", "non-negative number"),
        ("require: [shap, magic]\n", "unknown artifact"),
        ("protected_features: gender\n", "list of names"),
        ("- just a list\n", "mapping of rules"),
        ("key: [unclosed\n", "cannot read policy"),
    ]:
        path.write_text(text)
        with pytest.raises(PolicyError, match=message):
            Policy.load(path)
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "missing.yaml")


# --- the description section ----------------------------------------------------------


def _result(passed: bool = True, features: int = 3) -> ReviewResult:
    rules = [Rule("max_additivity_residual", "passed", 1e-7, 0.01)]
    if not passed:
        rules.append(Rule("protected_features", "failed", ["gender"], ["gender"], "top 5"))
    return ReviewResult("credit", "2", "m-1", rules, [f"f{i}" for i in range(features)])


def test_description_section_is_replaced_and_owner_text_kept() -> None:
    owner = "Credit scoring model.\n\nOwner: risk team | see wiki"
    first = with_review_section(owner, _result(passed=True))
    assert first.startswith(owner) and first.count(START) == 1
    second = with_review_section(first, _result(passed=False))
    assert second.startswith(owner) and second.count(START) == 1 and second.count(END) == 1
    assert "**failed**" in second and "**passed**" not in second
    assert "protected\\_features" in second


def test_description_stays_within_sql_limits() -> None:
    owner = "x" * 4800
    text = with_review_section(owner, _result(passed=False, features=500))
    assert len(text) <= 5000 and text.startswith(owner) and START in text
    huge = "y" * 4990
    assert with_review_section(huge, _result()) == huge  # never cut the owner's text


# --- signatures -------------------------------------------------------------------------


def _signed(body: bytes, secret: str = SECRET, delivery: str = "d-1", stamp: str | None = None):
    stamp = stamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256)
    return {
        "X-MLflow-Signature": "v1," + base64.b64encode(digest.digest()).decode(),
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def test_deliveries_are_verified() -> None:
    verifier = DeliveryVerifier(SECRET)
    body = b'{"entity": "model_version", "action": "created"}'
    verifier.verify(_signed(body), body)
    cases = [
        ({}, 401, "unsigned"),
        (_signed(body, secret="wrong", delivery="d-2"), 401, "bad signature"),
        (_signed(body + b" ", delivery="d-3"), 401, "bad signature"),  # signature of another body
        (_signed(body, delivery="d-4", stamp=str(int(time.time()) - 3600)), 401, "stale"),
        (_signed(body), 409, "replayed"),
    ]
    for headers, status, reason in cases:
        with pytest.raises(DeliveryRejected, match=reason) as caught:
            verifier.verify(headers, body)
        assert caught.value.status == status


# --- a real server ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def registry(server: Server) -> Iterator[Server]:
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    mlflow_clarity.autolog(sample_rows=200, budget_s=60, steps=["shap", "baseline"])
    mlflow.set_experiment("review-test")
    yield server
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def _credit_data(gender_weight: float) -> tuple[pd.DataFrame, pd.Series]:
    x, _ = classification_data(rows=800)
    rng = np.random.default_rng(1)
    x["gender"] = rng.integers(0, 2, len(x)).astype(float)
    logit = 2 * x["x0"] - x["x1"] + gender_weight * (x["gender"] - 0.5)
    return x, pd.Series((logit + rng.normal(scale=0.3, size=len(x)) > 0).astype(int))


def _log_version(gender_weight: float) -> str:
    from sklearn.linear_model import LogisticRegression

    x, y = _credit_data(gender_weight)
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(x, y), name="m", registered_model_name="credit"
        )
    return str(info.registered_model_version)


def _tags(version: str) -> dict[str, str]:
    return mlflow.MlflowClient().get_model_version("credit", version).tags


@pytest.mark.slow
def test_review_against_production_passes_and_promotes(registry: Server, tmp_path: Path) -> None:
    client = mlflow.MlflowClient()
    first = _log_version(gender_weight=0.0)
    client.set_registered_model_alias("credit", "champion", first)
    second = _log_version(gender_weight=0.0)
    client.update_model_version("credit", second, description="Owner's notes: retrained.")
    x, y = _credit_data(0.0)
    x.assign(label=y).to_csv(tmp_path / "today.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "review",
            f"models:/credit/{second}",
            "--data",
            str(tmp_path / "today.csv"),
            "--labels",
            "label",
            "--against",
            "models:/credit@champion",
            "--promote",
            "challenger",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _tags(second)["clarity.review"] == "passed"
    assert _tags(second)["clarity.review.failed_rules"] == "none"
    description = client.get_model_version("credit", second).description
    assert description.startswith("Owner's notes: retrained.")
    assert (
        "min\\_attribution\\_ndcg" in description
        and "Against models:/credit@champion" in description
    )
    assert client.get_model_version_by_alias("credit", "challenger").version == second


def test_protected_attribute_fails_the_review(registry: Server, tmp_path: Path) -> None:
    client = mlflow.MlflowClient()
    version = _log_version(gender_weight=6.0)  # gender dominates the model
    policy = tmp_path / "policy.yaml"
    policy.write_text("protected_features: [gender]\ntop_k: 3\n")
    passing = mlflow_clarity.review(f"models:/credit/{version}")  # defaults: no protected list
    assert passing.passed
    result = CliRunner().invoke(
        cli,
        ["review", f"models:/credit/{version}", "--policy", str(policy), "--promote", "prod"],
    )
    assert result.exit_code == 1, result.output
    assert "failed   protected_features" in result.output
    tags = _tags(version)
    assert tags["clarity.review"] == "failed"
    assert tags["clarity.review.failed_rules"] == "protected_features"
    description = client.get_model_version("credit", version).description
    assert description.count(START) == 1 and "**failed**" in description
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("credit", "prod")
    bad = CliRunner().invoke(
        cli, ["review", "models:/credit/1", "--policy", str(tmp_path / "no.yaml")]
    )
    assert bad.exit_code == 2
    not_registered = CliRunner().invoke(cli, ["review", "models:/m-0123abcd"])
    assert not_registered.exit_code == 2


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def reviewer(registry: Server, tmp_path: Path) -> Iterator[str]:
    """``mlflow-clarity reviewer`` as a subprocess, subscribed to the server's webhooks."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = (tmp_path / "reviewer.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow-clarity")),
            "reviewer",
            "--port",
            str(port),
            "--tracking-uri",
            registry.url,
            "--register-url",
            url,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_CLARITY_WEBHOOK_SECRET": SECRET, "MLFLOW_CLARITY_DISABLE": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
        client = mlflow.MlflowClient()
        for hook in client.list_webhooks():
            client.delete_webhook(hook.webhook_id)


def test_reviewer_service_reviews_new_versions_and_rejects_forgeries(reviewer: str) -> None:
    version = _log_version(gender_weight=0.0)
    deadline = time.monotonic() + 90
    while "clarity.review" not in _tags(version) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _tags(version)["clarity.review"] == "passed"

    client = mlflow.MlflowClient()
    client.set_model_version_tag("credit", version, "clarity.review", "sentinel")
    body = json.dumps(
        {
            "entity": "model_version_tag",
            "action": "set",
            "data": {"name": "credit", "version": version, "key": "clarity.status", "value": "ok"},
        }
    ).encode()
    forged = _signed(body, secret="not-the-secret", delivery="forged-1")
    assert _post(reviewer, body, forged) == 401
    assert _post(reviewer, body, {"Content-Type": "application/json"}) == 401
    time.sleep(3)
    assert _tags(version)["clarity.review"] == "sentinel"  # nothing changed
    genuine = _signed(body, delivery="genuine-1")  # the control: a correctly signed delivery
    assert _post(reviewer, body, genuine) == 202
    deadline = time.monotonic() + 60
    while _tags(version)["clarity.review"] == "sentinel" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _tags(version)["clarity.review"] == "passed"
    assert _post(reviewer, body, genuine) == 409  # replayed


def test_unexplained_version_fails_the_review(tracking: str) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = classification_data(rows=200)
    mlflow_clarity.autolog(disable=True)  # logged without mlflow-clarity: no clarity/ files
    try:
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                LogisticRegression().fit(x, y), name="m", registered_model_name="plain"
            )
    finally:
        mlflow_clarity.autolog(disable=False)
    result = CliRunner().invoke(cli, ["review", "models:/plain/1"])
    assert result.exit_code == 1, result.output  # a failed review, not a usage error
    assert "mlflow-clarity explain models:/plain/1 --data" in result.output
    client = mlflow.MlflowClient()
    tags = client.get_model_version("plain", "1").tags
    assert tags["clarity.review"] == "failed"
    assert tags["clarity.review.failed_rules"] == "artifact:shap,artifact:baseline"
    description = client.get_model_version("plain", "1").description
    assert description.count(START) == 1 and "**failed**" in description
    assert "produce them with `mlflow-clarity explain models:/plain/1 --data" in description
    unknown = CliRunner().invoke(cli, ["review", "models:/nosuch/1"])
    assert unknown.exit_code == 2  # usage errors keep exit 2
