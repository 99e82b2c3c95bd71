"""The fast column-profile updates give exactly what a straightforward computation gives.

Each profile is built from three chunks and compared, field by field and bit for bit,
with plain numpy/pandas/Counter code run on the same chunks: counts, moments (mean and
M2 by numpy's own mean and sum, merged chunk by chunk), extremes, bin counts, discrete
values, value counts in their order, and what the KLL sketch was fed (its compaction is
randomised, so the feed is what can be compared exactly).
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.monitors import build_profile
from mlflow_clarity.monitors.baseline import column_profiles
from mlflow_clarity.monitors.baseline.column_profiles import CategoricalProfile, NumericProfile
from mlflow_clarity.monitors.baseline.data_profile import numeric_values

ROWS = 6_000


class FeedRecorder:
    """Stands in for a KLL sketch and keeps every value it is given, in order."""

    def __init__(self) -> None:
        self.fed: list[np.ndarray] = []

    def update(self, values: np.ndarray) -> None:
        assert values.flags.writeable and values.flags.c_contiguous
        self.fed.append(np.array(values, copy=True))


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=ROWS)
    normal[rng.random(ROWS) < 0.05] = np.nan
    normal[rng.random(ROWS) < 0.02] = np.inf
    normal[rng.random(ROWS) < 0.02] = -np.inf
    return pd.DataFrame(
        {
            "normal_nan_inf": normal,
            "lognormal": rng.lognormal(size=ROWS),
            "constant": np.full(ROWS, 2.5),
            "all_nan": np.full(ROWS, np.nan),
            "few_ints": rng.integers(0, 5, ROWS),
            "many_ints": rng.integers(0, 1_000, ROWS),
            "wide_ints": rng.choice([-(10**7), 0, 3, 10**7], ROWS),
            "nullable_ints": pd.array(
                np.where(rng.random(ROWS) < 0.1, None, rng.integers(0, 4, ROWS)), dtype="Int64"
            ),
            "ties": rng.choice([1.0, 2.0, 2.0, 3.0], ROWS),
            "strings": rng.choice(["a", "b", "c", None], ROWS),
            "zipf": np.array([f"v{k}" for k in np.minimum(rng.zipf(1.3, ROWS), 500)]),
            "category": pd.Categorical(rng.choice(["x", "y"], ROWS)),
            "mixed": pd.Series([1, "a", 2.5, None, "b", True] * (ROWS // 6), dtype=object),
        }
    )


def _chunks(frame: pd.DataFrame) -> list[pd.DataFrame]:
    bounds = [0, ROWS // 5, ROWS // 2, ROWS]
    return [frame.iloc[a:b] for a, b in pairwise(bounds)]


def _profile(frame: pd.DataFrame) -> tuple[dict[str, Any], dict[str, FeedRecorder]]:
    """The profile of three chunks, with a recorder in place of each KLL sketch."""
    sample = frame.sample(2_000, random_state=0)
    profile = build_profile([], sample=sample)
    recorders = {}
    for name, column in profile.columns.items():
        if isinstance(column, NumericProfile):
            recorders[name] = column.sketch = FeedRecorder()
    for chunk in _chunks(frame):
        profile.update(chunk)
    return profile.columns, recorders


def _reference_numeric(column: NumericProfile, chunks: list[np.ndarray]) -> dict[str, Any]:
    """Counts, moments, extremes, bins and values, one plain statistic at a time."""
    finite = [c[np.isfinite(c)] for c in chunks]
    count, mean, m2 = 0, 0.0, 0.0
    for part in (p for p in finite if len(p)):  # Chan et al.'s merge, chunk by chunk
        n, part_mean = len(part), part.mean()
        delta, total = part_mean - mean, count + n
        m2 += ((part - part_mean) ** 2).sum() + delta * delta * count * n / total
        mean += delta * n / total
        count = total
    every = np.concatenate(finite)
    bins = np.histogram(every, bins=[-np.inf, *column.edges, np.inf])[0]
    values = Counter(every.tolist()) if column.integral else None
    return {
        "count": len(every),
        "missing": sum(int(np.isnan(c).sum()) for c in chunks),
        "non_finite": sum(int(np.isinf(c).sum()) for c in chunks),
        "sum": sum(float(p.sum()) for p in finite),
        "mean": mean,
        "m2": m2,
        "min": float(every.min()) if len(every) else None,
        "max": float(every.max()) if len(every) else None,
        "bin_counts": bins.tolist(),
        "values": None if values is None or len(values) > 20 else values,
        "fed": every,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numeric_columns_match_plain_numpy(seed: int) -> None:
    frame = _frame(seed)
    columns, recorders = _profile(frame)
    for name, column in columns.items():
        if not isinstance(column, NumericProfile):
            continue
        chunks = [numeric_values(chunk[name]) for chunk in _chunks(frame)]
        expected = _reference_numeric(column, chunks)
        fed = recorders[name].fed
        assert np.array_equal(np.concatenate(fed) if fed else [], expected.pop("fed")), name
        actual = {key: getattr(column, key) for key in expected}
        assert actual == expected, name


def _reference_counts(chunks: list[pd.Series], limit: int) -> tuple[Counter[str], int]:
    """Value counts (as strings) value by value; past ``limit`` values, new ones go untracked."""
    counts: Counter[str] = Counter()
    untracked = 0
    for chunk in chunks:
        for value, n in chunk.dropna().astype(str).value_counts().items():
            if value in counts or len(counts) < limit:
                counts[value] += n
            else:
                untracked += n
    return counts, untracked


@pytest.mark.parametrize("limit", [column_profiles.MAX_TRACKED_VALUES, 50, 2])
def test_categorical_columns_match_plain_counting(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(column_profiles, "MAX_TRACKED_VALUES", limit)
    frame = _frame(3)
    columns, _ = _profile(frame)
    for name, column in columns.items():
        if not isinstance(column, CategoricalProfile):
            continue
        chunks = [chunk[name] for chunk in _chunks(frame)]
        counts, untracked = _reference_counts(chunks, limit)
        assert list(column.counts.items()) == list(counts.items()), name  # order: ties
        assert column.untracked == untracked, name
        assert column.missing == sum(int(c.isna().sum()) for c in chunks), name
        assert column.count == sum(int(c.notna().sum()) for c in chunks), name
