"""``clarity/model_card.md``: the model's transparency document, rendered by the MLflow UI.

Facts come from the stored files (architecture, training-data baseline, run parameters
and metrics, explanations and their quality, the latest drift check); intended use and
limitations are left for the owner. Strings from user data are escaped for markdown and
HTML, so a column name cannot inject markup.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from mlflow_clarity.report import verdicts
from mlflow_clarity.report.sources import ReportSources

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|{}()!~])")
TOP_FEATURES = 10
MAX_TABLE_ROWS = 50


def md(value: Any) -> str:
    """Text safe in a markdown table cell: no HTML, no markdown syntax, one line."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_value(value: Any) -> str:
    """A float to 4 significant digits, None as a dash, anything else through :func:`md`."""
    return f"{value:.4g}" if isinstance(value, float) else md(value if value is not None else "-")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_value(c) for c in row) + " |" for row in rows[:MAX_TABLE_ROWS]]
    if len(rows) > MAX_TABLE_ROWS:
        lines.append(f"\n_{len(rows) - MAX_TABLE_ROWS} more rows not shown._")
    return "\n".join(lines)


def _architecture(summary: dict[str, Any], depth: int = 0) -> list[str]:
    lines = [f"- Kind: {md(summary.get('kind'))}; class `{summary.get('class') or 'unknown'}`"]
    for key, label in (
        ("trees", "Trees"),
        ("max_depth", "Maximum depth"),
        ("features_in", "Input features"),
        ("parameters", "Parameters"),
        ("trainable_parameters", "Trainable parameters"),
    ):
        value = summary.get(key)
        if value is not None and not isinstance(value, dict):
            lines.append(f"- {label}: {md_value(value)}")
    for i, step in enumerate(summary.get("steps", []), start=1):
        lines.append(f"- Step {i} `{md(step['name'])}`:")
        lines += ["  " + line for line in _architecture(step, depth + 1)]
    if isinstance(summary.get("parameters"), dict) and depth == 0:
        rows = [[k, json.dumps(v)] for k, v in summary["parameters"].items()]
        lines += ["", _table(["hyper-parameter", "value"], rows)]
    if summary.get("module_tree"):
        tree = "\n".join(line.replace("`", "'") for line in summary["module_tree"])
        lines += ["", "```", tree, "```"]
    return lines


def _data(src: ReportSources) -> list[str]:
    if not src.profile:
        return ["No drift baseline was stored, so the training data is not described."]
    data = (src.baseline or {}).get("data", {})
    rows = []
    for name, column in src.profile["columns"].items():
        total = column["count"] + column["missing"]
        complete = column["count"] / total if total else None
        if column["kind"] == "numeric":
            summary = f"mean {md_value(column.get('mean'))}, sd {md_value(column.get('std_dev'))}"
        else:
            summary = f"{md_value(column.get('distinct'))} distinct values"
        rows.append([name, column["logical_type"], complete, summary])
    return [
        f"- Rows: {md_value(src.profile['item_count'])} (source: {md(data.get('source'))})",
        f"- Content fingerprint (SHA-256): `{data.get('fingerprint_sha256')}`",
        "",
        _table(["column", "type", "completeness", "summary"], rows),
    ]


def _run(src: ReportSources) -> list[str]:
    if not src.run:
        return ["The run's parameters and metrics were not available."]
    params = [[k, v] for k, v in sorted(src.run.get("params", {}).items())]
    metrics = [  # the run's own metrics; ours are under Explanations
        [k, v]
        for k, v in sorted(src.run.get("metrics", {}).items())
        if not k.startswith("clarity.")
    ]
    return [
        f"Run `{src.run.get('run_id')}`.",
        "",
        "**Parameters**",
        "",
        _table(["parameter", "value"], params) if params else "_none logged_",
        "",
        "**Metrics**",
        "",
        _table(["metric", "value"], metrics) if metrics else "_none logged_",
    ]


def _explanations(src: ReportSources) -> list[str]:
    importance = src.importance()
    lines: list[str] = []
    if importance:
        card = src.shap_card or {}
        lines += [
            f"SHAP explainer `{card.get('explainer')}`: {md(card.get('reason'))}",
            "",
            _table(
                ["rank", "feature", "mean abs SHAP"],
                [[i, f, v] for i, (f, v) in enumerate(list(importance.items())[:TOP_FEATURES], 1)],
            ),
        ]
    else:
        lines.append("No SHAP explanation was stored.")
    found = verdicts.all_verdicts(src.shap_quality, src.lime_quality, src.agreement)
    lines += [
        "",
        "**Quality of the explanations**",
        "",
        _table(
            ["figure", "value", "verdict", "meaning"],
            [[v.name, v.value, v.level, v.text] for v in found],
        ),
    ]
    skipped = [
        [s["name"], *verdicts.step_outcome(s)]
        for s in (src.status or {}).get("steps", [])
        if s["status"] != "ok" or s.get("truncated")
    ]
    if skipped:
        lines += ["", _table(["step", "status", "reason"], skipped)]
    return lines


def _monitoring(src: ReportSources) -> list[str]:
    check = src.latest_check
    if not check:
        return ["No drift check yet (`mlflow-clarity check MODEL_URI --data BATCH.csv`)."]
    dataset = check["dataset"]
    return [
        f"Latest check {md(check['checked_at'])}: **{md(check['status'])}**, "
        f"{len(check.get('violations', []))} violation(s) on {check['batch']['rows']} rows; "
        f"importance-weighted drift score {md_value(dataset['weighted_score'])}."
    ]


def _plugin_sections(src: ReportSources) -> list[str]:
    lines: list[str] = []
    for section in src.sections:
        lines += ["", f"## {md(section['title'])}", ""]
        lines.append(f"_Added by plugin {md(section.get('plugin', 'unknown'))}._")
        lines += [line for p in section.get("paragraphs", []) for line in ("", md(p))]
        if section.get("columns"):
            lines += ["", _table([md(c) for c in section["columns"]], section.get("rows", []))]
    return lines


def render_card(src: ReportSources) -> str:
    """The whole model card as markdown."""
    model = src.model
    name = model.get("registered_model") or model.get("model_id") or "model"
    version = (
        f" version {md(model['registered_version'])}" if model.get("registered_version") else ""
    )
    today = datetime.now(timezone.utc).date().isoformat()
    sections = [
        f"# Model card: {md(name)}{version}",
        "",
        f"_Generated by mlflow-clarity on {today} from the files stored with the model. "
        "The sections marked (owner) are for the model's owner to complete._",
        "",
        "## Model details",
        "",
        f"- Model id: `{model.get('model_id')}`; flavor: {md(model.get('flavor'))}",
        f"- Logged in run `{model.get('run_id')}`",
        *_architecture(model.get("architecture") or {}),
        "",
        "## Training data",
        "",
        *_data(src),
        "",
        "## Training run",
        "",
        *_run(src),
        "",
        "## Explanations",
        "",
        *_explanations(src),
        "",
        "## Monitoring",
        "",
        *_monitoring(src),
        *_plugin_sections(src),
        "",
        "## Intended use (owner)",
        "",
        "_Who should use this model, for which decisions, on which population._",
        "",
        "## Limitations and ethical considerations (owner)",
        "",
        "_Known failure modes, groups it was not validated on, protected attributes and how "
        "they were handled._",
        "",
    ]
    return "\n".join(sections)
