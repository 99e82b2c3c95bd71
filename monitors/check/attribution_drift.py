"""Feature-attribution drift: SHAP on a sample of the batch against the log-time SHAP.

The batch sample is explained with the explainer chosen at log time and its stored
background; the global importance (mean |SHAP| per feature, averaged over outputs) is
compared with the stored one by NDCG, SageMaker Clarify's measure (alert below 0.9).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.reference import RawReference, expected_columns, prepare_reference
from mlflow_clarity.explainers.shap.quality import overall_importance
from mlflow_clarity.layout import SHAP_FILES
from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.monitors.check import statistics as stats
from mlflow_clarity.types import StepWorkspace

if TYPE_CHECKING:
    import pandas as pd

    from mlflow_clarity.types import ModelContext


def importance_weights(global_summary: dict[str, Any] | None) -> dict[str, float] | None:
    """Each feature's share of the total mean |SHAP| (None without a summary)."""
    if not global_summary:
        return None
    importance = overall_importance(global_summary)
    total = sum(importance.values())
    return {f: v / total for f, v in importance.items()} if total > 0 else None


def rerun_shap(
    ctx: ModelContext,
    frame: pd.DataFrame,
    shap_folder: Path,
    card: dict[str, Any],
    budget_s: float,
    source: str,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run the registered ``shap`` step on ``frame``'s rows as it ran at log time (``card``
    is its ``card.json``, the background is ``shap_folder``'s), without plots or a second
    background, so nearly all of ``budget_s`` explains rows.

    Args:
        ctx: The logged model's context.
        frame: The rows to explain (raw columns).
        shap_folder: The model's local ``clarity/explanations/shap`` folder.
        card: Its ``card.json``.
        budget_s: Time for the explanation.
        source: What the rows are, for the step's records ("batch sample", ...).

    Returns:
        The step's results (``global``, ``card``: the explainer used, rows explained and
        why fewer) and the per-row values (``values.parquet``'s long form).

    Raises:
        StepSkipped: No explainer fits in ``budget_s`` (or none can explain the model).
    """
    import pandas as pd

    options: dict[str, Any] = {
        "explainer": card["explainer"],
        "plots": False,
        "background_agreement": False,
        "max_rows": len(frame),
    }
    background = shap_folder / SHAP_FILES["background"]
    if background.exists() and card.get("background_rows"):
        options["background_file"] = str(background)
    reference = prepare_reference(
        RawReference(frame, None, source),
        expected_columns(ctx.signature, ctx.model),
        sample_rows=len(frame),
        seed=ctx.seed,
    )
    step_ctx = dataclasses.replace(ctx, reference=reference, options=options)
    spec = get_plugin_manager().step("shap").spec
    with tempfile.TemporaryDirectory(prefix="clarity-shap-rerun-") as tmp:
        out = Path(tmp)
        output = spec.run(step_ctx, StepWorkspace(out, out, budget_s, time.monotonic() + budget_s))
        return dict(output.results), pd.read_parquet(out / SHAP_FILES["values"])


def explain_sample(
    ctx: ModelContext,
    sample: pd.DataFrame,
    shap_folder: Path,
    card: dict[str, Any],
    budget_s: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The global summary (what ``global.json`` holds) and the card of :func:`rerun_shap`
    on a sample of the batch.

    Raises:
        StepSkipped: No explainer fits in ``budget_s`` (or none can explain the model).
    """
    results, _ = rerun_shap(ctx, sample, shap_folder, card, budget_s, "batch sample")
    return dict(results["global"]), dict(results["card"])


def fewer_rows_reason(card: dict[str, Any], sampled: int) -> str | None:
    """Why fewer than the ``sampled`` rows were explained, or None when all were."""
    if card["rows_explained"] >= sampled:
        return None
    return card.get("truncated") or "; ".join(card.get("notes") or []) or "the explainer's cap"


def attribution_drift(
    ctx: ModelContext,
    sample: pd.DataFrame,
    shap_folder: Path,
    thresholds: dict[str, Any],
    budget_s: float,
) -> dict[str, Any]:
    """NDCG of the batch's feature ranking under the log-time attributions.

    SHAP on the batch sample is sized to ``budget_s``: the result records the rows
    sampled, the rows explained and, when fewer, why.

    Returns:
        ``status`` (``ok``, ``violation`` or ``skipped`` with ``reason``), ``ndcg``,
        ``threshold``, ``rows`` (explained), ``rows_sampled``, ``fewer_rows_reason``,
        ``budget_s``, ``explainer`` and both importance vectors.

    Raises:
        StepSkipped: No explainer fits in ``budget_s``.
    """
    stored_path = shap_folder / SHAP_FILES["global"]
    if not stored_path.exists():
        return {"status": "skipped", "reason": "the model has no stored SHAP explanation"}
    stored = json.loads(stored_path.read_text())
    card = json.loads((shap_folder / SHAP_FILES["card"]).read_text())
    current, current_card = explain_sample(ctx, sample, shap_folder, card, budget_s)
    baseline_importance = overall_importance(stored)
    current_importance = overall_importance(current)
    ndcg = stats.ndcg(baseline_importance, current_importance)
    limit = thresholds["attribution_ndcg_alert"]
    return {
        "status": "violation" if ndcg is not None and ndcg < limit else "ok",
        "method": "NDCG of the current ranking under log-time mean |SHAP| (SageMaker Clarify)",
        "ndcg": ndcg,
        "threshold": limit,
        "rows": current["rows_explained"],
        "rows_sampled": len(sample),
        "fewer_rows_reason": fewer_rows_reason(current_card, len(sample)),
        "budget_s": budget_s,
        "explainer": current_card["explainer"],
        "baseline_importance": baseline_importance,
        "current_importance": current_importance,
    }
