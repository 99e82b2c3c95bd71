"""Built-in explainer ``shap``: SHAP values with an explainer chosen per model.

Tree ensembles (xgboost, lightgbm, sklearn forests and boosting) get exact TreeSHAP,
sklearn linear models the exact linear explainer, and every other model the model-agnostic
Permutation explainer with a seeded background, sized to fit the step's time budget.
The choice and its reason are recorded in ``card.json``. ``shap`` is imported only when
the step runs.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..hooks.specs import hookimpl
from ..store import write_json
from ..types import ExplainerSpec, ModelContext, StepOutput, StepSkipped, StepWorkspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ALGORITHMS = ("tree", "linear", "permutation")
BACKGROUND_ROWS = 100
CSV_ROWS = 200
TOP_FEATURES_TAG = 5
MIN_PERMUTATION_EVALS = 500
_TREE_FLAVORS = {"xgboost", "lightgbm"}
_SKLEARN_TREE_CLASSES = {
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
}


@dataclass(frozen=True)
class Choice:
    """Which SHAP algorithm to use and why."""

    algorithm: str
    reason: str


@dataclass(frozen=True)
class Predictor:
    """A model as a function of a 2-D float array, returning a 2-D output array."""

    fn: Callable[[Any], Any]
    output_names: tuple[str, ...]
    output_space: str


def choose_explainer(ctx: ModelContext) -> Choice:
    """Pick the exact or fastest faithful algorithm for the model.

    Args:
        ctx: The model's context; ``ctx.options["explainer"]`` forces a choice.

    Returns:
        The algorithm and the reason for it.

    Raises:
        ValueError: An unknown forced explainer.
    """
    forced = ctx.options.get("explainer")
    if forced is not None:
        if forced not in ALGORITHMS:
            raise ValueError(f"unknown explainer {forced!r}; choose one of {ALGORITHMS}")
        return Choice(forced, "forced by step_options")
    model = ctx.model
    cls = type(model).__name__
    module = type(model).__module__
    if ctx.flavor in _TREE_FLAVORS:
        return Choice("tree", f"{ctx.flavor} model: exact TreeSHAP")
    if module.startswith("sklearn.") and cls in _SKLEARN_TREE_CLASSES:
        return Choice("tree", f"sklearn tree model {cls}: exact TreeSHAP")
    if module.startswith("sklearn.linear_model") and hasattr(model, "coef_"):
        return Choice("linear", f"sklearn linear model {cls}: exact linear SHAP")
    return Choice("permutation", f"{cls} ({ctx.flavor}): model-agnostic Permutation SHAP")


def _frame_fn(method: Callable[[Any], Any], columns: list[str]) -> Callable[[Any], Any]:
    import pandas as pd

    return lambda array: method(pd.DataFrame(array, columns=columns))


def _torch_fn(module: Any) -> Callable[[Any], Any]:
    import torch

    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params else torch.float32

    def predict(array: Any) -> Any:
        module.eval()
        with torch.no_grad():
            out = module(torch.as_tensor(array, dtype=dtype, device=device))
        return out.detach().cpu().numpy()

    return predict


def make_predictor(ctx: ModelContext, columns: list[str]) -> Predictor:
    """Wrap the model as a function of a float array.

    Classifiers are explained in probability space, one output per class.

    Args:
        ctx: The model's context.
        columns: Feature names, in order.

    Returns:
        The predictor.
    """
    model = ctx.model
    if model is not None and hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        names = tuple(str(c) for c in model.classes_)
        return Predictor(_frame_fn(model.predict_proba, columns), names, "probability")
    torch = sys.modules.get("torch")  # a torch model exists only if torch was imported
    if torch is not None and isinstance(model, torch.nn.Module):
        return Predictor(_torch_fn(model), (), "model output")
    if model is None or ctx.flavor == "pyfunc" or not hasattr(model, "predict"):
        model = ctx.load_pyfunc()
    return Predictor(_frame_fn(model.predict, columns), (), "model output")


def _as_2d(values: Any) -> np.ndarray:
    import numpy as np

    out = np.asarray(values, dtype=float)
    return out.reshape(len(out), -1)


def _as_3d(values: Any, n_rows: int, n_features: int) -> np.ndarray:
    """Normalise SHAP values to shape (rows, features, outputs)."""
    import numpy as np

    if isinstance(values, list):  # one array per output (older shap, some models)
        return np.stack([np.asarray(v, dtype=float) for v in values], axis=-1)
    array = np.asarray(values, dtype=float)
    if array.ndim == 2:
        return array.reshape(n_rows, n_features, 1)
    return array


def _sized_rows(
    predictor: Predictor, x: np.ndarray, background: np.ndarray, budget_s: float
) -> int:
    """Rows the permutation explainer can explain in about half the step's budget."""
    evals = max(MIN_PERMUTATION_EVALS, 2 * x.shape[1] + 1)
    started = time.perf_counter()
    predictor.fn(background)
    per_row = (time.perf_counter() - started) / len(background)
    cost_per_explained_row = per_row * evals * len(background)
    affordable = int(0.5 * budget_s / max(cost_per_explained_row, 1e-9))
    if affordable < 1:
        raise StepSkipped(
            f"the model is too slow for Permutation SHAP within {budget_s:.0f}s "
            f"(about {cost_per_explained_row:.1f}s per row); raise budget_s"
        )
    return min(affordable, len(x))


def _explain(
    choice: Choice, ctx: ModelContext, predictor: Predictor, x: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (values (n, f, k), base values (n, k), evaluations per row)."""
    import numpy as np
    import shap

    n, m = x.shape
    if choice.algorithm == "tree":
        explainer = shap.TreeExplainer(ctx.model)
        values = explainer.shap_values(x)
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        return _as_3d(values, n, m), np.tile(base, (n, 1)), 0
    if choice.algorithm == "linear":
        explainer = shap.LinearExplainer(ctx.model, background)
        values = explainer.shap_values(x)
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        return _as_3d(values, n, m), np.tile(base, (n, 1)), 0
    evals = max(MIN_PERMUTATION_EVALS, 2 * m + 1)
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(predictor.fn, masker, seed=ctx.seed)
    explanation = explainer(x, max_evals=evals, silent=True)
    values = _as_3d(explanation.values, n, m)
    return values, _as_2d(explanation.base_values), evals


def _numeric_matrix(frame: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    bad = [
        c
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]
    if bad:
        shown = ", ".join(map(repr, bad[:5])) + (" ..." if len(bad) > 5 else "")
        raise StepSkipped(f"non-numeric columns are not supported by this explainer yet: {shown}")
    return frame.to_numpy(dtype="float64")


def _usable_rows(x: np.ndarray, *, allow_nan: bool) -> tuple[np.ndarray, int]:
    """Drop rows with inf (and NaN, unless the explainer handles missing values)."""
    import numpy as np

    keep = ~np.isinf(x).any(axis=1) if allow_nan else np.isfinite(x).all(axis=1)
    if not keep.any():
        raise StepSkipped("every sampled row has a missing or infinite value")
    return x[keep], int((~keep).sum())


def _write_values_csv(
    path: Any, values: np.ndarray, columns: list[str], outputs: list[str]
) -> None:
    import pandas as pd

    frames = []
    for k, output in enumerate(outputs):
        frame = pd.DataFrame(values[:CSV_ROWS, :, k], columns=columns)
        frame.insert(0, "row", range(len(frame)))
        frame.insert(1, "output", output)
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    import numpy as np

    assert ctx.reference is not None  # guaranteed by needs_data
    sample = ctx.reference.sample
    columns = list(sample.columns)
    choice = choose_explainer(ctx)
    x_all, dropped = _usable_rows(_numeric_matrix(sample), allow_nan=choice.algorithm == "tree")
    rng = np.random.default_rng(ctx.seed)
    bg_rows = min(BACKGROUND_ROWS, len(x_all))
    background = x_all[np.sort(rng.choice(len(x_all), size=bg_rows, replace=False))]
    predictor = make_predictor(ctx, columns)
    rows = len(x_all)
    if choice.algorithm == "permutation":
        rows = _sized_rows(predictor, x_all, background, workspace.budget_s)
    x = x_all[:rows]
    values, base, evals = _explain(choice, ctx, predictor, x, background)
    k = values.shape[2]
    outputs = (
        list(predictor.output_names)
        if len(predictor.output_names) == k
        else [f"output_{i}" for i in range(k)]
    )
    if choice.algorithm == "tree" and k != len(predictor.output_names):
        space = "raw model output (margin)"
    elif choice.algorithm == "linear":
        space = "raw model output (decision function)"
    else:
        space = predictor.output_space
    additivity = None
    if choice.algorithm == "permutation":
        predicted = _as_2d(predictor.fn(x))
        additivity = float(np.max(np.abs(values.sum(axis=1) + base - predicted)))
    mean_abs = np.abs(values).mean(axis=0)  # (features, outputs)
    overall = mean_abs.mean(axis=1)
    order = np.argsort(-overall)
    top = [columns[i] for i in order[:TOP_FEATURES_TAG]]
    write_json(
        workspace.out_dir / "global.json",
        {
            "explainer": choice.algorithm,
            "output_space": space,
            "rows_explained": int(rows),
            "features": columns,
            "outputs": {
                output: {"mean_abs": dict(zip(columns, mean_abs[:, i].tolist(), strict=True))}
                for i, output in enumerate(outputs)
            },
            "ranking": [columns[i] for i in order],
        },
    )
    write_json(
        workspace.out_dir / "card.json",
        {
            "explainer": choice.algorithm,
            "reason": choice.reason,
            "output_space": space,
            "rows_explained": int(rows),
            "background_rows": int(bg_rows),
            "background_sha256": hashlib.sha256(background.tobytes()).hexdigest(),
            "evaluations_per_row": int(evals),
            "seed": ctx.seed,
            "rows_dropped_non_finite": dropped,
            "additivity_max_abs": additivity,
        },
    )
    _write_values_csv(workspace.out_dir / "values.csv", values, columns, outputs)
    metrics: dict[str, float] = {"rows_explained": float(rows)}
    if additivity is not None:
        metrics["additivity_max_abs"] = additivity
    return StepOutput(
        metrics=metrics,
        tags={"explainer": choice.algorithm, "top_features": ",".join(top)},
        summary={"explainer": choice.algorithm, "reason": choice.reason, "top_features": top},
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``shap`` explainer."""
    return [
        ExplainerSpec(
            name="shap",
            run=_run,
            requires=("shap",),
            description="SHAP values; TreeSHAP, linear or Permutation chosen per model",
        )
    ]
