"""The ``log_model`` interception: every flavor's ``log_model`` ends up here.

Most flavors call ``Model.log``, which creates a LoggedModel (``models:/m-...``).
``mlflow.spark.log_model`` does not: it calls ``Model._log_v2`` or, when Spark writes the
run's artifact URI itself, logs the files by hand and calls ``_record_logged_model``;
either way the model is a run artifact (``runs:/<run_id>/<artifact_path>``, see
:mod:`mlflow_clarity.run_models`). All three are wrapped. A call made while another
wrapped call runs (``_log_v2`` calls ``_record_logged_model``) is left to the outer one,
so a model is processed once.

MLflow's own call runs first and unguarded, so its errors reach the user unchanged.
Everything after it returns is guarded: mlflow-clarity never makes ``log_model`` fail
(except in strict mode) and never makes it wait longer than the time budget plus the
storage timeout.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any

from mlflow_clarity.config import ClarityConfig, current_config
from mlflow_clarity.data.capture import explicit_reference, in_own_call
from mlflow_clarity.data.reference import RawReference
from mlflow_clarity.errors import logger, report_failure
from mlflow_clarity.exceptions import ClarityStrictError
from mlflow_clarity.hooks.patches.datasets import install_dataset_capture
from mlflow_clarity.jobs import Job
from mlflow_clarity.run_models import run_model_id
from mlflow_clarity.spark_models import callable_spark_model
from mlflow_clarity.store import set_status_tags
from mlflow_clarity.types import ModelContext

_SKIPPED_FLAVORS = {"mlflow.shap"}  # log_explainer logs an explainer, not a model to explain
_MODEL_KWARGS = {
    "mlflow.sklearn": "sk_model",
    "mlflow.pytorch": "pytorch_model",
    "mlflow.pyfunc": "python_model",
    "mlflow.xgboost": "xgb_model",
    "mlflow.lightgbm": "lgb_model",
    "mlflow.catboost": "cb_model",
    "mlflow.tensorflow": "model",
    "mlflow.keras": "model",
    "mlflow.onnx": "onnx_model",
    "mlflow.statsmodels": "statsmodels_model",
    "mlflow.transformers": "transformers_model",
    "mlflow.spark": "spark_model",
}
_JOIN_MARGIN_S = 2.0
_logging: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mlflow_clarity_logging_model", default=False
)


def _model_object(flavor: Any, flavor_kwargs: dict[str, Any]) -> Any:
    name = getattr(flavor, "__name__", "")
    key = _MODEL_KWARGS.get(name)
    if key is None:
        save_model = getattr(flavor, "save_model", None)
        params = list(inspect.signature(save_model).parameters) if save_model else []
        key = next((p for p in params if p not in ("path", "self")), None)
    model = flavor_kwargs.get(key) if key else None
    if isinstance(model, (str, bytes)):  # models-from-code paths
        return None
    return callable_spark_model(model) or model  # pyspark.ml models take pandas frames


def _context_from_call(bound: dict[str, Any], info: Any) -> ModelContext:
    flavor = bound.get("flavor")
    flavor_kwargs = dict(bound.get("kwargs") or {})
    version = getattr(info, "registered_model_version", None)
    model_id = info.model_id or run_model_id(info.run_id, info.artifact_path)
    return ModelContext(
        flavor=getattr(flavor, "__name__", "unknown").rsplit(".", 1)[-1],
        model=_model_object(flavor, flavor_kwargs),
        model_id=model_id,
        model_uri=model_id if info.model_id is None else f"models:/{model_id}",
        run_id=info.run_id,
        artifact_location=getattr(info, "artifact_path", None),
        signature=info.signature,
        input_example=flavor_kwargs.get("input_example"),
        registered_model_name=bound.get("registered_model_name") if version else None,
        registered_model_version=None if version is None else str(version),
    )


def _run_for(ctx: ModelContext, explicit: RawReference | None, config: ClarityConfig) -> Any:
    from mlflow_clarity.processing import process

    return process(ctx, explicit, config)  # marks its own MLflow calls (own_calls)


def start(ctx: ModelContext, explicit: RawReference | None, config: ClarityConfig) -> None:
    """Run the pipeline for a freshly logged model, waiting at most the budget.

    In background mode, tag the model ``clarity.status=running`` and return at once.

    Args:
        ctx: The model's context, without reference data.
        explicit: Reference data given in code, or None.
        config: Effective configuration.
    """

    max_s = config.budget_s + config.store_timeout_s + _JOIN_MARGIN_S
    job = Job(f"mlflow-clarity-{ctx.model_id}", lambda: _run_for(ctx, explicit, config), max_s)
    if config.background:
        registered = (ctx.registered_model_name, ctx.registered_model_version)
        set_status_tags(ctx.model_id, registered, "running")
        job.start()
        return
    job.start()
    if not job.join(max_s):
        report_failure(
            f"processing model {ctx.model_id}",
            ClarityStrictError(f"not finished after {max_s:.0f}s"),
            consequence="It goes on in the background; mlflow_clarity.wait() waits for it.",
        )
        return
    if job.error is not None:
        raise job.error  # only strict mode lets errors out of the job


def _after_log(bound: dict[str, Any], info: Any) -> None:
    config = current_config()
    flavor_name = getattr(bound.get("flavor"), "__name__", "")
    if not config.enabled or flavor_name in _SKIPPED_FLAVORS:
        return
    if info is None or not (getattr(info, "model_id", None) or getattr(info, "run_id", None)):
        logger.info("mlflow-clarity: log_model returned neither a LoggedModel nor a run")
        return
    start(_context_from_call(bound, info), explicit_reference(), config)


def _after_record(bound: dict[str, Any], _result: Any) -> None:
    """The hand-written Spark path: model files logged to the run, then recorded.

    Runs before that path registers a model version, so no version is tagged.
    """
    config = current_config()
    mlflow_model = bound["mlflow_model"]
    run_id = bound.get("run_id") or mlflow_model.run_id
    if not config.enabled or not run_id or not mlflow_model.artifact_path:
        return
    model_id = run_model_id(run_id, mlflow_model.artifact_path)
    flavors = [f for f in mlflow_model.flavors if f != "python_function"]
    flavor = "spark" if "spark" in flavors else (flavors[0] if flavors else "pyfunc")
    ctx = ModelContext(
        flavor=flavor,
        model=_stored_spark_model(model_id) if flavor == "spark" else None,
        model_id=model_id,
        model_uri=model_id,
        run_id=run_id,
        signature=mlflow_model.signature,
    )
    start(ctx, explicit_reference(), config)


def _stored_spark_model(model_uri: str) -> Any:
    """The stored Spark model, callable on pandas frames, or None (the pyfunc is used)."""
    try:
        import mlflow.spark

        return callable_spark_model(mlflow.spark.load_model(model_uri))
    except Exception as exc:
        report_failure(
            f"loading {model_uri} as a Spark model",
            exc,
            consequence="Its stored pyfunc model is explained instead.",
        )
        return None


def _wrap(original: Any, after: Callable[[dict[str, Any], Any], None]) -> Any:
    """Wrap one MLflow logging function: call it, then ``after(bound_arguments, result)``.

    ``after`` is skipped inside mlflow-clarity's own calls and inside another wrapped
    call (the outer one processes the model); its errors are reported, never raised.
    """
    signature = inspect.signature(original)

    @functools.wraps(original)
    def log(*args: Any, **kwargs: Any) -> Any:
        token = _logging.set(True)
        try:
            result = original(*args, **kwargs)
        finally:
            _logging.reset(token)
        if in_own_call() or _logging.get():
            return result
        try:
            after(signature.bind(*args, **kwargs).arguments, result)
        except Exception as exc:
            report_failure(
                "mlflow-clarity after log_model",
                exc,
                consequence="The model itself was logged.",
            )
        return result

    log.__clarity_wrapped__ = True  # type: ignore[attr-defined]
    log.__clarity_original__ = original  # type: ignore[attr-defined]
    return log


_MODEL_METHODS = ("log", "_log_v2")  # _log_v2: mlflow.spark.log_model (run-artifact models)


def is_installed() -> bool:
    """Whether ``mlflow.models.Model.log`` is currently wrapped."""
    from mlflow.models.model import Model

    return bool(getattr(Model.__dict__["log"].__func__, "__clarity_wrapped__", False))


def install(_module: Any = None) -> None:
    """Wrap ``Model.log``, ``Model._log_v2`` and ``_record_logged_model`` (idempotent) and
    start capturing logged datasets.

    Args:
        _module: The imported ``mlflow.models.model`` module, when called as MLflow's
            post-import hook.
    """
    import mlflow.tracking.fluent as fluent
    from mlflow.models.model import Model

    for name in _MODEL_METHODS:
        func = Model.__dict__[name].__func__
        if not getattr(func, "__clarity_wrapped__", False):
            setattr(Model, name, classmethod(_wrap(func, _after_log)))
    if not getattr(fluent._record_logged_model, "__clarity_wrapped__", False):
        fluent._record_logged_model = _wrap(fluent._record_logged_model, _after_record)
    install_dataset_capture()


def uninstall() -> None:
    """Restore the original ``Model.log``, ``Model._log_v2`` and ``_record_logged_model``."""
    import mlflow.tracking.fluent as fluent
    from mlflow.models.model import Model

    for name in _MODEL_METHODS:
        original = getattr(Model.__dict__[name].__func__, "__clarity_original__", None)
        if original is not None:
            setattr(Model, name, classmethod(original))
    original = getattr(fluent._record_logged_model, "__clarity_original__", None)
    if original is not None:
        fluent._record_logged_model = original
