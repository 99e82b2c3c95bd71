"""How a production batch's columns meet the baseline's: checked, ignored or extra.

Real batches carry more than the model's inputs: a row id, an event time, the model's
logged outputs, the label. Columns the user names (``ignore_columns``), those the
baseline manifest lists as not model inputs (``not_model_inputs``: reference columns
dropped at log time because the model does not take them) and the id and timestamp
columns are ignored, each with its reason. Any other column not in the baseline is an
extra column: information, or an ``extra_column_check`` violation with
``strict_columns``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.step import NOT_MODEL_INPUTS

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class BatchColumns:
    """What the user said about the batch's columns.

    Attributes:
        ignore: Columns never checked, whether the baseline has them or not.
        strict: Whether a column not in the baseline is a violation (else information).
        id: The column that identifies rows: recorded, never checked.
        timestamp: The column of event times: its range is recorded, never checked.
    """

    ignore: tuple[str, ...] = ()
    strict: bool = False
    id: str | None = None
    timestamp: str | None = None

    def ignored(self, manifest: dict[str, Any]) -> dict[str, str]:
        """Every ignored column and why, given the baseline's manifest."""
        reasons = {
            name: "not a model input at log time" for name in manifest.get(NOT_MODEL_INPUTS) or []
        }
        reasons.update({name: "ignore_columns" for name in self.ignore})
        if self.id is not None:
            reasons[self.id] = "id column"
        if self.timestamp is not None:
            reasons[self.timestamp] = "timestamp column"
        return reasons


def batch_schema(
    baseline_columns: Iterable[str],
    batch_columns: Iterable[str],
    ignored: dict[str, str],
    strict: bool,
) -> dict[str, Any]:
    """The ``schema`` section of ``drift.json``: missing, extra and ignored columns.

    Args:
        baseline_columns: The baseline's columns.
        batch_columns: The batch's feature columns (the label column already removed).
        ignored: Ignored columns and their reasons (:meth:`BatchColumns.ignored`).
        strict: Whether extra columns are violations.
    """
    baseline, present = list(baseline_columns), list(batch_columns)
    expected = [c for c in baseline if c not in ignored]
    known, found = set(expected) | set(ignored), set(present)
    return {
        "missing_columns": [c for c in expected if c not in found],
        "extra_columns": [c for c in present if c not in known],
        "strict_columns": strict,
        "ignored_columns": {
            c: ignored[c] for c in dict.fromkeys([*present, *baseline]) if c in ignored
        },
    }


@dataclass
class IdTimeSummary:
    """The id column's coverage and the timestamp column's range, chunk by chunk."""

    columns: BatchColumns
    ids_present: int = 0
    times: list[Any] = field(default_factory=list)
    unparsed_times: int = 0

    def update(self, chunk: pd.DataFrame) -> None:
        """Add a chunk of the batch (before ignored columns are dropped)."""
        import pandas as pd

        if self.columns.id in chunk.columns:
            self.ids_present += int(chunk[self.columns.id].notna().sum())
        if self.columns.timestamp in chunk.columns:
            raw = chunk[self.columns.timestamp]
            times = pd.to_datetime(raw, errors="coerce", utc=True)
            self.unparsed_times += int((times.isna() & raw.notna()).sum())
            self.times += [t for t in (times.min(), times.max()) if not pd.isna(t)]

    def to_dict(self, present: Iterable[str]) -> dict[str, Any]:
        """``batch.id`` and ``batch.time_range`` of ``drift.json`` (absent when not asked)."""
        names = set(present)
        found: dict[str, Any] = {}
        if self.columns.id is not None:
            found["id"] = {
                "column": self.columns.id,
                "present": self.columns.id in names,
                "rows_with_id": self.ids_present,
            }
        if self.columns.timestamp is not None:
            found["time_range"] = {
                "column": self.columns.timestamp,
                "present": self.columns.timestamp in names,
                "first": min(self.times).isoformat() if self.times else None,
                "last": max(self.times).isoformat() if self.times else None,
                "unparsed": self.unparsed_times,
            }
        return found
