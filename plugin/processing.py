"""One complete pass for one model: context, steps, storage, observers.

Run by the ``log_model`` hook for a freshly logged model, and by
:func:`mlflow_clarity.explain` for a model logged earlier.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlflow_clarity.config import ClarityConfig, current_config
from mlflow_clarity.data.capture import logged_dataset_reference, own_calls
from mlflow_clarity.data.files import DataLike, read_data
from mlflow_clarity.data.reference import (
    RawReference,
    ReferenceDataError,
    expected_columns,
    prepare_reference,
)
from mlflow_clarity.errors import logger, report_failure, strict_mode
from mlflow_clarity.logged_models import load_context, resolve_model_uri
from mlflow_clarity.manager import ClarityPluginManager, get_plugin_manager
from mlflow_clarity.pipeline import run_pipeline
from mlflow_clarity.report.files import write_for_pipeline
from mlflow_clarity.store import store_results
from mlflow_clarity.types import ModelContext, ReferenceData, RunReport, overall_status
from mlflow_clarity.versions import library_versions

REFERENCE_CONTEXT = "reference"
NO_DATA_REASON = (
    "no reference data: wrap log_model in `with mlflow_clarity.reference_data(X, y):`, "
    "log the data with mlflow.log_input(mlflow.data.from_pandas(df)), or give log_model "
    "an input_example"
)


def _resolve_reference(
    ctx: ModelContext, explicit: RawReference | None, config: ClarityConfig
) -> tuple[ReferenceData | None, str | None]:
    raw = explicit or logged_dataset_reference(ctx.run_id)
    if raw is None and ctx.input_example is not None:
        logger.warning(
            "mlflow-clarity: using the input_example of model %s as reference data; it is "
            "tiny. Pass real data with mlflow_clarity.reference_data(X, y).",
            ctx.model_id,
        )
        raw = RawReference(ctx.input_example, None, "input_example")
    if raw is None:
        return None, NO_DATA_REASON
    try:
        expected = expected_columns(ctx.signature, ctx.model)
        reference = prepare_reference(
            raw,
            expected,
            sample_rows=config.sample_rows,
            seed=config.seed,
            signature=ctx.signature,
            model=ctx.model,
        )
    except ReferenceDataError as exc:
        return None, f"reference data ({raw.source}) unusable: {exc}"
    return reference, None


def with_reference(
    ctx: ModelContext, explicit: RawReference | None, config: ClarityConfig
) -> ModelContext:
    """Return the context every step receives: with reference data, or the reason for none.

    Args:
        ctx: The model's context as known when it was logged (no reference data yet).
        explicit: Reference data given in code, or None to look for a logged dataset or
            the input example.
        config: Effective configuration (sample size, seed).

    Returns:
        The completed context.
    """
    reference, missing = _resolve_reference(ctx, explicit, config)
    return dataclasses.replace(
        ctx, reference=reference, reference_missing_reason=missing, seed=config.seed
    )


def link_reference(ctx: ModelContext) -> tuple[str, str] | None:
    """Log the reference data (its seeded sample) as an input of the model's run, with
    the context ``reference``; the metrics stored with the model are then linked to it.

    Returns:
        ``(name, digest)`` of the dataset, or None without reference data or a run.
    """
    if ctx.reference is None or ctx.run_id is None:
        return None
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    source = ctx.reference.source
    name = source.split(":", 1)[1] if source.startswith("dataset:") else "reference"
    with warnings.catch_warnings():  # MLflow's schema hints are about the user's data
        warnings.simplefilter("ignore")
        dataset = mlflow.data.from_pandas(ctx.reference.sample, name=name)
        entity = dataset._to_mlflow_entity()
    context = InputTag(key=MLFLOW_DATASET_CONTEXT, value=REFERENCE_CONTEXT)
    MlflowClient().log_inputs(ctx.run_id, datasets=[DatasetInput(entity, tags=[context])])
    return entity.name, entity.digest


def _link_reference(ctx: ModelContext) -> tuple[str, str] | None:
    try:
        return link_reference(ctx)
    except Exception as exc:
        report_failure(
            f"linking the reference data of model {ctx.model_id}",
            exc,
            consequence="The results are stored without the dataset link.",
        )
        return None


def _write_report(
    pm: ClarityPluginManager, ctx: ModelContext, report: RunReport, staging: Path
) -> None:
    """Render ``report.html`` and ``model_card.md`` from the run's results in memory, with
    the sections plugins add."""
    try:
        write_for_pipeline(ctx, report, staging, pm.report_sections(ctx, report))
    except Exception as exc:
        report_failure(
            f"writing the report of model {ctx.model_id}",
            exc,
            consequence="The steps' own results are stored.",
        )


def process(base: ModelContext, explicit: RawReference | None, config: ClarityConfig) -> RunReport:
    """Run every step for one model, store the results with it, and notify observers.

    Args:
        base: The model's context, without reference data.
        explicit: Reference data given in code, or None.
        config: Effective configuration.

    Returns:
        The run's report, as stored in ``clarity/status.json``.
    """
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    pm = get_plugin_manager()
    ctx = with_reference(base, explicit, config)
    with own_calls(), tempfile.TemporaryDirectory(prefix="clarity-staging-") as tmp:
        staging = Path(tmp)
        steps = run_pipeline(ctx, pm.steps(), config, staging)
        report = RunReport(
            status=overall_status(steps),
            model_id=ctx.model_id,
            steps=steps,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            seed=config.seed,
            config=config.to_dict(),
            versions=dict(library_versions()),
            reference=(
                ctx.reference.describe()
                if ctx.reference is not None
                else {"source": None, "reason": ctx.reference_missing_reason}
            ),
        )
        _write_report(pm, ctx, report, staging)
        report = store_results(ctx, report, staging, _link_reference(ctx))
    pm.notify_results_stored(ctx, report)
    return report


def _split_labels(data: Any, labels: Any) -> tuple[Any, Any]:
    if not isinstance(labels, str):
        return data, labels
    columns = getattr(data, "columns", None)
    if columns is None or labels not in columns:
        raise ValueError(f"label column {labels!r} is not in the data")
    return data.drop(columns=[labels]), data[labels]


def explain_model(
    model_uri: str,
    data: DataLike,
    labels: Any = None,
    *,
    strict: bool | None = None,
    budget_s: float | None = None,
) -> RunReport:
    """Implement :func:`mlflow_clarity.explain`; ``budget_s`` replaces the configured
    time budget (``mlflow-clarity explain --budget``)."""
    ctx = load_context(resolve_model_uri(model_uri))
    features, label_values = _split_labels(read_data(data), labels)
    explicit = RawReference(features, label_values, "explicit")
    config = current_config()
    if budget_s is not None:
        config = dataclasses.replace(config, budget_s=budget_s)
    with strict_mode(strict):
        return process(ctx, explicit, config)
