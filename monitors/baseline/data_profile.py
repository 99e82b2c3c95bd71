"""A profile of a whole table: one mergeable column profile per column, matched by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.column_profiles import CategoricalProfile, NumericProfile

if TYPE_CHECKING:
    import pandas as pd

BIN_QUANTILES = [i / 10 for i in range(1, 10)]  # 10 bins cut at the baseline's deciles
SCHEMA_VERSION = 1


def column_kind(column: pd.Series) -> str:
    """``numeric``, ``datetime``, ``boolean`` or ``categorical`` (strings, mixed, categories)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    return "categorical"


def epoch_seconds(column: pd.Series) -> Any:
    """A datetime column as float64 seconds since 1970-01-01 UTC (NaT as NaN).

    Converted by the column's own unit (pandas 2 stores nanoseconds by default, pandas 3
    often microseconds or seconds), never through the raw integers.
    """
    import numpy as np
    import pandas as pd

    epoch = pd.Timestamp(0, tz="UTC") if column.dt.tz is not None else pd.Timestamp(0)
    seconds = (column - epoch) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype="float64", na_value=np.nan)


def numeric_values(column: pd.Series) -> Any:
    """A column as float64 (datetimes as epoch seconds, missing as NaN)."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return epoch_seconds(column)
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _edges(sample: pd.Series) -> list[float]:
    import numpy as np

    values = numeric_values(sample)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return []
    return sorted({float(q) for q in np.quantile(finite, BIN_QUANTILES)})


def _new_column(sample: pd.Series) -> NumericProfile | CategoricalProfile:
    import pandas as pd

    kind = column_kind(sample)
    if kind in ("numeric", "datetime"):
        integral = kind == "numeric" and pd.api.types.is_integer_dtype(sample)
        return NumericProfile(logical_type=kind, integral=integral, edges=_edges(sample))
    return CategoricalProfile(logical_type=kind)


@dataclass
class DataProfile:
    """Column profiles of a table, plus its row count.

    Attributes:
        item_count: Rows profiled.
        columns: Profile per column name, in the table's order.
        skipped: Columns that could not be profiled, with the reason.
    """

    item_count: int = 0
    columns: dict[str, NumericProfile | CategoricalProfile] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty_like(cls, sample: pd.DataFrame) -> DataProfile:
        """An empty profile whose column types and bin edges come from ``sample``."""
        profile = cls()
        for name in sample.columns:
            profile.columns[str(name)] = _new_column(sample[name])
        return profile

    def update(self, chunk: pd.DataFrame) -> None:
        """Add a chunk of rows; columns are matched by name."""
        self.item_count += len(chunk)
        for name, column_profile in self.columns.items():
            if name in self.skipped:
                continue
            column = chunk[name]
            if isinstance(column_profile, NumericProfile):
                if column_kind(column) not in ("numeric", "datetime"):
                    self.skipped[name] = f"type changed to {column.dtype} after the first rows"
                    continue
                column_profile.update(numeric_values(column))
            else:
                column_profile.update(column)

    def merge(self, other: DataProfile) -> DataProfile:
        """Add ``other`` (a profile of the same columns) into this one and return it.

        Raises:
            ValueError: The two profiles have different columns or column types.
        """
        if list(other.columns) != list(self.columns):
            raise ValueError("cannot merge profiles of different columns")
        for name, mine in self.columns.items():
            theirs = other.columns[name]
            if type(theirs) is not type(mine):
                raise ValueError(f"column {name!r} has different types in the two profiles")
            mine.merge(theirs)  # type: ignore[arg-type]
        self.item_count += other.item_count
        self.skipped.update(other.skipped)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``profile.json`` content."""
        return {
            "schema_version": SCHEMA_VERSION,
            "item_count": self.item_count,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
            "skipped_columns": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataProfile:
        """Read ``profile.json`` content."""
        columns: dict[str, NumericProfile | CategoricalProfile] = {}
        for name, column in data["columns"].items():
            reader = NumericProfile if column["kind"] == "numeric" else CategoricalProfile
            columns[name] = reader.from_dict(column)
        return cls(data["item_count"], columns, dict(data.get("skipped_columns") or {}))


def build_profile(
    chunks: Iterable[pd.DataFrame], sample: pd.DataFrame | None = None
) -> DataProfile:
    """Profile every row of a table given in chunks.

    Args:
        chunks: DataFrames with the same columns.
        sample: Rows that set the column types and bin edges (default: the first chunk).
            Profiles built with the same sample merge exactly.

    Returns:
        The profile.
    """
    profile: DataProfile | None = None if sample is None else DataProfile.empty_like(sample)
    for chunk in chunks:
        if profile is None:
            profile = DataProfile.empty_like(chunk)
        profile.update(chunk)
    return profile or DataProfile()
