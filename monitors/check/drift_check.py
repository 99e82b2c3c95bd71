"""Check a batch of production data against the baseline stored with a model.

Reads the batch in chunks, summarises it on the baseline's grid (features, and the
model's outputs when the model loads), compares every column, model quality when labels
are given, and feature attributions on a sample; returns every statistic (``drift.json``)
and the violations (``constraint_violations.json``).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.config import DEFAULT_CHECK_BUDGET_S
from mlflow_clarity.data.capture_files import outputs_as_profile_columns
from mlflow_clarity.data.files import iter_chunks
from mlflow_clarity.data.spark_frames import is_spark_frame
from mlflow_clarity.errors import report_failure
from mlflow_clarity.layout import SHAP_FILES
from mlflow_clarity.logged_models import load_context, resolve_model_uri
from mlflow_clarity.monitors.baseline import sagemaker_files
from mlflow_clarity.monitors.baseline.batch_profile import BatchProfile
from mlflow_clarity.monitors.baseline.data_profile import DataProfile
from mlflow_clarity.monitors.baseline.model_quality import compare_quality, new_quality
from mlflow_clarity.monitors.baseline.step import THRESHOLDS, Baseline
from mlflow_clarity.monitors.check import statistics as stats
from mlflow_clarity.monitors.check.attribution_drift import attribution_drift, importance_weights
from mlflow_clarity.monitors.check.batch_columns import BatchColumns, IdTimeSummary, batch_schema
from mlflow_clarity.monitors.check.column_drift import compare_column
from mlflow_clarity.monitors.check.model_outputs import add_outputs
from mlflow_clarity.monitors.check.multivariate import multivariate_violation
from mlflow_clarity.monitors.check.multivariate_content import (
    ContentReader,
    column_thresholds,
    items_baseline,
    multivariate_options,
    stored_content,
    takes_items,
)
from mlflow_clarity.monitors.check.spark_batch import SparkBatch, summarise_on_spark
from mlflow_clarity.monitors.check.stored_artifacts import (
    download_clarity_folders,
    download_shap_folder,
)
from mlflow_clarity.monitors.check.violations import violations
from mlflow_clarity.monitors.estimation.batch import BatchEstimation
from mlflow_clarity.types import StepSkipped

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlflow_clarity.data.files import DataLike
    from mlflow_clarity.types import ModelContext

SCHEMA_VERSION = 1
CHUNK_ROWS = 100_000
ATTRIBUTION_ROWS = 500


class CheckInputError(ValueError):
    """The model has no baseline, or the batch or thresholds cannot be used."""


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes:
        drift: Every statistic (the ``drift.json`` content).
        violations: SageMaker-style violations (``constraint_violations.json``'s list).
        run_id: The monitoring run the check was logged to, or None.
        files: Local paths of the files written (``drift.json``,
            ``constraint_violations.json``, ``drift_report.html``), when any were.
        batch_profile: The batch's own profile (its ``statistics.json``), or None.
    """

    drift: dict[str, Any]
    violations: list[dict[str, Any]]
    run_id: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    batch_profile: DataProfile | None = None

    @property
    def passed(self) -> bool:
        """Whether no constraint was violated."""
        return not self.violations

    @property
    def exit_code(self) -> int:
        """0 when passed, 1 when a constraint was violated."""
        return 0 if self.passed else 1


def effective_thresholds(
    stored: dict[str, Any] | None, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """Defaults, updated by the baseline's stored thresholds, updated by ``overrides``.

    Raises:
        CheckInputError: An override names an unknown threshold or is not a number.
    """
    merged = copy.deepcopy(THRESHOLDS)
    for source, strict in ((stored or {}, False), (overrides or {}, True)):
        for key, value in source.items():
            if key not in merged:
                if strict:
                    raise CheckInputError(f"unknown threshold {key!r}; known: {sorted(merged)}")
                continue
            if isinstance(merged[key], dict):
                if not isinstance(value, dict):
                    raise CheckInputError(f"threshold {key!r} is a group: {sorted(merged[key])}")
                for name, number in value.items():
                    if name not in merged[key] and strict:
                        raise CheckInputError(
                            f"unknown threshold {key}.{name}; known: {sorted(merged[key])}"
                        )
                    merged[key][name] = _number(f"{key}.{name}", number)
            else:
                merged[key] = _number(key, value)
    return merged


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise CheckInputError(f"threshold {name} must be a non-negative number, not {value!r}")
    return value


@dataclass
class _Reservoir:
    """A seeded uniform sample of at most ``size`` rows of a stream of chunks."""

    size: int
    rng: np.random.Generator
    rows: pd.DataFrame | None = None
    keys: np.ndarray | None = None

    def update(self, chunk: pd.DataFrame) -> None:
        import numpy as np
        import pandas as pd

        keys = self.rng.random(len(chunk))
        if self.rows is not None and self.keys is not None:
            chunk = pd.concat([self.rows, chunk], ignore_index=True)
            keys = np.concatenate([self.keys, keys])
        keep = np.argsort(keys, kind="stable")[: self.size]
        self.rows, self.keys = chunk.iloc[keep].reset_index(drop=True), keys[keep]


@dataclass
class _Outputs:
    """The model's outputs on the batch: their profile and quality against labels."""

    ctx: ModelContext
    baseline: Baseline
    predictor: Any = None
    batch: BatchProfile | None = None
    quality: Any = None
    error: str | None = None
    estimation: BatchEstimation | None = None

    def update(
        self, chunk: pd.DataFrame, labels: pd.Series | None, captured: pd.DataFrame | None = None
    ) -> None:
        if self.error is not None:
            return
        if captured is not None:  # what a served model answered (or, for images and texts,
            self.error = captured.attrs.get("error")  # what the item reader computed)
            if self.error is None:
                self._update_captured(chunk, captured, labels)
            return
        inputs = list(self.baseline.profile.columns)
        missing = [c for c in inputs if c not in chunk.columns]
        if missing:
            self.error = f"the batch lacks model input columns: {missing[:10]}"
            return
        chunk = chunk[inputs]
        try:
            self.predictor = self.predictor or model_access.predictor(self.ctx)
            predictor = self.predictor
            outputs = predictor.fn(chunk)
        except Exception as exc:
            report_failure(
                "calling the model on the batch", exc, consequence="Inputs are still checked."
            )
            self.error = f"the model could not be called on the batch: {exc!r}"[:300]
            return
        self.batch, self.quality = add_outputs(
            self.batch, self.quality, self.baseline.predictions, outputs, predictor, labels
        )
        if self.estimation is not None:
            self.estimation.update(chunk, outputs, predictor.output_names, labels)

    def _update_captured(
        self, chunk: pd.DataFrame, captured: pd.DataFrame, labels: pd.Series | None
    ) -> None:
        if self.baseline.predictions is None:
            return
        profiled = self.baseline.predictions.columns
        frame, values = outputs_as_profile_columns(captured, list(profiled))
        self.batch = self.batch or BatchProfile.for_baseline(profiled)
        self.batch.update(frame)
        classes = tuple(c[len("proba_") :] for c in frame.columns if c.startswith("proba_"))
        if self.estimation is not None and values is not None and values.shape[1]:
            self.estimation.update(chunk, values, classes, labels)
        if labels is None or values is None or not values.shape[1]:
            return
        known = labels.notna().to_numpy()
        if self.quality is None:
            self.quality = new_quality(classes, values.shape[1])
        if self.quality is not None and known.any():
            self.quality.update(values[known], labels[known].reset_index(drop=True))


def _compare_all(batch: BatchProfile, thresholds: dict[str, Any]) -> dict[str, Any]:
    """Compare every column, adding Benjamini-Hochberg q-values to the p-values."""
    results = {name: compare_column(c, thresholds) for name, c in batch.columns.items()}
    names = list(results)
    q_values = stats.benjamini_hochberg([results[n]["distribution"].get("p_value") for n in names])
    for name, q in zip(names, q_values, strict=True):
        if q is not None:
            results[name]["distribution"]["q_value"] = q
    return results


def _dataset_summary(
    columns: dict[str, Any], weights: dict[str, float] | None, thresholds: dict[str, Any]
) -> dict[str, Any]:
    checked = [n for n, c in columns.items() if c["distribution"]["status"] != "insufficient_data"]
    drifted = [n for n in checked if columns[n]["distribution"]["status"] == "drift"]
    if weights:
        present = {n: weights.get(n, 0.0) for n in columns}
        source = "shap"
    else:
        present = {n: 1.0 for n in columns}
        source = "uniform"
    total = sum(present.values()) or 1.0
    score = sum(present[n] * columns[n]["distribution"]["score"] for n in columns) / total
    limit = thresholds["dataset_weighted_score_alert"]
    return {
        "columns_checked": len(checked),
        "columns_drifted": drifted,
        "drift_share": len(drifted) / len(checked) if checked else 0.0,
        "weighted_score": score,
        "weights": source,
        "threshold": limit,
        "status": "violation" if checked and score >= limit else "ok",
    }


def _label_name(labels: Any) -> str | None:
    return labels if isinstance(labels, str) else None


def check_batch(
    baseline: Baseline,
    chunks: Any,
    *,
    thresholds: dict[str, Any] | None = None,
    ctx: ModelContext | None = None,
    shap_folder: Path | None = None,
    labels_column: str | None = None,
    columns: BatchColumns | None = None,
    attribution: bool = True,
    attribution_budget_s: float = DEFAULT_CHECK_BUDGET_S,
    seed: int = 0,
    estimation: BatchEstimation | None = None,
    content: ContentReader | None = None,
) -> CheckResult:
    """Check ``(features, labels)`` chunks against a baseline.

    Args:
        baseline: The stored baseline.
        chunks: Iterable of ``(features, labels or None)``.
        thresholds: Overrides of the baseline's thresholds (same nesting).
        ctx: The loaded model, for prediction drift, quality and attribution drift; None
            checks the inputs only.
        shap_folder: Local copy of the model's ``clarity/explanations/shap``, or None.
        labels_column: Name of the label column, so that it is not an extra column.
        columns: Columns to ignore, the id and timestamp columns, and whether extra
            columns are violations (default: none ignored, extra columns are information).
        attribution: Whether to explain a sample of the batch (attribution drift).
        attribution_budget_s: Time for SHAP on the batch sample.
        seed: Seed of the attribution sample.
        estimation: The model's performance estimation without labels (the
            ``estimated`` section), or None.

    Raises:
        CheckInputError: The batch has no rows, or bad thresholds.
    """
    import numpy as np

    limits = effective_thresholds(baseline.manifest.get("thresholds"), thresholds)
    columns = columns or BatchColumns()
    ignored = columns.ignored(baseline.manifest)
    if labels_column is not None:
        ignored[labels_column] = "label column"
    checked = {n: c for n, c in baseline.profile.columns.items() if n not in ignored}
    batch = BatchProfile.for_baseline(checked, own_profile=True)
    id_time = IdTimeSummary(columns)
    outputs = None if ctx is None else _Outputs(ctx, baseline, estimation=estimation)
    reservoir = _Reservoir(ATTRIBUTION_ROWS, np.random.default_rng(seed))
    has_labels, engine = False, None
    if isinstance(chunks, SparkBatch):  # summarised on Spark; streamed when that fails
        spark = summarise_on_spark(
            chunks,
            batch,
            id_time,
            ctx=ctx,
            predictions=baseline.predictions,
            model_inputs=list(baseline.profile.columns),
            sample_rows=ATTRIBUTION_ROWS if attribution and ctx is not None else 0,
            seed=seed,
            estimating=estimation is not None and estimation.card is not None,
        )
        engine, has_labels, reservoir.rows = spark.engine, spark.has_labels, spark.sample
        if outputs is not None:
            outputs.batch, outputs.quality = spark.outputs, spark.quality
            outputs.error = spark.error
        chunks = () if spark.done else chunks.stream()
    for features, labels, *captured in chunks:  # a capture folder adds the model's outputs
        batch.update(features)
        id_time.update(features)
        if estimation is not None:
            estimation.see_ids(features, columns.id)
        has_labels |= labels is not None
        if outputs is not None:
            outputs.update(features, labels, *captured)
        if attribution and ctx is not None:
            inputs = [c for c in features.columns if c in baseline.profile.columns]
            reservoir.update(features[inputs])  # never ids or free text: only model inputs
    if batch.rows == 0:
        raise CheckInputError("the batch has no rows")
    schema = batch_schema(baseline.profile.columns, batch.batch_columns, ignored, columns.strict)
    for name in schema["missing_columns"]:
        del batch.columns[name]
    compared = _compare_all(batch, limits)
    weights = _stored_weights(shap_folder)
    drift: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "baseline": {
            "created_at": baseline.manifest.get("created_at"),
            "item_count": baseline.profile.item_count,
            "fingerprint_sha256": baseline.manifest.get("data", {}).get("fingerprint_sha256"),
        },
        "batch": {
            "rows": batch.rows,
            "columns": len(batch.batch_columns),
            **id_time.to_dict(batch.batch_columns),
            **({"engine": engine} if engine else {}),
        },
        "thresholds": limits,
        "schema": schema,
        "columns": compared,
        "dataset": _dataset_summary(compared, weights, limits),
        "predictions": _predictions(outputs, limits),
        "quality": _quality(outputs, baseline, limits, has_labels),
        "attribution": _attribution(ctx, reservoir, shap_folder, limits, attribution_budget_s)
        if attribution
        else {"status": "skipped", "reason": "attribution drift was not asked for"},
    }
    if content is not None:  # image/text units and the multivariate check
        content.add_to(drift)
    if estimation is not None:
        drift["estimated"] = estimation.result(drift)
    types = {n: sagemaker_files.inferred_type(c) for n, c in baseline.profile.columns.items()}
    found = violations(drift, types) + multivariate_violation(drift)
    drift["status"] = "violations" if found else "passed"
    drift["violation_count"] = len(found)
    return CheckResult(drift, found, batch_profile=batch.profile)


def _stored_weights(shap_folder: Path | None) -> dict[str, float] | None:
    path = None if shap_folder is None else shap_folder / SHAP_FILES["global"]
    if path is None or not path.exists():
        return None
    return importance_weights(json.loads(path.read_text()))


def _predictions(outputs: _Outputs | None, limits: dict[str, Any]) -> dict[str, Any]:
    if outputs is None:
        return {"status": "skipped", "reason": "the model was not loaded"}
    if outputs.error:
        return {"status": "skipped", "reason": outputs.error}
    if outputs.batch is None:
        return {"status": "skipped", "reason": "the baseline has no profile of model outputs"}
    columns = _compare_all(outputs.batch, limits)
    drifted = [n for n, c in columns.items() if c["distribution"]["status"] == "drift"]
    return {"status": "drift" if drifted else "ok", "drifted": drifted, "columns": columns}


def _quality(
    outputs: _Outputs | None, baseline: Baseline, limits: dict[str, Any], has_labels: bool
) -> dict[str, Any]:
    if not has_labels:
        return {"status": "skipped", "reason": "no labels given"}
    if outputs is None or outputs.error:
        return {"status": "skipped", "reason": "the model's outputs are not available"}
    if outputs.quality is None:
        return {"status": "skipped", "reason": "quality is defined for single-output models"}
    stored = (baseline.manifest.get("quality") or {}).get("metrics")
    return compare_quality(stored, outputs.quality.metrics(), limits)


def _attribution(
    ctx: ModelContext | None,
    reservoir: _Reservoir,
    shap_folder: Path | None,
    limits: dict[str, Any],
    budget_s: float,
) -> dict[str, Any]:
    if ctx is None or reservoir.rows is None:
        return {"status": "skipped", "reason": "the model was not loaded"}
    if shap_folder is None:
        return {"status": "skipped", "reason": "the model has no stored SHAP explanation"}
    started = time.monotonic()
    try:
        result = attribution_drift(ctx, reservoir.rows, shap_folder, limits, budget_s)
    except StepSkipped as exc:  # nothing fits in the budget: a reason, not a failure
        return {"status": "skipped", "reason": str(exc)[:500], "budget_s": budget_s}
    except Exception as exc:
        report_failure("SHAP on the batch", exc, consequence="Other checks still stand.")
        return {"status": "skipped", "reason": f"SHAP on the batch failed: {exc!r}"[:300]}
    result["duration_s"] = time.monotonic() - started
    return result


def run_check(
    model_uri: str,
    data: DataLike,
    labels: Any = None,
    *,
    thresholds: dict[str, Any] | None = None,
    columns: BatchColumns | None = None,
    attribution: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    budget_s: float = DEFAULT_CHECK_BUDGET_S,
    baseline: Baseline | None = None,
) -> tuple[CheckResult, ModelContext | None]:
    """Resolve the model, download its baseline and check ``data`` against it.

    ``columns`` says which batch columns to ignore and whether extra columns are
    violations (see :func:`check_batch`); ``baseline`` replaces the model's stored one
    (a SageMaker baseline, for instance).

    Returns:
        The result (not logged) and the model's context.

    Raises:
        CheckInputError: No baseline, bad data or bad thresholds.
        mlflow_clarity.logged_models.ModelUriError: The URI names no LoggedModel.
    """

    resolved = resolve_model_uri(model_uri)
    content = stored_content(resolved.model_id)  # image/text baselines, multivariate option
    estimation = BatchEstimation.for_model(resolved.model_id)
    items = baseline is None and takes_items(content)
    if items:  # the card holds the reference outputs' profile of image and text models
        baseline, shap_folder = items_baseline(content, estimation.card), None  # type: ignore[arg-type]
    elif baseline is None:
        monitoring, shap_folder = download_clarity_folders(resolved.model_id, model_uri)
        baseline = Baseline.read(monitoring)
    else:
        shap_folder = download_shap_folder(resolved.model_id)
    load_error = None
    try:
        ctx = load_context(resolved)
    except Exception as exc:
        report_failure(f"loading {model_uri}", exc, consequence="Only inputs are checked.")
        ctx, load_error = None, f"the model could not be loaded: {exc!r}"[:300]
    reader = (
        None if content is None else ContentReader(content, ctx, multivariate_options(thresholds))
    )
    chunks = iter_chunks(data, labels, rows=chunk_rows, column_hint=list(baseline.profile.columns))
    if is_spark_frame(data) and reader is None:  # summarised where the rows live
        chunks = SparkBatch(data, _label_name(labels), chunk_rows)
    if reader is not None:
        chunks = (
            reader.chunks(data, labels, compare_outputs=baseline.predictions is not None)
            if items
            else reader.tap(chunks)
        )
    result = check_batch(
        baseline,
        chunks,
        thresholds=column_thresholds(thresholds),
        ctx=ctx,  # image and text chunks carry the model's outputs on their items
        content=reader,
        shap_folder=shap_folder,
        labels_column=_label_name(labels),
        columns=columns,
        attribution=attribution,
        attribution_budget_s=budget_s,
        estimation=estimation,
    )
    result.drift["model"] = {
        "uri": model_uri,
        "model_id": resolved.model_id,
        "registered_model": resolved.registered_model_name,
        "registered_version": resolved.registered_model_version,
        "load_error": load_error,
    }
    return result, ctx
