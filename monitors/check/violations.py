"""``constraint_violations.json``: SageMaker Model Monitor's vocabulary, with descriptions
that state the value, the threshold, the method and the sample sizes.

SageMaker's check types (``data_type_check``, ``completeness_check``,
``baseline_drift_check``, ``missing_column_check``, ``extra_column_check``,
``categorical_values_check``) plus ours: ``prediction_drift_check``,
``model_quality_check``, ``feature_attribution_drift_check``, ``dataset_drift_check``.
"""

from __future__ import annotations

from typing import Any


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


def _type_text(column: dict[str, Any]) -> str:
    types = column["data_type"]
    return (
        f"Value: {types['nonconforming_share']:.4g} of values do not conform to the baseline "
        f"type ({column['check_type']}); threshold {types['threshold']}; n={column['rows']}."
    )


def _completeness_text(column: dict[str, Any]) -> str:
    complete = column["completeness"]
    return (
        f"Value: completeness {complete['current']:.4g} vs baseline {complete['baseline']:.4g} "
        f"(allowed drop {complete['threshold_drop']}, two-proportion z {complete['z']:.3g}); "
        f"n={column['rows']}."
    )


def _unseen_text(dist: dict[str, Any]) -> str:
    unseen = dist["unseen"]
    examples = ", ".join(repr(v) for v in unseen["examples"][:5])
    return (
        f"Value: {unseen['current_share']:.4g} of values unseen in the baseline vs "
        f"{unseen['baseline_other_share']:.4g} outside its known values (increase net of noise "
        f"{unseen['increase_robust']:.4g} > threshold {unseen['threshold']}); n={dist['n']}; "
        f"e.g. {examples}."
    )


def _attribution_text(attribution: dict[str, Any]) -> str:
    return (
        f"Value: NDCG {attribution['ndcg']:.4g} < threshold {attribution['threshold']}. "
        f"Method: {attribution['method']}; SHAP ({attribution['explainer']}) on "
        f"{attribution['rows']} batch rows."
    )


def _dataset_text(dataset: dict[str, Any]) -> str:
    return (
        f"Value: importance-weighted drift score {dataset['weighted_score']:.4g} >= threshold "
        f"{dataset['threshold']} (weights: {dataset['weights']}); "
        f"{len(dataset['columns_drifted'])} of {dataset['columns_checked']} columns drifted."
    )


def _column_violations(
    name: str, column: dict[str, Any], limits: dict[str, Any], drift_check: str
) -> list[dict[str, Any]]:
    dist = column["distribution"]
    kind = "categorical" if "unseen" in dist else "numeric"
    candidates = [
        (column["data_type"]["status"], "data_type_check", lambda: _type_text(column)),
        (
            column["completeness"]["status"],
            "completeness_check",
            lambda: _completeness_text(column),
        ),
        (
            "violation" if dist["status"] == "drift" else "ok",
            drift_check,
            lambda: _drift_description(dist, limits[kind]),
        ),
        (
            (dist.get("unseen") or {}).get("status"),
            "categorical_values_check",
            lambda: _unseen_text(dist),
        ),
    ]
    return [
        _violation(name, check, text())
        for status, check, text in candidates
        if status == "violation"
    ]


def violations(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """Every violated constraint in a ``drift.json`` document, in SageMaker's format."""
    limits = drift["thresholds"]
    schema = drift["schema"]
    found = [
        _violation(
            name,
            "missing_column_check",
            "Value: column absent from the batch; it is in "
            "the baseline (columns are matched by name).",
        )
        for name in schema["missing_columns"]
    ] + [
        _violation(
            name,
            "extra_column_check",
            "Value: column not in the baseline; it is not checked (columns are matched by name).",
        )
        for name in schema["extra_columns"]
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
    found += [
        _violation(
            item["metric"],
            "model_quality_check",
            f"Value: {item['metric']} {item['current']:.4g} vs {item['baseline']:.4g} at log "
            f"time ({item['limit']}); n={quality['metrics']['n']}.",
        )
        for item in quality.get("degraded", [])
    ]
    attribution, dataset = drift["attribution"], drift["dataset"]
    overall = [
        (
            attribution.get("status"),
            "feature_attribution_drift_check",
            lambda: _attribution_text(attribution),
        ),
        (dataset["status"], "dataset_drift_check", lambda: _dataset_text(dataset)),
    ]
    return found + [
        _violation(None, check, text()) for status, check, text in overall if status == "violation"
    ]
