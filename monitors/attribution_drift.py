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

from . import drift_statistics as stats

if TYPE_CHECKING:
    import pandas as pd

    from ..types import ModelContext

SHAP_FILES = ("global.json", "card.json", "background.parquet")


def overall_importance(global_summary: dict[str, Any]) -> dict[str, float]:
    """Mean |SHAP| per feature, averaged over the outputs of a ``global.json``."""
    outputs = [o["mean_abs"] for o in global_summary["outputs"].values()]
    features = global_summary["features"]
    return {f: sum(o[f] for o in outputs) / len(outputs) for f in features}


def importance_weights(global_summary: dict[str, Any] | None) -> dict[str, float] | None:
    """Each feature's share of the total mean |SHAP| (None without a summary)."""
    if not global_summary:
        return None
    importance = overall_importance(global_summary)
    total = sum(importance.values())
    return {f: v / total for f, v in importance.items()} if total > 0 else None


def explain_sample(
    ctx: ModelContext,
    sample: pd.DataFrame,
    shap_folder: Path,
    card: dict[str, Any],
    budget_s: float,
) -> dict[str, Any]:
    """Run the ``shap`` step on ``sample`` as it ran at log time (``card`` is its
    ``card.json``, the background is ``shap_folder``'s); return the new ``global.json``."""
    from ..explainers.shap_explainer import clarity_explainers
    from ..reference import RawReference, expected_columns, prepare_reference
    from ..types import StepWorkspace

    options: dict[str, Any] = {"explainer": card["explainer"], "plots": False}
    if (shap_folder / "background.parquet").exists() and card.get("background_rows"):
        options["background_file"] = str(shap_folder / "background.parquet")
    reference = prepare_reference(
        RawReference(sample, None, "batch sample"),
        expected_columns(ctx.signature, ctx.model),
        sample_rows=len(sample),
        seed=ctx.seed,
    )
    step_ctx = dataclasses.replace(ctx, reference=reference, options=options)
    (spec,) = clarity_explainers()
    with tempfile.TemporaryDirectory(prefix="clarity-attribution-") as tmp:
        out = Path(tmp)
        spec.run(step_ctx, StepWorkspace(out, out, budget_s, time.monotonic() + budget_s))
        return json.loads((out / "global.json").read_text())


def attribution_drift(
    ctx: ModelContext,
    sample: pd.DataFrame,
    shap_folder: Path,
    thresholds: dict[str, Any],
    budget_s: float,
) -> dict[str, Any]:
    """NDCG of the batch's feature ranking under the log-time attributions.

    Returns:
        ``status`` (``ok``, ``violation`` or ``skipped`` with ``reason``), ``ndcg``,
        ``threshold``, ``rows``, ``explainer`` and both importance vectors.
    """
    stored_path = shap_folder / "global.json"
    if not stored_path.exists():
        return {"status": "skipped", "reason": "the model has no stored SHAP explanation"}
    stored = json.loads(stored_path.read_text())
    card = json.loads((shap_folder / "card.json").read_text())
    current = explain_sample(ctx, sample, shap_folder, card, budget_s)
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
        "explainer": card["explainer"],
        "baseline_importance": baseline_importance,
        "current_importance": current_importance,
    }
