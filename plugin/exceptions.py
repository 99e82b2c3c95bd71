"""The warning and error classes mlflow-clarity raises to its users."""

from __future__ import annotations


class ClarityWarning(UserWarning):
    """Warns that an mlflow-clarity step or plugin failed; the user's call still succeeded."""


class ClarityStrictError(RuntimeError):
    """Raised in strict mode for a failure that has no exception of its own (a timeout)."""
