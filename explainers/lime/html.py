"""One self-contained HTML page per LIME explanation: no scripts, no fonts, no URLs.

The page renders offline in the MLflow artifact viewer's sandboxed iframe. Every string
that came from user data (column names, category values, class labels) is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px} .sub{color:#555;margin:0 0 16px}
.warn{background:#fff4e5;border:1px solid #f0a020;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;width:100%;max-width:900px}
td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;font-size:14px}
.bar{height:12px;display:inline-block} .pos{background:#d62728} .neg{background:#1f77b4}
.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def render(row: dict[str, Any], min_r2: float) -> str:
    """Return the HTML page of one explained row (see ``explanations.json`` for fields)."""
    weights: dict[str, float] = row["weights"]
    ordered = sorted(weights.items(), key=lambda item: -abs(item[1]))
    largest = max((abs(w) for _, w in ordered), default=0.0) or 1.0
    lines = []
    for feature, weight in ordered:
        width = int(200 * abs(weight) / largest)
        css = "pos" if weight > 0 else "neg"
        condition = row["conditions"].get(feature, "")
        lines.append(
            f"<tr><td>{escape(feature)}</td><td>{escape(condition)}</td>"
            f"<td class='num'>{weight:+.4f}</td>"
            f"<td><span class='bar {css}' style='width:{width}px'></span></td></tr>"
        )
    warning = ""
    if row["low_fidelity"]:
        warning = (
            f"<div class='warn'><b>Low fidelity:</b> the local linear model explains only "
            f"R&sup2; = {row['r2']:.2f} of the model's behaviour around this row (threshold "
            f"{min_r2:.2f}). Read these weights with care.</div>"
        )
    output = escape(str(row["explained_output"]))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>LIME explanation, row {row["reference_row"]}</title><style>{_STYLE}</style></head>
<body>
<h1>LIME explanation of row {row["reference_row"]}</h1>
<p class="sub">Output explained: <b>{output}</b>. Model: {row["model_prediction"]:.4f};
local model: {row["local_prediction"]:.4f} (intercept {row["intercept"]:.4f});
local fit R&sup2; = {row["r2"]:.3f}.</p>
{warning}
<table><thead><tr><th>feature</th><th>condition</th><th class="num">weight</th><th></th>
</tr></thead><tbody>
{"".join(lines)}
</tbody></table>
<p class="sub">Weights are those of LIME's local surrogate on discretised features: how
much being in this bin moves the explained output, around this row.</p>
</body></html>
"""
