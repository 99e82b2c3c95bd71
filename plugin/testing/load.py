"""Busy processes, for measuring and testing while the machine does other work.

CI machines and shared laptops are rarely idle. ``cpu_load(n)`` keeps ``n`` processes
spinning on the CPU for the length of a ``with`` block, so a test can show that a step
still stops by itself in time, and a benchmark can show that a ratio holds, with cores
taken by someone else.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN_ROUNDS = 1_000_000  # ~20 ms of spinning between checks that the parent still lives


def _spin(parent: int) -> None:
    """Keep one core busy until the parent is gone (Ctrl-C is the parent's to handle)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:
        for _ in range(_SPIN_ROUNDS):
            pass


@contextmanager
def cpu_load(n: int) -> Iterator[None]:
    """Run the body with ``n`` processes spinning on the CPU.

    The processes are daemons, killed when the body ends, raises or is interrupted, and
    they exit by themselves should this process die without cleaning up.

    Args:
        n: Number of busy processes (0: none).
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    processes = [context.Process(target=_spin, args=(os.getpid(),), daemon=True) for _ in range(n)]
    try:
        for process in processes:
            process.start()
        yield
    finally:
        started = [p for p in processes if p.pid is not None]
        for process in started:
            process.kill()
        for process in started:
            process.join()
