"""Which way each of the model's most important features moves its output.

The explainer ``acme.effect_direction`` runs after the built-in ``shap`` step and reuses
its in-memory SHAP values. For each top feature it computes the rank correlation
(Spearman) between the feature's values and its SHAP values over the explained rows:
near +1 the output rises as the feature grows, near -1 it falls, in between the effect
is not monotone. It writes ``effect_direction.json`` and adds a section to the model's
report and card. It uses only the public API of ``mlflow_clarity``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_clarity import (
    ExplainerSpec,
    ModelContext,
    ReportSection,
    RunReport,
    StepOutput,
    StepSkipped,
    StepWorkspace,
    hookimpl,
    write_json,
)

if TYPE_CHECKING:  # pandas is imported when the step runs, not when the plugin loads
    import pandas as pd

STEP = "acme.effect_direction"
FILE = "effect_direction.json"
TOP_K = 5
"""Features examined, most important first (option ``top_k``)."""
MONOTONE = 0.8
"""Absolute rank correlation from which an effect counts as monotone."""
_EFFECT = {
    "raises": "raises the output as it grows",
    "lowers": "lowers the output as it grows",
    "mixed": "has no monotone effect on the output",
    "not numeric": "is not numeric, so it has no direction",
}


def _spearman(values: pd.Series, attributions: pd.Series) -> float | None:
    """Rank correlation; None when either side is constant."""
    ranks, attribution_ranks = values.rank(), attributions.rank()
    if ranks.nunique() < 2 or attribution_ranks.nunique() < 2:
        return None
    return float(ranks.corr(attribution_ranks))


def _direction(rho: float | None) -> str:
    if rho is None:
        return "mixed"
    if rho >= MONOTONE:
        return "raises"
    return "lowers" if rho <= -MONOTONE else "mixed"


def _explained_rows(ctx: ModelContext, values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SHAP rows of rows in the reference sample, and those rows' feature values."""
    import pandas as pd

    assert ctx.reference is not None  # the step needs data
    sample = ctx.reference.sample
    position = pd.Series(range(len(sample)), index=ctx.reference.positions(len(sample)))
    known = values[values["reference_row"].isin(position.index)]
    features = sample.iloc[position[known["reference_row"]].to_numpy()].reset_index(drop=True)
    return known.reset_index(drop=True), features


def _feature_entry(
    name: str, importance: float, values: pd.Series, attributions: pd.Series
) -> dict[str, Any]:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values):
        return {
            "feature": name,
            "importance": importance,
            "spearman": None,
            "direction": "not numeric",
        }
    rho = _spearman(values.astype(float), attributions.astype(float))
    return {
        "feature": name,
        "importance": importance,
        "spearman": rho,
        "direction": _direction(rho),
    }


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    shap = workspace.upstream.get("shap")
    if shap is None or shap.status != "ok":
        raise StepSkipped("needs the results of this run's shap step")
    summary = shap.results["global"]
    output = list(summary["outputs"])[-1]  # a classifier's last class: the positive one
    values = shap.results["values"]
    rows, features = _explained_rows(ctx, values[values["output"] == output])
    if rows.empty:
        raise StepSkipped("SHAP explained none of the rows of the reference sample")
    importance = summary["outputs"][output]["mean_abs"]
    top = summary["ranking"][: max(1, int(ctx.options.get("top_k", TOP_K)))]
    entries = [_feature_entry(f, importance[f], features[f], rows[f]) for f in top]
    directions = {"output": output, "rows": len(rows), "threshold": MONOTONE, "features": entries}
    write_json(workspace.out_dir / FILE, directions)
    monotone = [e["direction"] in ("raises", "lowers") for e in entries]
    return StepOutput(
        metrics={"features": len(entries), "monotone_share": sum(monotone) / len(monotone)},
        tags={"output": output},
        summary={"output": output, "rows": len(rows)},
        results={"directions": directions},
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register ``acme.effect_direction``, to run after the built-in ``shap`` step."""
    return [
        ExplainerSpec(
            name=STEP,
            run=_run,
            after=("shap",),
            description="Whether each top feature raises or lowers the output (Spearman)",
        )
    ]


@hookimpl
def clarity_report_sections(context: ModelContext, report: RunReport) -> list[ReportSection]:
    """One section from the step's in-memory results, when it ran."""
    results = report.results_of(STEP)
    if not results:  # not selected, disabled, skipped or failed
        return []
    directions = results["directions"]
    features = directions["features"]
    lead = features[0]
    return [
        ReportSection(
            title="Acme: direction of effect",
            paragraphs=(
                f"How the output {directions['output']} moves as each of the most important "
                "features grows: the rank correlation (Spearman) of the feature's values with "
                f"its SHAP values over {directions['rows']} explained rows.",
                f"The most important feature, {lead['feature']}, {_EFFECT[lead['direction']]}.",
            ),
            columns=("feature", "mean |SHAP|", "Spearman", "direction"),
            rows=tuple(
                (
                    f["feature"],
                    f"{f['importance']:.4g}",
                    "-" if f["spearman"] is None else f"{f['spearman']:+.2f}",
                    f["direction"],
                )
                for f in features
            ),
        )
    ]
