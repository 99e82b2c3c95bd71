"""Built-in explainer ``lime``: local surrogate explanations with their fidelity and stability.

A few representative rows, chosen deterministically (spread over the model's output
range, plus the rows with the largest SHAP attributions when SHAP ran), are explained
with ``lime``'s tabular explainer in discretised mode, on the raw columns (categorical
and string columns as categories). Every explanation reports the R² of its local fit and
the gap between the local and the model's prediction; low-fidelity fits are flagged; the
same rows are explained under three seeds to measure how stable the top features are.
Within the step's share of the time budget, rows come first and stability second: the
rows left out and the rows without stability are recorded.

Options (``autolog(step_options={"lime": {...}})``): ``rows`` (10), ``num_samples``
(5000), ``num_features`` (all, at most 20), ``min_r2`` (0.3), ``stability_seeds`` (3).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.data.encoding import TableEncoding
from mlflow_clarity.errors import logger
from mlflow_clarity.explainers.lime import html as lime_html
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import LIME_FILES
from mlflow_clarity.model_access import Predictor
from mlflow_clarity.store import write_json
from mlflow_clarity.types import (
    HEADROOM,
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

ROWS = 10
OUT_OF_TIME = "time budget used up"
NUM_SAMPLES = 5000
MAX_FEATURES = 20
MIN_R2 = 0.3
STABILITY_SEEDS = 3
STABILITY_TOP_K = 5


@dataclass(frozen=True)
class LimeSetup:
    """The explainer's fixed inputs."""

    encoding: TableEncoding
    predictor: Predictor
    training: np.ndarray
    output_index: int
    output_name: str
    num_samples: int
    num_features: int


def _explainer(setup: LimeSetup, seed: int) -> Any:
    from lime.lime_tabular import LimeTabularExplainer

    categorical = [
        j for j, c in enumerate(setup.encoding.columns) if c in setup.encoding.categories
    ]
    names = {
        j: list(setup.encoding.category_labels(setup.encoding.columns[j]) or ())
        for j in categorical
    }
    return LimeTabularExplainer(
        setup.training,
        mode="classification" if setup.predictor.is_classifier else "regression",
        feature_names=list(setup.encoding.columns),
        categorical_features=categorical,
        categorical_names=names,
        discretize_continuous=True,
        random_state=seed,
    )


def _predict_fn(setup: LimeSetup) -> Any:
    if setup.predictor.is_classifier:
        return setup.predictor.fn
    k = setup.output_index
    return lambda matrix: setup.predictor.fn(matrix)[:, k]


def _explain_row(setup: LimeSetup, explainer: Any, row: np.ndarray) -> dict[str, Any]:
    label = setup.output_index if setup.predictor.is_classifier else 1
    explanation = explainer.explain_instance(
        row,
        _predict_fn(setup),
        labels=(label,),
        num_features=setup.num_features,
        num_samples=setup.num_samples,
    )
    columns = setup.encoding.columns
    pairs = explanation.local_exp[label]
    weights = {columns[j]: float(w) for j, w in pairs}
    described = explanation.as_list(label=label)  # same order as local_exp
    conditions = {columns[j]: text for (j, _), (text, _) in zip(pairs, described, strict=True)}
    model_prediction = float(setup.predictor.fn(row[None, :])[0, setup.output_index])
    local = float(explanation.local_pred[0])
    return {
        "weights": weights,
        "conditions": conditions,
        "intercept": float(explanation.intercept[label]),
        "local_prediction": local,
        "model_prediction": model_prediction,
        "r2": float(explanation.score),
        "abs_error": abs(local - model_prediction),
    }


def _top(weights: dict[str, float], k: int) -> set[str]:
    return {f for f, _ in sorted(weights.items(), key=lambda item: -abs(item[1]))[:k]}


def jaccard(first: set[str], second: set[str]) -> float:
    """Size of the intersection over size of the union (1.0 for two empty sets)."""
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def _stability(runs: list[dict[str, float]]) -> float:
    pairs = list(itertools.combinations([_top(r, STABILITY_TOP_K) for r in runs], 2))
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else 1.0


def shap_values(workspace: StepWorkspace) -> pd.DataFrame | None:
    """The per-row SHAP values of this run, when the ``shap`` step succeeded before."""
    shap = workspace.upstream.get("shap")
    if shap is None or shap.status != "ok":
        return None
    return shap.results.get("values")


def _choose_rows(
    ctx: ModelContext, workspace: StepWorkspace, x: np.ndarray, output: np.ndarray, count: int
) -> list[int]:
    """Sample positions: half spread over the output range, half with the largest SHAP sums.

    The two halves alternate, so that rows SHAP explained come early: when the time
    budget cuts the list short, the agreement step still has rows explained by both.
    """
    import numpy as np

    complete = np.flatnonzero(np.isfinite(x).all(axis=1))
    if len(complete) == 0:
        raise StepSkipped("every sampled row has a missing value; LIME needs complete rows")
    order = complete[np.argsort(output[complete], kind="stable")]
    values = shap_values(workspace)
    spread_count = (count + 1) // 2 if values is not None else count
    quantiles = np.linspace(0, 1, min(spread_count, len(order)))
    spread = list(dict.fromkeys(int(order[round(q * (len(order) - 1))]) for q in quantiles))
    strongest: list[int] = []
    if values is not None:  # the rows SHAP found most strongly attributed
        features = [c for c in ctx.reference.columns if c in values.columns]
        strength = values[features].abs().sum(axis=1).groupby(values["reference_row"]).sum()
        sample_row_of = {int(p): i for i, p in enumerate(ctx.reference.positions(len(x)))}
        usable = set(complete.tolist()) - set(spread)
        for reference_row in strength.sort_values(ascending=False, kind="stable").index:
            row = sample_row_of.get(int(reference_row))
            if len(spread) + len(strongest) >= count:
                break
            if row is not None and row in usable and row not in strongest:
                strongest.append(row)
    mixed = [r for pair in itertools.zip_longest(strongest, spread) for r in pair if r is not None]
    return mixed[:count]


def _output_to_explain(predictor: Predictor, outputs: np.ndarray) -> int:
    """The positive class of a binary classifier, else the most predicted class/last output."""
    import numpy as np

    if predictor.is_classifier and outputs.shape[1] > 2:
        return int(np.bincount(outputs.argmax(axis=1), minlength=outputs.shape[1]).argmax())
    return outputs.shape[1] - 1


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    import lime.lime_tabular  # noqa: F401  # imported before anything is timed
    import numpy as np

    assert ctx.reference is not None  # guaranteed by needs_data
    options = ctx.options
    sample = ctx.reference.sample
    encoding = TableEncoding.fit(sample)
    x = encoding.encode(sample)
    try:
        predictor = model_access.predictor(ctx, encoding)
        tick = time.perf_counter()
        outputs = predictor.fn(x)
        call_s = time.perf_counter() - tick
    except Exception as exc:  # a model LIME cannot call: a skip with the reason
        raise StepSkipped(f"the model cannot be called on the reference data: {exc!r}") from exc
    k = _output_to_explain(predictor, outputs)
    names = predictor.output_names or tuple(f"output_{i}" for i in range(outputs.shape[1]))
    complete = x[np.isfinite(x).all(axis=1)]
    if len(complete) < 2:
        raise StepSkipped("LIME needs at least two complete reference rows")
    setup = LimeSetup(
        encoding=encoding,
        predictor=predictor,
        training=complete,
        output_index=k,
        output_name=str(names[k]) if len(names) > k else "prediction",
        num_samples=int(options.get("num_samples", NUM_SAMPLES)),
        num_features=int(options.get("num_features", min(MAX_FEATURES, x.shape[1]))),
    )
    rows = _choose_rows(ctx, workspace, x, outputs[:, k], int(options.get("rows", ROWS)))
    seeds = [ctx.seed + i for i in range(int(options.get("stability_seeds", STABILITY_SEEDS)))]
    # one explanation calls the model on num_samples rows: a first cost estimate
    first_estimate = call_s * max(1.0, setup.num_samples / len(x))
    explained, failed, timings = _explain_rows(
        ctx, workspace, setup, x, rows, seeds, first_estimate
    )
    if not explained:
        reasons = "; ".join(f["reason"] for f in failed[:3])
        raise StepSkipped(f"LIME could not explain any row ({reasons})")
    min_r2 = float(options.get("min_r2", MIN_R2))
    output = _write(workspace.out_dir, setup, explained, failed, min_r2, seeds, timings)
    out_of_time = sum(f["reason"] == OUT_OF_TIME for f in failed)
    measured = sum(row["stability_jaccard"] is not None for row in explained)
    notes = []
    if out_of_time:
        notes.append(
            f"time budget: explained {len(explained)} of {len(explained) + out_of_time} rows"
        )
    if len(seeds) > 1 and measured < len(explained):
        notes.append(f"stability under {len(seeds)} seeds on {measured} of {len(explained)} rows")
    if not notes:
        return output
    return dataclasses.replace(output, truncated="; ".join(notes))


def _explain_rows(
    ctx: ModelContext,
    workspace: StepWorkspace,
    setup: LimeSetup,
    x: np.ndarray,
    rows: list[int],
    seeds: list[int],
    first_estimate: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]:
    """Explain the rows, then their stability under the other seeds, within the step's share.

    Rows come first: each row is explained under the first seed if its explanation is
    expected to fit in the share (the cost estimated from one model call,
    ``first_estimate``, then measured on every row); a row that fails is recorded and the
    others go on. Then, row by row while they fit, the explained rows are explained again
    under the other seeds (a row without them has stability None).

    Returns the explained rows, the failed rows, and the seconds spent on the
    explanations themselves (first seed) and on the extra seeds for stability.
    """
    explainers = [_explainer(setup, seed) for seed in seeds]
    positions = ctx.reference.positions(len(x))
    explained, failed = [], []
    timings = {"explain_s": 0.0, "stability_s": 0.0}
    share_end = workspace.work_until()
    per_explanation = first_estimate
    for row in rows:
        reference_row = int(positions[row])
        if time.monotonic() + HEADROOM * per_explanation > share_end:
            failed.append({"reference_row": reference_row, "reason": OUT_OF_TIME})
            continue
        try:
            tick = time.perf_counter()
            first = _explain_row(setup, explainers[0], x[row])
        except Exception as exc:  # one row failing does not stop the others
            logger.info("lime: row %d failed: %r", reference_row, exc)
            failed.append({"reference_row": reference_row, "reason": repr(exc)[:300]})
            continue
        seconds = time.perf_counter() - tick
        per_explanation = seconds if explained else max(first_estimate, seconds)
        timings["explain_s"] += seconds
        first["stability_jaccard"] = None
        explained.append({"reference_row": reference_row, "sample_row": row, **first})
    extra = per_explanation * (len(explainers) - 1)
    for entry in explained:
        if len(explainers) < 2 or time.monotonic() + HEADROOM * extra > share_end:
            break
        tick = time.perf_counter()
        try:
            row = x[entry["sample_row"]]
            others = [_explain_row(setup, e, row)["weights"] for e in explainers[1:]]
        except Exception as exc:  # the row keeps its explanation, without stability
            logger.info("lime: stability of row %d failed: %r", entry["reference_row"], exc)
            continue
        timings["stability_s"] += time.perf_counter() - tick
        entry["stability_jaccard"] = _stability([entry["weights"], *others])
    return explained, failed, timings


def _write(
    out_dir: Path,
    setup: LimeSetup,
    explained: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    min_r2: float,
    seeds: list[int],
    timings: dict[str, float],
) -> StepOutput:
    import numpy as np

    for row in explained:
        row["explained_output"] = setup.output_name
        row["low_fidelity"] = row["r2"] < min_r2
    pages = out_dir / "rows"
    pages.mkdir(parents=True, exist_ok=True)
    for row in explained:
        page = lime_html.render(row, min_r2)
        (pages / f"row_{row['reference_row']}.html").write_text(page, encoding="utf-8")
    r2 = np.array([row["r2"] for row in explained])
    errors = np.array([row["abs_error"] for row in explained])
    measured = [r["stability_jaccard"] for r in explained if r["stability_jaccard"] is not None]
    stability = np.array(measured or [np.nan])
    quality = {
        "rows_explained": len(explained),
        "rows_failed": len(failed),
        "r2_mean": float(r2.mean()),
        "r2_min": float(r2.min()),
        "abs_error_mean": float(errors.mean()),
        "low_fidelity_share": float((r2 < min_r2).mean()),
        "min_r2": min_r2,
        "stability": {
            "seeds": seeds,
            "top_k": STABILITY_TOP_K,
            "rows_measured": len(measured),
            "jaccard_mean": float(stability.mean()) if measured else None,
            "jaccard_min": float(stability.min()) if measured else None,
        },
        "settings": {
            "num_samples": setup.num_samples,
            "num_features": setup.num_features,
            "discretize_continuous": True,
            "discretizer": "quartile",
        },
    }
    explanations = {"rows": explained, "failed_rows": failed}
    write_json(out_dir / LIME_FILES["explanations"], explanations)
    write_json(out_dir / LIME_FILES["quality"], quality)
    return StepOutput(
        metrics={"r2_mean": quality["r2_mean"], "rows_explained": float(len(explained))},
        summary={
            "rows": len(explained),
            "failed_rows": len(failed),
            "r2_mean": quality["r2_mean"],
            "abs_error_mean": quality["abs_error_mean"],
            "low_fidelity_share": quality["low_fidelity_share"],
            "stability_jaccard": quality["stability"]["jaccard_mean"] if measured else None,
            "seconds": {key: round(value, 4) for key, value in timings.items()},
        },
        results={"explanations": explanations, "quality": quality},
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``lime`` explainer."""
    return [
        ExplainerSpec(
            name="lime",
            run=_run,
            requires=("lime",),
            supports=takes_tables,
            after=("shap",),
            description="LIME on representative rows, with local fidelity and seed stability",
        )
    ]
