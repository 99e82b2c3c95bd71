"""One complete pass for one model: context, steps, storage, observers."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import ClarityConfig
from .errors import logger
from .hooks.reference_capture import logged_dataset_reference
from .manager import get_plugin_manager
from .pipeline import run_pipeline
from .reference import RawReference, ReferenceDataError, expected_columns, prepare_reference
from .store import store_results
from .types import ModelContext, ReferenceData, RunReport, overall_status

_VERSIONED = (
    "mlflow-clarity",
    "mlflow",
    "numpy",
    "pandas",
    "pluggy",
    "shap",
    "lime",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "torch",
)
NO_DATA_REASON = (
    "no reference data: wrap log_model in `with mlflow_clarity.reference_data(X, y):`, "
    "log the data with mlflow.log_input(mlflow.data.from_pandas(df)), or give log_model "
    "an input_example"
)


@dataclass(frozen=True)
class ModelSource:
    """What is known about a model when its pipeline starts.

    Attributes:
        flavor: Short flavor name (``sklearn``).
        model: The in-memory model object, or None.
        model_id: LoggedModel id.
        run_id: Source run id, or None.
        artifact_location: LoggedModel artifact location.
        signature: Model signature, or None.
        input_example: The input example given to ``log_model``, or None.
        registered_model_name: Name registered by the same call, or None.
        registered_model_version: Version registered by the same call, or None.
        explicit_reference: Reference data given in code, or None.
    """

    flavor: str
    model: Any
    model_id: str
    run_id: str | None = None
    artifact_location: str | None = None
    signature: Any = None
    input_example: Any = None
    registered_model_name: str | None = None
    registered_model_version: str | None = None
    explicit_reference: RawReference | None = None


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Return installed versions of the libraries that shape the results (read once)."""
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _resolve_reference(
    source: ModelSource, config: ClarityConfig
) -> tuple[ReferenceData | None, str | None]:
    raw = source.explicit_reference or logged_dataset_reference(source.run_id)
    if raw is None and source.input_example is not None:
        logger.warning(
            "mlflow-clarity: using the input_example of model %s as reference data; it is "
            "tiny. Pass real data with mlflow_clarity.reference_data(X, y).",
            source.model_id,
        )
        raw = RawReference(source.input_example, None, "input_example")
    if raw is None:
        return None, NO_DATA_REASON
    try:
        expected = expected_columns(source.signature, source.model)
        return prepare_reference(
            raw, expected, sample_rows=config.sample_rows, seed=config.seed
        ), None
    except ReferenceDataError as exc:
        return None, f"reference data ({raw.source}) unusable: {exc}"


def build_context(source: ModelSource, config: ClarityConfig) -> ModelContext:
    """Build the context every step receives.

    Args:
        source: What is known about the model.
        config: Effective configuration.

    Returns:
        The context, with reference data or the reason there is none.
    """
    reference, missing = _resolve_reference(source, config)
    return ModelContext(
        flavor=source.flavor,
        model=source.model,
        model_id=source.model_id,
        model_uri=f"models:/{source.model_id}",
        run_id=source.run_id,
        artifact_location=source.artifact_location,
        signature=source.signature,
        input_example=source.input_example,
        registered_model_name=source.registered_model_name,
        registered_model_version=(
            None
            if source.registered_model_version is None
            else str(source.registered_model_version)
        ),
        reference=reference,
        reference_missing_reason=missing,
        seed=config.seed,
    )


def process(source: ModelSource, config: ClarityConfig) -> RunReport:
    """Run every step for one model, store the results with it, and notify observers.

    Args:
        source: The model.
        config: Effective configuration.

    Returns:
        The run's report, as stored in ``clarity/status.json``.
    """
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.monotonic()
    pm = get_plugin_manager()
    ctx = build_context(source, config)
    with tempfile.TemporaryDirectory(prefix="clarity-staging-") as tmp:
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
        report = store_results(ctx, report, staging)
    pm.notify_results_stored(ctx, report)
    return report
