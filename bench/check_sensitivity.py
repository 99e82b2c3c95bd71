"""Detection and false alarms of the drift rules against n, next to two common defaults.

A baseline of m = 50,000 rows; batches of n = 500, 5,000 and 50,000 rows drawn unchanged
or changed. Each cell is the share of batches whose changed column is flagged by:

* ours: the check's own column comparison (``compare_column``: each value's share
  against its noise, Bonferroni over values, for categorical columns; L-infinity, PSI and
  tail share net of noise with their 0.1 / 0.1 / 0.04 floors for numeric ones);
* KS / chi2: scipy's two-sample Kolmogorov-Smirnov test (numeric, on the raw reference)
  or chi-square test of homogeneity (categorical), p < 0.05;
* JS 0.1: Jensen-Shannon distance (scipy, natural log) >= 0.1, on the category shares
  or on 10 bins cut at the reference's deciles.

Changes: a category's share moved by 0.03 (mass from a 0.12 share to a 0.15 one, and
from a 0.25 share to a 0.40 one, the hardest case), a numeric mean shifted by 0.05 sd,
and none. The numeric rules keep their practical floors, so they are not meant to see
0.05 sd; that row shows what the floors trade. Run:
``.venv/bin/python bench/check_sensitivity.py [--repeats 100] [--load N]``. It times
nothing (``--load`` is there for a uniform command line).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header

from mlflow_clarity.monitors import build_baseline
from mlflow_clarity.monitors.baseline.batch_profile import BatchProfile
from mlflow_clarity.monitors.check.column_drift import compare_column
from mlflow_clarity.monitors.check.drift_check import effective_thresholds

BASELINE_ROWS = 50_000
SIZES = (500, 5_000, 50_000)
CITIES = np.array(["paris", "lyon", "nice", "lille", "brest"])
SHARES = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
CHANGES = {
    "category +0.03 (0.12->0.09, 0.15->0.18)": ("c", np.array([0.4, 0.25, 0.18, 0.09, 0.08])),
    "category +0.03 (0.25->0.22, 0.40->0.43)": ("c", np.array([0.43, 0.22, 0.15, 0.12, 0.08])),
    "category none": ("c", SHARES),
    "numeric mean +0.05 sd": ("x", 0.05),
    "numeric none": ("x", 0.0),
}


def table(rows: int, rng: np.random.Generator, shares=SHARES, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"x": rng.normal(shift, 1.0, rows), "c": rng.choice(CITIES, rows, p=shares)}
    )


def ours(baseline, thresholds, batch: pd.DataFrame, column: str) -> bool:
    profile = BatchProfile.for_baseline({column: baseline.profile.columns[column]})
    profile.update(batch)
    return compare_column(profile.columns[column], thresholds)["distribution"]["status"] == "drift"


def shares_of(values: pd.Series) -> np.ndarray:
    return values.value_counts().reindex(CITIES, fill_value=0).to_numpy(dtype=float)


def classical(reference: pd.DataFrame, batch: pd.DataFrame, column: str) -> bool:
    from scipy.stats import chi2_contingency, ks_2samp

    if column == "x":
        return bool(ks_2samp(reference["x"], batch["x"]).pvalue < 0.05)
    table = np.vstack([shares_of(reference["c"]), shares_of(batch["c"])])
    return bool(chi2_contingency(table[:, table.sum(axis=0) > 0])[1] < 0.05)


def jensen_shannon(reference: pd.DataFrame, batch: pd.DataFrame, column: str) -> bool:
    from scipy.spatial.distance import jensenshannon

    if column == "x":
        edges = np.quantile(reference["x"], np.linspace(0.1, 0.9, 9))
        p = np.bincount(np.searchsorted(edges, reference["x"]), minlength=10)
        q = np.bincount(np.searchsorted(edges, batch["x"]), minlength=10)
    else:
        p, q = shares_of(reference["c"]), shares_of(batch["c"])
    return bool(jensenshannon(p / p.sum(), q / q.sum()) >= 0.1)


def sweep(repeats: int) -> None:
    rng = np.random.default_rng(0)
    reference = table(BASELINE_ROWS, rng)
    baseline = build_baseline(reference)
    thresholds = effective_thresholds(baseline.manifest["thresholds"], None)
    print(f"share of {repeats} batches flagged (baseline m = {BASELINE_ROWS:,} rows)")
    print(f"{'change':<42}{'n':>8}{'ours':>8}{'KS/chi2':>9}{'JS 0.1':>8}")
    for change, (column, setting) in CHANGES.items():
        for rows in SIZES:
            hits = np.zeros(3)
            for _ in range(repeats):
                if column == "c":
                    batch = table(rows, rng, shares=setting)
                else:
                    batch = table(rows, rng, shift=setting)
                hits += [
                    ours(baseline, thresholds, batch, column),
                    classical(reference, batch, column),
                    jensen_shannon(reference, batch, column),
                ]
            rates = hits / repeats
            print(f"{change:<42}{rows:>8,}{rates[0]:>8.2f}{rates[1]:>9.2f}{rates[2]:>8.2f}")


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=100, help="batches per cell")
    args = parser.parse_args()
    print(load_header(args.load))
    with cpu_load(args.load):
        sweep(args.repeats)


if __name__ == "__main__":
    main()
