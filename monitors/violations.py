"""``constraint_violations.json``: SageMaker Model Monitor's vocabulary, with descriptions
that state the value, the threshold, the method and the sample sizes."""

from __future__ import annotations

from typing import Any

SAGEMAKER_CHECKS = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)
CLARITY_CHECKS = (
    "prediction_drift_check",
    "model_quality_check",
    "feature_attribution_drift_check",
    "dataset_drift_check",
)


def _violation(feature: str | None, check: str, description: str) -> dict[str, Any]:
    entry = {"constraint_check_type": check, "description": description}
    return {"feature_name": feature, **entry} if feature is not None else entry


def _drift_description(d: dict[str, Any], limits: dict[str, Any]) -> str:
    parts = [
        f"L-infinity robust {d['linf_robust']:.4g} (raw {d['linf']:.4g}, "
        f"threshold {limits['linf_robust_warn']})",
        f"PSI net of bias and noise {d['psi_robust']:.4g} (raw {d['psi']:.4g}, threshold "
        f"{limits['psi_warn']}, "
        f"alert {limits['psi_alert']})",
    ]
    scale = d.get("scale") or {}
    if scale.get("log_ratio_robust"):
        parts.append(
            f"std ratio {scale['ratio']:.4g} (threshold x{limits['std_ratio_warn']} net of noise)"
        )
    q = d.get("q_value")
    evidence = f"; BH-corrected p {q:.3g}" if q is not None else ""
    return (
        f"Value: drift score {d['score']:.3g} >= 1: {'; '.join(parts)}. Method: {d['method']}; "
        f"n={d['n']} vs baseline n={d['baseline_n']}{evidence}."
    )


def _column_violations(
    name: str, column: dict[str, Any], limits: dict[str, Any], drift_check: str
) -> list[dict[str, Any]]:
    found = []
    types = column["data_type"]
    if types["status"] == "violation":
        found.append(
            _violation(
                name,
                "data_type_check",
                f"Value: {types['nonconforming_share']:.4g} of values do not conform to the "
                f"baseline type ({column['check_type']}); threshold "
                f"{types['threshold']}; n={column['rows']}.",
            )
        )
    complete = column["completeness"]
    if complete["status"] == "violation":
        found.append(
            _violation(
                name,
                "completeness_check",
                f"Value: completeness {complete['current']:.4g} vs baseline "
                f"{complete['baseline']:.4g} (allowed drop {complete['threshold_drop']}, "
                f"two-proportion z {complete['z']:.3g}); n={column['rows']}.",
            )
        )
    dist = column["distribution"]
    kind = "categorical" if "unseen" in dist else "numeric"
    if dist["status"] == "drift":
        found.append(_violation(name, drift_check, _drift_description(dist, limits[kind])))
    unseen = dist.get("unseen")
    if unseen and unseen["status"] == "violation":
        examples = ", ".join(repr(v) for v in unseen["examples"][:5])
        found.append(
            _violation(
                name,
                "categorical_values_check",
                f"Value: {unseen['current_share']:.4g} of values unseen in the baseline vs "
                f"{unseen['baseline_other_share']:.4g} outside its known values (increase "
                f"net of noise {unseen['increase_robust']:.4g} > threshold "
                f"{unseen['threshold']}); "
                f"n={dist['n']}; e.g. {examples}.",
            )
        )
    return found


def violations(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """Every violated constraint in a ``drift.json`` document, in SageMaker's format."""
    limits = drift["thresholds"]
    found = [
        _violation(
            name,
            "missing_column_check",
            "Value: column absent from the batch; it is "
            "in the baseline (columns are matched by name).",
        )
        for name in drift["schema"]["missing_columns"]
    ]
    found += [
        _violation(
            name,
            "extra_column_check",
            "Value: column not in the baseline; it is not checked (columns are matched by name).",
        )
        for name in drift["schema"]["extra_columns"]
    ]
    for name, column in drift["columns"].items():
        found += _column_violations(name, column, limits, "baseline_drift_check")
    for name, column in (drift["predictions"].get("columns") or {}).items():
        found += [
            v
            for v in _column_violations(name, column, limits, "prediction_drift_check")
            if v["constraint_check_type"] == "prediction_drift_check"
        ]
    quality = drift["quality"]
    for item in quality.get("degraded", []):
        found.append(
            _violation(
                item["metric"],
                "model_quality_check",
                f"Value: {item['metric']} {item['current']:.4g} vs {item['baseline']:.4g} at "
                f"log time ({item['limit']}); n={quality['metrics']['n']}.",
            )
        )
    attribution = drift["attribution"]
    if attribution.get("status") == "violation":
        found.append(
            _violation(
                None,
                "feature_attribution_drift_check",
                f"Value: NDCG {attribution['ndcg']:.4g} < threshold {attribution['threshold']}. "
                f"Method: {attribution['method']}; SHAP ({attribution['explainer']}) on "
                f"{attribution['rows']} batch rows.",
            )
        )
    dataset = drift["dataset"]
    if dataset["status"] == "violation":
        found.append(
            _violation(
                None,
                "dataset_drift_check",
                f"Value: importance-weighted drift score {dataset['weighted_score']:.4g} >= "
                f"threshold {dataset['threshold']} (weights: {dataset['weights']}); "
                f"{len(dataset['columns_drifted'])} of {dataset['columns_checked']} columns "
                "drifted.",
            )
        )
    return found
