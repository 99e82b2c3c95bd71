"""The ASGI middleware around MLflow's scoring app: body limit, capture, explanations.

Everything MLflow's app answers passes through unchanged (routes, payloads, errors).
The middleware adds:

* a request body limit (413 with an MLflow-style JSON error, before MLflow parses);
* data capture of ``/invocations`` (and ``/explain``): the sampled request and
  response bodies are handed to a :class:`~mlflow_clarity.serving.capture.CaptureWriter`
  after the response is sent;
* explanations when asked (``X-Clarity-Explain: true``, or an ``EnableExplanations``
  JMESPath expression in ``X-Clarity-Enable-Explanations`` /
  ``X-Amzn-SageMaker-Enable-Explanations``) and on ``POST /explain``: MLflow's app
  predicts, then the stored explainer explains within its own time limit;
* ``GET /clarity/capture-stats``: the capture counters as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException

from mlflow_clarity.data.capture_files import CaptureReadError, request_frame
from mlflow_clarity.errors import report_failure
from mlflow_clarity.serving.capture import INFERENCE_ID_HEADERS, CaptureWriter, Exchange
from mlflow_clarity.serving.explain import (
    ExplainRequestError,
    ExplanationTimeout,
    OnlineExplainer,
    clarify_response,
    compile_expression,
    records_to_explain,
)

if TYPE_CHECKING:
    from mlflow_clarity.serving.upload import HourUploader

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 20 * 1024 * 1024
EXPLAIN_TIMEOUT_S = 10.0
EXPLAIN_HEADER = "x-clarity-explain"
EXPRESSION_HEADERS = ("x-clarity-enable-explanations", "x-amzn-sagemaker-enable-explanations")
SCORED_PATHS = ("/invocations", "/explain")
STATS_PATH = "/clarity/capture-stats"


@dataclass
class ServingOptions:
    """What the middleware adds to MLflow's app.

    Attributes:
        capture: The capture writer, or None.
        uploader: Uploads closed capture hour files to a monitoring run, or None.
        explainer: The stored explainer (``--explain``), or None.
        schema: The model's input schema (parses requests as MLflow does).
        max_body_bytes: Larger request bodies are refused with 413.
        explain_timeout_s: Time limit of one request's explanation.
    """

    capture: CaptureWriter | None = None
    uploader: HourUploader | None = None
    explainer: OnlineExplainer | None = None
    schema: Any = None
    max_body_bytes: int = MAX_BODY_BYTES
    explain_timeout_s: float = EXPLAIN_TIMEOUT_S
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="clarity-explain")
    )


def _json_error(status: int, error_code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error_code": error_code, "message": message}).encode()


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


@dataclass
class _Response:
    status: int = 0
    content_type: str | None = None
    chunks: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class ClarityMiddleware:
    """Pure ASGI middleware around the app :func:`mlflow.pyfunc.scoring_server.init` built."""

    def __init__(self, app: ASGIApp, options: ServingOptions) -> None:
        self.app = app
        self.options = options
        self._closed = False

    def _lifespan(self, receive: Receive) -> Receive:
        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.close)
            return message

        return lifespan_receive

    def close(self) -> None:
        """Write every queued capture record, print the counters, stop explanations.

        Runs at the server's lifespan shutdown (and again harmlessly after it).
        """
        if self._closed:
            return
        self._closed = True
        capture, uploader = self.options.capture, self.options.uploader
        if capture is not None:
            capture.close()
            if uploader is not None:
                try:
                    uploader.close()
                except (MlflowException, OSError) as exc:  # the files stay on disk
                    print(f"clarity capture: uploads not finished: {exc!r}", file=sys.stderr)
            stats = json.dumps(capture.stats.to_dict())
            print(f"clarity capture: {stats}", file=sys.stderr, flush=True)
        self.options.executor.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == STATS_PATH and method == "GET":
            await self._stats(send)
            return
        if path not in SCORED_PATHS or method != "POST":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        limit = self.options.max_body_bytes
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:  # not a number: the bytes read are counted instead
            declared = 0
        try:
            if declared > limit:
                raise _TooLarge
            body = await _read_body(receive, limit)
        except _TooLarge:
            await self._too_large(send)
            return
        started = time.time()
        explain = self._explain_request(path, headers)
        if isinstance(explain, tuple):  # an error to answer
            await _respond(send, *explain, "application/json")
            return
        capture = self.options.capture
        sampled = capture is not None and capture.sample()
        if explain is None and not sampled:
            await self.app(scope, _replay(body), send)
            return
        response = _Response()
        if explain is None:
            await self.app(scope, _replay(body), self._recording(response, send))
        else:
            await self._explained(scope, body, headers, explain, send, response)
        if sampled and capture is not None:
            if response.status == 200:
                capture.submit(
                    Exchange(
                        headers.get("content-type"),
                        body,
                        response.content_type,
                        response.body,
                        next((headers[h] for h in INFERENCE_ID_HEADERS if h in headers), None),
                        started,
                    )
                )
            else:
                capture.stats.add(not_captured_error_status=1)

    def _recording(self, response: _Response, send: Send | None = None) -> Send:
        """A ``send`` that records the response (and passes it on to ``send``, if any)."""

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        response.content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response.chunks.append(message.get("body", b""))
            if send is not None:
                await send(message)

        return recording

    async def _stats(self, send: Send) -> None:
        capture = self.options.capture
        stats = {"capture": None if capture is None else capture.stats.to_dict()}
        await _respond(send, 200, json.dumps(stats).encode(), "application/json")

    async def _too_large(self, send: Send) -> None:
        limit_mb = self.options.max_body_bytes / 1024 / 1024
        await _respond(
            send,
            *_json_error(
                413,
                "REQUEST_LIMIT_EXCEEDED",
                f"request body larger than {limit_mb:g} MB (mlflow-clarity serve --max-body-mb)",
            ),
            "application/json",
        )

    def _explain_request(self, path: str, headers: dict[str, str]) -> Any:
        """``"all"``, a compiled expression, None (no explanation) or an error response."""
        if self.options.explainer is None:
            if path == "/explain":
                return _json_error(
                    404, "ENDPOINT_NOT_FOUND", "explanations are off: serve with --explain"
                )
            return None
        if path == "/explain":
            return "all"
        for name in EXPRESSION_HEADERS:
            if name in headers:
                try:
                    return compile_expression(headers[name])
                except ExplainRequestError as exc:
                    return _json_error(400, "INVALID_PARAMETER_VALUE", str(exc))
        flag = headers.get(EXPLAIN_HEADER, "").strip().lower()
        return "all" if flag in ("true", "1", "yes") else None

    async def _explained(
        self,
        scope: Scope,
        body: bytes,
        headers: dict[str, str],
        explain: Any,
        send: Send,
        response: _Response,
    ) -> None:
        """Predict with MLflow's app, then explain the chosen records within the limit."""
        inner = _Response()
        await self.app({**scope, "path": "/invocations"}, _replay(body), self._recording(inner))
        if inner.status != 200:  # MLflow's own error, unchanged
            status, payload, kind = inner.status, inner.body, inner.content_type or "text/plain"
        else:
            status, payload = await self._explanation(body, headers, explain, inner)
            kind = "application/json"
        await _respond(self._recording(response, send), status, payload, kind)

    async def _explanation(
        self, body: bytes, headers: dict[str, str], explain: Any, inner: _Response
    ) -> tuple[int, bytes]:
        explainer = self.options.explainer
        assert explainer is not None
        started = time.monotonic()
        text = inner.body.decode("utf-8")
        predictions = {"content_type": inner.content_type or "application/json", "data": text}
        try:
            records = json.loads(text)
            records = records.get("predictions", records) if isinstance(records, dict) else records
            records = records if isinstance(records, list) else [records]
            chosen = (
                [True] * len(records) if explain == "all" else records_to_explain(explain, records)
            )
        except ExplainRequestError as exc:
            return _json_error(400, "INVALID_PARAMETER_VALUE", str(exc))
        attribution, error = None, None
        if any(chosen):
            attribution, error = await self._attribution(body, headers, chosen, started)
        result = clarify_response(
            explainer, predictions, chosen, attribution, error, time.monotonic() - started
        )
        return 200, json.dumps(result).encode()

    async def _attribution(
        self, body: bytes, headers: dict[str, str], chosen: list[bool], started: float
    ) -> tuple[Any, str | None]:
        explainer = self.options.explainer
        assert explainer is not None
        limit = self.options.explain_timeout_s
        deadline = started + limit

        def work() -> Any:
            frame = request_frame(
                body, headers.get("content-type"), explainer.columns, self.options.schema
            )
            rows = frame.iloc[[i for i, c in enumerate(chosen) if c]]
            return explainer.explain(rows, deadline)

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.options.executor, work)
        try:
            remaining = max(deadline - time.monotonic(), 0.0)
            return await asyncio.wait_for(future, timeout=remaining), None
        except (asyncio.TimeoutError, ExplanationTimeout):
            return None, (
                f"explanation timed out after {limit:g} s ({explainer.algorithm}); "
                "the prediction is returned without it"
            )
        except (CaptureReadError, KeyError) as exc:
            return None, f"explanation failed: {exc}"[:500]
        except Exception as exc:
            report_failure(
                "an online explanation", exc, consequence="The prediction is returned without it."
            )
            return None, f"explanation failed: {exc!r}"[:500]
