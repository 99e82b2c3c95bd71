"""Bootstrap: installs mlflow-clarity on ``import mlflow``, with nothing in user code.

MLflow loads the ``mlflow.run_context_provider`` entry-point group eagerly while
``mlflow`` is imported, in every MLflow process (clients and server workers alike). This
module is registered there. Importing it only registers a post-import hook that wraps
``mlflow.models.Model.log``; it imports no heavy library (no shap, torch or matplotlib).
"""

from __future__ import annotations

from mlflow.tracking.context.abstract_context import RunContextProvider

from mlflow_clarity.config import current_config
from mlflow_clarity.errors import report_failure


class ClarityContextProvider(RunContextProvider):
    """A run-context provider that contributes no tags; it exists to be loaded early."""

    def in_context(self) -> bool:
        """Never in context: this provider adds nothing to runs."""
        return False

    def tags(self) -> dict[str, str]:
        """No tags."""
        return {}


def _install_on_import(module: object) -> None:
    from mlflow_clarity.hooks.patches.log_model import install

    try:
        install(module)
    except Exception as exc:
        report_failure("installing the mlflow-clarity log_model hook", exc)


def bootstrap() -> None:
    """Arrange for ``Model.log`` to be wrapped once ``mlflow.models.model`` is imported.

    Does nothing when ``MLFLOW_CLARITY_DISABLE=1``.
    """
    if not current_config().enabled:
        return
    from mlflow.utils.import_hooks import register_post_import_hook

    register_post_import_hook(_install_on_import, "mlflow.models.model")


try:
    bootstrap()
except Exception as exc:  # `import mlflow` must never fail because of us
    report_failure("the mlflow-clarity bootstrap", exc)
