"""Cost of a drift check against the stored baseline, and Evidently on the raw reference.

100,000 current rows x 50 columns (the baseline benchmark's mix: 30 floats, 10 Poisson
integers, 10 Zipf strings of cardinality 2 to 20,000), half of the floats shifted by
0.1 to 0.5 standard deviations, checked against a baseline built from 1,000,000
reference rows and written to disk. The check is timed from reading the stored files to
the violations list. In the same run: scipy's per-column KS and chi-square homogeneity
on the raw 100,000-row reference (the obvious alternative), and Evidently's
DataDriftPreset on the same raw reference when a Python with Evidently is given (it
needs NumPy 1 / pandas 2, so it usually lives in a separate environment).

Run: ``make bench`` or ``.venv/bin/python bench/check_speed.py [--evidently-python PATH]
[--load N]``.
An Evidently environment: ``python3.11 -m venv /tmp/evv && /tmp/evv/bin/pip install
"numpy<2" "pandas<2.3" "pyarrow<19" evidently``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from baseline_speed import make_data, measure
from load import bench_parser, cpu_load, load_header, ratios

from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.check.drift_check import check_batch

SHIFTED = [f"float{i}" for i in range(0, 30, 2)]


def drifted(rows: int, seed: int) -> pd.DataFrame:
    frame = make_data(rows, seed)
    for k, name in enumerate(SHIFTED):
        shift = 0.1 + 0.4 * k / (len(SHIFTED) - 1)
        frame[name] = frame[name] + shift * np.nanstd(frame[name].to_numpy())
    return frame


def scipy_tests(reference: pd.DataFrame, current: pd.DataFrame) -> int:
    """KS for numeric columns, chi-square homogeneity for strings; columns with p < 0.05."""
    from scipy.stats import chi2_contingency, ks_2samp

    flagged = 0
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref):
            p = ks_2samp(ref.dropna(), cur.dropna()).pvalue
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0)
            p = chi2_contingency(table.to_numpy().T)[1]
        flagged += p < 0.05
    return flagged


EVIDENTLY = """
import sys, time, pandas as pd
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    run = lambda: Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    run = lambda: Report(metrics=[DataDriftPreset()]).run(reference_data=ref, current_data=cur)
import evidently
started = time.perf_counter()
run()
print(time.perf_counter() - started, evidently.__version__)
"""


def evidently_seconds(python: str, reference: Path, current: Path) -> tuple[float, str] | str:
    done = subprocess.run(
        [python, "-c", EVIDENTLY, str(reference), str(current)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
    seconds, version = done.stdout.split()[-2:]
    return float(seconds), version


def compare(args: argparse.Namespace, folder: Path, current: pd.DataFrame) -> None:
    """Time the check of ``current`` and the alternatives on the raw reference; print them."""
    same = make_data(args.rows, seed=3)
    raw_reference = make_data(args.rows, seed=1)
    raw_reference.to_parquet(folder / "reference.parquet")
    current.to_parquet(folder / "current.parquet")

    def check(batch: pd.DataFrame) -> Any:
        return check_batch(Baseline.read(folder / "baseline"), [(batch, None)])

    check(same.head(1000))  # warm imports
    with cpu_load(args.load):
        seconds, peak, result = measure(lambda: check(current))
        _, _, null_result = measure(lambda: check(same))
        scipy_s, _, scipy_flags = measure(lambda: scipy_tests(raw_reference, current))
        _, _, scipy_null = measure(lambda: scipy_tests(raw_reference, same))
        evidently = evidently_seconds(
            args.evidently_python, folder / "reference.parquet", folder / "current.parquet"
        )
    flagged = [v for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"]
    false = [v for v in null_result.violations if v.get("feature_name")]
    print(
        f"check {args.rows:,} x {current.shape[1]} vs stored baseline of "
        f"{args.reference_rows:,} rows: {seconds:.2f} s, peak {peak:.0f} MB traced"
    )
    print(
        f"  drifted columns flagged: {len(flagged)} of {len(SHIFTED)} shifted "
        f"(0.1 to 0.5 sd); no-drift batch: {len(false)} column violations"
    )
    shifted_found = sorted({v["feature_name"] for v in flagged})
    print(f"  flagged: {', '.join(shifted_found)}")
    print(
        f"scipy KS + chi2 on the raw {args.rows:,}-row reference: {scipy_s:.2f} s "
        f"({ratios(scipy_s, seconds, 'scipy', 'ours')}); p<0.05 columns: drift {scipy_flags}, "
        f"no drift {scipy_null}"
    )
    if isinstance(evidently, str):
        print(f"Evidently DataDriftPreset: not run ({evidently})")
    else:
        ev_s, version = evidently
        print(
            f"Evidently {version} DataDriftPreset on the raw {args.rows:,}-row reference: "
            f"{ev_s:.2f} s -> {ratios(ev_s, seconds, 'Evidently', 'ours')}"
        )
    print(json.dumps({"check_s": seconds, "violations": len(result.violations)}))


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-python", default=sys.executable)
    args = parser.parse_args()
    print(load_header(args.load))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_baseline(make_data(args.reference_rows, seed=1)).write(folder / "baseline")
        compare(args, folder, drifted(args.rows, seed=2))


if __name__ == "__main__":
    main()
