"""Built-in monitor ``baseline``: a profile of all reference rows, stored with the model.

Streams every reference row (not the explainers' sample) in chunks and keeps per-column
statistics that merge exactly across chunks: counts, missing and non-finite values, mean
and M2 (Chan et al.'s parallel variance), min and max for numeric columns; value counts
for the others. Later drift checks need only this file, never the training data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..hooks.specs import hookimpl
from ..store import write_json
from ..types import ModelContext, MonitorSpec, StepOutput, StepWorkspace

if TYPE_CHECKING:
    import pandas as pd

PROFILE_FILE = "profile.json"
SCHEMA_VERSION = 1
TOP_K_CATEGORIES = 50
CHUNK_ROWS = 100_000


@dataclass
class NumericStats:
    """Mergeable moments of one numeric column."""

    count: int = 0
    missing: int = 0
    non_finite: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None

    def update(self, values: Any) -> None:
        """Add a chunk of values (a float numpy array)."""
        import numpy as np

        nan = np.isnan(values)
        inf = np.isinf(values)
        finite = values[~nan & ~inf]
        self.missing += int(nan.sum())
        self.non_finite += int(inf.sum())
        n = len(finite)
        if n == 0:
            return
        mean = float(finite.mean())
        m2 = float(((finite - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total
        low, high = float(finite.min()), float(finite.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with the population standard deviation."""
        std = (self.m2 / self.count) ** 0.5 if self.count else None
        return {"type": "numeric", **self.__dict__, "std_dev": std}


@dataclass
class CategoricalStats:
    """Exact value counts of one non-numeric column (top K kept when written)."""

    count: int = 0
    missing: int = 0
    values: Counter[str] = field(default_factory=Counter)

    def update(self, column: pd.Series) -> None:
        """Add a chunk of values."""
        present = column.dropna()
        self.missing += len(column) - len(present)
        self.count += len(present)
        self.values.update(present.astype(str).value_counts().to_dict())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the top categories and an ``__other__`` bucket."""
        top = dict(self.values.most_common(TOP_K_CATEGORIES))
        other = self.count - sum(top.values())
        return {
            "type": "categorical",
            "count": self.count,
            "missing": self.missing,
            "distinct": len(self.values),
            "top": {**top, **({"__other__": other} if other else {})},
        }


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def profile_chunks(chunks: Any) -> tuple[int, dict[str, Any]]:
    """Profile an iterable of DataFrame chunks with the same columns.

    Args:
        chunks: DataFrames.

    Returns:
        ``(rows, {column: stats})``.
    """
    stats: dict[str, NumericStats | CategoricalStats] = {}
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        for name in chunk.columns:
            column = chunk[name]
            if name not in stats:
                stats[name] = NumericStats() if _is_numeric(column) else CategoricalStats()
            current = stats[name]
            if isinstance(current, NumericStats) and _is_numeric(column):
                current.update(column.to_numpy(dtype="float64", na_value=float("nan")))
            elif isinstance(current, NumericStats):
                raise ValueError(f"column {name!r} changes from numeric to non-numeric")
            else:
                current.update(column)
    return rows, stats


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    assert ctx.reference is not None  # guaranteed by needs_data
    rows, stats = profile_chunks(features for features, _ in ctx.reference.iter_chunks(CHUNK_ROWS))
    write_json(
        workspace.out_dir / PROFILE_FILE,
        {
            "schema_version": SCHEMA_VERSION,
            "model_id": ctx.model_id,
            "item_count": rows,
            "source": ctx.reference.source,
            "columns": {name: s.to_dict() for name, s in stats.items()},
        },
    )
    return StepOutput(
        metrics={"rows": rows, "columns": len(stats)},
        summary={"rows": rows, "columns": len(stats)},
    )


@hookimpl
def clarity_monitors() -> list[MonitorSpec]:
    """Register the built-in ``baseline`` monitor."""
    return [
        MonitorSpec(
            name="baseline",
            run=_run,
            folder="monitoring",
            description="Profile of all reference rows for later drift checks",
        )
    ]
