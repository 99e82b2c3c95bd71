"""Baseline of a Spark reference on ``local[2]``: ours vs Spark's native sketches vs pandas.

40 numeric columns (normal, lognormal, uniform, Poisson; some NaN) x ``--rows`` rows
(default 1,000,000), cached in Spark before timing. Times, in the same run:

* ours: the Spark reference (count, the driver-side sample) and the distributed profile
  (``mapInPandas``: the pandas path's mergeable profile per partition, merged);
* Spark native: one ``agg`` with count, min, max, sum and ``kll_sketch_agg_double`` per
  column (Spark >= 4.1; the goal is ours <= 1.5x this);
* the pandas path: ``prepare_reference`` + ``build_profile`` on the same rows in memory.

Run: ``.venv/bin/python bench/spark_baseline.py [--rows N] [--partitions P] [--load N]``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header
from spark_local import local_spark

from mlflow_clarity.data.reference import RawReference, prepare_reference
from mlflow_clarity.monitors.baseline.data_profile import build_profile
from mlflow_clarity.monitors.baseline.spark_profile import spark_profile

COLUMNS = 40


def make_data(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(COLUMNS):
        kind = i % 4
        if kind == 0:
            values = rng.normal(size=rows)
        elif kind == 1:
            values = rng.lognormal(size=rows)
        elif kind == 2:
            values = rng.uniform(size=rows)
        else:
            values = rng.poisson(3 + i, size=rows).astype(float)
        if i < 4:
            values[rng.random(rows) < 0.01] = np.nan
        columns[f"c{i}"] = values
    return pd.DataFrame(columns)


def timed(label: str, fn) -> float:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    from pyspark.sql import functions as F

    spark = local_spark()
    data = make_data(args.rows)
    frame = spark.createDataFrame(data).repartition(args.partitions).cache()
    frame.count()
    print(f"{args.rows:,} rows x {COLUMNS} numeric columns, {args.partitions} partitions")
    with cpu_load(args.load):
        print(load_header(args.load))

        def ours() -> None:
            reference = prepare_reference(RawReference(frame), None, sample_rows=2000, seed=0)
            spark_profile(reference.chunk_source, reference.sample)

        def native() -> None:
            aggregates = [F.count(F.lit(1))]
            for name in frame.columns:
                column = F.col(name)
                aggregates += [F.min(column), F.max(column), F.sum(column)]
                aggregates.append(F.kll_sketch_agg_double(column))
            frame.agg(*aggregates).collect()

        def pandas_path() -> None:
            reference = prepare_reference(RawReference(data), None, sample_rows=2000, seed=0)
            build_profile([data], sample=reference.sample)

        ours_s = timed("ours (reference + distributed profile)", ours)
        native_s = timed("Spark native count/min/max/sum + KLL", native)
        pandas_s = timed("pandas path (in memory, one process)", pandas_path)
    print(f"ours / Spark native: {ours_s / native_s:.2f}x (goal <= 1.5x)")
    print(f"ours / pandas path:  {ours_s / pandas_s:.2f}x")
    spark.stop()


if __name__ == "__main__":
    main()
