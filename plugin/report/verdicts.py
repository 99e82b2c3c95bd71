"""Plain-language verdicts on the quality figures of the explanations.

One place decides what "good" means, so the report, the model card and registry reviews
say the same thing about the same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """A quality figure, how good it is, and what that means.

    Attributes:
        name: What was measured.
        value: The figure (None when not measured).
        level: ``good``, ``fair``, ``poor`` or ``n/a``.
        text: One sentence for a reader who is not an expert.
    """

    name: str
    value: float | None
    level: str
    text: str


@dataclass(frozen=True)
class _Scale:
    """How to grade one figure: thresholds, direction, and a sentence per level."""

    name: str
    good: float
    fair: float
    higher_is_better: bool
    good_text: str
    fair_text: str
    poor_text: str

    def grade(self, value: float | None, missing: str = "Not measured.") -> Verdict:
        if value is None:
            return Verdict(self.name, None, "n/a", missing)
        sign = 1 if self.higher_is_better else -1
        if sign * value >= sign * self.good:
            level, text = "good", self.good_text
        elif sign * value >= sign * self.fair:
            level, text = "fair", self.fair_text
        else:
            level, text = "poor", self.poor_text
        return Verdict(self.name, value, level, text)


ADDITIVITY = _Scale(
    "SHAP additivity (max residual)",
    1e-4,
    1e-2,
    False,
    "The values add up to the model's output (exact up to rounding).",
    "The values add up to the model's output within a small error.",
    "The values do not add up to the model's output: treat them as estimates.",
)
SAMPLING_ERROR = _Scale(
    "SHAP standard error (relative)",
    0.1,
    0.25,
    False,
    "Sampling error is small next to the values.",
    "Sampling error is noticeable: small values may swap order.",
    "Sampling error is large: only the largest values are reliable.",
)
BACKGROUND = _Scale(
    "Ranking under a second background (Spearman)",
    0.9,
    0.7,
    True,
    "The feature ranking does not depend on the background sample.",
    "The ranking moves somewhat with the background sample.",
    "The ranking depends on the background sample: read it with care.",
)
LIME_FIDELITY = _Scale(
    "LIME fidelity (mean local R²)",
    0.7,
    0.4,
    True,
    "LIME's local models follow the model closely around the rows explained.",
    "LIME's local models follow the model only roughly.",
    "LIME's local models fit poorly: its weights say little about the model.",
)
LIME_STABILITY = _Scale(
    "LIME stability (Jaccard of top features)",
    0.8,
    0.5,
    True,
    "LIME picks the same top features whatever its random seed.",
    "LIME's top features change somewhat with its random seed.",
    "LIME's top features change with its random seed: do not rely on them.",
)
AGREEMENT = _Scale(
    "SHAP-LIME agreement (top-3 overlap)",
    0.67,
    0.34,
    True,
    "SHAP and LIME name mostly the same top features.",
    "SHAP and LIME share only some of their top features.",
    "SHAP and LIME disagree on the top features: the explanation is uncertain.",
)


def _sampling_error(quality: dict[str, Any] | None) -> Verdict:
    if quality is None:
        return SAMPLING_ERROR.grade(None, "SHAP did not run.")
    figure = quality.get("sampling_error")
    if not figure:
        return Verdict(SAMPLING_ERROR.name, None, "good", "Exact method: no sampling error.")
    return SAMPLING_ERROR.grade(figure["mean_relative"])


def all_verdicts(
    shap_quality: dict[str, Any] | None,
    lime_quality: dict[str, Any] | None,
    agreement: dict[str, Any] | None,
) -> list[Verdict]:
    """Every verdict, in reading order."""
    shap = shap_quality or {}
    background = shap.get("background_agreement") or {}
    return [
        ADDITIVITY.grade((shap.get("additivity") or {}).get("max")),
        _sampling_error(shap_quality),
        BACKGROUND.grade(background.get("spearman") if background.get("status") == "ok" else None),
        LIME_FIDELITY.grade((lime_quality or {}).get("r2_mean"), "LIME did not run."),
        LIME_STABILITY.grade(((lime_quality or {}).get("stability") or {}).get("jaccard_mean")),
        AGREEMENT.grade(((agreement or {}).get("overall") or {}).get("feature_agreement@3")),
    ]


def step_outcome(step: dict[str, Any]) -> tuple[str, str]:
    """A step's status as shown to readers, and its reason (or how far it got)."""
    if step.get("truncated"):
        return "ok, stopped early", str(step["truncated"])
    return str(step["status"]), str(step.get("reason") or "")
