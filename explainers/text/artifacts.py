"""The step's files: per-document attributions, a highlighted HTML page, global term
importance as JSON and a PNG bar chart, and the summary."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_clarity.explainers.text.attribution import Document
from mlflow_clarity.explainers.text.units import printable, term
from mlflow_clarity.layout import TEXT_FILES
from mlflow_clarity.store import write_json

TOP_TERMS = 50
TOP_TERMS_PER_CLASS = 10
PLOT_TERMS = 20
MIN_COUNT = 2
"""Terms seen fewer times are ranked only when no term is seen this often."""
_DPI = 100


def tokens_document(doc: Document, class_name: str) -> dict[str, Any]:
    """One document of ``tokens.json``."""
    return {
        "position": doc.position,
        "explained_class": class_name,
        "model_output": doc.output,
        "base_value": doc.base_value,
        "completeness_delta": doc.completeness_delta,
        "units": [
            [printable(u.text), float(v)] for u, v in zip(doc.units, doc.values, strict=True)
        ],
        "start_idx": [u.start for u in doc.units],
    }


def _ranked(stats: dict[str, list[float]], key: int, top: int) -> list[dict[str, Any]]:
    """Terms by ``stats[term][key] / count`` (descending), among those seen
    :data:`MIN_COUNT` times when there are any."""
    frequent = {t: s for t, s in stats.items() if s[2] >= MIN_COUNT} or stats
    rows = [
        {"term": t, "mean": s[key] / s[2], "mean_abs": s[1] / s[2], "count": int(s[2])}
        for t, s in frequent.items()
    ]
    rows.sort(key=lambda r: (-r["mean" if key == 0 else "mean_abs"], r["term"]))
    return rows[:top]


def term_importance(docs: Sequence[Document], class_names: Sequence[str]) -> dict[str, Any]:
    """Mean |attribution| and count per term over the explained documents, and the
    terms with the largest mean attribution toward each explained class."""
    overall: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    per_class: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0])
    )
    for doc in docs:
        name = class_names[doc.output_index]
        for unit, value in zip(doc.units, doc.values, strict=True):
            for stats in (overall[term(unit.text)], per_class[name][term(unit.text)]):
                stats[0] += float(value)
                stats[1] += abs(float(value))
                stats[2] += 1
    return {
        "documents": len(docs),
        "min_count": MIN_COUNT,
        "terms": _ranked(overall, 1, TOP_TERMS),
        "per_class": {
            name: _ranked(per_class[name], 0, TOP_TERMS_PER_CLASS)
            for name in class_names
            if name in per_class
        },
    }


def _label(text: str) -> str:
    """A plot label: printable, shortened, ``$`` escaped (matplotlib's mathtext)."""
    short = text if len(text) <= 40 else text[:39] + "\u2026"
    return short.replace("$", r"\$")


def terms_plot(path: Path, terms: dict[str, Any]) -> None:
    """Horizontal bars of the terms with the largest mean |attribution|."""
    from matplotlib.figure import Figure

    rows = terms["terms"][:PLOT_TERMS][::-1]
    fig = Figure(figsize=(8, 0.32 * len(rows) + 1.4), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.barh(range(len(rows)), [r["mean_abs"] for r in rows], color="#3b75af")
    ax.set_yticks(range(len(rows)), [_label(f"{r['term']} ({r['count']})") for r in rows])
    ax.set_xlabel("mean |attribution| (occurrences)")
    ax.set_title(f"Text terms over {terms['documents']} documents")
    fig.savefig(path)


def _span(text: str, value: float, scale: float) -> str:
    alpha = 0.1 + 0.7 * abs(value) / scale if scale > 0 else 0.0
    colour = f"rgba(26,150,65,{alpha:.2f})" if value >= 0 else f"rgba(215,48,39,{alpha:.2f})"
    return (
        f'<span style="background:{colour}" title="{value:+.4g}">'
        f"{html.escape(printable(text))}</span>"
    )


def _highlighted(doc: Document) -> str:
    scale = float(abs(doc.values).max()) if len(doc.values) else 0.0
    if doc.text is None:
        return " ".join(_span(u.text, v, scale) for u, v in zip(doc.units, doc.values, strict=True))
    parts, previous = [], 0
    for unit, value in zip(doc.units, doc.values, strict=True):
        parts.append(html.escape(printable(doc.text[previous : unit.start])))
        parts.append(_span(unit.text, float(value), scale))
        previous = unit.end
    return "".join(parts)


def page(docs: Sequence[Document], class_names: Sequence[str], summary: dict[str, Any]) -> str:
    """A self-contained HTML page of the documents, each unit coloured by its attribution
    (green supports the explained class, red opposes it). Every text is escaped; no
    scripts, no links."""
    e = html.escape
    notes = "".join(f"<li>{e(printable(str(r)))}</li>" for r in summary["reasons"])
    sections = []
    for doc in docs:
        heading = (
            f"Document at position {doc.position}: explained class "
            f"{e(printable(class_names[doc.output_index]))}, model output {doc.output:.4g}"
        )
        sections.append(
            f"<section><h2>{heading}</h2><p class='doc'>{_highlighted(doc)}</p></section>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<title>Text explanations</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:1em auto;line-height:1.6}"
        "h2{font-size:1em;margin-top:1.5em}.doc{white-space:pre-wrap}"
        "span{border-radius:3px;padding:0 1px}"
        "</style></head><body>"
        f"<h1>Text explanations ({e(summary['explainer'])}, {e(summary['unit'])} units)</h1>"
        "<p>Green units support the explained class, red units oppose it; the stronger "
        "the colour, the larger the attribution. Hover a unit for its value.</p>"
        f"<ul>{notes}</ul>{''.join(sections)}</body></html>"
    )


def write(
    out_dir: Path,
    docs: Sequence[Document],
    class_names: Sequence[str],
    summary: dict[str, Any],
    terms: dict[str, Any],
) -> None:
    """Write ``summary.json``, ``tokens.json``, the HTML page and ``terms.json``."""
    write_json(out_dir / TEXT_FILES["summary"], summary)
    write_json(
        out_dir / TEXT_FILES["tokens"],
        {
            "unit": summary["unit"],
            "documents": [tokens_document(d, class_names[d.output_index]) for d in docs],
        },
    )
    write_json(out_dir / TEXT_FILES["terms"], terms)
    text = page(docs, class_names, summary)
    (out_dir / TEXT_FILES["page"]).write_text(text, encoding="utf-8")
