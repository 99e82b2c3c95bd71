"""Report sections: the estimator card (log time) and estimated vs realised (latest check)."""

from __future__ import annotations

from typing import Any

from mlflow_clarity.types import ReportSection

PLUGIN = "mlflow_clarity.monitors.estimation.step"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def card_section(facts: dict[str, Any]) -> ReportSection:
    """What was fitted at log time, and the reference metrics."""
    data = facts["data"]
    method = facts["method"]
    what = (
        "isotonic calibration of the class probabilities (CBPE)"
        if method == "CBPE"
        else "loss models of the absolute and squared errors (DLE, LightGBM text)"
    )
    paragraphs = [
        f"Checks without labels estimate this model's performance from {what}, fitted on "
        f"{data['rows']:,} labelled reference rows (source: {data['source']}).",
        f"Note: {data['advice']}.",
        *facts.get("notes", []),
    ]
    if method == "CBPE":
        calibration = facts["calibration"]
        paragraphs.append(
            f"Expected calibration error of the raw probabilities: {calibration['ece_raw']:.4f} "
            f"(after isotonic calibration, in sample: "
            f"{calibration['ece_calibrated_in_sample']:.4f})."
        )
    metrics = facts["reference"]["metrics"]
    rows = tuple((name, _number(v)) for name, v in metrics.items() if name != "n")
    return ReportSection(
        title="Performance without labels",
        paragraphs=tuple(paragraphs),
        columns=("reference metric", "value"),
        rows=rows,
    )


def check_sections(check: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Estimated vs realised performance of the latest check (``latest.json``), as a
    section dict like those of ``report_sections.json``; none before such a check."""
    estimated = (check or {}).get("estimated")
    if not estimated:
        return []
    if estimated.get("status") != "ok":
        section = ReportSection(
            title="Estimated performance (latest check)",
            paragraphs=(f"Not estimated: {estimated.get('reason')}",),
        )
        return [{"plugin": PLUGIN, **section.to_dict()}]
    rows = tuple(
        (
            name,
            _number(entry["value"]),
            f"[{_number(entry['lower'])}, {_number(entry['upper'])}]",
            _number(entry.get("realised")),
            _number(entry.get("reference")),
            entry["reliability"],
        )
        for name, entry in estimated["metrics"].items()
    )
    reasons = [r["message"] for r in estimated["reasons"]]
    section = ReportSection(
        title="Estimated performance (latest check)",
        paragraphs=(
            f"{estimated['method']} on {estimated['rows']:,} rows; reliability: "
            f"{estimated['reliability']}. Interval: {estimated['interval']}. Realised values "
            "appear when the check was given labels.",
            *reasons,
        ),
        columns=("metric", "estimated", "95 % interval", "realised", "reference", "reliability"),
        rows=rows,
    )
    return [{"plugin": PLUGIN, **section.to_dict()}]
