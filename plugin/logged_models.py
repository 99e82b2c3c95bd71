"""Models logged earlier: resolve a ``models:/`` URI to its LoggedModel and load it."""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any

from mlflow_clarity import run_models
from mlflow_clarity.errors import logger
from mlflow_clarity.spark_models import callable_spark_model
from mlflow_clarity.types import ModelContext

_NATIVE_FLAVORS = ("sklearn", "xgboost", "lightgbm", "pytorch")
_MODEL_ID_URI = re.compile(r"^models:/(m-[0-9a-f]+)$")
_VERSION_URI = re.compile(r"^models:/([^/@]+)/(\d+)$")
_ALIAS_URI = re.compile(r"^models:/([^/@]+)@([^/]+)$")


class ModelUriError(ValueError):
    """The model URI is not one mlflow-clarity can resolve to a LoggedModel."""


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """A LoggedModel found from a URI, and the model version the URI named (if any)."""

    model_id: str
    registered_model_name: str | None = None
    registered_model_version: str | None = None


def _model_id_from_source(source: str, what: str) -> str:
    match = _MODEL_ID_URI.match(source or "")
    if not match:
        raise ModelUriError(
            f"{what} has source {source!r}, not a LoggedModel (models:/m-...); it was "
            "registered from a path, which mlflow-clarity cannot store results into"
        )
    return match.group(1)


def resolve_model_uri(model_uri: str) -> ResolvedModel:
    """Resolve ``models:/m-...``, ``models:/name/version``, ``models:/name@alias`` or
    ``runs:/<run_id>/<path>`` (a model stored as run artifacts, such as a Spark model).

    Raises:
        ModelUriError: The URI has another form or names no LoggedModel.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    if match := _MODEL_ID_URI.match(model_uri):
        return ResolvedModel(match.group(1))
    if run_models.is_run_model(model_uri):  # mlflow.spark.log_model: no LoggedModel
        run_id, _ = run_models.split(model_uri)
        try:
            client.get_run(run_id)
        except MlflowException as exc:
            raise ModelUriError(f"{model_uri!r}: no run {run_id!r} ({exc.message})") from exc
        return ResolvedModel(model_uri)
    if match := _VERSION_URI.match(model_uri):
        mv = client.get_model_version(match.group(1), match.group(2))
    elif match := _ALIAS_URI.match(model_uri):
        mv = client.get_model_version_by_alias(match.group(1), match.group(2))
    else:
        raise ModelUriError(
            f"unsupported model URI {model_uri!r}; use models:/m-<id>, models:/<name>/<version>, "
            "models:/<name>@<alias> or runs:/<run_id>/<path>"
        )
    model_id = (
        mv.model_id
        or run_models.from_source(mv.run_id, mv.source)
        or _model_id_from_source(mv.source, f"{mv.name} version {mv.version}")
    )
    return ResolvedModel(model_id, mv.name, str(mv.version))


def _load_model(model_uri: str, flavors: dict[str, Any]) -> tuple[str, Any]:
    """Load the model's native object where we can, else the pyfunc model."""
    for flavor in _NATIVE_FLAVORS:
        if flavor not in flavors:
            continue
        try:
            return flavor, importlib.import_module(f"mlflow.{flavor}").load_model(model_uri)
        except Exception as exc:  # fall back to the generic loader
            logger.info("loading %s as %s failed (%r); using pyfunc", model_uri, flavor, exc)
    import mlflow.pyfunc

    return "pyfunc", mlflow.pyfunc.load_model(model_uri)


def _load_run_model(resolved: ResolvedModel) -> ModelContext:
    """A model stored as run artifacts (``runs:/<run_id>/<path>``, a Spark model)."""
    import mlflow.pyfunc
    from mlflow.models import Model

    uri = resolved.model_id
    mlmodel = Model.load(uri)
    model = None
    if "spark" in mlmodel.flavors:
        import mlflow.spark

        model = callable_spark_model(mlflow.spark.load_model(uri))
    return ModelContext(
        flavor="spark" if model is not None else "pyfunc",
        model=model or mlflow.pyfunc.load_model(uri),
        model_id=uri,
        model_uri=uri,
        run_id=run_models.split(uri)[0],
        artifact_location=run_models.artifact_location(uri),
        signature=mlmodel.signature,
        registered_model_name=resolved.registered_model_name,
        registered_model_version=resolved.registered_model_version,
    )


def load_context(resolved: ResolvedModel) -> ModelContext:
    """Load a logged model and describe it as the steps see it (no reference data yet)."""
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    if run_models.is_run_model(resolved.model_id):
        return _load_run_model(resolved)
    logged = MlflowClient().get_logged_model(resolved.model_id)
    id_uri = f"models:/{resolved.model_id}"
    mlmodel = Model.load(id_uri)
    flavor, model = _load_model(id_uri, mlmodel.flavors)
    return ModelContext(
        flavor=flavor,
        model=model,
        model_id=resolved.model_id,
        model_uri=id_uri,
        run_id=logged.source_run_id,
        artifact_location=logged.artifact_location,
        signature=mlmodel.signature,
        registered_model_name=resolved.registered_model_name,
        registered_model_version=resolved.registered_model_version,
    )
