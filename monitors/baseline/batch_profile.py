"""Summaries of a production batch, cut on the baseline's own grid, built chunk by chunk.

A check never needs the batch in memory: each column keeps counts at the baseline's
quantile grid and bin edges (numeric), value counts (categorical and discrete numeric),
missing and non-conforming counts. Memory is bounded by the chunk size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.column_profiles import (
    GRID,
    CategoricalProfile,
    NumericProfile,
)
from mlflow_clarity.monitors.baseline.data_profile import DataProfile, column_kind, numeric_values

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MAX_COUNTED_VALUES = 100_000
PROFILE_SAMPLE_ROWS = 1000


def _coerce_numeric(column: pd.Series, logical_type: str) -> tuple[np.ndarray, int]:
    """The column as float64 in the baseline's type, and how many values did not convert."""
    import pandas as pd

    kind = column_kind(column)
    if kind in ("numeric", "datetime", "boolean"):
        if kind == "boolean":
            column = column.astype("float64")
        return numeric_values(column), 0
    if logical_type == "datetime":
        converted = pd.to_datetime(column, errors="coerce", utc=True).dt.tz_localize(None)
    else:
        converted = pd.to_numeric(column, errors="coerce")
    failed = int((converted.isna() & column.notna()).sum())
    return numeric_values(converted), failed


@dataclass
class CentralMoments:
    """Count, mean and central moment sums up to the fourth, merged exactly (Pebay 2008)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0

    def update(self, values: np.ndarray) -> None:
        """Add a chunk of finite values."""
        if len(values) == 0:
            return
        mean = float(values.mean())
        d = values - mean
        d2 = d * d
        chunk = CentralMoments(
            len(values), mean, float(d2.sum()), float((d2 * d).sum()), float((d2 * d2).sum())
        )
        self.merge(chunk)

    def merge(self, b: CentralMoments) -> None:
        """Add the moments of another set of values."""
        na, nb = self.count, b.count
        n = na + nb
        if nb == 0:
            return
        delta = b.mean - self.mean
        m2a, m3a = self.m2, self.m3
        self.m4 += (
            b.m4
            + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6 * delta**2 * (na * na * b.m2 + nb * nb * m2a) / n**2
            + 4 * delta * (na * b.m3 - nb * m3a) / n
        )
        self.m3 += (
            b.m3 + delta**3 * na * nb * (na - nb) / n**2 + 3 * delta * (na * b.m2 - nb * m2a) / n
        )
        self.m2 += b.m2 + delta * delta * na * nb / n
        self.mean += delta * nb / n
        self.count = n

    @property
    def std_dev(self) -> float:
        """Population standard deviation."""
        return (self.m2 / self.count) ** 0.5 if self.count else 0.0

    @property
    def kurtosis(self) -> float:
        """Pearson's kurtosis (3 for a normal distribution); 3 when undefined."""
        return self.count * self.m4 / self.m2**2 if self.m2 > 0 else 3.0


@dataclass
class NumericBatch:
    """A batch column checked against a numeric baseline column.

    Attributes:
        baseline: The baseline's profile of the column.
        points: Sorted values at which both CDFs are compared (the baseline's quantile
            grid and bin edges).
    """

    baseline: NumericProfile
    points: Any = None
    rows: int = 0
    missing: int = 0
    non_finite: int = 0
    nonconforming: int = 0
    moments: CentralMoments = field(default_factory=CentralMoments)
    at_or_below: Any = None
    below: Any = None
    values: Counter[float] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        import numpy as np

        grid = self.baseline.quantiles(GRID) or []
        self.points = np.unique(np.array([*grid, *self.baseline.edges], dtype=float))
        self.at_or_below = np.zeros(len(self.points), dtype=np.int64)
        self.below = np.zeros(len(self.points), dtype=np.int64)

    @property
    def count(self) -> int:
        """Finite values seen."""
        return self.moments.count

    @property
    def discrete(self) -> bool:
        """Whether the column is checked as categorical (an integer column of few values)."""
        return self.baseline.check_type == "categorical"

    def update(self, column: pd.Series) -> None:
        """Add a chunk of the column."""
        import numpy as np

        values, failed = _coerce_numeric(column, self.baseline.logical_type)
        self.rows += len(values)
        self.nonconforming += failed
        finite = values[np.isfinite(values)]
        nan = int(np.isnan(values).sum())
        self.missing += nan - failed
        self.non_finite += len(values) - len(finite) - nan
        self.moments.update(finite)
        size = len(self.points) + 1
        left = np.searchsorted(self.points, finite, side="left")
        right = np.searchsorted(self.points, finite, side="right")
        self.at_or_below += np.cumsum(np.bincount(left, minlength=size))[:-1]
        self.below += np.cumsum(np.bincount(right, minlength=size))[:-1]
        if self.discrete and len(self.values) <= MAX_COUNTED_VALUES:
            uniques, counts = np.unique(finite, return_counts=True)
            self.values.update(dict(zip(uniques.tolist(), counts.tolist(), strict=True)))

    def bin_counts(self) -> np.ndarray:
        """Counts in the baseline's bins (bin i holds ``edges[i-1] <= v < edges[i]``)."""
        import numpy as np

        index = np.searchsorted(self.points, self.baseline.edges)
        below = self.below[index] if len(index) else np.array([], dtype=np.int64)
        return np.diff(np.concatenate([[0], below, [self.count]]))

    def state(self) -> dict[str, Any]:
        """The summary as plain JSON values, for :meth:`merge_state` elsewhere."""
        return {
            "rows": self.rows,
            "missing": self.missing,
            "non_finite": self.non_finite,
            "nonconforming": self.nonconforming,
            "moments": asdict(self.moments),
            "at_or_below": self.at_or_below.tolist(),
            "below": self.below.tolist(),
            "values": [[value, count] for value, count in self.values.items()],
        }

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the :meth:`state` of another part of the batch (a Spark partition's)."""
        import numpy as np

        self.rows += state["rows"]
        self.missing += state["missing"]
        self.non_finite += state["non_finite"]
        self.nonconforming += state["nonconforming"]
        self.moments.merge(CentralMoments(**state["moments"]))
        self.at_or_below += np.asarray(state["at_or_below"], dtype=np.int64)
        self.below += np.asarray(state["below"], dtype=np.int64)
        if self.discrete and len(self.values) <= MAX_COUNTED_VALUES:
            self.values.update({float(value): count for value, count in state["values"]})


@dataclass
class CategoricalBatch:
    """A batch column checked against a categorical baseline column."""

    baseline: CategoricalProfile
    rows: int = 0
    missing: int = 0
    nonconforming: int = 0
    count: int = 0
    values: Counter[str] = field(default_factory=Counter)

    def update(self, column: pd.Series) -> None:
        """Add a chunk of the column (values compared as strings, like the baseline's)."""
        present = column.dropna()
        self.rows += len(column)
        self.missing += len(column) - len(present)
        self.count += len(present)
        counted = present.astype(str).value_counts()
        if len(self.values) <= MAX_COUNTED_VALUES:
            self.values.update(dict(zip(counted.index, counted.tolist(), strict=True)))

    def state(self) -> dict[str, Any]:
        """The summary as plain JSON values, for :meth:`merge_state` elsewhere."""
        keys = ("rows", "missing", "nonconforming", "count")
        return {**{key: getattr(self, key) for key in keys}, "values": dict(self.values)}

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the :meth:`state` of another part of the batch (a Spark partition's)."""
        self.rows += state["rows"]
        self.missing += state["missing"]
        self.nonconforming += state["nonconforming"]
        self.count += state["count"]
        if len(self.values) <= MAX_COUNTED_VALUES:
            self.values.update(state["values"])


ColumnBatch = NumericBatch | CategoricalBatch


@dataclass
class BatchProfile:
    """Every baseline column's batch summary, plus the batch's own column names.

    Attributes:
        columns: Summary per baseline column present in the batch.
        batch_columns: Column names of the batch, in its order.
        rows: Rows read.
        profile: The batch's own profile of those columns (its types and bins from its
            first chunk), for the batch's ``statistics.json`` and ``constraints.json``.
        own_profile: Whether to keep ``profile`` (the model inputs' batch does; the
            model outputs' batch has no files of its own).
    """

    columns: dict[str, ColumnBatch]
    batch_columns: list[str] = field(default_factory=list)
    rows: int = 0
    profile: DataProfile | None = None
    own_profile: bool = False

    @classmethod
    def for_baseline(
        cls, baseline_columns: dict[str, Any], *, own_profile: bool = False
    ) -> BatchProfile:
        """Empty summaries for each of the baseline's column profiles (and, with
        ``own_profile``, the batch's own profile)."""
        columns: dict[str, ColumnBatch] = {}
        for name, profile in baseline_columns.items():
            if isinstance(profile, NumericProfile):
                columns[name] = NumericBatch(profile)
            else:
                columns[name] = CategoricalBatch(profile)
        return cls(columns, own_profile=own_profile)

    def update(self, chunk: pd.DataFrame) -> None:
        """Add a chunk of rows; columns are matched by name."""
        if not self.batch_columns:
            self.batch_columns = [str(c) for c in chunk.columns]
        self.rows += len(chunk)
        names = {str(c): c for c in chunk.columns}
        present = [names[n] for n in self.columns if n in names]
        for name, summary in self.columns.items():
            if name in names:
                summary.update(chunk[names[name]])
        if not self.own_profile:
            return
        own = chunk[present].rename(columns=str)
        if self.profile is None:  # its bins are never used: a few rows set types and edges
            self.profile = DataProfile.empty_like(own.head(PROFILE_SAMPLE_ROWS))
        self.profile.update(own)

    def state(self) -> dict[str, Any]:
        """Rows, column names and column summaries as plain JSON values (not the own
        ``profile``, whose merge needs a shared template: the caller's)."""
        columns = {name: column.state() for name, column in self.columns.items()}
        return {"rows": self.rows, "batch_columns": self.batch_columns, "columns": columns}

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the :meth:`state` of another part of the same batch (a Spark partition's)."""
        self.rows += state["rows"]
        self.batch_columns = self.batch_columns or list(state["batch_columns"])
        for name, column in state["columns"].items():
            self.columns[name].merge_state(column)
