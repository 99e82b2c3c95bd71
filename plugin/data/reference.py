"""Turning user data into :class:`~mlflow_clarity.types.ReferenceData`.

Reference data arrives as whatever the user has (a DataFrame, a numpy array, a dict of
columns, a tensor, an MLflow dataset). It is converted to a DataFrame without copying the
full data, aligned with the model's inputs **by column name**, and sampled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.items import prepare_items
from mlflow_clarity.data.modality import detect
from mlflow_clarity.data.sampling import (
    TINY_ROWS,
    RawReference,
    ReferenceDataError,
    align_columns,
    sampling_order,
    to_labels,
)
from mlflow_clarity.data.spark_frames import is_spark_frame, prepare_spark_reference
from mlflow_clarity.types import ReferenceData

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ExpectedColumns:
    """The input columns a model expects, and where that knowledge came from.

    Attributes:
        names: All input column names, in the model's order.
        required: The names that must be present.
        origin: ``model signature`` or ``model's feature_names_in_``.
    """

    names: tuple[str, ...]
    required: tuple[str, ...]
    origin: str


def expected_columns(signature: Any, model: Any = None) -> ExpectedColumns | None:
    """Return the named inputs of a model: from its signature, else sklearn's feature names.

    Args:
        signature: An ``mlflow.models.ModelSignature`` or None.
        model: The in-memory model, or None.

    Returns:
        The expected columns, or None when the model does not name its inputs.
    """
    inputs = getattr(signature, "inputs", None)
    if inputs is not None and getattr(inputs, "has_input_names", lambda: False)():
        names = tuple(str(name) for name in inputs.input_names())
        required = tuple(
            str(spec.name) for spec in inputs.inputs if getattr(spec, "required", True)
        )
        return ExpectedColumns(names, required, "model signature")
    feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is not None:
        names = tuple(str(name) for name in feature_names)
        return ExpectedColumns(names, names, "model's feature_names_in_")
    return None


def to_frame(data: Any, column_hint: Sequence[str] | None = None) -> pd.DataFrame:
    """Convert tabular data to a DataFrame, without copying a DataFrame.

    Args:
        data: DataFrame, Series, 1-D or 2-D array, tensor, dict of columns or list of rows.
        column_hint: Column names to use for unnamed 2-D data of the same width.

    Returns:
        A DataFrame with string column names.

    Raises:
        ReferenceDataError: The data is not tabular.
    """
    import numpy as np
    import pandas as pd

    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
        data = data.detach().cpu().numpy()
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as exc:
            raise ReferenceDataError(f"cannot turn the dict into a table: {exc}") from exc
    elif isinstance(data, (np.ndarray, list, tuple)):
        array = np.asarray(data, dtype=object) if isinstance(data, (list, tuple)) else data
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise ReferenceDataError(
                f"reference data has shape {array.shape}; only 2-D tabular data is supported"
            )
        width = array.shape[1]
        names = (
            list(column_hint)
            if column_hint and len(column_hint) == width
            else [f"f{i}" for i in range(width)]
        )
        frame = pd.DataFrame(array, columns=names)
        if array.dtype == object:
            frame = frame.infer_objects()
    else:
        raise ReferenceDataError(
            f"unsupported reference data type {type(data).__module__}.{type(data).__name__}; "
            "pass a pandas DataFrame, a numpy array or a dict of columns"
        )
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    if frame.columns.has_duplicates:
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ReferenceDataError(f"reference data has duplicate column names: {dupes}")
    return frame


def _align(
    frame: pd.DataFrame, expected: ExpectedColumns | None, notes: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """The model's columns of ``frame`` in its order, and the columns dropped."""
    keep, extra = align_columns(list(frame.columns), expected, notes)
    return (frame if list(frame.columns) == keep else frame[keep]), extra


def prepare_reference(
    raw: RawReference,
    expected: ExpectedColumns | None,
    *,
    sample_rows: int,
    seed: int,
    signature: Any = None,
    model: Any = None,
) -> ReferenceData:
    """Convert, validate, align and sample reference data.

    Images, texts and token ids (see :func:`~mlflow_clarity.data.modality.detect`, which
    looks at the data, the signature and the model) keep their own form
    (:func:`~mlflow_clarity.data.items.prepare_items`); tables are aligned with the
    model's inputs by column name.

    Args:
        raw: The data as given.
        expected: The columns the model expects (matched by name), or None.
        sample_rows: Maximum rows in the sample.
        seed: Sampling seed.
        signature: The model's signature, for the modality.
        model: The in-memory model, for the modality (token ids need an embedding).

    Returns:
        The reference data; its full rows stay un-copied behind ``iter_chunks``.

    Raises:
        ReferenceDataError: The data is empty, not usable for the model's modality, or
            lacks expected columns.
    """
    if is_spark_frame(raw.features):  # profiled where it lives, sampled to the driver
        return prepare_spark_reference(raw, expected, sample_rows=sample_rows, seed=seed)
    modality = detect(raw.features, signature, model)
    if modality.kind != "tabular":
        return prepare_items(raw, modality, sample_rows=sample_rows, seed=seed)
    notes: list[str] = []
    frame = to_frame(raw.features, None if expected is None else expected.names)
    labels = to_labels(raw.labels, len(frame))
    if len(frame) == 0:
        raise ReferenceDataError("reference data has no rows")
    if frame.shape[1] == 0:
        raise ReferenceDataError("reference data has no columns")
    frame, dropped = _align(frame, expected, notes)
    n_rows = len(frame)
    if n_rows < TINY_ROWS:
        notes.append(
            f"only {n_rows} reference row(s): explanations and baselines will be rough; pass "
            "more with mlflow_clarity.reference_data(X, y)"
        )

    order = sampling_order(labels, n_rows, seed)

    def draw(rows: int) -> tuple[pd.DataFrame, pd.Series | None]:
        positions = order[:rows]
        return (
            frame.iloc[positions].reset_index(drop=True),
            None if labels is None else labels.iloc[positions].reset_index(drop=True),
        )

    if n_rows > sample_rows:
        notes.append(f"explainers use a seeded sample of {sample_rows} of {n_rows} rows")
    sample, sample_labels = draw(sample_rows)

    def chunks(rows: int) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
        for start in range(0, n_rows, rows):
            stop = min(start + rows, n_rows)
            yield frame.iloc[start:stop], None if labels is None else labels.iloc[start:stop]

    return ReferenceData(
        source=raw.source,
        n_rows=n_rows,
        columns=tuple(frame.columns),
        sample=sample,
        sample_labels=sample_labels,
        chunk_source=chunks,
        row_source=draw,
        row_order=order,
        notes=tuple(notes),
        dropped_columns=tuple(dropped),
    )
