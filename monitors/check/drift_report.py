"""A self-contained HTML page for one check: inline CSS, no scripts, every value escaped."""

from __future__ import annotations

from typing import Any

from mlflow_clarity.report.html import number, text, violation_items

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f6f8fa}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}.muted{color:#656d76}
.bar{background:#eee;width:120px;height:10px;display:inline-block}
.fill{background:#cf222e;height:10px;display:block}
"""


def _status(status: str) -> str:
    css = "ok" if status in ("ok", "passed") else "muted" if status == "skipped" else "bad"
    return f'<span class="{css}">{text(status)}</span>'


def _bar(score: float) -> str:
    width = round(min(max(score, 0.0), 1.0) * 100)
    return f'<span class="bar"><span class="fill" style="width:{width}%"></span></span>'


def _fired_rule(dist: dict[str, Any]) -> str:
    """The rule that made a drifted column drift, and its level."""
    if dist["status"] != "drift":
        return ""
    return f"{text(dist['rule']['name'])} ({text(dist['level'])})"


def _columns_table(columns: dict[str, Any]) -> str:
    rows = []
    ordered = sorted(columns.items(), key=lambda kv: -kv[1]["distribution"].get("score", 0.0))
    for name, column in ordered:
        dist = column["distribution"]
        rows.append(
            "<tr>"
            f"<td>{text(name)}</td><td>{text(column['check_type'])}</td>"
            f"<td>{_status(dist['status'])}</td><td>{_fired_rule(dist)}</td>"
            f"<td>{_bar(dist.get('score', 0.0))} {number(dist.get('score'))}</td>"
            f"<td>{number(dist.get('linf_robust'))}</td>"
            f"<td>{number(dist.get('psi_robust'))}</td>"
            f"<td>{number(dist.get('q_value'))}</td>"
            f"<td>{number(column['completeness']['current'])} "
            f"({number(column['completeness']['baseline'])})</td>"
            f"<td>{number(dist.get('n'))}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>column</th><th>type</th><th>status</th><th>rule</th><th>drift score</th>"
        "<th>L&infin; robust</th><th>PSI net of noise</th><th>q (BH)</th>"
        "<th>completeness (baseline)</th><th>n</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _violations_list(violations: list[dict[str, Any]]) -> str:
    if not violations:
        return '<p class="ok">No constraint violated.</p>'
    return f"<ul>{violation_items(violations)}</ul>"


def _section_status(title: str, section: dict[str, Any], body: str = "") -> str:
    reason = (
        f' <span class="muted">({text(section["reason"])})</span>' if "reason" in section else ""
    )
    return f"<h2>{text(title)}</h2><p>{_status(section['status'])}{reason}</p>{body}"


def _quality_table(quality: dict[str, Any]) -> str:
    metrics = quality.get("metrics") or {}
    baseline = quality.get("baseline") or {}
    rows = "".join(
        f"<tr><td>{text(k)}</td><td>{number(v)}</td><td>{number(baseline.get(k))}</td></tr>"
        for k, v in metrics.items()
    )
    return f"<table><tr><th>metric</th><th>batch</th><th>log time</th></tr>{rows}</table>"


def _multivariate_body(found: dict[str, Any]) -> str:
    """The domain classifier's AUC and MMD, each against its permutation threshold."""
    tests = []
    for key, label, value in (
        ("domain_classifier", "domain classifier ROC AUC", "auc"),
        ("mmd", "MMD&sup2;", "mmd2"),
    ):
        test = found.get(key)
        if test:
            tests.append(
                f"<tr><td>{label}</td><td>{number(test.get(value))}</td>"
                f"<td>{number(test.get('threshold'))}</td><td>{number(test.get('null_mean'))}</td>"
                f"<td>{number(test.get('p_value'))}</td></tr>"
            )
    table = (
        "<table><tr><th>test</th><th>batch</th><th>threshold</th><th>null mean</th>"
        f"<th>p (permutations)</th></tr>{''.join(tests)}</table>"
        if tests
        else ""
    )
    facts = (
        f"<p>Space: {text(found.get('space', ''))}; {number(found.get('n_reference'))} "
        f"reference vs {number(found.get('n_current'))} batch items; "
        f"{number(found.get('permutations'))} permutations, per-test &alpha; "
        f"{number(found.get('per_test_alpha'))}.</p>"
        if "n_reference" in found
        else ""
    )
    note = f'<p class="muted">{text(found["note"])}</p>' if found.get("note") else ""
    return facts + table + note


def _estimated_body(estimated: dict[str, Any]) -> str:
    """Estimated metrics with their intervals, beside the realised and reference values."""
    if estimated.get("status") != "ok":
        return ""
    rows = "".join(
        f"<tr><td>{text(name)}</td><td>{number(e.get('value'))}</td>"
        f"<td>{number(e.get('lower'))} &ndash; {number(e.get('upper'))}</td>"
        f"<td>{number(e.get('realised'))}</td><td>{number(e.get('reference'))}</td>"
        f"<td>{_status(e.get('reliability', ''))} {text(', '.join(e.get('reasons', [])))}</td></tr>"
        for name, e in estimated["metrics"].items()
    )
    reasons = "".join(
        f"<li>{text(r['code'])} ({text(r['severity'])}): {text(r['message'])}</li>"
        for r in estimated.get("reasons", [])
    )
    return (
        f"<p>{text(estimated['method'])} on {number(estimated['rows'])} rows; reliability "
        f"{_status(estimated['reliability'])}. {text(estimated.get('interval', ''))}.</p>"
        "<table><tr><th>metric</th><th>estimated</th><th>interval</th><th>realised</th>"
        f"<th>reference</th><th>reliability</th></tr>{rows}</table>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
    )


def _names(names: list[str]) -> str:
    return ", ".join(text(n) for n in names) or "none"


def _schema_section(drift: dict[str, Any]) -> str:
    """Missing, extra and ignored columns, and the batch's id and time range."""
    schema, batch = drift["schema"], drift["batch"]
    extra = "violations" if schema["strict_columns"] else "information, not checked"
    ignored = ", ".join(f"{text(n)} ({text(why)})" for n, why in schema["ignored_columns"].items())
    items = [
        f"<li>missing from the batch: {_names(schema['missing_columns'])}</li>",
        f"<li>not in the baseline ({extra}): {_names(schema['extra_columns'])}</li>",
        f"<li>ignored: {ignored or 'none'}</li>",
    ]
    if "id" in batch:
        items.append(
            f"<li>id column {text(batch['id']['column'])}: "
            f"{number(batch['id']['rows_with_id'])} rows with an id</li>"
        )
    if "time_range" in batch:
        span = batch["time_range"]
        items.append(
            f"<li>time column {text(span['column'])}: {text(span['first'])} to "
            f"{text(span['last'])} ({number(span['unparsed'])} unparsed)</li>"
        )
    return f"<h2>Columns</h2><ul>{''.join(items)}</ul>"


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
        f"{dataset['columns_checked']} columns drifted (share {number(dataset['drift_share'])}); "
        f"importance-weighted drift score {number(dataset['weighted_score'])} "
        f"(threshold {number(dataset['threshold'])}, weights: {text(dataset['weights'])}).</p>"
    )
    ndcg = (
        f"<p>NDCG {number(attribution.get('ndcg'))} (alert below "
        f"{number(attribution.get('threshold'))}) on {number(attribution.get('rows'))} rows.</p>"
        if "ndcg" in attribution
        else ""
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Drift check: {text(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Drift check: {text(title)}{text(version)}</h1>",
        f"<p class='muted'>{text(drift['checked_at'])} &middot; model "
        f"{text(model.get('model_id', ''))}</p>",
        summary,
        "<h2>Violations</h2>",
        _violations_list(violations),
        _schema_section(drift),
        "<h2>Input columns</h2>",
        _columns_table(drift["columns"]),
        _section_status(
            "Model outputs",
            predictions,
            _columns_table(predictions["columns"]) if "columns" in predictions else "",
        ),
        _section_status("Model quality", drift["quality"], _quality_table(drift["quality"])),
        _section_status("Feature attributions", attribution, ndcg),
        *(
            _section_status(title, section, body(section))
            for title, key, body in (
                ("Multivariate drift", "multivariate", _multivariate_body),
                ("Performance without labels", "estimated", _estimated_body),
            )
            if (section := drift.get(key))
        ),
        "</body></html>",
    ]
    return "".join(parts)
