"""Data capture in SageMaker Data Capture's JSON lines format, written off the request path.

The request path only samples and puts the raw bodies on a bounded queue (``put_nowait``:
when the queue is full the record is dropped and counted, the request never waits). One
writer thread turns them into records and appends them to hourly files
``<folder>/YYYY/MM/DD/HH/<minute>-<second>-<pid>-<id>.jsonl``. Whole lines only: a write
that fails (full disk, read-only folder) is cut back to the last complete line, and its
records are dropped and counted; requests keep succeeding.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CSV_CONTENT_TYPES = ("text/csv",)
JSON_CONTENT_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines")
INFERENCE_ID_HEADERS = ("x-amzn-sagemaker-inference-id", "x-inference-id")
"""Request headers whose value becomes ``eventMetadata.inferenceId`` (first one present)."""
QUEUE_SIZE = 10_000
QUEUE_BYTES = 256 * 1024 * 1024
"""Request and response bytes waiting to be written at most (bodies can be megabytes)."""
BUFFER_BYTES = 64 * 1024
FLUSH_EVERY_S = 1.0


def encoding_of(content_type: str | None) -> str:
    """``CSV``, ``JSON`` or ``BASE64``, as SageMaker's ``CaptureContentTypeHeader`` defaults."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in CSV_CONTENT_TYPES:
        return "CSV"
    if mime in JSON_CONTENT_TYPES:
        return "JSON"
    return "BASE64"


def _payload(content_type: str | None, body: bytes, mode: str) -> dict[str, str]:
    encoding = encoding_of(content_type)
    if encoding != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    return {
        "observedContentType": content_type or "",
        "mode": mode,
        "data": data,
        "encoding": encoding,
    }


@dataclass(frozen=True)
class Exchange:
    """One captured invocation, as the request path hands it over (no formatting yet)."""

    request_type: str | None
    request_body: bytes
    response_type: str | None
    response_body: bytes
    inference_id: str | None
    time: float


def capture_record(exchange: Exchange) -> dict[str, Any]:
    """The SageMaker Data Capture record of one invocation."""
    metadata = {"eventId": str(uuid.uuid4())}
    if exchange.inference_id is not None:
        metadata["inferenceId"] = exchange.inference_id
    when = datetime.fromtimestamp(exchange.time, tz=timezone.utc)
    metadata["inferenceTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "captureData": {
            "endpointInput": _payload(exchange.request_type, exchange.request_body, "INPUT"),
            "endpointOutput": _payload(exchange.response_type, exchange.response_body, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


@dataclass
class CaptureStats:
    """What happened to every invocation the capture saw (thread-safe counters)."""

    seen: int = 0
    sampled: int = 0
    written: int = 0
    dropped_queue_full: int = 0
    dropped_write_error: int = 0
    not_captured_error_status: int = 0
    last_write_error: str | None = None
    files: int = 0
    uploaded_files: int = 0
    upload_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to one or more counters."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict[str, Any]:
        """The counters as JSON-able values."""
        with self._lock:
            return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class _HourFile:
    """The open capture file of one hour: appends whole lines or nothing."""

    def __init__(self, folder: Path, hour: datetime) -> None:
        self.hour = hour
        self.path = (
            folder
            / hour.strftime("%Y/%m/%d/%H")
            / (f"{datetime.now(timezone.utc):%M-%S}-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl")
        )
        self.fd: int | None = None
        self.size = 0

    def append(self, data: bytes) -> None:
        """Write ``data`` fully; on failure cut the file back to its last whole line.

        Raises:
            OSError: The folder cannot be made or the write failed.
        """
        if self.fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def close(self) -> None:
        """fsync and close (a closed hour file is complete)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None


class CaptureWriter:
    """Samples invocations and writes them from one background thread.

    Args:
        folder: The capture folder.
        percent: Share of invocations captured, 0-100 (SageMaker's
            ``InitialSamplingPercentage``).
        queue_size: Invocations waiting to be written at most; more are dropped.
        queue_bytes: Body bytes waiting to be written at most; more are dropped.
        seed: Seed of the sampling (None: random).
        on_closed: Called (from the writer thread) with each hour file once closed.
    """

    def __init__(
        self,
        folder: str | Path,
        percent: float = 100.0,
        *,
        queue_size: int = QUEUE_SIZE,
        queue_bytes: int = QUEUE_BYTES,
        seed: int | None = None,
        on_closed: Callable[[Path], None] | None = None,
    ) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"capture percent must be within 0-100, not {percent}")
        self.folder = Path(folder)
        self.percent = percent
        self.stats = CaptureStats()
        self.on_closed = on_closed
        self._random = random.Random(seed)
        self._queue: queue.Queue[Exchange | None] = queue.Queue(maxsize=queue_size)
        self._queue_bytes = queue_bytes
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self._file: _HourFile | None = None
        self._buffer = bytearray()
        self._buffered = 0
        self._thread = threading.Thread(target=self._loop, name="clarity-capture", daemon=True)
        self._thread.start()

    def sample(self) -> bool:
        """Whether to capture the next invocation (counts it as seen)."""
        take = self.percent >= 100 or self._random.random() * 100 < self.percent
        self.stats.add(seen=1, sampled=int(take))
        return take

    def submit(self, exchange: Exchange) -> None:
        """Queue a sampled invocation without ever blocking.

        A full queue (by count or by bytes) drops the invocation and counts it.
        """
        size = len(exchange.request_body) + len(exchange.response_body)
        with self._bytes_lock:
            fits = self._queued_bytes + size <= self._queue_bytes
            self._queued_bytes += size if fits else 0
        if not fits:
            self.stats.add(dropped_queue_full=1)
            return
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self._release(size)
            self.stats.add(dropped_queue_full=1)

    def _release(self, size: int) -> None:
        with self._bytes_lock:
            self._queued_bytes -= size

    def close(self, timeout: float = 30.0) -> dict[str, Any]:
        """Write everything queued, close the files and return the counters."""
        self._queue.put(None)
        self._thread.join(timeout)
        stats = self.stats.to_dict()
        logger.info("clarity capture: %s", json.dumps(stats))
        return stats

    # ---- the writer thread ------------------------------------------------------------

    def _loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=FLUSH_EVERY_S)
            except queue.Empty:
                item = ...
            if item is None:
                break
            if isinstance(item, Exchange):
                self._add(item)
                self._release(len(item.request_body) + len(item.response_body))
            idle = self._queue.empty()
            due = time.monotonic() - last_flush >= FLUSH_EVERY_S
            if self._buffered and (idle or due or len(self._buffer) >= BUFFER_BYTES):
                self._flush()
                last_flush = time.monotonic()
        self._flush()
        self._close_file()

    def _close_file(self) -> None:
        if self._file is None:
            return
        self._file.close()
        if self.on_closed is not None and self._file.size:
            self.on_closed(self._file.path)
        self._file = None

    def _add(self, exchange: Exchange) -> None:
        try:
            line = json.dumps(capture_record(exchange), separators=(",", ":")) + "\n"
        except (TypeError, ValueError, OverflowError) as exc:  # never stop the writer
            self._failed(1, exc)
            return
        when = datetime.fromtimestamp(exchange.time, tz=timezone.utc)
        hour = when.replace(minute=0, second=0, microsecond=0)
        if self._file is None or self._file.hour != hour:
            self._flush()
            self._close_file()
            self._file = _HourFile(self.folder, hour)
            self.stats.add(files=1)
        self._buffer += line.encode("utf-8")
        self._buffered += 1

    def _flush(self) -> None:
        if not self._buffered or self._file is None:
            return
        count, data = self._buffered, bytes(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        try:
            self._file.append(data)
        except OSError as exc:
            self._failed(count, exc)
            return
        self.stats.add(written=count)

    def _failed(self, count: int, exc: Exception) -> None:
        self.stats.add(dropped_write_error=count)
        with self.stats._lock:
            first = self.stats.last_write_error is None
            self.stats.last_write_error = repr(exc)[:300]
        if first:
            logger.warning("clarity capture: records dropped, cannot write: %r", exc)
