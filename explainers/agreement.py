"""Built-in step ``agreement``: where SHAP and LIME agree, and where they do not.

Runs after both, on the rows LIME explained, and compares each row's LIME weights with
the SHAP values of the same row and output (Krishna et al., "The Disagreement Problem in
Explainable Machine Learning"): top-k feature agreement, sign agreement on the shared
top-k features, and the rank correlation of their magnitudes. LIME runs in discretised
mode, so a weight is the contribution of the row being in its bin: like a SHAP value, a
contribution, not a slope. Writes ``clarity/explanations/agreement.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import AGREEMENT_FILE, EXPLANATIONS
from mlflow_clarity.store import write_json
from mlflow_clarity.types import (
    ExplainerSpec,
    ModelContext,
    StepOutput,
    StepSkipped,
    StepWorkspace,
    takes_tables,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TOP_K = (3, 5)


def _top(values: np.ndarray, k: int) -> set[int]:
    import numpy as np

    return set(np.argsort(-np.abs(values), kind="stable")[:k].tolist())


def compare(shap_values: np.ndarray, lime_weights: np.ndarray) -> dict[str, Any]:
    """Agreement of two attribution vectors over the same features.

    Args:
        shap_values: SHAP values of one row and output.
        lime_weights: LIME weights of the same row and output (0 for unlisted features).

    Returns:
        ``feature_agreement@k`` and ``sign_agreement@k`` for each k in ``TOP_K`` that fits,
        and ``rank_correlation`` (Spearman of the magnitudes).
    """
    import numpy as np
    from scipy.stats import spearmanr

    result: dict[str, Any] = {}
    for k in TOP_K:
        if k > len(shap_values):
            continue
        shared = _top(shap_values, k) & _top(lime_weights, k)
        result[f"feature_agreement@{k}"] = len(shared) / k
        signs = [np.sign(shap_values[j]) == np.sign(lime_weights[j]) for j in shared]
        result[f"sign_agreement@{k}"] = float(np.mean(signs)) if signs else None
    magnitudes = np.abs(shap_values), np.abs(lime_weights)
    constant = np.ptp(magnitudes[0]) == 0 or np.ptp(magnitudes[1]) == 0
    result["rank_correlation"] = None if constant else float(spearmanr(*magnitudes).statistic)
    return result


def _shap_rows(values: pd.DataFrame, output: str) -> tuple[pd.DataFrame, str]:
    outputs = list(dict.fromkeys(values["output"].astype(str)))
    if output in outputs:
        chosen = output
    elif len(outputs) == 1:
        chosen = outputs[0]
    else:
        raise StepSkipped(f"SHAP has no values for the output LIME explained ({output!r})")
    return values[values["output"].astype(str) == chosen], chosen


def _upstream(workspace: StepWorkspace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The in-memory results of this run's ``shap`` and ``lime`` steps."""
    shap, lime = workspace.upstream.get("shap"), workspace.upstream.get("lime")
    if shap is None or lime is None or shap.status != "ok" or lime.status != "ok":
        raise StepSkipped("needs both the shap and the lime results of this run")
    return dict(shap.results), dict(lime.results)


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    import numpy as np

    shap, lime = _upstream(workspace)
    features = shap["global"]["features"]
    lime_rows = lime["explanations"]["rows"]
    if not lime_rows:
        raise StepSkipped("LIME explained no row")
    shap_values, shap_output = _shap_rows(shap["values"], str(lime_rows[0]["explained_output"]))
    by_row = shap_values.drop_duplicates("reference_row").set_index("reference_row")
    rows = []
    for lime_row in lime_rows:
        reference_row = lime_row["reference_row"]
        if reference_row not in by_row.index:
            continue
        phi = by_row.loc[reference_row, features].to_numpy(dtype=float)
        weights = np.array([lime_row["weights"].get(f, 0.0) for f in features])
        rows.append({"reference_row": reference_row, **compare(phi, weights)})
    if not rows:
        raise StepSkipped("SHAP did not explain any of the rows LIME explained")
    overall = {
        key: float(np.mean(present))
        if (present := [r[key] for r in rows if r[key] is not None])
        else None
        for key in rows[0]
        if key != "reference_row"
    }
    agreement = {
        "rows_compared": len(rows),
        "shap_output": shap_output,
        "lime_output": lime_rows[0]["explained_output"],
        "scale": "SHAP values vs LIME weights of discretised features (both contributions)",
        "overall": overall,
        "rows": rows,
    }
    write_json(workspace.out_dir / AGREEMENT_FILE, agreement)
    headline = overall.get(f"feature_agreement@{TOP_K[0]}")
    return StepOutput(
        metrics={} if headline is None else {f"feature_agreement_at_{TOP_K[0]}": headline},
        summary={"rows_compared": len(rows), **overall},
        results={"agreement": agreement},
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``agreement`` step (after ``shap`` and ``lime``)."""
    return [
        ExplainerSpec(
            name="agreement",
            run=_run,
            folder=EXPLANATIONS,
            supports=takes_tables,
            after=("shap", "lime"),
            description="Agreement of SHAP and LIME on the same rows",
        )
    ]
