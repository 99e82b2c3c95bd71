"""The latest check's embedding drift in the model's report, next to the property
histograms of the content baseline."""

from __future__ import annotations

from typing import Any

from mlflow_clarity.types import ReportSection

PLUGIN = "mlflow_clarity.monitors.content.step"
BASELINE_TITLE = "Monitoring: image and text content"
TITLE = "Monitoring: embedding drift (latest check)"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def latest_check_section(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest check's multivariate result (``latest.json``) as a section dict like
    those of ``report_sections.json``; None when that check had none."""
    check = check or {}
    found = check.get("multivariate")
    if not found:
        return None
    if "domain_classifier" not in found:
        reason = found.get("reason") or found.get("note") or "no statistic computed"
        section = ReportSection(
            title=TITLE, paragraphs=(f"Status {found.get('status')}: {reason}",)
        )
        return {"plugin": PLUGIN, **section.to_dict()}
    columns = check.get("columns") or {}
    drifted = [n for n, c in columns.items() if c["distribution"]["status"] == "drift"]
    rows = tuple(
        (
            label,
            _number(test.get(value)),
            _number(test.get("threshold")),
            _number(test.get("p_value")),
        )
        for key, label, value in (
            ("domain_classifier", "domain classifier ROC AUC", "auc"),
            ("mmd", "MMD squared", "mmd2"),
        )
        if (test := found.get(key))
    )
    section = ReportSection(
        title=TITLE,
        paragraphs=(
            f"Check of {check.get('checked_at')} (run {check.get('run_id')}): "
            f"{found['status']} in the {found.get('space', 'embedding')} space, "
            f"{found.get('n_current')} batch items against {found.get('n_reference')} "
            "stored reference items; each threshold is the permutation null's quantile at "
            "these sizes. Every check logs drift.multivariate.auc to its monitoring run: "
            "chart it there to follow the score over time.",
            f"Properties drifted in that check: {', '.join(drifted) if drifted else 'none'}.",
        ),
        columns=("test", "batch", "threshold", "p (permutations)"),
        rows=rows,
    )
    return {"plugin": PLUGIN, **section.to_dict()}


def with_latest_check(
    sections: list[dict[str, Any]], check: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """``sections`` with the latest check's embedding drift right after the content
    baseline's section (last when there is none)."""
    found = latest_check_section(check)
    if found is None:
        return sections
    titles = [s.get("title") for s in sections]
    at = titles.index(BASELINE_TITLE) + 1 if BASELINE_TITLE in titles else len(sections)
    return [*sections[:at], found, *sections[at:]]
