"""The SHAP algorithms mlflow-clarity runs, behind one calling convention.

Each algorithm takes an :class:`ExplainSetup` and the encoded rows to explain plus a
background, and returns an :class:`Attribution` with values shaped
``(rows, features, outputs)``. ``shap`` (and ``torch``) are imported inside the
functions only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.encoding import TableEncoding
from mlflow_clarity.model_access import Predictor, as_2d, torch_device_and_dtype, torch_module

if TYPE_CHECKING:
    import numpy as np

    from mlflow_clarity.types import ModelContext

MIN_PERMUTATION_EVALS = 500
EXACT_MAX_FEATURES = 10
GRADIENT_SAMPLES = 200
OWNER_ROWS = 1_000
"""Sample rows on which, with the background, a pipeline's transformed columns are traced
to its input columns."""


class AlgorithmUnavailable(Exception):
    # Not an error of ours: a reason to try the next algorithm in the chain.
    """This algorithm cannot explain this model; the message says why."""


@dataclass(frozen=True)
class ExplainSetup:
    """What every algorithm needs.

    Attributes:
        ctx: The model's context (model object, flavor, seed, options).
        encoding: How encoded matrices map to the model's DataFrame input.
        predictor: The model as a function of encoded matrices, or None when the model
            cannot be called that way (then only model-specific algorithms apply).
        cache: What an algorithm builds once and reuses on every chunk of rows (a
            TreeExplainer, a pipeline's column map).
    """

    ctx: ModelContext
    encoding: TableEncoding
    predictor: Predictor | None
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_features(self) -> int:
        """Number of raw input columns."""
        return len(self.encoding.columns)

    def frame(self, matrix: np.ndarray) -> Any:
        """The model's DataFrame input for an encoded matrix."""
        return self.encoding.decode(matrix)


@dataclass(frozen=True)
class Attribution:
    """SHAP values and what they explain.

    Attributes:
        values: ``(rows, features, outputs)`` attributions.
        base: ``(rows, outputs)`` base values (expected model output).
        output: ``(rows, outputs)`` model output in the explained space, if known.
        output_space: What the explained outputs are.
        output_names: One name per output.
        evaluations: Model rows evaluated per explained row (0 when none).
        error: ``(rows, features, outputs)`` standard errors for sampled algorithms.
        uses_background: Whether the result depends on the background sample.
    """

    values: np.ndarray
    base: np.ndarray
    output: np.ndarray | None
    output_space: str
    output_names: tuple[str, ...]
    evaluations: int
    error: np.ndarray | None = None
    uses_background: bool = True


def _as_3d(values: Any, rows: int, features: int) -> np.ndarray:
    import numpy as np

    if isinstance(values, list):  # one array per output (older shap, some models)
        return np.stack([np.asarray(v, dtype=float) for v in values], axis=-1)
    array = np.asarray(values, dtype=float)
    return array.reshape(rows, features, 1) if array.ndim == 2 else array


def _base(expected: Any, rows: int) -> np.ndarray:
    import numpy as np

    return np.tile(np.atleast_1d(np.asarray(expected, dtype=float)).ravel(), (rows, 1))


def _class_names(model: Any, outputs: int) -> tuple[str, ...]:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return ("prediction",) if outputs == 1 else tuple(f"output_{i}" for i in range(outputs))
    names = tuple(str(c) for c in classes)
    return names[-1:] if outputs == 1 and len(names) == 2 else names[:outputs]


# ---- trees ---------------------------------------------------------------------------


def _xgboost_contribs(model: Any, frame: Any) -> tuple[Any, Any]:
    import numpy as np
    import xgboost as xgb

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    matrix = xgb.DMatrix(frame)
    contribs = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=float)
    margin = as_2d(booster.predict(matrix, output_margin=True))
    # (rows, classes, features + 1) for multiclass, else (rows, features + 1)
    contribs = contribs.transpose(0, 2, 1) if contribs.ndim == 3 else contribs[:, :, None]
    return contribs, margin


def _lightgbm_contribs(model: Any, frame: Any) -> tuple[Any, Any]:
    import numpy as np

    contribs = np.asarray(model.predict(frame, pred_contrib=True), dtype=float)
    margin = as_2d(model.predict(frame, raw_score=True))
    outputs = margin.shape[1]
    rows = len(frame)
    contribs = contribs.reshape(rows, outputs, -1).transpose(0, 2, 1)
    return contribs, margin


def native_tree(
    setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0
) -> Attribution:
    """Exact path-dependent TreeSHAP from the booster itself (xgboost, lightgbm);
    deterministic, so ``chunk`` changes nothing."""
    model = setup.ctx.model
    module = type(model).__module__
    frame = setup.frame(x)
    if module.startswith("xgboost"):
        contribs, margin = _xgboost_contribs(model, frame)
    elif module.startswith("lightgbm"):
        contribs, margin = _lightgbm_contribs(model, frame)
    else:
        raise AlgorithmUnavailable(f"{type(model).__name__} has no native SHAP contributions")
    values, base = contribs[:, :-1, :], contribs[:, -1, :]
    classifier = hasattr(model, "classes_")
    return Attribution(
        values=values,
        base=base,
        output=margin,
        output_space="margin (log-odds)" if classifier else "raw prediction",
        output_names=_class_names(model, values.shape[2]),
        evaluations=0,
        uses_background=False,
    )


def _tree_attribution(explainer: Any, model: Any, values: Any, matrix: Any) -> Attribution:
    """An attribution from shap's TreeExplainer: its output space and model outputs."""
    output = as_2d(explainer.model.predict(matrix))
    space = {"probability": "probability", "log_odds": "margin (log-odds)"}.get(
        str(explainer.model.tree_output), "raw prediction"
    )
    return Attribution(
        values=values,
        base=_base(explainer.expected_value, len(values)),
        output=output,
        output_space=space,
        output_names=_class_names(model, values.shape[2]),
        evaluations=0,
        uses_background=False,
    )


def tree(setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0) -> Attribution:
    """Exact path-dependent TreeSHAP with shap's TreeExplainer (sklearn trees and more);
    deterministic, so ``chunk`` changes nothing."""
    import shap

    model = setup.ctx.model
    if "tree" not in setup.cache:
        setup.cache["tree"] = shap.TreeExplainer(model)
    explainer = setup.cache["tree"]
    frame = setup.frame(x)
    values = _as_3d(explainer.shap_values(frame, check_additivity=False), *x.shape)
    return _tree_attribution(explainer, model, values, frame.to_numpy(dtype=float))


def _dense(matrix: Any) -> np.ndarray:
    import numpy as np

    if hasattr(matrix, "toarray"):  # a sparse matrix (OneHotEncoder's default)
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=float)


def _changed(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Whether each column differs anywhere between two matrices (NaN equals NaN)."""
    import numpy as np

    same = (first == second) | (np.isnan(first) & np.isnan(second))
    return ~same.all(axis=0)


def input_owners(preprocess: Any, frame: Any) -> np.ndarray:
    """The input column each column of ``preprocess.transform(frame)`` is computed from.

    Each input column in turn is shifted by one row (every row takes the previous row's
    value); the transformed columns that change belong to it.

    Args:
        preprocess: A fitted sklearn transformer (the steps of a pipeline before its model).
        frame: Input rows like the pipeline's training data (two or more).

    Returns:
        For each transformed column, the position of its input column in ``frame``, or
        -1 when it changed with none (constant on these rows).

    Raises:
        AlgorithmUnavailable: A transformed column depends on two input columns (PCA,
            interactions): its SHAP value cannot be given to one of them.
    """
    import numpy as np

    base = _dense(preprocess.transform(frame))
    owners = np.full(base.shape[1], -1)
    previous = np.roll(np.arange(len(frame)), 1)
    for j, column in enumerate(frame.columns):
        shifted = frame.copy()
        shifted[column] = frame[column].iloc[previous].set_axis(frame.index)
        changed = np.flatnonzero(_changed(_dense(preprocess.transform(shifted)), base))
        shared = changed[owners[changed] >= 0]
        if len(shared):
            first = frame.columns[owners[shared[0]]]
            raise AlgorithmUnavailable(
                f"the preprocessing mixes input columns (a transformed column depends on "
                f"{first!r} and {column!r})"
            )
        owners[changed] = j
    return owners


def _pipeline_parts(model: Any) -> tuple[Any, Any]:
    steps = getattr(model, "steps", None)
    if not isinstance(steps, list) or len(steps) < 2:
        raise AlgorithmUnavailable("not an sklearn Pipeline with a preprocessing step")
    return model[:-1], model[-1]


def _pipeline_setup(
    setup: ExplainSetup, background: np.ndarray, used: Callable[[Any], Any]
) -> tuple[Any, Any, np.ndarray]:
    """The preprocessing, the final model and the column map (built once).

    Columns are traced on the background rows and, when the context has reference data,
    the first ``OWNER_ROWS`` of its sample (more categories seen).

    Args:
        setup: The explanation's setup (its model is an sklearn Pipeline).
        background: Background rows (encoded).
        used: The final model's per-column use (importances, coefficients) or None: a
            used column that no input column moves cannot be given to any of them.
    """
    import numpy as np

    if "pipeline" in setup.cache:
        return setup.cache["pipeline"]
    preprocess, model = _pipeline_parts(setup.ctx.model)
    rows = background
    if setup.ctx.reference is not None:
        sample = setup.encoding.encode(setup.ctx.reference.sample.iloc[:OWNER_ROWS])
        rows = np.vstack([sample, background])
    owners = input_owners(preprocess, setup.frame(rows))
    weights = used(model)
    if weights is not None and len(weights) == len(owners):
        untraced = np.flatnonzero((owners < 0) & (np.asarray(weights) != 0))
        if len(untraced):  # the model uses it, so it has SHAP values nobody gets
            raise AlgorithmUnavailable(
                f"transformed column {int(untraced[0])} is used by the model but did not "
                f"change with any input column on {len(rows)} rows"
            )
    setup.cache["pipeline"] = (preprocess, model, owners)
    return setup.cache["pipeline"]


def _per_input(values: np.ndarray, owners: np.ndarray, n_features: int) -> np.ndarray:
    """SHAP values of transformed columns summed per input column (rows x inputs x outputs)."""
    import numpy as np

    return np.stack([values[:, owners == j, :].sum(axis=1) for j in range(n_features)], axis=1)


def pipeline_tree(
    setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0
) -> Attribution:
    """Exact path-dependent TreeSHAP of an sklearn Pipeline ending in a tree model, given
    back to the raw input columns.

    The rows go through the pipeline's preprocessing; TreeSHAP explains the tree model on
    the transformed columns; each transformed column's value is added to the input column
    it is computed from (:func:`input_owners`: one-hot columns to their categorical
    column, a scaled column to itself), as shap's documentation advises for one-hot
    encodings. The sums keep additivity (they add up to the model's output less the
    expected output); deterministic, so ``chunk`` changes nothing.
    """
    import shap

    preprocess, model, owners = _pipeline_setup(
        setup, background, lambda m: getattr(m, "feature_importances_", None)
    )
    if "tree_explainer" not in setup.cache:
        setup.cache["tree_explainer"] = shap.TreeExplainer(model)
    explainer = setup.cache["tree_explainer"]
    matrix = _dense(preprocess.transform(setup.frame(x)))
    values = _as_3d(explainer.shap_values(matrix, check_additivity=False), *matrix.shape)
    grouped = _per_input(values, owners, setup.n_features)
    return _tree_attribution(explainer, model, grouped, matrix)


def _coefficients(model: Any) -> np.ndarray:
    import numpy as np

    return np.atleast_2d(np.asarray(model.coef_, dtype=float))  # outputs x columns


# ---- linear ----------------------------------------------------------------------------


def linear(setup: ExplainSetup, x: np.ndarray, background: np.ndarray) -> Attribution:
    """Exact SHAP of a linear model: coef * (x - mean of the background)."""
    import shap

    model = setup.ctx.model
    explainer = shap.LinearExplainer(model, background)
    values = _as_3d(explainer.shap_values(x), *x.shape)
    frame = setup.frame(x)
    classifier = hasattr(model, "classes_") and hasattr(model, "decision_function")
    output = as_2d(model.decision_function(frame) if classifier else model.predict(frame))
    return Attribution(
        values=values,
        base=_base(explainer.expected_value, len(x)),
        output=output,
        output_space="margin (log-odds)" if classifier else "raw prediction",
        output_names=_class_names(model, values.shape[2]),
        evaluations=0,
    )


def pipeline_linear(setup: ExplainSetup, x: np.ndarray, background: np.ndarray) -> Attribution:
    """Exact SHAP of an sklearn Pipeline ending in a linear model, on the raw input columns.

    With a preprocessing that computes each transformed column from one input column
    (scaling, imputing, one-hot encoding: checked by :func:`input_owners`), the model's
    margin is a sum of one function per input column, so each input's interventional
    SHAP value is the sum over its transformed columns of coef * (z - background mean of
    z): exact, in the margin (log-odds) space, additive by construction.
    """
    import numpy as np

    preprocess, model, owners = _pipeline_setup(
        setup, background, lambda m: np.any(_coefficients(m) != 0, axis=0)
    )
    coef = _coefficients(model)
    matrix = _dense(preprocess.transform(setup.frame(x)))
    mean = _dense(preprocess.transform(setup.frame(background))).mean(axis=0)
    values = _per_input((matrix - mean)[:, :, None] * coef.T[None, :, :], owners, setup.n_features)
    classifier = hasattr(model, "classes_") and hasattr(model, "decision_function")
    output = as_2d(model.decision_function(matrix) if classifier else model.predict(matrix))
    expected = mean @ coef.T + np.atleast_1d(np.asarray(model.intercept_, dtype=float))
    return Attribution(
        values=values,
        base=_base(expected, len(x)),
        output=output,
        output_space="margin (log-odds)" if classifier else "raw prediction",
        output_names=_class_names(model, values.shape[2]),
        evaluations=0,
    )


# ---- torch -----------------------------------------------------------------------------


def _torch_inputs(setup: ExplainSetup, *arrays: np.ndarray) -> tuple[Any, list[Any]]:
    import torch

    module = torch_module(setup.ctx.model)
    if module is None:
        raise AlgorithmUnavailable("not a torch nn.Module")
    device, dtype = torch_device_and_dtype(module)
    module.eval()
    return module, [torch.as_tensor(a, dtype=dtype, device=device) for a in arrays]


def _torch_output(module: Any, tensor: Any) -> np.ndarray:
    import torch

    with torch.no_grad():
        return as_2d(module(tensor).detach().cpu().numpy())


def deep(setup: ExplainSetup, x: np.ndarray, background: np.ndarray) -> Attribution:
    """DeepLIFT-SHAP (shap's DeepExplainer); refused when additivity does not hold."""
    import shap

    module, (xt, bt) = _torch_inputs(setup, x, background)
    explainer = shap.DeepExplainer(module, bt)
    try:
        values = _as_3d(explainer.shap_values(xt, check_additivity=True), *x.shape)
    except Exception as exc:  # shap raises a bare Exception when additivity fails
        raise AlgorithmUnavailable(f"DeepExplainer does not fit this network: {exc}") from exc
    return Attribution(
        values=values,
        base=_base(explainer.expected_value, len(x)),
        output=_torch_output(module, xt),
        output_space="model output",
        output_names=_class_names(None, values.shape[2]),
        evaluations=0,
    )


def gradient(setup: ExplainSetup, x: np.ndarray, background: np.ndarray) -> Attribution:
    """Expected gradients (shap's GradientExplainer); not exactly additive by design."""
    import numpy as np
    import shap

    module, (xt, bt) = _torch_inputs(setup, x, background)
    explainer = shap.GradientExplainer(module, bt)
    values = _as_3d(
        explainer.shap_values(xt, nsamples=GRADIENT_SAMPLES, rseed=setup.ctx.seed), *x.shape
    )
    base = _torch_output(module, bt).mean(axis=0)
    return Attribution(
        values=values,
        base=np.tile(base, (len(x), 1)),
        output=_torch_output(module, xt),
        output_space="model output",
        output_names=_class_names(None, values.shape[2]),
        evaluations=GRADIENT_SAMPLES,
    )


# ---- model-agnostic ----------------------------------------------------------------------


def _require_predictor(setup: ExplainSetup) -> Predictor:
    if setup.predictor is None:
        raise AlgorithmUnavailable("the model cannot be called on tabular data")
    return setup.predictor


def _agnostic_names(predictor: Predictor, outputs: int) -> tuple[str, ...]:
    if len(predictor.output_names) == outputs:
        return predictor.output_names
    return ("prediction",) if outputs == 1 else tuple(f"output_{i}" for i in range(outputs))


def _agnostic(
    predictor: Predictor,
    values: Any,
    base: Any,
    x: np.ndarray,
    evals: int,
    error: np.ndarray | None = None,
) -> Attribution:
    values = _as_3d(values, *x.shape)
    return Attribution(
        values=values,
        base=as_2d(base),
        output=predictor.fn(x),
        output_space=predictor.output_space,
        output_names=_agnostic_names(predictor, values.shape[2]),
        evaluations=evals,
        error=error,
    )


def exact_evaluations(n_features: int, background_rows: int) -> int:
    """Model rows per explained row for exact enumeration."""
    return (2**n_features) * background_rows


def exact(
    setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0
) -> Attribution:
    """Exact Shapley values by enumerating all 2^M coalitions (M <= 10); deterministic,
    so ``chunk`` changes nothing."""
    import shap

    if setup.n_features > EXACT_MAX_FEATURES:
        raise AlgorithmUnavailable(f"{setup.n_features} features; exact needs <= 10")
    predictor = _require_predictor(setup)
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explanation = shap.ExactExplainer(predictor.fn, masker)(x, silent=True)
    evals = exact_evaluations(x.shape[1], len(background))
    return _agnostic(predictor, explanation.values, explanation.base_values, x, evals)


def permutation_evaluations(n_features: int, options: dict[str, Any] | None = None) -> int:
    """Masked samples per explained row: at least 2M+1 and a floor, split in two halves."""
    floor = int((options or {}).get("max_evals", MIN_PERMUTATION_EVALS))
    half = max(floor // 2, 2 * n_features + 1)
    return 2 * half


def chunk_seed(seed: int, chunk: int, stream: int = 0) -> int:
    """An independent seed for one chunk of rows (and one of its random streams).

    Rows are explained in chunks of fixed sizes, so a row's values depend only on the
    seed and its position, never on how many chunks the time budget allowed.
    """
    import numpy as np

    return int(np.random.SeedSequence([seed, chunk, stream]).generate_state(1)[0])


def permutation(
    setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0
) -> Attribution:
    """Antithetic Permutation SHAP, run as two independent halves.

    The mean of the halves is the estimate; half their difference is the standard
    error of each value, so the error estimate costs no extra model calls.
    """
    import numpy as np
    import shap

    predictor = _require_predictor(setup)
    evals = permutation_evaluations(x.shape[1], dict(setup.ctx.options))
    masker = shap.maskers.Independent(background, max_samples=len(background))
    halves = []
    for offset in (0, 1):
        seed = chunk_seed(setup.ctx.seed, chunk, offset)
        explainer = shap.PermutationExplainer(predictor.fn, masker, seed=seed)
        halves.append(explainer(x, max_evals=evals // 2, silent=True))
    first = _as_3d(halves[0].values, *x.shape)
    second = _as_3d(halves[1].values, *x.shape)
    error = np.abs(first - second) / 2
    mean = (first + second) / 2
    return _agnostic(predictor, mean, halves[0].base_values, x, evals * len(background), error)


def kernel(
    setup: ExplainSetup, x: np.ndarray, background: np.ndarray, chunk: int = 0
) -> Attribution:
    """Kernel SHAP (only when asked for: Permutation is as accurate for less)."""
    import numpy as np
    import shap

    predictor = _require_predictor(setup)
    nsamples = setup.ctx.options.get("nsamples", "auto")
    explainer = shap.KernelExplainer(predictor.fn, background)
    np.random.seed(chunk_seed(setup.ctx.seed, chunk))  # KernelExplainer samples from it
    values = _as_3d(explainer.shap_values(x, nsamples=nsamples, silent=True), *x.shape)
    auto = 2 * x.shape[1] + 2048
    return Attribution(
        values=values,
        base=_base(explainer.expected_value, len(x)),
        output=predictor.fn(x),
        output_space=predictor.output_space,
        output_names=_agnostic_names(predictor, values.shape[2]),
        evaluations=(auto if nsamples == "auto" else int(nsamples)) * len(background),
    )


ALGORITHMS: dict[str, Callable[..., Attribution]] = {
    "native_tree": native_tree,
    "tree": tree,
    "pipeline_tree": pipeline_tree,
    "linear": linear,
    "pipeline_linear": pipeline_linear,
    "deep": deep,
    "gradient": gradient,
    "exact": exact,
    "permutation": permutation,
    "kernel": kernel,
}
MODEL_AGNOSTIC = ("exact", "permutation", "kernel")
"""Algorithms that only call the model (their cost is the model's calls)."""
TREES = ("native_tree", "tree", "pipeline_tree")
"""Exact TreeSHAP algorithms: no background, cost per row measured as they go."""
CHUNKED = MODEL_AGNOSTIC + TREES
"""Algorithms that explain rows in chunks (``chunk=`` index) within a time share."""


def concatenate(parts: list[Attribution]) -> Attribution:
    """One attribution of all the rows of several chunks explained the same way."""
    import numpy as np

    first = parts[0]
    if len(parts) == 1:
        return first

    def stacked(name: str) -> np.ndarray | None:
        arrays = [getattr(part, name) for part in parts]
        return None if arrays[0] is None else np.concatenate(arrays)

    return dataclasses.replace(
        first,
        values=stacked("values"),
        base=stacked("base"),
        output=stacked("output"),
        error=stacked("error"),
    )


def seconds_per_model_row(predictor: Predictor, background: np.ndarray, batch_rows: int) -> float:
    """Time one model call on a batch of the size the explainer sends; seconds per row.

    Small batches are dominated by per-call overhead, so the background is tiled up to
    ``batch_rows`` (at most 10,000) before timing.
    """
    import numpy as np

    rows = max(len(background), min(batch_rows, 10_000))
    batch = np.resize(background, (rows, background.shape[1]))
    started = time.perf_counter()
    predictor.fn(batch)
    return (time.perf_counter() - started) / rows
