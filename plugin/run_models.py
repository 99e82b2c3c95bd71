"""Models stored as run artifacts, not as LoggedModels (``mlflow.spark.log_model``).

``mlflow.spark.log_model`` goes through ``Model._log_v2`` (or, when Spark can write the
run's artifact URI itself, through hand-written calls ending in ``_record_logged_model``):
no LoggedModel is created, the model lives at ``<run artifacts>/<artifact_path>`` and
its URI is ``runs:/<run_id>/<artifact_path>``. mlflow-clarity addresses such a model by
that URI wherever it would use a LoggedModel id: ``clarity/`` is written to
``<artifact_path>/clarity`` in the run's artifacts (so it travels with a model version
registered from the run), and tags go on the run.
"""

from __future__ import annotations

import re
from typing import Any

RUN_MODEL_URI = re.compile(r"^runs:/([0-9a-zA-Z_-]+)/(.+?)/*$")


def is_run_model(model_id: str | None) -> bool:
    """Whether ``model_id`` names a run-artifact model (``runs:/<run_id>/<path>``)."""
    return bool(model_id) and RUN_MODEL_URI.match(str(model_id)) is not None


def run_model_id(run_id: str, artifact_path: str) -> str:
    """The id (and URI) of the model stored at ``artifact_path`` in run ``run_id``."""
    return f"runs:/{run_id}/{artifact_path.strip('/')}"


def split(model_id: str) -> tuple[str, str]:
    """``(run_id, artifact_path)`` of a run-artifact model id.

    Raises:
        ValueError: ``model_id`` is not ``runs:/<run_id>/<path>``.
    """
    match = RUN_MODEL_URI.match(model_id)
    if match is None:
        raise ValueError(f"{model_id!r} is not a runs:/<run_id>/<artifact_path> model URI")
    return match.group(1), match.group(2)


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def artifact_location(model_id: str) -> str:
    """The artifact URI of a run-artifact model's folder."""
    run_id, path = split(model_id)
    return f"{_client().get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"


def log_folder(model_id: str, local_dir: str, folder: str) -> None:
    """Upload ``local_dir`` as ``<artifact_path>/<folder>`` of a run-artifact model."""
    run_id, path = split(model_id)
    _client().log_artifacts(run_id, local_dir, artifact_path=f"{path}/{folder}")


def tags(model_id: str) -> dict[str, str]:
    """The tags of a run-artifact model: its run's tags."""
    run_id, _ = split(model_id)
    return dict(_client().get_run(run_id).data.tags)


def set_tags(model_id: str, values: dict[str, str]) -> None:
    """Set tags on a run-artifact model: on its run (one batch)."""
    from mlflow.entities import RunTag

    run_id, _ = split(model_id)
    batch = [RunTag(k, str(v)) for k, v in values.items()]
    _client().log_batch(run_id, tags=batch)


def model_tags(model_id: str) -> dict[str, str]:
    """The tags of any model mlflow-clarity addresses: a LoggedModel's, or a run model's
    run's."""
    if is_run_model(model_id):
        return tags(model_id)
    return dict(_client().get_logged_model(model_id).tags)


def set_model_tags(model_id: str, values: dict[str, str]) -> None:
    """Set tags on a LoggedModel, or on a run model's run."""
    if is_run_model(model_id):
        set_tags(model_id, values)
    else:
        _client().set_logged_model_tags(model_id, values)


def metrics_model_id(model_id: str) -> str | None:
    """The LoggedModel id metrics are linked to (None for a run model: no LoggedModel)."""
    return None if is_run_model(model_id) else model_id


def from_source(run_id: str | None, source: str) -> str | None:
    """The run-model id of a model version registered from a run's artifacts, or None.

    MLflow stores such a version's source as the artifact URI the ``runs:/`` URI pointed
    to (``<run artifact URI>/<artifact_path>``).
    """
    if is_run_model(source):
        return source
    if not run_id:
        return None
    root = _client().get_run(run_id).info.artifact_uri.rstrip("/")
    if not source.startswith(f"{root}/"):
        return None
    return run_model_id(run_id, source[len(root) + 1 :])
