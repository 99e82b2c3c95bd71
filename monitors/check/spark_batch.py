"""A check's batch summary computed where the rows of a Spark DataFrame live.

Each partition (``mapInPandas``, Arrow batches) builds the same summaries the pandas
path builds chunk by chunk: the :class:`BatchProfile` of the feature columns on the
baseline's grid, the batch's own profile (types and bins from a driver-side sample, as
:mod:`~mlflow_clarity.monitors.baseline.spark_profile` does for the baseline), the id
and timestamp columns, and, with the model loaded in the Spark task, the profile of its
outputs and its quality against the label column. Each partition sends these back as
JSON values (no pickled objects of ours); the driver merges them. The attribution-drift
rows are a bounded seeded sample collected to the driver.

When the Spark job cannot run (workers without mlflow-clarity, a model that cannot be
loaded in a task) or the check needs every row on the driver (a ``pyspark.ml`` model,
performance estimation), the rows are streamed through the driver instead and
``drift.json`` says why.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.spark_frames import seeded_sample, spark_chunks
from mlflow_clarity.errors import report_failure
from mlflow_clarity.monitors.baseline.batch_profile import (
    PROFILE_SAMPLE_ROWS,
    BatchProfile,
    CentralMoments,
)
from mlflow_clarity.monitors.baseline.data_profile import DataProfile
from mlflow_clarity.monitors.baseline.model_quality import (
    ClassifierQuality,
    Quality,
    new_quality,
)
from mlflow_clarity.monitors.baseline.spark_profile import profile_from_payload, profile_payload
from mlflow_clarity.monitors.check.batch_columns import BatchColumns, IdTimeSummary
from mlflow_clarity.monitors.check.model_outputs import add_outputs

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from mlflow_clarity.types import ModelContext


@dataclass(frozen=True)
class SparkBatch:
    """A Spark DataFrame to check: summarised on Spark, streamed when that fails.

    Attributes:
        frame: The batch (features, and the label column if any).
        label_col: The name of the label column, or None.
        chunk_rows: Rows per chunk when the batch is streamed through the driver.
    """

    frame: Any
    label_col: str | None
    chunk_rows: int

    def stream(self) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
        """The batch as ``(features, labels)`` chunks on the driver (the fallback)."""
        return spark_chunks(self.frame, self.label_col, rows=self.chunk_rows)


@dataclass
class SparkSummary:
    """What the check's chunk loop gathers, gathered on Spark.

    Attributes:
        engine: ``drift.json``'s ``batch.engine``: ``{"engine": "spark", "partitions":
            n}``, or ``{"engine": "driver", "reason": ...}`` when the rows must be
            streamed through the driver instead (then nothing else is set).
        outputs: The profile of the model's outputs, or None.
        quality: The model's quality accumulator, or None.
        error: Why the model's outputs are missing, or None.
        sample: The attribution-drift rows (model inputs), or None.
        has_labels: Whether the batch has a label column.
    """

    engine: dict[str, Any]
    outputs: BatchProfile | None = None
    quality: Quality | None = None
    error: str | None = None
    sample: pd.DataFrame | None = None
    has_labels: bool = False

    @property
    def done(self) -> bool:
        """Whether the batch was summarised on Spark."""
        return self.engine["engine"] == "spark"


@dataclass(frozen=True)
class _Task:
    """Everything a partition needs, as plain values (it travels to the Spark tasks)."""

    checked: str
    template: str
    label_col: str | None
    id_col: str | None
    time_col: str | None
    chunk_rows: int
    inputs: list[str] = field(default_factory=list)
    predictions: str | None = None
    model_uri: str | None = None
    uris: tuple[str, str] = ("", "")


def _quality_state(quality: Quality | None) -> dict[str, Any] | None:
    if quality is None:
        return None
    if isinstance(quality, ClassifierQuality):
        return {
            "classes": list(quality.classes),
            "confusion": quality.confusion.tolist(),
            "histograms": quality.histograms.tolist(),
            "unknown_labels": quality.unknown_labels,
        }
    keys = ("abs_error", "sq_error", "quartic_error")
    return {**{k: getattr(quality, k) for k in keys}, "target": asdict(quality.target)}


def _merge_quality(quality: Quality | None, state: dict[str, Any] | None) -> Quality | None:
    """Add a partition's quality state to ``quality`` (created from the first one)."""
    import numpy as np

    if state is None:
        return quality
    if quality is None:
        classes = tuple(state.get("classes", ()))
        quality = new_quality(classes, len(classes) or 1)
    if isinstance(quality, ClassifierQuality):
        quality.confusion += np.asarray(state["confusion"], dtype=np.int64)
        quality.histograms += np.asarray(state["histograms"], dtype=np.int64)
        quality.unknown_labels += state["unknown_labels"]
    elif quality is not None:
        quality.abs_error += state["abs_error"]
        quality.sq_error += state["sq_error"]
        quality.quartic_error += state["quartic_error"]
        quality.target.merge(CentralMoments(**state["target"]))
    return quality


@functools.lru_cache(maxsize=2)
def _task_predictor(model_uri: str, tracking_uri: str, registry_uri: str) -> Any:
    """The model, loaded once per Python worker (Spark reuses its workers)."""
    import mlflow

    from mlflow_clarity import model_access
    from mlflow_clarity.logged_models import load_context, resolve_model_uri

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri)
    return model_access.predictor(load_context(resolve_model_uri(model_uri)))


@dataclass
class _PartitionOutputs:
    """The model's outputs on one partition: their profile and quality (as ``_Outputs``
    on the driver does, chunk by chunk)."""

    task: _Task
    batch: BatchProfile | None = None
    quality: Quality | None = None
    error: str | None = None

    def update(self, chunk: pd.DataFrame, labels: pd.Series | None) -> None:
        if self.error is not None or self.task.model_uri is None:
            return
        predictor = _task_predictor(self.task.model_uri, *self.task.uris)  # failing: fallback
        try:
            outputs = predictor.fn(chunk[self.task.inputs])
        except Exception as exc:  # logged on the worker; drift.json gets the reason
            report_failure(
                "calling the model on the batch", exc, consequence="Inputs are still checked."
            )
            self.error = f"the model could not be called on the batch: {exc!r}"[:300]
            return
        predictions = None
        if self.batch is None and self.task.predictions is not None:
            predictions = DataProfile.from_dict(json.loads(self.task.predictions))
        self.batch, self.quality = add_outputs(
            self.batch, self.quality, predictions, outputs, predictor, labels
        )


def _chunks(batches: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Arrow batches (10,000 rows by default) joined into chunks of about ``rows`` rows:
    each chunk costs a fixed overhead (sketch updates, a model call)."""
    import pandas as pd

    pending: list[pd.DataFrame] = []
    for batch in batches:
        pending.append(batch)
        if sum(len(b) for b in pending) >= rows:
            yield pd.concat(pending, ignore_index=True)
            pending = []
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _summarise_partition(task: _Task) -> Any:
    """The ``mapInPandas`` function: one JSON summary per partition."""

    def summarise(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        checked = DataProfile.from_dict(json.loads(task.checked)).columns
        batch = BatchProfile.for_baseline(checked, own_profile=True)
        batch.profile = DataProfile.from_dict(json.loads(task.template))
        id_time = IdTimeSummary(BatchColumns(id=task.id_col, timestamp=task.time_col))
        outputs = _PartitionOutputs(task)
        for chunk in _chunks(batches, task.chunk_rows):
            labels = chunk.pop(task.label_col) if task.label_col else None
            batch.update(chunk)
            id_time.update(chunk)
            outputs.update(chunk, labels)
        state = {
            "batch": batch.state(),
            "profile": profile_payload(batch.profile),
            "ids": id_time.ids_present,
            "times": [t.isoformat() for t in id_time.times],
            "unparsed_times": id_time.unparsed_times,
            "outputs": None if outputs.batch is None else outputs.batch.state(),
            "quality": _quality_state(outputs.quality),
            "error": outputs.error,
        }
        yield pd.DataFrame({"state": [json.dumps(state)]})

    return summarise


def _driver_reason(source: SparkBatch, ctx: ModelContext | None, estimating: bool) -> str | None:
    if source.label_col is not None and source.label_col not in source.frame.columns:
        return f"the label column {source.label_col!r} is not in the batch"  # said when read
    if ctx is not None and ctx.flavor == "spark":
        return "a pyspark.ml model cannot be loaded inside a Spark task"
    if estimating:
        return "performance estimation reads every row's model outputs on the driver"
    return None


def summarise_on_spark(
    source: SparkBatch,
    batch: BatchProfile,
    id_time: IdTimeSummary,
    *,
    ctx: ModelContext | None,
    predictions: DataProfile | None,
    model_inputs: list[str],
    sample_rows: int,
    seed: int,
    estimating: bool = False,
) -> SparkSummary:
    """Summarise a Spark batch on Spark, merging into ``batch`` and ``id_time``.

    Args:
        source: The batch.
        batch: The empty summaries of the checked columns (merged into).
        id_time: The empty id/timestamp summary (merged into).
        ctx: The loaded model, or None to check the inputs only.
        predictions: The baseline's profile of the model's outputs, or None.
        model_inputs: The model's input columns (the baseline's columns).
        sample_rows: Rows of the attribution sample (0: none).
        seed: Seed of the sample.
        estimating: Whether performance estimation needs the model's outputs.

    Returns:
        The summary; when its engine is ``driver``, nothing was merged and the caller
        streams the batch instead.
    """
    reason = _driver_reason(source, ctx, estimating)
    if reason is None:
        try:
            return _summarise(
                source, batch, id_time, ctx, predictions, model_inputs, sample_rows, seed
            )
        except Exception as exc:
            report_failure(
                "summarising the Spark batch on Spark",
                exc,
                consequence="Its rows are streamed through the driver instead; install "
                "mlflow-clarity on the Spark workers.",
            )
            reason = f"the Spark job failed: {exc!r}"[:300]
    return SparkSummary({"engine": "driver", "reason": reason})


def _summarise(
    source: SparkBatch,
    batch: BatchProfile,
    id_time: IdTimeSummary,
    ctx: ModelContext | None,
    predictions: DataProfile | None,
    model_inputs: list[str],
    sample_rows: int,
    seed: int,
) -> SparkSummary:
    import mlflow
    import pandas as pd

    frame, names = source.frame, list(source.frame.columns)
    present = [n for n in batch.columns if n in names]
    inputs = [n for n in model_inputs if n in names]
    features = source.frame.select(*[f"`{n}`" for n in names if n != source.label_col])
    if sample_rows:  # the attribution rows, and the own profile's types and bin edges
        drawn = seeded_sample(features, max(PROFILE_SAMPLE_ROWS, sample_rows), seed)
    else:  # types and edges only (never used for comparisons): the first rows, like pandas
        drawn = features.limit(PROFILE_SAMPLE_ROWS).toPandas()
    template = DataProfile.empty_like(drawn[present])
    checked = DataProfile(columns={n: c.baseline for n, c in batch.columns.items()})
    missing = [n for n in model_inputs if n not in names]
    use_model = ctx is not None and not missing
    task = _Task(
        checked=json.dumps(checked.to_dict()),
        template=json.dumps(template.to_dict()),
        label_col=source.label_col,
        id_col=id_time.columns.id,
        time_col=id_time.columns.timestamp,
        chunk_rows=source.chunk_rows,
        inputs=inputs,
        predictions=json.dumps(predictions.to_dict()) if predictions is not None else None,
        model_uri=ctx.model_uri if use_model and ctx is not None else None,
        uris=(mlflow.get_tracking_uri(), mlflow.get_registry_uri()),
    )
    rows = frame.mapInPandas(_summarise_partition(task), "state string").collect()
    states = [json.loads(row["state"]) for row in rows]
    profile = template
    outputs = None if predictions is None else BatchProfile.for_baseline(predictions.columns)
    quality, errors = None, [s["error"] for s in states if s["error"]]
    for state in states:  # nothing is merged before every partition has answered
        batch.merge_state(state["batch"])
        profile.merge(profile_from_payload(state["profile"]))
        id_time.ids_present += state["ids"]
        id_time.times += [pd.Timestamp(t) for t in state["times"]]
        id_time.unparsed_times += state["unparsed_times"]
        if outputs is not None and state["outputs"] is not None:
            outputs.merge_state(state["outputs"])
        quality = _merge_quality(quality, state["quality"])
    batch.profile = profile if batch.rows else None
    error = errors[0] if errors else None
    if ctx is not None and missing:
        error = f"the batch lacks model input columns: {missing[:10]}"
    return SparkSummary(
        {"engine": "spark", "partitions": len(states)},
        outputs=outputs if use_model and outputs is not None and outputs.rows else None,
        quality=quality,
        error=error,
        sample=drawn[inputs].head(sample_rows).reset_index(drop=True) if sample_rows else None,
        has_labels=source.label_col is not None,
    )
