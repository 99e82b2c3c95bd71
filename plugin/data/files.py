"""Tabular data in memory or in ``.csv`` / ``.parquet`` files, read whole or in chunks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from mlflow_clarity.data.capture_files import capture_chunks, is_capture
from mlflow_clarity.data.reference import to_frame
from mlflow_clarity.data.spark_frames import is_spark_frame, spark_chunks

if TYPE_CHECKING:
    import pandas as pd

DataLike = Union["pd.DataFrame", Any, str, Path]
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


class DataFileError(ValueError):
    """A data file is missing, of an unknown kind, or cannot be parsed."""


def data_path(data: str | Path) -> Path:
    """Check that ``data`` names an existing ``.csv`` or ``.parquet`` file.

    Raises:
        DataFileError: It does not exist or has another extension.
    """
    path = Path(data)
    if not path.is_file():
        raise DataFileError(f"data file {str(path)!r} does not exist")
    if path.suffix.lower() not in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataFileError(f"data file {str(path)!r}: expected a .csv or .parquet file")
    return path


def read_data(data: DataLike) -> Any:
    """Return ``data`` as is, or read a ``.csv`` or ``.parquet`` path whole.

    Raises:
        DataFileError: The file is missing, of another kind, or cannot be parsed.
    """
    if not isinstance(data, (str, Path)):
        return data
    import pandas as pd

    return pd.concat(list(_file_chunks(data_path(data), None)), ignore_index=True)


def _file_chunks(path: Path, rows: int | None) -> Iterator[pd.DataFrame]:
    import pandas as pd

    try:
        if path.suffix.lower() in CSV_SUFFIXES:
            if rows is None:
                yield pd.read_csv(path)
                return
            with pd.read_csv(path, chunksize=rows) as reader:
                yield from reader
            return
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            yield parquet.schema_arrow.empty_table().to_pandas()
        for batch in parquet.iter_batches(batch_size=rows or 1_000_000):
            yield batch.to_pandas()
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # pandas' EmptyDataError and pyarrow's ArrowInvalid are ValueErrors
        raise DataFileError(f"cannot read {str(path)!r}: {exc}") from exc


def iter_chunks(
    data: DataLike,
    labels: Any = None,
    *,
    rows: int = 100_000,
    column_hint: Sequence[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
    """Yield ``(features, labels)`` chunks of at most ``rows`` rows.

    Files are read chunk by chunk, so memory is bounded by ``rows``, not the file size.

    Args:
        data: A DataFrame (or anything :func:`mlflow_clarity.data.reference.to_frame` takes),
            or a ``.csv`` / ``.parquet`` path.
        labels: The name of a label column in the data, labels aligned with in-memory
            data, or None.
        rows: Rows per chunk.
        column_hint: Column names for unnamed in-memory data of the same width.

    A data capture folder (:mod:`mlflow_clarity.data.capture_files`) yields
    ``(features, labels, outputs)``: the served model's answers come with its inputs.

    Raises:
        DataFileError: The file cannot be read, or the label column is not in it.
        ValueError: Labels given as values for a file.
    """
    if is_capture(data):
        yield from capture_chunks(data, labels, rows=rows, column_hint=column_hint)
        return
    if is_spark_frame(data):  # streamed one partition at a time
        yield from spark_chunks(data, labels if isinstance(labels, str) else None, rows=rows)
        return
    if isinstance(data, (str, Path)):
        if labels is not None and not isinstance(labels, str):
            raise ValueError("with a data file, give labels as the name of a column in it")
        chunks: Iterator[pd.DataFrame] = _file_chunks(data_path(data), rows)
        label_values = None
    else:
        frame = to_frame(data, column_hint)
        chunks = (frame.iloc[i : i + rows] for i in range(0, max(len(frame), 1), rows))
        label_values = None if isinstance(labels, str) else labels
    for start, chunk in _with_offsets(chunks):
        if isinstance(labels, str):
            if labels not in chunk.columns:
                raise DataFileError(f"label column {labels!r} is not in the data")
            yield chunk.drop(columns=[labels]), chunk[labels]
        elif label_values is not None:
            yield chunk, _label_slice(label_values, start, len(chunk))
        else:
            yield chunk, None


def _with_offsets(chunks: Iterator[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
    start = 0
    for chunk in chunks:
        yield start, chunk
        start += len(chunk)


def _label_slice(labels: Any, start: int, count: int) -> pd.Series:
    import numpy as np
    import pandas as pd

    values = labels.to_numpy() if hasattr(labels, "to_numpy") else np.asarray(labels)
    return pd.Series(values.reshape(len(values), -1)[start : start + count, 0])
