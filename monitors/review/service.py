"""``mlflow-clarity reviewer``: reviews model versions when MLflow's registry says so.

A small HTTP service for MLflow's registry webhooks. Every delivery's HMAC signature is
verified (``X-MLflow-Signature: v1,base64(HMAC-SHA256(secret, id.timestamp.body))``);
unsigned, badly signed, stale (older than five minutes) and replayed deliveries are
rejected before anything is read from them. Reviews run one at a time on a worker
thread, off the request:

* ``model_version.created``: reviewed at once when the version's LoggedModel already
  carries ``clarity.status`` (its files exist); otherwise the next event does it;
* ``model_version_tag.set`` with key ``clarity.status`` (set last by the pipeline): the
  files are ready, so the version registered before them is reviewed now.

The reviewer's own tags (``clarity.review*``) trigger nothing, so there are no loops.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlflow_clarity.monitors.review.policy import Policy
from mlflow_clarity.monitors.review.version_review import review_version

logger = logging.getLogger("mlflow_clarity.reviewer")

SIGNATURE_HEADER = "X-MLflow-Signature"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
MAX_AGE_S = 300
MAX_BODY_BYTES = 1_000_000
SEEN_DELIVERIES = 10_000
READY_TAG = "clarity.status"
EVENTS = ("model_version.created", "model_version_tag.set")


class DeliveryRejected(Exception):
    """A delivery that must not be acted on, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class DeliveryVerifier:
    """Checks signatures and refuses stale or replayed deliveries."""

    secret: str
    max_age_s: float = MAX_AGE_S
    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, headers: Any, body: bytes) -> None:
        """Accept the delivery or raise :class:`DeliveryRejected`."""
        signature = headers.get(SIGNATURE_HEADER)
        delivery = headers.get(DELIVERY_HEADER)
        stamp = headers.get(TIMESTAMP_HEADER)
        if not (signature and delivery and stamp):
            raise DeliveryRejected(401, "unsigned delivery")
        signed = f"{delivery}.{stamp}.".encode() + body
        digest = hmac.new(self.secret.encode(), signed, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise DeliveryRejected(401, "bad signature")
        try:
            age = abs(time.time() - int(stamp))
        except ValueError:
            raise DeliveryRejected(401, "bad timestamp") from None
        if age > self.max_age_s:
            raise DeliveryRejected(401, f"stale delivery ({age:.0f} s old)")
        with self.lock:
            if delivery in self.seen:
                raise DeliveryRejected(409, "replayed delivery")
            self.seen[delivery] = time.time()
            while len(self.seen) > SEEN_DELIVERIES:
                self.seen.popitem(last=False)


def version_to_review(event: dict[str, Any], is_ready: Any) -> tuple[str, str] | None:
    """The ``(name, version)`` a verified event asks to review, or None.

    Args:
        event: The delivery's JSON body.
        is_ready: ``is_ready(name, version) -> bool``: whether the clarity files exist.
    """
    kind = f"{event.get('entity')}.{event.get('action')}"
    data = event.get("data") or {}
    name, version = data.get("name"), data.get("version")
    if not name or version is None:
        return None
    if kind == "model_version.created" and is_ready(name, str(version)):
        return name, str(version)
    ready_tag = data.get("key") == READY_TAG and data.get("value") not in (None, "running")
    if kind == "model_version_tag.set" and ready_tag:
        return name, str(version)
    return None


def _is_ready(name: str, version: str) -> bool:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    model_id = client.get_model_version(name, version).model_id
    if not model_id:
        return False
    status = client.get_logged_model(model_id).tags.get(READY_TAG)
    return status not in (None, "running")


@dataclass
class Reviewer:
    """The review queue and its worker thread."""

    policy: Policy
    promote: str | None = None
    jobs: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)
    done: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> threading.Thread:
        """Start the worker thread."""
        thread = threading.Thread(target=self._work, name="clarity-reviewer", daemon=True)
        thread.start()
        return thread

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            name, version = job
            try:
                result = review_version(
                    f"models:/{name}/{version}", self.policy, promote=self.promote
                )
            except Exception as exc:  # one bad version must not stop the service
                logger.error("review of %s version %s failed: %r", name, version, exc)
                self.done.append({"name": name, "version": version, "error": repr(exc)})
                continue
            logger.info("reviewed %s version %s: %s", name, version, result.failed_rules)
            self.done.append({"name": name, "version": version, "passed": result.passed})


def make_server(
    host: str, port: int, secret: str, reviewer: Reviewer, is_ready: Any = _is_ready
) -> ThreadingHTTPServer:
    """An HTTP server that verifies deliveries and queues reviews."""
    verifier = DeliveryVerifier(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, "delivery too large")
                return
            body = self.rfile.read(length)
            try:
                verifier.verify(self.headers, body)
                event = json.loads(body)
            except DeliveryRejected as rejected:
                logger.warning("rejected a delivery: %s", rejected)
                self._answer(rejected.status, str(rejected))
                return
            except ValueError:
                self._answer(400, "body is not JSON")
                return
            target = version_to_review(event, is_ready)
            if target is not None:
                reviewer.jobs.put(target)
            self._answer(202 if target else 200, "queued" if target else "ignored")

        def do_GET(self) -> None:
            self._answer(200, json.dumps({"reviews": reviewer.done[-20:]}))

        def _answer(self, status: int, text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(
    host: str,
    port: int,
    secret: str,
    policy: Policy,
    promote: str | None = None,
    register_url: str | None = None,
) -> None:
    """Run the reviewer until interrupted (``mlflow-clarity reviewer``)."""
    reviewer = Reviewer(policy, promote)
    reviewer.start()
    server = make_server(host, port, secret, reviewer)
    if register_url:
        from mlflow.tracking import MlflowClient

        MlflowClient().create_webhook(
            name="mlflow-clarity-reviewer", url=register_url, events=list(EVENTS), secret=secret
        )
    try:
        server.serve_forever()
    finally:
        reviewer.jobs.put(None)
        server.server_close()
