"""Distributed SHAP (``explain_batch``) vs the same explainer in one process, xgboost.

An xgboost classifier (20 numeric features) is logged with its SHAP explanation (exact
TreeSHAP from the booster); ``--rows`` rows (default 200,000) are then explained:

* in one process: the ``shap`` step run on all rows at once, as a check's SHAP re-run
  does (same explainer, same stored background);
* on Spark ``local[2]``: ``explain_batch``, every Arrow batch of every partition explained
  where it lives, per-row values written as parquet, global importance aggregated.

Rows per second for both, in the same run. On 2 local cores Spark adds Arrow transfers,
Python workers and a model load per partition; the distributed job is for data and
clusters one process cannot hold.

Run: ``.venv/bin/python bench/spark_shap.py [--rows N] [--partitions P] [--load N]``.
"""

from __future__ import annotations

import tempfile
import time

import mlflow
import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header
from spark_local import local_spark

import mlflow_clarity
from mlflow_clarity.batch_explanations import _explain_frame, _stored

FEATURES = 20


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(rows, FEATURES)), columns=[f"x{i}" for i in range(FEATURES)])
    y = (x["x0"] + 0.5 * x["x1"] - x["x2"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return x, y


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    import xgboost

    folder = tempfile.mkdtemp(prefix="clarity-bench-spark-shap-")
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    x, y = make_data(5_000)
    model = xgboost.XGBClassifier(n_estimators=100, max_depth=4).fit(x, y)
    mlflow_clarity.autolog(steps=["shap"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.xgboost.log_model(model, name="m")
    uri = f"models:/{info.model_id}"
    batch, _ = make_data(args.rows, seed=1)
    spark = local_spark()
    frame = spark.createDataFrame(batch).repartition(args.partitions).cache()
    frame.count()
    print(f"{args.rows:,} rows x {FEATURES} features, {args.partitions} partitions, xgboost")
    with cpu_load(args.load):
        print(load_header(args.load))
        ctx, shap_folder, card = _stored(uri)
        started = time.perf_counter()
        values, _ = _explain_frame(ctx, batch, shap_folder, card, 3600.0)
        single = time.perf_counter() - started
        explained = values["row"].nunique()
        print(f"one process: {explained:,} rows in {single:.1f} s", end=" ")
        print(f"({explained / single:,.0f} rows/s)")
        started = time.perf_counter()
        summary = mlflow_clarity.explain_batch(uri, frame, f"{folder}/values")
        spread = time.perf_counter() - started
        rows = summary["rows_explained"]
        print(f"explain_batch: {rows:,} rows in {spread:.1f} s ({rows / spread:,.0f} rows/s)")
    ratio = (rows / spread) / (explained / single)
    print(f"explain_batch / one process, rows per second: {ratio:.2f}x")
    spark.stop()


if __name__ == "__main__":
    main()
