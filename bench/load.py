"""What every benchmark shares: ``--load N`` busy processes, and ratios printed both ways.

A figure measured on an idle machine says little about a machine that is doing
something else. ``cpu_load(n)`` (the one of ``mlflow_clarity.testing``, re-exported here)
keeps ``n`` processes spinning on the CPU while a benchmark measures, so both sides of a
comparison run with the same cores taken; ``ratios`` prints a comparison as ``a/b`` and
``b/a`` so that no reader has to invert a figure.
"""

from __future__ import annotations

import argparse
import os

from mlflow_clarity.testing import cpu_load

__all__ = ["bench_parser", "cpu_load", "load_header", "ratios"]


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by a benchmark's docstring, with ``--load N``.

    Args:
        doc: The benchmark module's docstring; its first line describes the parser.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="busy processes spinning on the CPU while the benchmark measures (default 0)",
    )
    return parser


def load_header(n: int) -> str:
    """The line that says under which load a benchmark measured."""
    return f"load: {n} busy process(es) on {os.cpu_count()} CPU core(s) (--load {n})"


def ratios(a: float, b: float, a_name: str, b_name: str) -> str:
    """``a_name/b_name = Rx, b_name/a_name = 1/Rx``, with two decimals.

    Args:
        a: First figure (seconds, rows...).
        b: Second figure, in the same unit.
        a_name: Short name of the first figure.
        b_name: Short name of the second figure.
    """
    return f"{a_name}/{b_name} = {a / b:.2f}x, {b_name}/{a_name} = {b / a:.2f}x"
