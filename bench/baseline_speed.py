"""Cost of the drift baseline against a plain numpy/pandas profile, on 1,000,000 x 50.

The data follows the reference notes' setup: 30 float columns (normal, lognormal,
uniform; six with about 1 % NaN), 10 Poisson integer columns and 10 string columns with
Zipf-distributed categories of cardinality 2 to 20,000. Times the whole baseline (every
row profiled, content fingerprint, SageMaker files) and a one-pass numpy/pandas profile
with 101 exact quantiles, in the same run, with peak traced memory; prints the size of
the written artifacts. whylogs and Evidently are timed when they are installed.

Run: ``make bench`` or ``.venv/bin/python bench/baseline_speed.py [--rows N] [--load N]``.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header, ratios

from mlflow_clarity.monitors import build_baseline

CARDINALITIES = [2, 3, 5, 10, 20, 50, 100, 1_000, 5_000, 20_000]


def make_data(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(30):
        kind = i % 3
        if kind == 0:
            values = rng.normal(size=rows)
        elif kind == 1:
            values = rng.lognormal(size=rows)
        else:
            values = rng.uniform(size=rows)
        if i < 6:
            values[rng.random(rows) < 0.01] = np.nan
        columns[f"float{i}"] = values
    for i in range(10):
        columns[f"int{i}"] = rng.poisson(3 + i, size=rows)
    for i, cardinality in enumerate(CARDINALITIES):
        ranks = np.minimum(rng.zipf(1.3, size=rows), cardinality) - 1
        labels = np.array([f"cat{i}_{j}" for j in range(cardinality)], dtype=object)
        columns[f"str{i}"] = labels[ranks]
    return pd.DataFrame(columns)


def plain_profile(frame: pd.DataFrame) -> dict[str, Any]:
    """The obvious alternative: one pass of numpy/pandas with exact quantiles."""
    out: dict[str, Any] = {}
    grid = np.linspace(0, 1, 101)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            out[name] = {
                "count": len(finite),
                "missing": len(values) - len(finite),
                "mean": finite.mean(),
                "std": finite.std(),
                "min": finite.min(),
                "max": finite.max(),
                "histogram": np.histogram(finite, bins=10)[0],
                "quantiles": np.quantile(finite, grid),
            }
        else:
            out[name] = column.value_counts().head(1000)
    return out


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Seconds and peak traced megabytes of one call."""
    tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, result


def _whylogs(frame: pd.DataFrame) -> Callable[[], Any]:
    import whylogs

    return lambda: whylogs.log(frame)


def _evidently(frame: pd.DataFrame) -> Callable[[], Any]:
    from evidently import Report
    from evidently.presets import DataSummaryPreset

    return lambda: Report([DataSummaryPreset()]).run(frame)


def optional(frame: pd.DataFrame) -> dict[str, Callable[[], Any] | str]:
    """whylogs and Evidently when installed: a run, or why it cannot run here."""
    runs: dict[str, Callable[[], Any] | str] = {}
    for name, module, make in (
        ("whylogs why.log", "whylogs", _whylogs),
        ("Evidently DataSummaryPreset", "evidently", _evidently),
    ):
        if importlib.util.find_spec(module) is None:
            continue
        try:
            runs[name] = make(frame)
        except Exception as exc:  # e.g. built for NumPy 1 or pandas 2
            runs[name] = f"installed but does not import here: {exc}"
    return runs


def compare_optional(frame: pd.DataFrame, ours_s: float) -> None:
    """Time whylogs and Evidently when installed, and print how ours compares."""
    for name, run in optional(frame).items():
        if isinstance(run, str):
            print(f"  {name}: {run}")
            continue
        try:
            seconds, megabytes, _ = measure(run)
        except Exception as exc:  # e.g. whylogs 1.6 uses np.unicode_, gone in NumPy 2
            tracemalloc.stop()
            print(f"  {name}: fails here: {exc!r}"[:200])
            continue
        print(
            f"  {name}: {seconds:.2f} s, peak {megabytes:.0f} MB -> "
            f"{ratios(seconds, ours_s, 'theirs', 'ours')} (goal: theirs/ours >= 10)"
        )


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = make_data(args.rows)
    print(f"{args.rows:,} rows x {frame.shape[1]} columns (40 numeric, 10 string)")
    print(load_header(args.load))
    build_baseline(frame.head(1000))  # warm-up: imports, like the other side has done
    with cpu_load(args.load):
        ours_s, ours_mb, baseline = measure(lambda: build_baseline(frame))
        plain_s, plain_mb, _ = measure(lambda: plain_profile(frame))
        with tempfile.TemporaryDirectory() as tmp:
            baseline.write(Path(tmp))
            sizes = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
        print(f"  mlflow-clarity baseline: {ours_s:.2f} s, peak {ours_mb:.0f} MB traced")
        print(
            f"  numpy/pandas one pass + 101 exact quantiles: {plain_s:.2f} s,"
            f" peak {plain_mb:.0f} MB"
        )
        print(f"  {ratios(ours_s, plain_s, 'ours', 'numpy')} (goal: ours/numpy <= 1.5)")
        print(f"  artifacts: {sum(sizes.values()) / 1e6:.2f} MB in all (goal < 1 MB): {sizes}")
        compare_optional(frame, ours_s)


if __name__ == "__main__":
    main()
