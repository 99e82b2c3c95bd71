"""Statistical quality of the drift checks, swept over batch sizes with many repetitions.

Against a stored baseline of 100,000 rows of the benchmark's 50-column mix:

* no drift: the share of columns with any violation, at n = 1,000 to 1,000,000, next to
  the share a per-column KS / chi-square test at p < 0.05 flags on the same batches;
* detection: how often a 0.5 sd mean shift, a variance x1.5 (normal column) and a 0.15
  change of a category's share are flagged, at n = 200 to 10,000.

Run: ``make bench`` or ``.venv/bin/python bench/check_quality.py [--load N]``. It times
nothing, so it has no ratios to print; ``--load`` is there for a uniform command line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from baseline_speed import make_data
from check_speed import scipy_tests
from load import bench_parser, cpu_load, load_header

from mlflow_clarity.monitors import build_baseline
from mlflow_clarity.monitors.check.drift_check import check_batch

NULL_REPEATS = {1_000: 30, 10_000: 10, 100_000: 3, 1_000_000: 1}
DETECTION_SIZES = (200, 500, 1_000, 10_000)
DETECTION_REPEATS = 200


def flagged_columns(baseline, batch: pd.DataFrame) -> set[str]:
    result = check_batch(baseline, [(batch, None)])
    return {v["feature_name"] for v in result.violations if v.get("feature_name")}


def null_sweep() -> None:
    reference = make_data(100_000, seed=1)
    baseline = build_baseline(reference)
    print("no drift: share of the 50 columns flagged (mean over repetitions)")
    for rows, repeats in NULL_REPEATS.items():
        ours, naive = [], []
        for r in range(repeats):
            batch = make_data(rows, seed=100 + r)
            ours.append(len(flagged_columns(baseline, batch)) / 50)
            if rows <= 100_000:
                naive.append(scipy_tests(reference, batch) / 50)
        naive_text = f"{np.mean(naive):.3f}" if naive else "n/a"
        print(f"  n={rows:>9,}: mlflow-clarity {np.mean(ours):.3f}  KS/chi2 p<0.05 {naive_text}")


def changed(rows: int, rng: np.random.Generator, change: str) -> pd.DataFrame:
    shares = np.array([0.4, 0.3, 0.2, 0.1])
    if change == "category share +0.15":
        shares = np.array([0.55, 0.15, 0.2, 0.1])
    scale = np.sqrt(1.5) if change == "variance x1.5" else 1.0
    shift = 0.5 if change == "mean +0.5 sd" else 0.0
    return pd.DataFrame(
        {
            "x": rng.normal(shift, scale, rows),
            "c": rng.choice(["a", "b", "c", "d"], rows, p=shares),
        }
    )


def detection_sweep() -> None:
    rng = np.random.default_rng(0)
    baseline = build_baseline(changed(100_000, rng, "none"))
    print(f"detection: share of {DETECTION_REPEATS} batches flagged on the changed column")
    for change, column in (
        ("mean +0.5 sd", "x"),
        ("variance x1.5", "x"),
        ("category share +0.15", "c"),
        ("none", "x"),
    ):
        rates = []
        for rows in DETECTION_SIZES:
            hits = [
                column in flagged_columns(baseline, changed(rows, rng, change))
                for _ in range(DETECTION_REPEATS)
            ]
            rates.append(f"n={rows}: {np.mean(hits):.3f}")
        print(f"  {change:<22} " + "  ".join(rates))


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    print(load_header(args.load))
    with cpu_load(args.load):
        null_sweep()
        detection_sweep()


if __name__ == "__main__":
    main()
