"""Escaping and number formatting shared by every HTML page mlflow-clarity writes."""

from __future__ import annotations

from html import escape
from typing import Any


def text(value: Any) -> str:
    """Any value as escaped HTML text (attribute-safe)."""
    return escape(str(value), quote=True)


def number(value: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits, None as a dash, anything else escaped."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "&ndash;" if value is None else text(value)


def violation_items(violations: list[dict[str, Any]]) -> str:
    """``<li>`` entries for constraint violations: check type, feature, description."""
    return "".join(
        f"<li><b>{text(v['constraint_check_type'])}</b>"
        f"{' on ' + text(v['feature_name']) if v.get('feature_name') else ''}: "
        f"{text(v['description'])}</li>"
        for v in violations
    )
