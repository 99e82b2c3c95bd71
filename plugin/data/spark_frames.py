"""Spark DataFrames as reference data: all rows stay on Spark, a bounded sample comes
to the driver.

The baseline profiles every row where the data lives (see
:mod:`mlflow_clarity.monitors.baseline.spark_profile`, which reads :class:`SparkRows`);
the explainers get a seeded sample collected to the driver, at most
``DRAW_MAX_ROWS`` rows and about ``SAMPLE_MAX_BYTES`` bytes. The sample is the rows with
the smallest seeded hash of their values, so it is the same however the DataFrame is
partitioned (Spark's own ``sample`` depends on the partitioning). Nothing here imports
pyspark at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.sampling import (
    TINY_ROWS,
    RawReference,
    ReferenceDataError,
    align_columns,
)
from mlflow_clarity.types import ReferenceData

if TYPE_CHECKING:
    import pandas as pd

DRAW_MAX_ROWS = 10_000
"""Most rows collected to the driver (MLflow's own ceiling for Spark datasets)."""
SAMPLE_MAX_BYTES = 64 * 1024 * 1024
"""Estimated bytes the driver-side sample may take."""
STRING_BYTES = 64
"""Bytes assumed per string value when sizing the sample."""
_KEY = "__clarity_sample_key"
_NUMERIC = ("byte", "short", "integer", "long", "float", "double")
_SCALAR = (*_NUMERIC, "decimal", "string", "boolean", "date", "timestamp", "timestamp_ntz")


def is_spark_frame(data: Any) -> bool:
    """Whether ``data`` is a Spark DataFrame, classic or Connect (never imports pyspark)."""
    cls = type(data)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


def split_label_column(features: Any, label_col: str | None) -> tuple[Any, Any]:
    """Separate the label column of a table given as one frame.

    A Spark DataFrame keeps its label column (its name becomes the labels, read where
    the rows live); a pandas frame is split into features and a label Series.

    Raises:
        ValueError: The column is not in the data.
    """
    if label_col is None:
        return features, None
    if label_col not in list(getattr(features, "columns", [])):
        raise ValueError(f"label column {label_col!r} is not in the data")
    if is_spark_frame(features):
        return features, label_col
    return features.drop(columns=[label_col]), features[label_col]


@dataclass(frozen=True)
class SparkRows:
    """All rows of a Spark reference, where they live; the baseline profiles them there.

    Calling it streams the rows to the driver in pandas chunks (``chunk_source``), for
    the steps that need every row on the driver (the model's outputs in the baseline).

    Attributes:
        frame: The feature columns (in the model's order) and the label column, if any.
        columns: The feature columns.
        label_col: The label column, or None.
        sample: The driver-side sample (features), whose dtypes chunks are given.
    """

    frame: Any
    columns: tuple[str, ...]
    label_col: str | None
    sample: pd.DataFrame

    def __call__(self, rows: int) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
        for chunk, labels in spark_chunks(self.frame, self.label_col, rows=rows):
            for name in self.columns:  # the sample's dtypes (Spark's own toPandas)
                if chunk[name].dtype != self.sample[name].dtype:
                    # nulls in an integer column stay float, as in toPandas
                    with contextlib.suppress(TypeError, ValueError):
                        chunk[name] = chunk[name].astype(self.sample[name].dtype)
            yield chunk, labels


def spark_chunks(
    frame: Any, label_col: str | None = None, *, rows: int = 100_000
) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
    """Stream a Spark DataFrame to the driver as ``(features, labels)`` pandas chunks.

    One partition at a time reaches the driver (``toLocalIterator``), so the driver's
    memory is bounded by the partition and chunk sizes, not by the row count.

    Args:
        frame: The Spark DataFrame.
        label_col: The name of its label column, or None.
        rows: Rows per chunk.

    Raises:
        ReferenceDataError: The label column is not in the data.
    """
    import pandas as pd

    names = list(frame.columns)
    if label_col is not None and label_col not in names:
        raise ReferenceDataError(f"label column {label_col!r} is not in the Spark DataFrame")

    def chunk(batch: list[Any]) -> tuple[pd.DataFrame, pd.Series | None]:
        features = pd.DataFrame.from_records(batch, columns=names)
        labels = features.pop(label_col) if label_col else None
        return features, labels

    batch: list[Any] = []
    for row in frame.toLocalIterator(prefetchPartitions=True):
        batch.append(tuple(row))
        if len(batch) == rows:
            yield chunk(batch)
            batch = []
    if batch:
        yield chunk(batch)


def read_spark_data(path: str, master: str | None = None) -> Any:
    """Read a parquet file or folder as a Spark DataFrame (the active session, or a new
    one on ``master``, such as ``local[*]``).

    Raises:
        ValueError: pyspark is missing, Spark cannot start (pyspark 4 needs Java 17+), or
            the path cannot be read; the message says which.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ValueError("--spark needs pyspark: pip install 'mlflow-clarity[spark]'") from exc
    try:
        session = SparkSession.getActiveSession()
        if session is None:
            builder = SparkSession.builder.appName("mlflow-clarity")
            session = (builder.master(master) if master else builder).getOrCreate()
    except Exception as exc:
        raise ValueError(
            f"Spark could not start ({type(exc).__name__}: {str(exc)[:200]}); pyspark 4 "
            "needs Java 17+ on PATH or JAVA_HOME"
        ) from exc
    try:
        return session.read.parquet(path)
    except Exception as exc:
        raise ValueError(f"Spark cannot read {path!r} as parquet: {str(exc)[:300]}") from exc


def _usable_columns(frame: Any, label_col: str | None, notes: list[str]) -> dict[str, Any]:
    """The scalar feature columns, as expressions of the types the profiles take; the
    other columns are skipped with a note."""

    usable, skipped = {}, []
    for field in frame.schema.fields:
        if field.name == label_col:
            continue
        kind = field.dataType.typeName()
        if kind not in _SCALAR:
            skipped.append(f"{field.name!r} ({field.dataType.simpleString()})")
            continue
        column = frame[f"`{field.name}`"]
        if kind == "decimal":
            column = column.cast("double")
        elif kind == "date":
            column = column.cast("timestamp")
        usable[field.name] = column.alias(field.name)
    if skipped:
        shown = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        notes.append(
            f"skipped {len(skipped)} column(s) that are not scalars (structs, arrays, maps, "
            f"vectors, binary): {shown}"
        )
    return usable


def _sample_cap(frame: Any) -> int:
    """Rows the driver-side sample may hold, from an estimate of a row's bytes."""
    row_bytes = sum(
        STRING_BYTES if f.dataType.typeName() == "string" else 8 for f in frame.schema.fields
    )
    return max(1, min(DRAW_MAX_ROWS, SAMPLE_MAX_BYTES // max(row_bytes, 1)))


def seeded_sample(frame: Any, rows: int, seed: int) -> pd.DataFrame:
    """The ``rows`` rows with the smallest seeded hash of their values, in that order."""
    from pyspark.sql import functions as F

    values = [F.col(f"`{name}`") for name in frame.columns]
    keyed = frame.withColumn(_KEY, F.xxhash64(F.lit(seed), *values))
    return keyed.orderBy(_KEY).limit(rows).drop(_KEY).toPandas()


def prepare_spark_reference(
    raw: RawReference,
    expected: Any,
    *,
    sample_rows: int,
    seed: int,
) -> ReferenceData:
    """Reference data from a Spark DataFrame (labels: the name of one of its columns).

    Args:
        raw: ``features`` a Spark DataFrame, ``labels`` a column name or None.
        expected: The columns the model expects (an
            :class:`~mlflow_clarity.data.reference.ExpectedColumns`, matched by name), or
            None.
        sample_rows: Rows in the explainers' sample.
        seed: Seed of the sample.

    Returns:
        The reference data; :attr:`ReferenceData.chunk_source` is a :class:`SparkRows`.

    Raises:
        ReferenceDataError: No rows, no usable columns, a missing label column or
            missing expected columns.
    """
    import numpy as np

    label_col = raw.labels
    if label_col is not None and not isinstance(label_col, str):
        raise ReferenceDataError(
            "labels of a Spark DataFrame are given as the name of its label column "
            "(mlflow_clarity.reference_data(df, label_col='label'))"
        )
    if label_col is not None and label_col not in raw.features.columns:
        raise ReferenceDataError(f"label column {label_col!r} is not in the Spark DataFrame")
    notes: list[str] = []
    usable = _usable_columns(raw.features, label_col, notes)
    if not usable:
        raise ReferenceDataError("the Spark DataFrame has no scalar feature columns")
    names, dropped = align_columns(list(usable), expected, notes)
    frame = raw.features.select(
        *[usable[n] for n in names], *([raw.features[f"`{label_col}`"]] if label_col else [])
    )
    n_rows = frame.count()
    if n_rows == 0:
        raise ReferenceDataError("reference data has no rows")
    if n_rows < TINY_ROWS:
        notes.append(
            f"only {n_rows} reference row(s): explanations and baselines will be rough; pass "
            "more with mlflow_clarity.reference_data(df, label_col=...)"
        )
    cap = min(n_rows, _sample_cap(frame))
    drawn = seeded_sample(frame, cap, seed)
    drawn_labels = drawn.pop(label_col) if label_col else None
    if n_rows > cap:
        notes.append(
            f"the baseline profiles all {n_rows:,} rows on Spark; explainers use a seeded "
            f"sample of at most {min(sample_rows, cap):,} of {cap:,} rows collected to the driver"
        )

    def draw(rows: int) -> tuple[pd.DataFrame, pd.Series | None]:
        labels = None if drawn_labels is None else drawn_labels.iloc[:rows].copy()
        return drawn.iloc[:rows].copy(), labels

    sample, sample_labels = draw(sample_rows)
    return ReferenceData(
        source=raw.source,
        n_rows=n_rows,
        columns=tuple(names),
        sample=sample,
        sample_labels=sample_labels,
        chunk_source=SparkRows(frame, tuple(names), label_col, drawn),
        row_source=draw,
        row_order=np.arange(cap),  # positions in the driver-side sample (Spark rows have none)
        notes=tuple(notes),
        dropped_columns=tuple(dropped),
    )
