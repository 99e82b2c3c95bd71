"""Built-in explainer ``text``: attributions over the words or sentences of documents.

Any model that takes strings (sklearn text pipelines, pyfunc models) is explained with
SHAP's partition explainer over text units (``shap.maskers.Text`` with the unit regex,
the model tokenizer's mask token or ``...``); torch models on token ids with captum's
layer integrated gradients on the embedding (50 Gauss-Legendre steps, the unknown-token
id as baseline at real positions and the padding id where the input is padded, so both
ends share the padding mask). Each document is explained toward its predicted class.
LIME's text explainer gives a second opinion on a few documents; deletion and insertion
curves (mask token and removal, each against a random order), completeness and, for
torch models, a model-randomisation sanity check measure the attributions' quality.

Options (``autolog(step_options={"text": {...}})``): ``unit`` (``token`` or
``sentence``), ``documents`` (100), ``max_units`` (512; longer documents are cut),
``max_evals`` (500, lowered to fit the budget), ``mask_token``, ``lime_documents`` (5),
``lime_samples`` (1000), ``pad_id`` (0) and ``unk_id`` (1) for token ids.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Any

from mlflow_clarity.explainers.text import artifacts, quality
from mlflow_clarity.explainers.text.attribution import Document
from mlflow_clarity.explainers.text.backends import Backend, Options, backend
from mlflow_clarity.explainers.text.lime_text import agreement
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import TEXT_FILES
from mlflow_clarity.types import (
    HEADROOM,
    ExplainerSpec,
    ModelContext,
    ReportSection,
    RunReport,
    StepOutput,
    StepSkipped,
    StepWorkspace,
    chunk_sizes,
)

STEP_NAME = "text"
EXPLAIN_SHARE = 0.6
QUALITY_SHARE = 0.15
LIME_SHARE = 0.15
SANITY_SHARE = 0.1
QUALITY_DOCUMENTS = 20
CHUNK_MAX = 16
TARGET_DOCUMENTS = 20
"""``max_evals`` is lowered until this many documents fit in the explanation's share."""
PLOT_SECONDS = 1.0


def supports_text(ctx: ModelContext) -> bool:
    """Whether the model takes text or token ids."""
    return ctx.modality.kind in ("text", "token_ids")


def _import_libraries(ctx: ModelContext) -> None:
    """Import the heavy libraries before anything is timed.

    Raises:
        StepSkipped: Token ids without captum installed.
    """
    import lime.lime_text  # noqa: F401

    if ctx.modality.kind != "token_ids":
        import shap  # noqa: F401
    elif importlib.util.find_spec("captum") is None:
        raise StepSkipped("token ids are explained with captum: pip install mlflow-clarity[deep]")
    else:
        import captum.attr  # noqa: F401


def _explain(engine: Backend, workspace: StepWorkspace) -> tuple[list[Document], float]:
    """Explain the planned documents in chunks until done or the share is used up.

    The first chunk, one document, pays one-off costs (shap's numba compilation: many
    seconds on a busy machine); the share is counted from its end, and its time is not
    taken as the cost per document. Later chunks start only if they are expected to
    end in time at the last chunk's cost per document.

    Returns:
        The explained documents (a prefix of the plan) and the seconds per document.
    """
    rows = engine.plan.rows
    stop_at = workspace.work_until(EXPLAIN_SHARE)
    engine.size_to(stop_at - time.monotonic(), min(len(rows), TARGET_DOCUMENTS))
    per_doc = engine.seconds_per_document()
    docs: list[Document] = []
    for index, size in enumerate(chunk_sizes(len(rows), CHUNK_MAX)):
        if time.monotonic() + HEADROOM * per_doc * size > stop_at:
            break
        tick = time.monotonic()
        docs += engine.explain(rows[len(docs) : len(docs) + size])
        if index == 0:
            stop_at = workspace.work_until(EXPLAIN_SHARE)
        else:
            per_doc = (time.monotonic() - tick) / size
    return docs, per_doc


def _completeness(docs: Sequence[Document]) -> dict[str, Any]:
    import numpy as np

    deltas = np.array([d.completeness_delta for d in docs])
    return {
        "delta_mean": float(deltas.mean()),
        "delta_max": float(deltas.max()),
        "what": "|sum of attributions - (output - baseline output)| / |output - baseline output|",
    }


def _quality(
    ctx: ModelContext,
    engine: Backend,
    docs: list[Document],
    per_doc: float,
    workspace: StepWorkspace,
) -> dict[str, Any]:
    perturbation = engine.perturbation()
    curve_inputs = 8 * 11  # 2 replacements x 2 curves x 2 orders x (10 steps + 1)
    curves = quality.curves(
        docs[:QUALITY_DOCUMENTS],
        perturbation,
        ctx.seed,
        workspace.work_until(QUALITY_SHARE),
        engine.seconds_per_input * curve_inputs,
    )
    fn, unit, mask = engine.lime_model()
    lime = agreement(
        fn,
        [(d, engine.lime_text(d)) for d in docs[: engine.options.lime_documents]],
        unit,
        mask=mask,
        samples=engine.options.lime_samples,
        seed=ctx.seed,
        stop_at=workspace.work_until(LIME_SHARE),
        estimate=engine.seconds_per_input * engine.options.lime_samples,
    )
    sanity_estimate = per_doc * quality.SANITY_DOCUMENTS
    sanity = {"documents": 0, "rho_mean": None, "reason": "time budget"}
    if time.monotonic() + HEADROOM * sanity_estimate <= workspace.work_until(SANITY_SHARE):
        sanity = engine.sanity(docs, ctx.seed)
    return {"completeness": _completeness(docs), "curves": curves, "lime": lime, "sanity": sanity}


def _reasons(engine: Backend, docs: list[Document], truncated: str | None) -> list[str]:
    options, plan = engine.options, engine.plan
    settings = engine.settings
    if engine.explainer == "shap.PartitionExplainer":
        why = (
            f"The model takes strings ({settings['model_call']}): SHAP's partition explainer "
            f"over {options.unit} units, masked units replaced by {settings['mask_token']!r}, "
            f"at most {settings['max_evals']} model evaluations per document."
        )
    else:
        why = (
            f"A torch model on token ids: layer integrated gradients on its embedding layer "
            f"({settings['layer']}), {settings['n_steps']} Gauss-Legendre steps, baseline "
            f"{settings['unk_id']} at real positions and {settings['pad_id']} where padded."
        )
    reasons = [why, "Each document is explained toward its predicted class."]
    if plan.empty:
        reasons.append(
            f"{len(plan.empty)} empty document(s) were skipped (no {options.unit} units)."
        )
    if plan.truncated:
        reasons.append(
            f"{len(plan.truncated)} document(s) longer than {options.max_units} units were cut "
            f"to their first {options.max_units} units before being explained."
        )
    if truncated:
        reasons.append(f"Stopped early: {truncated}.")
    return reasons


def _truncated(engine: Backend, docs: list[Document]) -> str | None:
    parts = []
    if len(docs) < len(engine.plan.rows):
        parts.append(f"time budget: explained {len(docs):,} of {len(engine.plan.rows):,} documents")
    if engine.plan.truncated:
        parts.append(
            f"{len(engine.plan.truncated)} document(s) cut to their first "
            f"{engine.options.max_units} units"
        )
    return "; ".join(parts) or None


def _metrics(docs: list[Document], figures: dict[str, Any]) -> dict[str, float]:
    """The headline figures first (the first five are logged to MLflow)."""
    mask, removal = figures["curves"]["mask"], figures["curves"]["removal"]
    candidates = {
        "documents_explained": float(len(docs)),
        "deletion_ratio": mask["deletion_ratio"],
        "insertion_ratio": mask["insertion_ratio"],
        "lime_agreement": figures["lime"]["top_k_overlap_mean"],
        "completeness_delta": figures["completeness"]["delta_mean"],
        "sanity_rho": figures["sanity"]["rho_mean"],
        "deletion_ratio_removal": removal["deletion_ratio"],
        "insertion_ratio_removal": removal["insertion_ratio"],
    }
    return {k: float(v) for k, v in candidates.items() if v is not None}


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    _import_libraries(ctx)
    started = time.monotonic()
    engine = backend(ctx, Options.of(ctx.options))
    if not engine.plan.rows:
        raise StepSkipped(
            f"every sampled document is empty ({len(engine.plan.empty)} without any unit)"
        )
    docs, per_doc = _explain(engine, workspace)
    if not docs:
        raise StepSkipped(
            f"the time budget is too small to explain one document (expected "
            f"{engine.seconds_per_document():.2g} s)"
        )
    explained = time.monotonic()
    figures = _quality(ctx, engine, docs, per_doc, workspace)
    names = engine.output_names()
    terms = artifacts.term_importance(docs, names)
    truncated = _truncated(engine, docs)
    summary = {
        "explainer": engine.explainer,
        "unit": engine.options.unit if ctx.modality.kind == "text" else "token id",
        "explained_output": "the predicted class of each document",
        "output_names": list(names),
        "documents": {
            "planned": len(engine.plan.rows),
            "explained": len(docs),
            "skipped_empty": len(engine.plan.empty),
            "skipped_empty_positions": engine.plan.empty,
            "truncated": engine.plan.truncated,
        },
        "settings": {
            **engine.settings,
            "max_units": engine.options.max_units,
            "documents": engine.options.documents,
        },
        "quality": figures,
        "verdicts": quality.verdicts(figures),
        "reasons": _reasons(engine, docs, truncated),
    }
    artifacts.write(workspace.out_dir, docs, names, summary, terms)
    plotted = time.monotonic() + HEADROOM * PLOT_SECONDS <= workspace.work_until()
    if plotted:
        artifacts.terms_plot(workspace.out_dir / TEXT_FILES["terms_plot"], terms)
    return StepOutput(
        metrics=_metrics(docs, figures),
        tags={"explainer": engine.explainer, "unit": summary["unit"]},
        summary={
            "explainer": engine.explainer,
            "unit": summary["unit"],
            "documents": summary["documents"]["explained"],
            "skipped_empty": len(engine.plan.empty),
            "cut_to_max_units": len(engine.plan.truncated),
            "plot": plotted,
            "seconds": {
                "explain": round(explained - started, 3),
                "quality_and_files": round(time.monotonic() - explained, 3),
            },
        },
        results={"documents": docs, "terms": terms, "summary": summary},
        truncated=truncated,
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``text`` explainer."""
    return [
        ExplainerSpec(
            name=STEP_NAME,
            run=_run,
            supports=supports_text,
            requires=("shap", "lime"),
            description="Attributions over words or sentences of text models, with their quality",
        )
    ]


@hookimpl
def clarity_report_sections(context: ModelContext, report: RunReport) -> list[ReportSection]:
    """The text explanations in plain words, and the top terms per class."""
    results = report.results_of(STEP_NAME)
    summary = results.get("summary")
    if summary is None:
        return []
    terms = results["terms"]
    rows = tuple(
        (name, rank, row["term"], f"{row['mean']:+.4g}", row["count"])
        for name, ranked in terms["per_class"].items()
        for rank, row in enumerate(ranked, start=1)
    )
    paragraphs = (
        f"Explainer: {summary['explainer']}, over {summary['unit']} units; "
        f"{summary['documents']['explained']} document(s) explained, each toward its "
        "predicted class.",
        *summary["verdicts"],
        *summary["reasons"][2:],
    )
    return [
        ReportSection(
            title="Text explanations",
            paragraphs=paragraphs,
            columns=("class", "rank", "term", "mean attribution", "count"),
            rows=rows,
        )
    ]
