"""Violations in SageMaker Model Monitor's format, with descriptions that begin with
SageMaker's own sentence and then state the rule, value, threshold, method and sizes.

``constraint_violations.json`` holds SageMaker's six check types only
(:data:`SAGEMAKER_CHECKS`); our own (``prediction_drift_check``, ``model_quality_check``,
``feature_attribution_drift_check``, ``dataset_drift_check`` and any later one) go to
``clarity_violations.json`` in the same shape (:func:`split`). Every violation has a
``feature_name``: the column, the output column, the quality metric, or
:data:`DATASET_FEATURE` for checks of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SAGEMAKER_CHECKS = (
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
)
DATASET_FEATURE = "_dataset"
"""``feature_name`` of a violation about the whole batch rather than one column."""


def _violation(feature: str, check: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "feature_name": feature,
        "constraint_check_type": check,
        "description": description,
        **extra,
    }


def _value_sentence(value: float) -> str:
    """SageMaker's sentence for a value outside its constraint."""
    return f"Value: {float(value)!r} does not meet the constraint requirement! "


def split(found: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SageMaker's check types (``constraint_violations.json``) and ours, apart."""
    sagemaker = [v for v in found if v["constraint_check_type"] in SAGEMAKER_CHECKS]
    return sagemaker, [v for v in found if v["constraint_check_type"] not in SAGEMAKER_CHECKS]


def _tail_detail(d: dict[str, Any]) -> str:
    tails = d["tails"]
    return (
        f"share {tails['baseline_share']:.4g} -> {tails['current_share']:.4g}, "
        f"noise {tails['noise']:.3g}"
    )


def _share_detail(d: dict[str, Any]) -> str:
    change = d["largest_change"]
    if not change["tests"]:
        return "one bucket holds every value"
    return (
        f"{change['value']!r}: {change['baseline']:.4g} -> {change['current']:.4g}, "
        f"noise {change['noise']:.3g} (z {change['z_critical']:.3g}, {change['tests']} tests)"
    )


RULES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "linf": (
        "L-infinity distance between the CDFs net of noise",
        lambda d: f"raw {d['linf']:.4g}, noise {d['linf_noise']:.3g}",
    ),
    "psi": (
        "PSI net of bias and noise",
        lambda d: f"raw {d['psi']:.4g}, bias {d['psi_bias']:.3g}, noise {d['psi_noise']:.3g}",
    ),
    "tail_share": ("change of the share beyond the outer deciles net of noise", _tail_detail),
    "share_change": ("largest change of a value's share", _share_detail),
}
"""Each drift rule's name in a sentence and the figures behind its value."""


def _rule_text(rule: dict[str, Any], d: dict[str, Any]) -> str:
    """A rule in words; a rule this module does not know is described by its name."""
    label, detail = RULES.get(rule["name"], (rule.get("label") or rule["name"], None))
    relation = ">=" if rule["fired"] else "<"
    figures = f"; {detail(d)}" if detail is not None else ""
    return (
        f"{label} {rule['value']:.4g} {relation} threshold {rule['threshold']:g} "
        f"(rule {rule['name']}{figures})"
    )


def _drift_description(d: dict[str, Any]) -> str:
    """SageMaker's sentence with the rule that fired; then that rule, then the others."""
    fired = d["rule"]
    others = "; ".join(_rule_text(r, d) for r in d["rules"] if r["name"] != fired["name"])
    q = d.get("q_value")
    evidence = f"; BH-corrected p {q:.3g}" if q is not None else ""
    return (
        f"Baseline drift distance: {float(fired['value'])!r} exceeds threshold: "
        f"{float(fired['threshold'])!r}. {_rule_text(fired, d)}, level {d['level']}. "
        f"Other rules: {others or 'none'}. "
        f"Method: {d['method']}; n={d['n']} vs baseline n={d['baseline_n']}{evidence}."
    )


def _type_text(column: dict[str, Any], expected: str) -> str:
    types = column["data_type"]
    matched = 100 * (1 - types["nonconforming_share"])
    return (
        f"Data type match requirement is not met. Expected data type: {expected}, "
        f"Expected match: 100.0%. Observed: Only {matched:.1f}% of data is {expected}. "
        f"{types['nonconforming_share']:.4g} of values do not conform to the baseline type "
        f"({column['check_type']}); threshold {types['threshold']}; n={column['rows']}."
    )


def _completeness_text(column: dict[str, Any]) -> str:
    complete = column["completeness"]
    return (
        f"{_value_sentence(complete['current'])}Completeness {complete['current']:.4g} vs "
        f"baseline {complete['baseline']:.4g} (allowed drop {complete['threshold_drop']}, "
        f"two-proportion z {complete['z']:.3g}); n={column['rows']}."
    )


def _unseen_text(dist: dict[str, Any]) -> str:
    unseen = dist["unseen"]
    examples = ", ".join(repr(v) for v in unseen["examples"][:5])
    return (
        f"{_value_sentence(unseen['current_share'])}{unseen['current_share']:.4g} of values "
        f"unseen in the baseline vs {unseen['baseline_other_share']:.4g} outside its known "
        f"values (increase net of noise {unseen['increase_robust']:.4g} > threshold "
        f"{unseen['threshold']}); n={dist['n']}; e.g. {examples}."
    )


def _attribution_text(attribution: dict[str, Any]) -> str:
    return (
        f"{_value_sentence(attribution['ndcg'])}NDCG {attribution['ndcg']:.4g} < threshold "
        f"{attribution['threshold']}. Method: {attribution['method']}; SHAP "
        f"({attribution['explainer']}) on {attribution['rows']} of "
        f"{attribution['rows_sampled']} sampled batch rows."
    )


def _dataset_text(dataset: dict[str, Any]) -> str:
    return (
        f"{_value_sentence(dataset['weighted_score'])}Importance-weighted drift score "
        f"{dataset['weighted_score']:.4g} >= threshold {dataset['threshold']} (weights: "
        f"{dataset['weights']}); {len(dataset['columns_drifted'])} of "
        f"{dataset['columns_checked']} columns drifted."
    )


def _column_violations(
    name: str, column: dict[str, Any], drift_check: str, expected_type: str
) -> list[dict[str, Any]]:
    dist = column["distribution"]
    candidates = [
        (
            column["data_type"]["status"],
            "data_type_check",
            lambda: _type_text(column, expected_type),
        ),
        (
            column["completeness"]["status"],
            "completeness_check",
            lambda: _completeness_text(column),
        ),
        (
            "violation" if dist["status"] == "drift" else "ok",
            drift_check,
            lambda: _drift_description(dist),
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


def _column_counts(drift: dict[str, Any]) -> str:
    schema = drift["schema"]
    baseline = len(drift["columns"]) + len(schema["missing_columns"])
    return (
        f"Number of columns in current dataset: {drift['batch']['columns']}, Number of "
        f"columns in baseline constraints: {baseline}."
    )


def _schema_violations(drift: dict[str, Any]) -> list[dict[str, Any]]:
    schema = drift["schema"]
    counts = _column_counts(drift)
    missing = [
        _violation(
            name,
            "missing_column_check",
            f"There are missing columns in current dataset. {counts} Column {name!r} is in "
            "the baseline and absent from the batch (columns are matched by name).",
        )
        for name in schema["missing_columns"]
    ]
    extra = [
        _violation(
            name,
            "extra_column_check",
            f"There are extra columns in current dataset. {counts} Column {name!r} is not "
            "in the baseline and is not checked (columns are matched by name; "
            "strict_columns makes this a violation, ignore_columns ignores it).",
        )
        for name in schema["extra_columns"]
        if schema["strict_columns"]
    ]
    return missing + extra


def violations(
    drift: dict[str, Any], inferred_types: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every violated constraint in a ``drift.json`` document, in SageMaker's format.

    Args:
        drift: The ``drift.json`` content.
        inferred_types: Each baseline column's SageMaker ``inferred_type`` (the data-type
            sentence names it; default String).

    Returns:
        SageMaker's check types first, then ours; :func:`split` separates them.
    """
    types = inferred_types or {}
    found = _schema_violations(drift)
    for name, column in drift["columns"].items():
        found += _column_violations(name, column, "baseline_drift_check", types.get(name, "String"))
    for name, column in (drift["predictions"].get("columns") or {}).items():
        found += [
            v
            for v in _column_violations(name, column, "prediction_drift_check", "Fractional")
            if v["constraint_check_type"] == "prediction_drift_check"
        ]
    quality = drift["quality"]
    found += [
        _violation(
            item["metric"],
            "model_quality_check",
            f"{_value_sentence(item['current'])}{item['metric']} {item['current']:.4g} vs "
            f"{item['baseline']:.4g} at log time ({item['limit']}); "
            f"n={quality['metrics']['n']}.",
            metric_name=item["metric"],
        )
        for item in quality.get("degraded", [])
    ]
    attribution, dataset = drift["attribution"], drift["dataset"]
    if attribution.get("status") == "violation":
        found.append(
            _violation(
                DATASET_FEATURE,
                "feature_attribution_drift_check",
                _attribution_text(attribution),
                metric_name="shap",
            )
        )
    if dataset["status"] == "violation":
        found.append(_violation(DATASET_FEATURE, "dataset_drift_check", _dataset_text(dataset)))
    return found
