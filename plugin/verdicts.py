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


def _graded(value: float, good: float, fair: float, higher_is_better: bool = True) -> str:
    if not higher_is_better:
        value, good, fair = -value, -good, -fair
    return "good" if value >= good else "fair" if value >= fair else "poor"


def additivity(quality: dict[str, Any] | None) -> Verdict:
    """Do the SHAP values add up to the model's output?"""
    figure = (quality or {}).get("additivity")
    if not figure:
        return Verdict("SHAP additivity", None, "n/a", "Not measured.")
    worst = figure["max"]
    level = _graded(worst, 1e-4, 1e-2, higher_is_better=False)
    text = {
        "good": "The values add up to the model's output (exact up to rounding).",
        "fair": "The values add up to the model's output within a small error.",
        "poor": "The values do not add up to the model's output: treat them as estimates.",
    }[level]
    return Verdict("SHAP additivity (max residual)", worst, level, text)


def sampling_error(quality: dict[str, Any] | None) -> Verdict:
    """How precise are sampled SHAP values?"""
    figure = (quality or {}).get("sampling_error")
    if not figure:
        return Verdict(
            "SHAP sampling error", None, "good", "Exact method: there is no sampling error."
        )
    relative = figure["mean_relative"]
    level = _graded(relative, 0.1, 0.25, higher_is_better=False)
    text = {
        "good": "Sampling error is small next to the values.",
        "fair": "Sampling error is noticeable: small values may swap order.",
        "poor": "Sampling error is large: only the largest values are reliable.",
    }[level]
    return Verdict("SHAP standard error (relative)", relative, level, text)


def background_agreement(quality: dict[str, Any] | None) -> Verdict:
    """Does the feature ranking survive another background sample?"""
    figure = (quality or {}).get("background_agreement") or {}
    if figure.get("status") != "ok":
        return Verdict("Ranking under a second background", None, "n/a", "Not measured.")
    rho = figure["spearman"]
    level = _graded(rho, 0.9, 0.7)
    text = {
        "good": "The feature ranking does not depend on the background sample.",
        "fair": "The ranking moves somewhat with the background sample.",
        "poor": "The ranking depends on the background sample: read it with care.",
    }[level]
    return Verdict("Ranking under a second background (Spearman)", rho, level, text)


def lime_fidelity(quality: dict[str, Any] | None) -> Verdict:
    """How well do LIME's local models fit the model around each row?"""
    if not quality:
        return Verdict("LIME fidelity", None, "n/a", "LIME did not run.")
    r2 = quality["r2_mean"]
    level = _graded(r2, 0.7, 0.4)
    text = {
        "good": "LIME's local models follow the model closely around the rows explained.",
        "fair": "LIME's local models follow the model only roughly.",
        "poor": "LIME's local models fit poorly: its weights say little about the model.",
    }[level]
    return Verdict("LIME fidelity (mean local R²)", r2, level, text)


def lime_stability(quality: dict[str, Any] | None) -> Verdict:
    """Do LIME's top features stay the same under other seeds?"""
    jaccard = ((quality or {}).get("stability") or {}).get("jaccard_mean")
    if jaccard is None:
        return Verdict("LIME stability", None, "n/a", "Not measured.")
    level = _graded(jaccard, 0.8, 0.5)
    text = {
        "good": "LIME picks the same top features whatever its random seed.",
        "fair": "LIME's top features change somewhat with its random seed.",
        "poor": "LIME's top features change with its random seed: do not rely on them.",
    }[level]
    return Verdict("LIME stability (Jaccard of top features)", jaccard, level, text)


def shap_lime_agreement(agreement: dict[str, Any] | None) -> Verdict:
    """Do SHAP and LIME name the same top features for the same rows?"""
    overall = (agreement or {}).get("overall") or {}
    value = overall.get("feature_agreement@3")
    if value is None:
        return Verdict("SHAP-LIME agreement", None, "n/a", "Not measured.")
    level = _graded(value, 0.67, 0.34)
    text = {
        "good": "SHAP and LIME name mostly the same top features.",
        "fair": "SHAP and LIME share only some of their top features.",
        "poor": "SHAP and LIME disagree on the top features: the explanation is uncertain.",
    }[level]
    return Verdict("SHAP-LIME agreement (top-3 overlap)", value, level, text)


def all_verdicts(
    shap_quality: dict[str, Any] | None,
    lime_quality: dict[str, Any] | None,
    agreement: dict[str, Any] | None,
) -> list[Verdict]:
    """Every verdict, in reading order."""
    verdicts = [
        additivity(shap_quality),
        sampling_error(shap_quality),
        background_agreement(shap_quality),
        lime_fidelity(lime_quality),
        lime_stability(lime_quality),
        shap_lime_agreement(agreement),
    ]
    if shap_quality is None:
        verdicts[1] = Verdict("SHAP sampling error", None, "n/a", "SHAP did not run.")
    return verdicts
