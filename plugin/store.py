"""MLflow I/O: results go into the LoggedModel's own artifacts, tags and metrics."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import run_models
from mlflow_clarity.errors import report_failure
from mlflow_clarity.layout import ARTIFACT_DIR, STATUS, local, remote
from mlflow_clarity.process_settings import SharedSetting

if TYPE_CHECKING:
    from mlflow_clarity.types import ModelContext, RunReport, RunStatus

STATUS_TAG = "clarity.status"
_METRICS_PER_BATCH = 1000
METRICS_PER_STEP = 5
"""At most this many of a step's metrics are logged to MLflow (all are in status.json)."""


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON the way built-in steps do, creating parent folders.

    NaN and infinities become ``null`` (strict JSON, readable by any parser), keys become
    strings and other objects (numpy scalars, dates, paths) their ``str``.

    Args:
        path: The file to write, usually inside ``workspace.out_dir``.
        data: JSON-ready data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(_json_safe(data), indent=2, allow_nan=False, default=str), encoding="utf-8"
    )


_PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def _no_progress_bars() -> Callable[[], None]:
    """Turn MLflow's artifact progress bars off; return the undo."""
    saved = os.environ.get(_PROGRESS_BAR_ENV)
    os.environ[_PROGRESS_BAR_ENV] = "false"

    def restore() -> None:
        if saved is None:
            os.environ.pop(_PROGRESS_BAR_ENV, None)
        else:
            os.environ[_PROGRESS_BAR_ENV] = saved

    return restore


_QUIET_ARTIFACTS = SharedSetting(_no_progress_bars)


def quiet_artifacts() -> contextlib.AbstractContextManager[None]:
    """No MLflow progress bars for the artifact transfers mlflow-clarity makes itself.

    MLflow reads ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` on every transfer; it is set
    to false while any such block runs and restored after the last one ends.
    """
    return _QUIET_ARTIFACTS.held()


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def set_status_tags(
    model_id: str,
    registered: tuple[str | None, str | None],
    status: RunStatus,
    extra: dict[str, str] | None = None,
) -> None:
    """Set ``clarity.status`` (and ``extra`` tags) on a LoggedModel and its model version.

    Args:
        model_id: The LoggedModel id.
        registered: ``(name, version)`` of the model version to tag too, or Nones.
        status: The status to record.
        extra: More LoggedModel tags to set in the same call.
    """
    client = _client()
    if run_models.is_run_model(model_id):  # a Spark model stored as run artifacts: tag its run
        run_models.set_tags(model_id, {**(extra or {}), STATUS_TAG: status})
    else:
        client.set_logged_model_tags(model_id, {**(extra or {}), STATUS_TAG: status})
    name, version = registered
    if name and version:
        client.set_model_version_tag(name, str(version), STATUS_TAG, status)


def log_metrics(
    run_id: str,
    model_id: str | None,
    metrics: dict[str, float],
    step: int = 0,
    dataset: tuple[str, str] | None = None,
) -> None:
    """Log metrics to a run in batches MLflow accepts.

    Args:
        run_id: The run.
        model_id: The LoggedModel to link them to (they then show on its page), or None.
        metrics: Names and values.
        step: The step they are logged at.
        dataset: ``(name, digest)`` of a dataset input of the run they were computed on;
            the model's page lists it under "Datasets used".
    """
    from mlflow.entities import Metric

    client = _client()
    now = int(time.time() * 1000)
    name, digest = dataset or (None, None)
    batch = [
        Metric(k, v, now, step, model_id=model_id, dataset_name=name, dataset_digest=digest)
        for k, v in sorted(metrics.items())
    ]
    for start in range(0, len(batch), _METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=batch[start : start + _METRICS_PER_BATCH])


def headline_metrics(report: RunReport) -> dict[str, float]:
    """The metrics logged to MLflow: the first ``METRICS_PER_STEP`` of each step.

    Every metric stays in ``status.json``; MLflow's model page shows only these, so a
    plugin cannot crowd out the user's own metrics.
    """
    return {
        key: value
        for step in report.steps
        for key, value in list(step.metrics.items())[:METRICS_PER_STEP]
    }


def store_results(
    ctx: ModelContext,
    report: RunReport,
    staging: Path,
    dataset: tuple[str, str] | None = None,
) -> RunReport:
    """Write ``status.json``, upload ``clarity/`` into the model's artifacts, log the
    headline metrics, then set status tags.

    The status tag is set last, so that a reader who sees it finds the artifacts.

    Args:
        ctx: The model's context.
        report: The run's report; written as ``clarity/status.json``.
        staging: The local staging folder holding the steps' files.
        dataset: ``(name, digest)`` of the reference data as an input of the model's run;
            the metrics are linked to it.

    Returns:
        The report, with ``storage_error`` and a ``failed`` status if the upload failed.
    """
    write_json(local(staging, STATUS), report.to_dict())
    try:
        with quiet_artifacts():
            _log_clarity(ctx.model_id, str(staging))
    except Exception as exc:
        report_failure(
            f"uploading clarity/ to model {ctx.model_id}",
            exc,
            consequence="The model itself was logged and loads; its clarity results are lost.",
        )
        report = dataclasses.replace(report, status="failed", storage_error=repr(exc)[:500])
    metrics = headline_metrics(report)
    tags = {k: v for step in report.steps for k, v in step.tags.items()}
    if metrics and ctx.run_id and report.storage_error is None:
        try:
            linked = None if run_models.is_run_model(ctx.model_id) else ctx.model_id
            log_metrics(ctx.run_id, linked, metrics, dataset=dataset)
        except Exception as exc:
            report_failure(f"logging clarity metrics of model {ctx.model_id}", exc)
    try:
        registered = (ctx.registered_model_name, ctx.registered_model_version)
        set_status_tags(ctx.model_id, registered, report.status, tags)
    except Exception as exc:
        report_failure(f"tagging model {ctx.model_id} with clarity.status", exc)
    return report


def artifact_location(model_id: str) -> str:
    """The artifact location of a LoggedModel (or of a run-artifact model)."""
    if run_models.is_run_model(model_id):
        return run_models.artifact_location(model_id)
    return _client().get_logged_model(model_id).artifact_location


def download_clarity(model_id: str, target: Path, folder: str = "") -> Path:
    """Download a LoggedModel's ``clarity/`` folder (or one folder in it) into ``target``.

    Args:
        model_id: The LoggedModel.
        target: Local folder to download into.
        folder: A folder inside ``clarity/`` (a :mod:`mlflow_clarity.layout` path), or
            empty for all of it.

    Returns:
        The local copy of the folder.

    Raises:
        FileNotFoundError: The model has no such folder; the message says how to make it.
    """
    import mlflow

    uri = remote(artifact_location(model_id), folder)
    with quiet_artifacts():
        if not mlflow.artifacts.list_artifacts(artifact_uri=uri):
            raise FileNotFoundError(
                f"model {model_id} has no {ARTIFACT_DIR}/{folder} folder; create it with "
                f"mlflow-clarity explain models:/{model_id} --data TRAINING_DATA.csv"
            )
        return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(target)))


def download_files(model_id: str, folder: str, names: Iterable[str], target: Path) -> Path:
    """Download those of ``names`` that exist in one folder of a model's ``clarity/``.

    Args:
        model_id: The LoggedModel.
        folder: The folder, relative to ``clarity/`` (a :mod:`mlflow_clarity.layout` path).
        names: File names inside that folder.
        target: Local folder to download into (created).

    Returns:
        ``target``.
    """
    import mlflow

    uri = remote(artifact_location(model_id), folder)
    target.mkdir(parents=True, exist_ok=True)
    with quiet_artifacts():
        listed = mlflow.artifacts.list_artifacts(artifact_uri=uri)
        present = {Path(f.path).name for f in listed}
        for name in names:
            if name in present:
                mlflow.artifacts.download_artifacts(f"{uri}/{name}", dst_path=str(target))
    return target


def upload_files(model_id: str, folder: Path, relative_paths: Iterable[str]) -> None:
    """Upload some files of a local ``clarity/`` copy back into the model's ``clarity/``."""
    with tempfile.TemporaryDirectory(prefix="clarity-upload-") as tmp:
        for relative in relative_paths:
            target = local(Path(tmp), relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(local(folder, relative).read_bytes())
        with quiet_artifacts():
            _log_clarity(model_id, tmp)


def _log_clarity(model_id: str, local_dir: str) -> None:
    """Upload a local folder as the model's ``clarity/`` (merged into what is there)."""
    if run_models.is_run_model(model_id):
        run_models.log_folder(model_id, local_dir, ARTIFACT_DIR)
    else:
        _client().log_model_artifacts(model_id, local_dir, artifact_path=ARTIFACT_DIR)
