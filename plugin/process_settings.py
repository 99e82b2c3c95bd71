"""A process-wide setting held while any of several overlapping blocks runs.

Pipelines can run at the same time (background jobs), and a setting that belongs to the
whole process (an environment variable, a thread-pool limit) must be applied when the
first block starts and restored when the last one ends, not by each block on its own:
two overlapping blocks that each saved and restored it would leave it on for good.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SharedSetting:
    """Applies a setting for the first of overlapping blocks, restores it after the last.

    Args:
        apply: Applies the setting and returns the function that restores it.
    """

    def __init__(self, apply: Callable[[], Callable[[], None]]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        self._depth = 0
        self._restore: Callable[[], None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the setting for the body (thread-safe, re-entrant across threads)."""
        with self._lock:
            if self._depth == 0:
                self._restore = self._apply()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._restore is not None:
                    self._restore()
                    self._restore = None
