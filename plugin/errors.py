"""The single place where mlflow-clarity swallows an error."""

from __future__ import annotations

import contextvars
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow_clarity.config import current_config
from mlflow_clarity.exceptions import ClarityWarning

logger = logging.getLogger("mlflow_clarity")

STRICT_HINT = "Set MLFLOW_CLARITY_STRICT=1 to raise instead."

_strict_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "mlflow_clarity_strict", default=None
)


def report_failure(what: str, exc: BaseException, *, consequence: str = "") -> None:
    """Report a swallowed failure, or re-raise it in strict mode.

    Every ``except Exception`` in mlflow-clarity ends here, so that strict mode
    (``MLFLOW_CLARITY_STRICT=1``, used by the test suite) turns every swallowed error
    into a raised one.

    Args:
        what: What failed, naming the plugin or step (``"step 'shap'"``).
        exc: The exception.
        consequence: What the user should know still happened or did not happen.

    Raises:
        BaseException: ``exc`` itself, in strict mode.
    """
    if is_strict():
        raise exc
    tail = f" {consequence}" if consequence else ""
    warnings.warn(
        f"mlflow-clarity: {what} failed: {exc!r}.{tail} {STRICT_HINT}",
        ClarityWarning,
        stacklevel=3,
    )
    logger.debug("%s failed", what, exc_info=exc)


def is_strict() -> bool:
    """Whether swallowed errors are raised: a :func:`strict_mode` block, else the config."""
    override = _strict_override.get()
    if override is not None:
        return override
    return current_config().strict


@contextmanager
def strict_mode(strict: bool | None) -> Iterator[None]:
    """Force strict mode on or off in this context (None keeps the configured mode)."""
    token = _strict_override.set(strict)
    try:
        yield
    finally:
        _strict_override.reset(token)
