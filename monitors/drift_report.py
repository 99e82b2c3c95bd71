"""A self-contained HTML page for one check: inline CSS, no scripts, every value escaped."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f6f8fa}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}.muted{color:#656d76}
.bar{background:#eee;width:120px;height:10px;display:inline-block}
.fill{background:#cf222e;height:10px;display:block}
"""


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "&ndash;" if value is None else _text(value)


def _status(status: str) -> str:
    css = "ok" if status in ("ok", "passed") else "muted" if status == "skipped" else "bad"
    return f'<span class="{css}">{_text(status)}</span>'


def _bar(score: float) -> str:
    width = round(min(max(score, 0.0), 1.0) * 100)
    return f'<span class="bar"><span class="fill" style="width:{width}%"></span></span>'


def _columns_table(columns: dict[str, Any]) -> str:
    rows = []
    ordered = sorted(columns.items(), key=lambda kv: -kv[1]["distribution"].get("score", 0.0))
    for name, column in ordered:
        dist = column["distribution"]
        rows.append(
            "<tr>"
            f"<td>{_text(name)}</td><td>{_text(column['check_type'])}</td>"
            f"<td>{_status(dist['status'])}</td>"
            f"<td>{_bar(dist.get('score', 0.0))} {_number(dist.get('score'))}</td>"
            f"<td>{_number(dist.get('linf_robust'))}</td>"
            f"<td>{_number(dist.get('psi_robust'))}</td>"
            f"<td>{_number(dist.get('q_value'))}</td>"
            f"<td>{_number(column['completeness']['current'])} "
            f"({_number(column['completeness']['baseline'])})</td>"
            f"<td>{_number(dist.get('n'))}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>column</th><th>type</th><th>status</th><th>drift score</th>"
        "<th>L&infin; robust</th><th>PSI net of noise</th><th>q (BH)</th>"
        "<th>completeness (baseline)</th><th>n</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _violations_list(violations: list[dict[str, Any]]) -> str:
    if not violations:
        return '<p class="ok">No constraint violated.</p>'
    items = "".join(
        f"<li><b>{_text(v['constraint_check_type'])}</b>"
        f"{' on ' + _text(v['feature_name']) if v.get('feature_name') else ''}: "
        f"{_text(v['description'])}</li>"
        for v in violations
    )
    return f"<ul>{items}</ul>"


def _section_status(title: str, section: dict[str, Any], body: str = "") -> str:
    reason = (
        f' <span class="muted">({_text(section["reason"])})</span>' if "reason" in section else ""
    )
    return f"<h2>{_text(title)}</h2><p>{_status(section['status'])}{reason}</p>{body}"


def _quality_table(quality: dict[str, Any]) -> str:
    metrics = quality.get("metrics") or {}
    baseline = quality.get("baseline") or {}
    rows = "".join(
        f"<tr><td>{_text(k)}</td><td>{_number(v)}</td><td>{_number(baseline.get(k))}</td></tr>"
        for k, v in metrics.items()
    )
    return f"<table><tr><th>metric</th><th>batch</th><th>log time</th></tr>{rows}</table>"


def render(drift: dict[str, Any], violations: list[dict[str, Any]]) -> str:
    """The HTML page of a check."""
    model = drift.get("model", {})
    title = model.get("registered_model") or model.get("model_id") or "model"
    version = f" version {model['registered_version']}" if model.get("registered_version") else ""
    dataset = drift["dataset"]
    attribution = drift["attribution"]
    predictions = drift["predictions"]
    summary = (
        f"<p>{_status(drift['status'])}: {len(violations)} violation(s). "
        f"{drift['batch']['rows']} rows checked against a baseline of "
        f"{drift['baseline']['item_count']} rows. {len(dataset['columns_drifted'])} of "
        f"{dataset['columns_checked']} columns drifted (share {_number(dataset['drift_share'])}); "
        f"importance-weighted drift score {_number(dataset['weighted_score'])} "
        f"(threshold {_number(dataset['threshold'])}, weights: {_text(dataset['weights'])}).</p>"
    )
    ndcg = (
        f"<p>NDCG {_number(attribution.get('ndcg'))} (alert below "
        f"{_number(attribution.get('threshold'))}) on {_number(attribution.get('rows'))} rows.</p>"
        if "ndcg" in attribution
        else ""
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Drift check: {_text(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Drift check: {_text(title)}{_text(version)}</h1>",
        f"<p class='muted'>{_text(drift['checked_at'])} &middot; model "
        f"{_text(model.get('model_id', ''))}</p>",
        summary,
        "<h2>Violations</h2>",
        _violations_list(violations),
        "<h2>Input columns</h2>",
        _columns_table(drift["columns"]),
        _section_status(
            "Model outputs",
            predictions,
            _columns_table(predictions["columns"]) if "columns" in predictions else "",
        ),
        _section_status("Model quality", drift["quality"], _quality_table(drift["quality"])),
        _section_status("Feature attributions", attribution, ndcg),
        "</body></html>",
    ]
    return "".join(parts)
