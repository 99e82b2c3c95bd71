"""A check of a Spark batch on ``local[2]``: distributed vs streamed through the driver vs pandas.

A scikit-learn logistic regression on 10 numeric columns is logged with its baseline (a
temporary sqlite store). ``--rows`` rows (default 1,000,000) of a drifted batch with a
label column are written as a parquet folder and read back with Spark. Timed in the same
run, each from the parquet folder (or the in-memory frame) to the violations list, with
prediction drift and quality (labels) and without attribution drift:

* distributed: each partition summarised where it lives (the model loaded in the Spark
  task), the partitions' summaries merged on the driver (what ``check`` does); timed
  twice, the first run starting Spark's Python workers and loading the model in them;
* streamed: the same check with every row streamed to the driver (``toLocalIterator``,
  the fallback);
* pandas: the same rows in memory in one process.

Run: ``.venv/bin/python bench/spark_check.py [--rows N] [--partitions P] [--load N]``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header
from spark_local import local_spark

import mlflow_clarity
from mlflow_clarity.data.files import iter_chunks
from mlflow_clarity.logged_models import load_context, resolve_model_uri
from mlflow_clarity.monitors.baseline.step import Baseline
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.spark_batch import SparkBatch
from mlflow_clarity.monitors.check.stored_artifacts import download_clarity_folders

COLUMNS = [f"x{i}" for i in range(10)]


def make_data(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)
    data["x0"] += shift
    data["label"] = (data["x0"] + data["x1"] - shift + rng.normal(size=rows) > 0).astype(int)
    return data


def logged_model(folder: Path) -> str:
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    train = make_data(5000, seed=0)
    x, y = train[COLUMNS], train["label"]
    mlflow_clarity.autolog(steps=["baseline"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="m")
    return f"models:/{info.model_id}"


def timed(label: str, fn) -> tuple[float, dict]:
    started = time.perf_counter()
    drift = fn()
    seconds = time.perf_counter() - started
    found = sorted(
        c for c, col in drift["columns"].items() if col["distribution"]["status"] == "drift"
    )
    print(f"{label:<46} {seconds:8.2f} s   drifted: {found}", flush=True)
    return seconds, drift


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    spark = local_spark()
    with tempfile.TemporaryDirectory(prefix="clarity-spark-check-") as tmp:
        folder = Path(tmp)
        uri = logged_model(folder)
        resolved = resolve_model_uri(uri)
        monitoring, _ = download_clarity_folders(resolved.model_id, uri)
        baseline, ctx = Baseline.read(monitoring), load_context(resolved)
        data = make_data(args.rows, seed=1, shift=0.5)
        parquet = str(folder / "batch")
        spark.createDataFrame(data).repartition(args.partitions).write.parquet(parquet)
        print(f"{args.rows:,} rows x {len(COLUMNS)} numeric columns + label, parquet, local[2]")

        def check(chunks) -> dict:
            options = {"ctx": ctx, "labels_column": "label", "attribution": False}
            return check_batch(baseline, chunks, **options).drift

        def distributed() -> dict:
            return check(SparkBatch(spark.read.parquet(parquet), "label", 100_000))

        def streamed() -> dict:
            return check(SparkBatch(spark.read.parquet(parquet), "label", 100_000).stream())

        def in_memory() -> dict:
            return check(iter_chunks(data, "label", rows=100_000))

        with cpu_load(args.load):
            print(load_header(args.load))
            timed("distributed, first (Python workers start)", distributed)
            spark_s, spark_drift = timed("distributed (per partition, merged)", distributed)
            stream_s, _ = timed("streamed through the driver", streamed)
            pandas_s, pandas_drift = timed("pandas (in memory, one process)", in_memory)
    print(f"engine: {spark_drift['batch'].get('engine')}")
    print(f"quality equal to pandas: {spark_drift['quality'] == pandas_drift['quality']}")
    print(f"distributed / streamed: {spark_s / stream_s:.2f}x")
    print(f"distributed / pandas:   {spark_s / pandas_s:.2f}x")
    spark.stop()


if __name__ == "__main__":
    main()
