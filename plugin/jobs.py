"""Worker threads that run pipelines, with a bounded join for callers and at exit."""

from __future__ import annotations

import atexit
import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any

from mlflow_clarity.errors import logger

_lock = threading.Lock()
_pending: list[Job] = []


class Job:
    """One pipeline run in a daemon thread.

    Attributes:
        name: Thread name, naming the model.
        max_s: How long an exiting interpreter waits for it.
        result: The function's return value once finished.
        error: The exception it raised (strict mode only), once finished.
    """

    def __init__(self, name: str, fn: Callable[[], Any], max_s: float) -> None:
        self.name = name
        self.max_s = max_s
        self.result: Any = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._target, fn), name=name, daemon=True
        )

    def _target(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # handed to whoever joins
            self.error = exc
        finally:
            self._done.set()
            with _lock:
                if self in _pending:
                    _pending.remove(self)

    def start(self) -> Job:
        """Start the thread and register the job as pending."""
        with _lock:
            _pending.append(self)
        self._thread.start()
        return self

    def join(self, timeout: float | None) -> bool:
        """Wait for the job; return whether it finished."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        """Whether the job finished."""
        return self._done.is_set()


def pending_jobs() -> list[Job]:
    """Return the jobs not yet finished."""
    with _lock:
        return list(_pending)


def wait_all(timeout: float | None = None) -> list[Job]:
    """Wait for every pending job, at most ``timeout`` seconds in all.

    Args:
        timeout: Seconds to wait in total; None waits for as long as it takes.

    Returns:
        The jobs that were pending, finished or not.
    """
    jobs = pending_jobs()
    end = None if timeout is None else time.monotonic() + timeout
    for job in jobs:
        job.join(None if end is None else max(0.0, end - time.monotonic()))
    return jobs


def _join_at_exit() -> None:
    for job in pending_jobs():
        logger.info("mlflow-clarity: waiting up to %.0fs for %s before exit", job.max_s, job.name)
        if not job.join(job.max_s):
            logger.warning("mlflow-clarity: %s did not finish before exit", job.name)


atexit.register(_join_at_exit)
