"""Overhead of the interception itself on log_model, as a ratio to plain log_model.

The pipeline runs with no step selected (``autolog(steps=[])``): what remains is the
interception, building the context, writing and uploading ``clarity/status.json`` and
setting the status tag. Plain and intercepted calls alternate in one process on one
sqlite store, and the ratio of medians is printed, for MLflow's default call (which
infers pip requirements in a subprocess) and for a call that names its requirements.

Run: ``make bench`` or ``.venv/bin/python bench/overhead.py [--repeats N] [--load N]``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header
from sklearn.linear_model import LogisticRegression

import mlflow_clarity


def _time_log(model, x, *, clarity: bool, **kwargs) -> float:
    if clarity:
        mlflow_clarity.autolog(steps=[])
    else:
        mlflow_clarity.autolog(disable=True)
    with mlflow.start_run(), mlflow_clarity.reference_data(x):
        started = time.perf_counter()
        mlflow.sklearn.log_model(model, name="m", **kwargs)
        return time.perf_counter() - started


def measure(repeats: int, **kwargs) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(1000, 10)), columns=[f"x{i}" for i in range(10)])
    y = (x["x0"] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    _time_log(model, x, clarity=True, **kwargs)  # warm-up: imports, plugin discovery
    _time_log(model, x, clarity=False, **kwargs)
    plain, ours = [], []
    for _ in range(repeats):
        plain.append(_time_log(model, x, clarity=False, **kwargs))
        ours.append(_time_log(model, x, clarity=True, **kwargs))
    return statistics.median(plain), statistics.median(ours)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'bench.db'}")
        mlflow.set_experiment("overhead")
        cases = {
            "default log_model": {},
            "pip_requirements given": {"pip_requirements": ["scikit-learn"]},
        }
        print(f"interception overhead, median of {args.repeats} alternating calls")
        print(load_header(args.load))
        print(
            f"{'case':<24}{'plain s':>10}{'clarity s':>11}"
            f"{'clarity/plain':>15}{'plain/clarity':>15}"
        )
        with cpu_load(args.load):
            for name, kwargs in cases.items():
                plain, ours = measure(args.repeats, **kwargs)
                figures = f"{plain:>10.3f}{ours:>11.3f}{ours / plain:>15.3f}{plain / ours:>15.3f}"
                print(f"{name:<24}{figures}")


if __name__ == "__main__":
    main()
