"""``constraint_violations.json``: SageMaker Model Monitor's vocabulary, with descriptions
that state the value, the threshold, the method and the sample sizes.

SageMaker's check types (``data_type_check``, ``completeness_check``,
``baseline_drift_check``, ``missing_column_check``, ``extra_column_check``,
``categorical_values_check``) plus ours: ``prediction_drift_check``,
``model_quality_check``, ``feature_attribution_drift_check``, ``dataset_drift_check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _violation(feature: str | None, check: str, description: str) -> dict[str, Any]:
    entry = {"constraint_check_type": check, "description": description}
    return {"feature_name": feature, **entry} if feature is not None else entry


def _tail_detail(d: dict[str, Any]) -> str:
    tails = d["tails"]
    return (
        f"share {tails['baseline_share']:.4g} -> {tails['current_share']:.4g}, "
        f"noise {tails['noise']:.3g}"
    )


def _share_detail(d: dict[str, Any]) -> str:
    change = d["largest_change"]
    return f"{change['value']!r}: {change['baseline']:.4g} -> {change['current']:.4g}"


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
    "share_change": ("largest change of a value's share net of noise", _share_detail),
}
"""Each drift rule's name in a sentence and the figures behind its value."""


def _rule_text(rule: dict[str, Any], d: dict[str, Any]) -> str:
    label, detail = RULES[rule["name"]]
    relation = ">=" if rule["fired"] else "<"
    return (
        f"{label} {rule['value']:.4g} {relation} threshold {rule['threshold']:g} "
        f"(rule {rule['name']}; {detail(d)})"
    )


def _drift_description(d: dict[str, Any]) -> str:
    """The rule that fired, with its value and threshold, first; then the other rules."""
    fired = d["rule"]
    others = "; ".join(_rule_text(r, d) for r in d["rules"] if r["name"] != fired["name"])
    q = d.get("q_value")
    evidence = f"; BH-corrected p {q:.3g}" if q is not None else ""
    return (
        f"Value: {_rule_text(fired, d)}, level {d['level']}. Other rules: {others}. "
        f"Method: {d['method']}; n={d['n']} vs baseline n={d['baseline_n']}{evidence}."
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
        f"{attribution['rows']} of {attribution['rows_sampled']} sampled batch rows."
    )


def _dataset_text(dataset: dict[str, Any]) -> str:
    return (
        f"Value: importance-weighted drift score {dataset['weighted_score']:.4g} >= threshold "
        f"{dataset['threshold']} (weights: {dataset['weights']}); "
        f"{len(dataset['columns_drifted'])} of {dataset['columns_checked']} columns drifted."
    )


def _column_violations(name: str, column: dict[str, Any], drift_check: str) -> list[dict[str, Any]]:
    dist = column["distribution"]
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


def violations(drift: dict[str, Any]) -> list[dict[str, Any]]:
    """Every violated constraint in a ``drift.json`` document, in SageMaker's format."""
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
            "Value: column not in the baseline; it is not checked (columns are matched by "
            "name; strict_columns makes this a violation, ignore_columns ignores it).",
        )
        for name in schema["extra_columns"]
        if schema["strict_columns"]
    ]
    for name, column in drift["columns"].items():
        found += _column_violations(name, column, "baseline_drift_check")
    for name, column in (drift["predictions"].get("columns") or {}).items():
        found += [
            v
            for v in _column_violations(name, column, "prediction_drift_check")
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
