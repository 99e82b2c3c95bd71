"""The outcome of a review: one result per rule, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ReviewInputError(ValueError):
    """The URI is not a registered version, or the model has nothing to review."""


@dataclass(frozen=True)
class Rule:
    """One rule's outcome: ``passed``, ``failed`` or ``skipped`` (with why)."""

    name: str
    status: str
    value: Any = None
    limit: Any = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rule": self.name,
            "status": self.status,
            "value": self.value,
            "limit": self.limit,
            "detail": self.detail,
        }


@dataclass
class ReviewResult:
    """The review of one model version.

    Attributes:
        name: Registered model name.
        version: Version reviewed.
        model_id: Its LoggedModel.
        rules: Every rule's outcome.
        top_features: The version's features by SHAP importance (most important first).
        comparison: Against another version: its URI, version, NDCG and top features.
        policy: The effective policy.
        remedy: How to produce the stored files a failed artifact rule asked for, or None.
    """

    name: str
    version: str
    model_id: str
    rules: list[Rule]
    top_features: list[str]
    comparison: dict[str, Any] | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    promoted: str | None = None
    remedy: str | None = None

    @property
    def passed(self) -> bool:
        """Whether no rule failed."""
        return not self.failed_rules

    @property
    def failed_rules(self) -> list[str]:
        """Names of the rules that failed."""
        return [r.name for r in self.rules if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when passed, 1 when a rule failed."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": {"name": self.name, "version": self.version, "model_id": self.model_id},
            "status": "passed" if self.passed else "failed",
            "rules": [r.to_dict() for r in self.rules],
            "top_features": self.top_features,
            "comparison": self.comparison,
            "policy": self.policy,
            "promoted": self.promoted,
            "remedy": self.remedy,
        }
