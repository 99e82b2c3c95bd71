"""The review's markdown section in a model version's description.

The section sits between two HTML comments, so a re-review replaces it and leaves the
owner's own text alone. SQL backends store at most 5,000 characters of description, so
the section shrinks (fewer details) to fit beside the owner's text, never the other way;
when even one line does not fit, the description keeps only the owner's text.
"""

from __future__ import annotations

import re

from mlflow_clarity.monitors.review.result import ReviewResult
from mlflow_clarity.report.card import md, md_value

START = "<!-- clarity-review:start -->"
END = "<!-- clarity-review:end -->"
MAX_DESCRIPTION = 5000
_SECTION = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(md(v) for v in value) or "none"
    return md_value(value)


def render_section(result: ReviewResult, detail: int = 2) -> str:
    """The section at a level of detail: 2 everything, 1 no per-rule details, 0 a line."""
    verdict = "passed" if result.passed else "failed"
    head = f"### mlflow-clarity review: **{verdict}**"
    remedy = (
        f"Missing mlflow-clarity files; produce them with `{result.remedy.replace('`', '')}`"
        if result.remedy
        else ""
    )
    if detail == 0:
        failed = ", ".join(result.failed_rules) or "none"
        line = f"{head} (failed rules: {md(failed)}; tag clarity.review)"
        return "\n".join([START, line, *([remedy] if remedy else []), END])
    lines = [START, head, *(["", remedy] if remedy else [])]
    lines += ["", "| rule | value | limit | verdict |", "|---|---|---|---|"]
    for rule in result.rules:
        note = f" ({md(rule.detail)})" if detail >= 2 and rule.detail else ""
        lines.append(
            f"| {md(rule.name)} | {_value(rule.value)} | {_value(rule.limit)} | "
            f"{rule.status}{note} |"
        )
    lines += ["", f"Top features: {_value(result.top_features[:10])}"]
    if result.comparison and detail >= 1:
        c = result.comparison
        lines.append(
            f"Against {md(c['against'])} (version {md(c['version'])}): NDCG "
            f"{_value(c['ndcg'])}; its top features: {_value(c['top_features'])}"
        )
    lines.append(END)
    return "\n".join(lines)


def with_review_section(description: str, result: ReviewResult) -> str:
    """The description with its review section replaced (or appended), within the limit."""
    owner = _SECTION.sub("", description).rstrip()
    for detail in (2, 1, 0):
        section = render_section(result, detail)
        combined = f"{owner}\n\n{section}" if owner else section
        if len(combined) <= MAX_DESCRIPTION:
            return combined
    return owner  # no room beside the owner's text: the tags carry the verdict
