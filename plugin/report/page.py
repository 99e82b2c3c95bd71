"""``clarity/report.html``: one self-contained page that explains a model.

Inline CSS, images as data URIs, inline SVG; no script, font or URL, so it renders
offline inside the MLflow artifact viewer's sandboxed iframe. Every string that came
from user data (column names, category values, class labels, model names) is escaped.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mlflow_clarity.report import verdicts
from mlflow_clarity.report.html import number, text, violation_items
from mlflow_clarity.report.sources import ReportSources

IMAGE_BUDGET_BYTES = 4_000_000
TOP_FEATURES = 10
DISTRIBUTION_FEATURES = 6
LOCAL_ROWS = 3

STYLE = """
body{font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1f2328}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 4px}.sub{color:#59636e;margin:0 0 12px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f6f8fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.good{color:#1a7f37}.fair{color:#9a6700}.poor{color:#cf222e}.na{color:#59636e}
.pill{display:inline-block;padding:0 8px;border-radius:10px;background:#eee;font-size:12px}
.bar{height:10px;display:inline-block;background:#0969da}.neg{background:#cf222e}
img{max-width:100%;height:auto;border:1px solid #eee}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.note{background:#f6f8fa;border-left:3px solid #0969da;padding:6px 12px}
"""


class _Images:
    """Inlines PNGs as data URIs until the page's image budget is spent."""

    def __init__(self) -> None:
        self.spent = 0

    def tag(self, path: Path | None, alt: str) -> str:
        if path is None:
            return ""
        data = path.read_bytes()
        if self.spent + len(data) > IMAGE_BUDGET_BYTES:
            return f"<p class='sub'>({text(alt)}: left out to keep the page small)</p>"
        self.spent += len(data)
        encoded = base64.b64encode(data).decode("ascii")
        return f"<img alt='{text(alt)}' src='data:image/png;base64,{encoded}'>"


def _header(src: ReportSources) -> str:
    model = src.model
    name = model.get("registered_model") or model.get("model_id") or "model"
    version = f" version {model['registered_version']}" if model.get("registered_version") else ""
    status = (src.status or {}).get("status", "unknown")
    return (
        f"<h1>Clarity report: {text(name)}{text(version)}</h1>"
        f"<p class='sub'>Model {text(model.get('model_id', ''))} &middot; flavor "
        f"{text(model.get('flavor', 'unknown'))} &middot; "
        f"{text((model.get('architecture') or {}).get('class') or '')} &middot; "
        f"clarity status <span class='pill'>{text(status)}</span></p>"
    )


def _summary(src: ReportSources) -> str:
    ranking = list(src.importance())[:3]
    card = src.shap_card or {}
    parts = []
    if ranking:
        parts.append(
            f"The model relies most on <b>{', '.join(text(f) for f in ranking)}</b> "
            f"(SHAP, {text(card.get('explainer', ''))} explainer)."
        )
    levels = verdicts.all_verdicts(src.shap_quality, src.lime_quality, src.agreement)
    poor = [v.name for v in levels if v.level == "poor"]
    if poor:
        parts.append(f"Read with care: {text('; '.join(poor))}.")
    elif ranking:
        parts.append("No quality figure is poor.")
    if src.baseline:
        data = src.baseline.get("data", {})
        parts.append(
            f"A drift baseline of {number(data.get('item_count'))} rows and "
            f"{len(src.baseline.get('columns', {}))} columns is stored with the model."
        )
    return f"<p class='note'>{' '.join(parts) or 'No explanation was produced.'}</p>"


def _steps(src: ReportSources) -> str:
    rows = []
    for step in (src.status or {}).get("steps", []):
        status, reason = verdicts.step_outcome(step)
        rows.append(
            f"<tr><td>{text(step['name'])}</td><td>{text(step['kind'])}</td>"
            f"<td><span class='pill'>{text(status)}</span></td>"
            f"<td class='num'>{number(step.get('duration_s'), 3)}</td><td>{text(reason)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>What ran</h2><table><tr><th>step</th><th>kind</th><th>status</th>"
        f"<th class='num'>seconds</th><th>reason</th></tr>{''.join(rows)}</table>"
    )


def _bars(values: dict[str, float], signed: bool = False) -> str:
    largest = max((abs(v) for v in values.values()), default=0.0) or 1.0
    rows = []
    for feature, value in values.items():
        width = int(180 * abs(value) / largest)
        css = "bar neg" if signed and value < 0 else "bar"
        rows.append(
            f"<tr><td>{text(feature)}</td><td class='num'>{number(value)}</td>"
            f"<td><span class='{css}' style='width:{width}px'></span></td></tr>"
        )
    return "".join(rows)


def _importance(src: ReportSources, images: _Images) -> str:
    importance = src.importance()
    if not importance:
        return "<h2>Global importance</h2><p class='sub'>No SHAP explanation was stored.</p>"
    card = src.shap_card or {}
    top = dict(list(importance.items())[:TOP_FEATURES])
    return (
        "<h2 id='importance'>Global importance</h2>"
        f"<p class='sub'>Mean |SHAP value| per feature over {number(card.get('rows_explained'))} "
        f"rows, in {text(card.get('output_space', ''))} units. Explainer "
        f"<b>{text(card.get('explainer', ''))}</b>: {text(card.get('reason', ''))}</p>"
        f"<div class='grid'><div>{images.tag(src.plot('importance.png'), 'global importance')}"
        f"</div><div>{images.tag(src.plot('beeswarm.png'), 'beeswarm')}</div></div>"
        f"<table><tr><th>feature</th><th class='num'>mean |SHAP|</th><th></th></tr>"
        f"{_bars(top)}</table>"
    )


def _local(src: ReportSources, images: _Images) -> str:
    waterfalls = "".join(
        f"<div>{images.tag(p, 'SHAP waterfall')}</div>" for p in src.plots("waterfall")
    )
    rows = src.lime_rows[:LOCAL_ROWS]
    shap_values = src.shap_values_of([r["reference_row"] for r in rows])
    tables = []
    for row in rows:
        phi = shap_values.get(row["reference_row"], {})
        features = sorted(row["weights"], key=lambda f: -abs(row["weights"][f]))[:8]
        lines = "".join(
            f"<tr><td>{text(f)}</td><td>{text(row['conditions'].get(f, ''))}</td>"
            f"<td class='num'>{number(row['weights'][f])}</td>"
            f"<td class='num'>{number(phi.get(f))}</td></tr>"
            for f in features
        )
        tables.append(
            f"<h3>Row {text(row['reference_row'])}: output {text(row['explained_output'])} = "
            f"{number(row['model_prediction'])} (LIME fit R&sup2; {number(row['r2'], 3)})</h3>"
            "<table><tr><th>feature</th><th>LIME condition</th><th class='num'>LIME weight</th>"
            f"<th class='num'>SHAP value</th></tr>{lines}</table>"
        )
    if not waterfalls and not tables:
        return ""
    return (
        "<h2>Local explanations</h2><p class='sub'>Why the model gave individual rows their "
        "output: SHAP waterfalls for a low, a middle and a high output, and LIME next to SHAP "
        f"for the rows LIME explained.</p><div class='grid'>{waterfalls}</div>{''.join(tables)}"
    )


def _quality(src: ReportSources) -> str:
    rows = "".join(
        f"<tr><td>{text(v.name)}</td><td class='num'>{number(v.value, 3)}</td>"
        f"<td class='{v.level.replace('/', '')}'>{text(v.level)}</td><td>{text(v.text)}</td></tr>"
        for v in verdicts.all_verdicts(src.shap_quality, src.lime_quality, src.agreement)
    )
    return (
        "<h2 id='quality'>How far to trust these explanations</h2><table><tr><th>figure</th>"
        f"<th class='num'>value</th><th>verdict</th><th>meaning</th></tr>{rows}</table>"
    )


def _histogram_svg(grid: list[float] | None) -> str:
    """A 20-bin histogram drawn from the baseline's 101-point quantile grid."""
    if not grid or grid[1] >= grid[-2]:
        return ""
    import numpy as np

    quantiles = np.array(grid)
    low, high = quantiles[1], quantiles[-2]  # 1st to 99th percentile
    edges = np.linspace(low, high, 21)
    cdf = np.interp(edges, quantiles, np.linspace(0, 1, len(quantiles)))
    mass = np.diff(cdf)
    heights = (mass / (mass.max() or 1.0) * 30).round(1)
    bars = "".join(
        f"<rect x='{i * 6}' y='{30 - h}' width='5' height='{h}' fill='#0969da'/>"
        for i, h in enumerate(heights)
    )
    return f"<svg width='120' height='30' role='img'>{bars}</svg>"


def _column_row(name: str, column: dict[str, Any]) -> str:
    total = column["count"] + column["missing"]
    complete = column["count"] / total if total else None
    if column["kind"] == "numeric":
        grid = (column.get("quantile_grid") or {}).get("values")
        summary = (
            f"mean {number(column.get('mean'))}, sd {number(column.get('std_dev'))}, "
            f"range {number(column.get('min'))} to {number(column.get('max'))}"
        )
        picture = _histogram_svg(grid) if column["logical_type"] != "categorical" else ""
    else:
        top = list((column.get("top") or {}).items())[:4]
        shares = ", ".join(
            f"{text(k)} {v / column['count']:.0%}" for k, v in top if column["count"]
        )
        summary, picture = f"{number(column.get('distinct'))} distinct; {shares}", ""
    return (
        f"<tr><td>{text(name)}</td><td>{text(column['logical_type'])}</td>"
        f"<td class='num'>{number(complete, 3)}</td><td>{summary}</td><td>{picture}</td></tr>"
    )


def _baseline(src: ReportSources) -> str:
    if not src.profile:
        return "<h2>Training data</h2><p class='sub'>No drift baseline was stored.</p>"
    columns = src.profile["columns"]
    ranked = [f for f in src.importance() if f in columns][:DISTRIBUTION_FEATURES]
    order = ranked + [c for c in columns if c not in ranked]
    rows = "".join(_column_row(name, columns[name]) for name in order[:50])
    more = (
        f"<p class='sub'>{len(order) - 50} more columns in profile.json.</p>"
        if len(order) > 50
        else ""
    )
    data = (src.baseline or {}).get("data", {})
    return (
        f"<h2>Training data</h2><p class='sub'>{number(src.profile['item_count'])} rows profiled "
        f"(source: {text(data.get('source', 'unknown'))}); the most important features first.</p>"
        "<table><tr><th>column</th><th>type</th><th class='num'>complete</th><th>summary</th>"
        f"<th>distribution (1st-99th pct)</th></tr>{rows}</table>{more}"
    )


def _drift(src: ReportSources) -> str:
    check = src.latest_check
    if not check:
        return (
            "<h2>Latest drift check</h2><p class='sub'>No check yet: run "
            "<code>mlflow-clarity check MODEL_URI --data BATCH.csv</code>.</p>"
        )
    dataset = check["dataset"]
    items = violation_items(check.get("violations", [])[:20])
    return (
        f"<h2>Latest drift check</h2><p>{text(check['checked_at'])}: "
        f"<span class='pill'>{text(check['status'])}</span>, {check['batch']['rows']} rows, "
        f"{len(dataset['columns_drifted'])} of {dataset['columns_checked']} columns drifted, "
        f"importance-weighted drift score {number(dataset['weighted_score'], 3)} (run "
        f"{text(check.get('run_id') or 'not logged')}).</p><ul>{items}</ul>"
    )


def _plugin_sections(src: ReportSources) -> str:
    parts = []
    for section in src.sections:
        paragraphs = "".join(f"<p>{text(p)}</p>" for p in section.get("paragraphs", []))
        table = ""
        if section.get("columns"):
            head = "".join(f"<th>{text(c)}</th>" for c in section["columns"])
            body = "".join(
                "<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>"
                for row in section.get("rows", [])
            )
            table = f"<table><tr>{head}</tr>{body}</table>"
        parts.append(
            f"<h2>{text(section['title'])}</h2><p class='sub'>Added by plugin "
            f"{text(section.get('plugin', 'unknown'))}.</p>{paragraphs}{table}"
        )
    return "".join(parts)


def render_report(src: ReportSources) -> str:
    """The whole page."""
    images = _Images()
    body = "".join(
        [
            _header(src),
            _summary(src),
            _steps(src),
            _importance(src, images),
            _local(src, images),
            _quality(src),
            _baseline(src),
            _drift(src),
            _plugin_sections(src),
        ]
    )
    title = src.model.get("registered_model") or src.model.get("model_id") or "model"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Clarity report: {text(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
