"""Built-in monitor ``content``: the drift baseline of image and text models.

Images: per-image properties (brightness, RMS contrast, sharpness, colourfulness,
channel means, size, saturated share) profiled like table columns, so the column checks
apply to them. Texts: characters, units, out-of-vocabulary share, non-ASCII, digit and
punctuation shares, and the unit-frequency profile. Both: an embedding sample (the
penultimate layer of a torch module, else a seeded projection of the input) reduced by
a PCA, for the multivariate check. Tabular models get the multivariate baseline of their
numeric columns when asked (option ``tabular``: True; off by default).

Options (``autolog(step_options={"content": {...}})``): ``tabular`` (False),
``plots`` (True).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.errors import report_failure
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import CONTENT, CONTENT_FILES
from mlflow_clarity.monitors.content.baseline import (
    EMBEDDING_ROWS,
    TEXT_CHARACTERS,
    TEXT_ROWS,
    ContentBaseline,
    build_images,
    build_tabular,
    build_texts,
)
from mlflow_clarity.monitors.content.report import BASELINE_TITLE
from mlflow_clarity.types import (
    ModelContext,
    MonitorSpec,
    ReportSection,
    RunReport,
    StepOutput,
    StepSkipped,
    StepWorkspace,
)

if TYPE_CHECKING:
    import pandas as pd

STEP = "content"
HISTOGRAM_BINS = 10
PLOT_SECONDS = 4.0
"""Time the property plot needs at most (matplotlib's import included)."""
_BARS = " ▁▂▃▄▅▆▇█"


def supports_content(ctx: ModelContext) -> bool:
    """Image and text models; tabular models when the ``tabular`` option is on."""
    kind = ctx.modality.kind
    return kind in ("image", "text") or (kind == "tabular" and bool(ctx.options.get("tabular")))


def _build(ctx: ModelContext, deadline: float) -> tuple[ContentBaseline, pd.DataFrame | None]:
    """The baseline, and the per-item properties in memory (for histograms)."""
    import numpy as np

    reference = ctx.reference
    assert reference is not None
    modality = reference.modality
    if modality.kind == "image":
        layout = modality.layout or "NCHW"
        images = np.asarray(reference.items)
        return build_images(images, layout, model=ctx.model, seed=ctx.seed, deadline=deadline)
    if modality.kind == "text":
        frame, _ = reference.draw(min(reference.n_rows, TEXT_ROWS))
        column = modality.column or str(frame.columns[0])
        texts = frame[column].tolist()
        kept = int(np.searchsorted(np.cumsum([len(t) for t in texts]), TEXT_CHARACTERS)) + 1
        built, properties = build_texts(tuple(texts[:kept]), column, deadline=deadline)
        if kept < len(texts):
            built.manifest["notes"].append(
                f"{kept:,} of {len(texts):,} sampled documents profiled (the first "
                f"{TEXT_CHARACTERS:,} characters)"
            )
        return built, properties
    if modality.kind == "tabular":
        frame, _ = reference.draw(min(reference.n_rows, EMBEDDING_ROWS))
        return build_tabular(frame), None
    raise StepSkipped(f"no content baseline for {modality.kind} input")


def histograms(properties: pd.DataFrame) -> dict[str, dict[str, list[float]]]:
    """Equal-width histograms of each property (``edges`` and ``counts``)."""
    import numpy as np

    found = {}
    for name in properties.columns:
        values = properties[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        found[str(name)] = {"edges": edges.tolist(), "counts": counts.tolist()}
    return found


def sparkline(counts: list[float]) -> str:
    """A histogram as a row of block characters."""
    top = max(counts) or 1
    return "".join(_BARS[round(c / top * (len(_BARS) - 1))] for c in counts)


def _plot(path: Path, found: dict[str, dict[str, list[float]]]) -> None:
    """One small bar chart per property, in one PNG."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(found)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        edges, counts = found[name]["edges"], found[name]["counts"]
        ax.bar(
            edges[:-1],
            counts,
            width=edges[1] - edges[0],
            align="edge",
            color="#4878a8",
        )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    deadline = workspace.work_until(0.8)
    baseline, properties = _build(ctx, deadline)
    notes = baseline.manifest["notes"]
    written = baseline.write(workspace.out_dir)
    found = histograms(properties) if properties is not None else {}
    plot = bool(found) and ctx.options.get("plots", True)
    if plot and workspace.seconds_left() < PLOT_SECONDS:
        notes.append("property plot not drawn: too little time left")
    elif plot:
        try:
            _plot(workspace.out_dir / CONTENT_FILES["plot"], found)
        except Exception as exc:  # the baseline stands without its picture
            report_failure("the content step's property plot", exc, consequence="Not drawn.")
            notes.append(f"property plot not drawn: {exc!r}"[:300])
    embedding = baseline.manifest["embedding"]
    metrics: dict[str, float] = {"items": float(baseline.manifest["items"])}
    if embedding.get("status") == "ok":
        metrics["embedding_components"] = float(embedding["components"])
    return StepOutput(
        metrics=metrics,
        summary={
            "modality": baseline.modality,
            "items": baseline.manifest["items"],
            "properties": baseline.manifest["properties"],
            "embedding": {k: v for k, v in embedding.items() if k not in ("mean", "scale")},
            "files": written,
            "notes": notes,
        },
        results={"manifest": baseline.manifest, "histograms": found},
    )


@hookimpl
def clarity_monitors() -> list[MonitorSpec]:
    """Register the built-in ``content`` monitor."""
    return [
        MonitorSpec(
            name=STEP,
            run=_run,
            folder=CONTENT,
            supports=supports_content,
            description="Image/text properties, unit profile and PCA embeddings for drift checks",
        )
    ]


def _embedding_paragraph(embedding: dict[str, Any]) -> str:
    if embedding.get("status") != "ok":
        return f"No embedding baseline: {embedding.get('reason', 'not computed')}."
    return (
        f"Embeddings ({embedding['kind'].replace('_', ' ')}, {embedding['dimensions']} "
        f"dimensions) reduced to {embedding['components']} PCA components "
        f"({embedding['explained_variance']:.0%} of the variance) fitted on "
        f"{embedding['fit_rows']} reference items; {embedding['reference_rows']} other "
        "reference items are stored as projections. Each check compares the batch's "
        "projections with them by a domain classifier (cross-validated AUC) and MMD, both "
        "calibrated by permutations; the AUC is logged as drift.multivariate.auc on every "
        "check run, so the monitoring experiment charts it over time."
    )


@hookimpl
def clarity_report_sections(context: ModelContext, report: RunReport) -> list[ReportSection]:
    """The monitoring baseline of image and text models: property histograms and the
    embedding drift baseline."""
    results = report.results_of(STEP)
    manifest = results.get("manifest")
    if manifest is None or manifest["modality"]["kind"] == "tabular":
        return []
    found = results.get("histograms") or {}
    rows = tuple(
        (name, f"{h['edges'][0]:.4g}", f"{h['edges'][-1]:.4g}", sparkline(h["counts"]))
        for name, h in found.items()
    )
    paragraphs = (
        f"{manifest['modality']['kind'].capitalize()} monitoring baseline on "
        f"{manifest['items']} reference items: each property below is profiled like a "
        "table column, and checks apply the column drift rules to it "
        "(baseline_drift_check).",
        _embedding_paragraph(manifest["embedding"]),
        *manifest["notes"],
    )
    return [
        ReportSection(
            title=BASELINE_TITLE,
            paragraphs=paragraphs,
            columns=("property", "min", "max", "histogram"),
            rows=rows,
        )
    ]
