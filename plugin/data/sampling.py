"""What every kind of reference data shares: the raw input, its errors, labels and the
seeded sampling order whose every prefix is a stratified sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TINY_ROWS = 50
_STRATIFY_MAX_CLASSES = 100


class ReferenceDataError(ValueError):
    """The reference data cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class RawReference:
    """Reference data as the user gave it, before conversion.

    Attributes:
        features: Features: DataFrame, array, dict of columns, tensor, list of rows.
        labels: Labels aligned with the rows, or None.
        source: Where it came from (``explicit``, ``dataset:<name>``, ``input_example``).
    """

    features: Any
    labels: Any = None
    source: str = "explicit"


def to_labels(labels: Any, n_rows: int) -> pd.Series | None:
    """Labels as a Series with a 0..n-1 index, checked against the number of rows.

    Raises:
        ReferenceDataError: More than one label column, or a different row count.
    """
    import numpy as np
    import pandas as pd

    if labels is None:
        return None
    if hasattr(labels, "detach") and hasattr(labels, "cpu"):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, pd.DataFrame):
        if labels.shape[1] != 1:
            raise ReferenceDataError(
                f"labels have {labels.shape[1]} columns; only one label column is supported"
            )
        labels = labels.iloc[:, 0]
    series = labels if isinstance(labels, pd.Series) else pd.Series(np.asarray(labels).ravel())
    if len(series) != n_rows:
        raise ReferenceDataError(f"labels have {len(series)} rows but the features have {n_rows}")
    return (
        series.reset_index(drop=True) if not series.index.equals(pd.RangeIndex(n_rows)) else series
    )


def sampling_order(labels: pd.Series | None, n_rows: int, seed: int) -> Any:
    """A seeded order of all rows whose every prefix is a stratified sample.

    Each row gets the key ``(random rank within its class + U(0, 1)) / class size``;
    sorting by key interleaves the classes in proportion, so the first ``k`` rows hold
    each class about ``k * share`` times, and a larger sample always contains a smaller
    one (the explainers' sample is a prefix of any bigger draw).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if labels is None or labels.nunique(dropna=False) > _STRATIFY_MAX_CLASSES:
        return rng.permutation(n_rows)
    codes = labels.astype("category").cat.codes.to_numpy()
    keys = np.empty(n_rows)
    for cls in np.unique(codes):
        members = np.flatnonzero(codes == cls)
        ranks = rng.permutation(len(members))
        keys[members] = (ranks + rng.uniform(size=len(members))) / len(members)
    return np.argsort(keys, kind="stable")


def align_columns(
    columns: list[str], expected: Any, notes: list[str]
) -> tuple[list[str], list[str]]:
    """The model's columns among ``columns``, in its order, and the columns dropped.

    Args:
        columns: The data's column names.
        expected: The model's :class:`~mlflow_clarity.data.reference.ExpectedColumns`,
            or None to keep every column.
        notes: Remarks about the data; a note is added when columns are dropped.

    Raises:
        ReferenceDataError: A column the model requires is missing.
    """
    if expected is None:
        return list(columns), []
    present = set(columns)
    missing = [n for n in expected.required if n not in present]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ReferenceDataError(
            f"reference data lacks {len(missing)} column(s) the {expected.origin} requires: "
            f"{shown}; it has {len(columns)} column(s). Columns are matched by name."
        )
    wanted = set(expected.names)
    extra = [c for c in columns if c not in wanted]
    if extra:
        shown = ", ".join(map(repr, extra[:10])) + (" ..." if len(extra) > 10 else "")
        notes.append(f"dropped {len(extra)} column(s) not in the {expected.origin}: {shown}")
    return [n for n in expected.names if n in present], extra
