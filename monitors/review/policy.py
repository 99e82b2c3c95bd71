"""Review policies: which rules a model version must pass, read from YAML.

Every key is optional; a missing key takes its default, ``null`` turns a rule off.
Unknown keys and values of the wrong type or range are errors, never ignored::

    require: [shap, baseline]        # artifacts that must exist: shap, lime, agreement, baseline
    max_additivity_residual: 0.01    # SHAP values must add up to the output within this
    max_relative_error: 0.25         # sampled SHAP: mean standard error / mean |value|
    min_lime_fidelity: null          # mean R^2 of LIME's local models
    min_shap_lime_agreement: null    # top-3 feature overlap between SHAP and LIME
    protected_features: []           # must not be among the top_k features
    top_k: 5
    max_drift_score: 0.3             # importance-weighted drift score against --data
    min_attribution_ndcg: 0.8        # NDCG of the ranking against the --against version
    ignore_columns: []               # batch columns the drift check never checks (ids, times)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ARTIFACTS = ("shap", "lime", "agreement", "baseline")


class PolicyError(ValueError):
    """A policy file that cannot be used: unreadable, unknown keys, bad values."""


@dataclass(frozen=True)
class Policy:
    """The rules of a review (see the module docstring for each key and its default)."""

    require: tuple[str, ...] = ("shap", "baseline")
    max_additivity_residual: float | None = 0.01
    max_relative_error: float | None = 0.25
    min_lime_fidelity: float | None = None
    min_shap_lime_agreement: float | None = None
    protected_features: tuple[str, ...] = ()
    top_k: int = 5
    max_drift_score: float | None = 0.3
    min_attribution_ndcg: float | None = 0.8
    ignore_columns: tuple[str, ...] = ()
    source: str = field(default="defaults", compare=False)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "policy") -> Policy:
        """Validate a parsed policy.

        Raises:
            PolicyError: Not a mapping, an unknown key, or a bad value.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: expected a mapping of rules, got {type(data).__name__}")
        known = {f.name for f in fields(cls)} - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _validated(source, key, value)
        return cls(**values, source=source)

    @classmethod
    def load(cls, path: str | Path | None) -> Policy:
        """Read a YAML policy file (None: the defaults).

        Raises:
            PolicyError: The file is missing, not YAML, or not a valid policy.
        """
        if path is None:
            return cls()
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read policy {str(path)!r}: {exc}") from exc
        return cls.from_mapping(data, str(path))

    def to_dict(self) -> dict[str, Any]:
        """The effective rules, JSON-ready."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}


def _validated(source: str, key: str, value: Any) -> Any:
    where = f"{source}: {key}"
    if key in ("require", "protected_features", "ignore_columns"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{where} must be a list of names, not {value!r}")
        if key == "require" and (bad := sorted(set(value) - set(ARTIFACTS))):
            raise PolicyError(f"{where}: unknown artifact(s) {bad}; known: {list(ARTIFACTS)}")
        return tuple(value)
    if key == "top_k":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PolicyError(f"{where} must be a positive integer, not {value!r}")
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PolicyError(f"{where} must be a non-negative number or null, not {value!r}")
    if key.startswith("min_") and value > 1:
        raise PolicyError(f"{where} is a share between 0 and 1, not {value!r}")
    return float(value)
