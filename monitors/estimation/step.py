"""Built-in monitor ``estimation``: the estimator card, fitted when reference labels exist.

Runs after ``baseline``, on table, image and text models. Skipped, with the reason, when
the reference data has no labels, when the model is neither a classifier nor a
single-output regressor, or (regressors) when lightgbm is not installed.
"""

from __future__ import annotations

from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import ESTIMATION
from mlflow_clarity.monitors.estimation.card import fit_card
from mlflow_clarity.monitors.estimation.report import card_section
from mlflow_clarity.types import (
    ModelContext,
    MonitorSpec,
    ReportSection,
    RunReport,
    StepOutput,
    StepWorkspace,
)

STEP_NAME = "estimation"


def supports_estimation(ctx: ModelContext) -> bool:
    """Tables, images and texts (not token ids)."""
    return ctx.modality.kind in ("tabular", "image", "text")


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    card = fit_card(ctx, workspace.work_until())
    card.write(workspace.out_dir)
    facts = card.facts
    metrics = facts["reference"]["metrics"]
    reference = {f"reference.{k}": v for k, v in metrics.items() if k != "n" and v is not None}
    return StepOutput(
        metrics={"rows": facts["data"]["rows"], **reference},
        summary={"method": card.method, "rows": facts["data"]["rows"], "notes": facts["notes"]},
        results={"card": card},
        truncated="; ".join(n for n in facts["notes"] if n.startswith("time budget")) or None,
    )


@hookimpl
def clarity_monitors() -> list[MonitorSpec]:
    """Register the built-in ``estimation`` monitor."""
    return [
        MonitorSpec(
            name=STEP_NAME,
            run=_run,
            folder=ESTIMATION,
            supports=supports_estimation,
            after=("baseline",),
            description="Calibration (CBPE) or loss models (DLE) to estimate performance "
            "without labels",
        )
    ]


@hookimpl
def clarity_report_sections(context: ModelContext, report: RunReport) -> list[ReportSection]:
    """The estimator card: what later checks estimate from, and the reference metrics."""
    card = report.results_of(STEP_NAME).get("card")
    if card is None:
        return []
    return [card_section(card.facts)]
