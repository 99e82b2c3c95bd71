"""The ``Model.log`` interception: every flavor's ``log_model`` ends up here.

MLflow's own call runs first and unguarded, so its errors reach the user unchanged.
Everything after it returns is guarded: mlflow-clarity never makes ``log_model`` fail
(except in strict mode) and never makes it wait longer than the time budget plus the
storage timeout.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from mlflow_clarity.config import ClarityConfig, current_config
from mlflow_clarity.data.capture import explicit_reference, in_own_call
from mlflow_clarity.data.reference import RawReference
from mlflow_clarity.errors import logger, report_failure
from mlflow_clarity.exceptions import ClarityStrictError
from mlflow_clarity.hooks.patches.datasets import install_dataset_capture
from mlflow_clarity.jobs import Job
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
}
_JOIN_MARGIN_S = 2.0


def _model_object(flavor: Any, flavor_kwargs: dict[str, Any]) -> Any:
    name = getattr(flavor, "__name__", "")
    key = _MODEL_KWARGS.get(name)
    if key is None:
        save_model = getattr(flavor, "save_model", None)
        params = list(inspect.signature(save_model).parameters) if save_model else []
        key = next((p for p in params if p not in ("path", "self")), None)
    model = flavor_kwargs.get(key) if key else None
    return None if isinstance(model, (str, bytes)) else model  # models-from-code paths


def _context_from_call(bound: dict[str, Any], info: Any) -> ModelContext:
    flavor = bound.get("flavor")
    flavor_kwargs = dict(bound.get("kwargs") or {})
    version = getattr(info, "registered_model_version", None)
    return ModelContext(
        flavor=getattr(flavor, "__name__", "unknown").rsplit(".", 1)[-1],
        model=_model_object(flavor, flavor_kwargs),
        model_id=info.model_id,
        model_uri=f"models:/{info.model_id}",
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
    if info is None or not getattr(info, "model_id", None):
        logger.info("mlflow-clarity: log_model returned no LoggedModel id; nothing to do")
        return
    start(_context_from_call(bound, info), explicit_reference(), config)


def _wrap(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def log(cls: Any, *args: Any, **kwargs: Any) -> Any:
        info = original(cls, *args, **kwargs)
        if in_own_call():
            return info
        try:
            bound = signature.bind(cls, *args, **kwargs).arguments
            _after_log(bound, info)
        except Exception as exc:
            report_failure(
                "mlflow-clarity after log_model",
                exc,
                consequence="The model itself was logged.",
            )
        return info

    log.__clarity_wrapped__ = True  # type: ignore[attr-defined]
    log.__clarity_original__ = original  # type: ignore[attr-defined]
    return log


def is_installed() -> bool:
    """Whether ``mlflow.models.Model.log`` is currently wrapped."""
    from mlflow.models.model import Model

    return bool(getattr(Model.__dict__["log"].__func__, "__clarity_wrapped__", False))


def install(_module: Any = None) -> None:
    """Wrap ``mlflow.models.Model.log`` (idempotent) and start capturing logged datasets.

    Args:
        _module: The imported ``mlflow.models.model`` module, when called as MLflow's
            post-import hook.
    """
    from mlflow.models.model import Model

    if not is_installed():
        Model.log = classmethod(_wrap(Model.__dict__["log"].__func__))  # type: ignore[method-assign]
    install_dataset_capture()


def uninstall() -> None:
    """Restore the original ``Model.log``."""
    from mlflow.models.model import Model

    func = Model.__dict__["log"].__func__
    original = getattr(func, "__clarity_original__", None)
    if original is not None:
        Model.log = classmethod(original)  # type: ignore[method-assign]
