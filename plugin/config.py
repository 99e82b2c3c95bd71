"""Configuration: defaults, ``MLFLOW_CLARITY_*`` environment variables and code options.

Precedence: options set in code with :func:`mlflow_clarity.autolog` override environment
variables, which override defaults. Two switches are safety valves and win over code:
``MLFLOW_CLARITY_DISABLE=1`` always disables, ``MLFLOW_CLARITY_STRICT=1`` always raises.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mlflow_clarity.exceptions import ClarityWarning

ENV_PREFIX = "MLFLOW_CLARITY_"
DEFAULT_BUDGET_S = 12.0
"""Seconds for the steps of one logged model: bench/log_model_overhead.py measures the
7-feature pipeline of issue 16 at about 6 s (GradientBoosting) to 13 s (RandomForest,
budget-bound) added to ``log_model`` on 2 cores."""
EXPLAIN_BUDGET_S = 120.0
"""Seconds for ``mlflow-clarity explain``, run on purpose for bigger explanations."""
DEFAULT_CHECK_BUDGET_S = 15.0
"""Seconds for SHAP on a batch sample in a check (attribution drift): a check of the
7-feature pipeline stays within 20 s on 2 cores (bench/log_model_overhead.py)."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ClarityConfig:
    """Effective settings of mlflow-clarity.

    Attributes:
        enabled: Run the pipeline on every logged model (env ``MLFLOW_CLARITY_DISABLE``).
        budget_s: Total time budget of the steps of one model, in seconds
            (``MLFLOW_CLARITY_BUDGET_S``). The default keeps what ``log_model`` adds
            for a typical tabular model within 15 s on 2 cores (docs/performance.md);
            a larger budget, or ``mlflow-clarity explain`` later (``EXPLAIN_BUDGET_S``),
            explains more rows.
        store_timeout_s: Time allowed for uploading results and setting tags after the
            steps (``MLFLOW_CLARITY_STORE_TIMEOUT_S``).
        sample_rows: Rows in the explainers' sample (``MLFLOW_CLARITY_SAMPLE_ROWS``).
        seed: Seed for sampling and every random choice (``MLFLOW_CLARITY_SEED``).
        background: Return from ``log_model`` at once and finish later
            (``MLFLOW_CLARITY_BACKGROUND``).
        steps: Names of the steps to run; None runs every registered step
            (``MLFLOW_CLARITY_STEPS``, comma-separated; an empty value runs none).
        step_options: Options per step name, passed to the step as ``ctx.options``.
        disabled_plugins: Plugin or step names that are blocked
            (``MLFLOW_CLARITY_DISABLE_PLUGINS``, comma-separated).
        strict: Raise errors instead of warning (``MLFLOW_CLARITY_STRICT``).
    """

    enabled: bool = True
    budget_s: float = DEFAULT_BUDGET_S
    store_timeout_s: float = 60.0
    sample_rows: int = 2000
    seed: int = 0
    background: bool = False
    steps: tuple[str, ...] | None = None
    step_options: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    disabled_plugins: tuple[str, ...] = ()
    strict: bool = False

    def __post_init__(self) -> None:
        if self.budget_s <= 0:
            raise ValueError(f"budget_s must be positive, got {self.budget_s}")
        if self.store_timeout_s <= 0:
            raise ValueError(f"store_timeout_s must be positive, got {self.store_timeout_s}")
        if self.sample_rows < 1:
            raise ValueError(f"sample_rows must be at least 1, got {self.sample_rows}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["step_options"] = {k: dict(v) for k, v in self.step_options.items()}
        return data


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")


def _parse_names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


_ENV_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "BUDGET_S": ("budget_s", float),
    "STORE_TIMEOUT_S": ("store_timeout_s", float),
    "SAMPLE_ROWS": ("sample_rows", int),
    "SEED": ("seed", int),
    "BACKGROUND": ("background", _parse_bool),
    "STEPS": ("steps", _parse_names),
    "DISABLE_PLUGINS": ("disabled_plugins", _parse_names),
}

_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "budget_s": (int, float),
    "store_timeout_s": (int, float),
    "sample_rows": (int,),
    "seed": (int,),
    "background": (bool,),
    "steps": (list, tuple, type(None)),
    "step_options": (dict, Mapping),
    "disabled_plugins": (list, tuple),
    "strict": (bool,),
}

_lock = threading.Lock()
_code_options: dict[str, Any] = {}
_code_disabled = False


def _env_options() -> dict[str, Any]:
    options: dict[str, Any] = {}
    for suffix, (name, parse) in _ENV_FIELDS.items():
        raw = os.environ.get(ENV_PREFIX + suffix)
        if raw is None:
            continue
        try:
            options[name] = parse(raw)
        except ValueError as exc:
            warnings.warn(
                f"mlflow-clarity: ignoring {ENV_PREFIX}{suffix}={raw!r}: {exc}",
                ClarityWarning,
                stacklevel=3,
            )
    return options


def _env_flag(suffix: str) -> bool:
    try:
        return _parse_bool(os.environ.get(ENV_PREFIX + suffix, ""))
    except ValueError:
        return True  # any non-false value of a safety switch counts as "on"


def current_config() -> ClarityConfig:
    """Return the effective configuration (cheap; read on every logged model).

    Returns:
        The configuration built from defaults, environment and code options.
    """
    with _lock:
        code = dict(_code_options)
        disabled_in_code = _code_disabled
    env = _env_options()
    merged = {**env, **code}
    merged["disabled_plugins"] = tuple(
        dict.fromkeys((*env.get("disabled_plugins", ()), *code.get("disabled_plugins", ())))
    )
    merged["enabled"] = not (disabled_in_code or _env_flag("DISABLE"))
    merged["strict"] = bool(code.get("strict")) or _env_flag("STRICT")
    try:
        return ClarityConfig(**merged)
    except ValueError as exc:
        warnings.warn(
            f"mlflow-clarity: invalid configuration ({exc}); using defaults",
            ClarityWarning,
            stacklevel=2,
        )
        return ClarityConfig(enabled=merged["enabled"], strict=merged["strict"])


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check option names and types given in code, and normalise them.

    Args:
        options: Keyword options given to ``autolog``.

    Returns:
        The options with sequences turned into tuples and mappings frozen.

    Raises:
        TypeError: An unknown option or a value of the wrong type.
        ValueError: A value out of range.
    """
    normalised: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _OPTION_TYPES:
            known = ", ".join(sorted(_OPTION_TYPES))
            raise TypeError(f"unknown mlflow-clarity option {name!r}; known options: {known}")
        allowed = _OPTION_TYPES[name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            kinds = " or ".join(t.__name__ for t in allowed)
            raise TypeError(f"option {name!r} must be {kinds}, got {type(value).__name__}")
        if name in ("steps", "disabled_plugins") and value is not None:
            value = tuple(str(v) for v in value)
        if name == "step_options":
            value = MappingProxyType(
                {str(k): MappingProxyType(dict(v)) for k, v in dict(value).items()}
            )
        normalised[name] = value
    ClarityConfig(**normalised)  # range checks raise ValueError
    return normalised


def set_code_options(options: Mapping[str, Any], *, disable: bool) -> None:
    """Replace the options set in code (what ``autolog(...)`` does).

    Args:
        options: Validated options (see :func:`validate_options`).
        disable: Turn the automatic pipeline off.
    """
    global _code_disabled
    with _lock:
        _code_options.clear()
        _code_options.update(options)
        _code_disabled = disable
