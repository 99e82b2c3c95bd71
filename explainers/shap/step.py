"""Built-in explainer ``shap``: SHAP values with the right algorithm for each model.

Exact TreeSHAP for xgboost, lightgbm and sklearn trees, and for sklearn pipelines ending
in one (on the transformed columns, summed per input column); exact linear SHAP for
sklearn linear models; DeepLIFT-SHAP (else expected gradients) for torch modules; for
any other model, Exact enumeration up to 10 features, else Permutation SHAP, on the raw
input columns (pipelines and mixed-type frames included). TreeSHAP and the
model-agnostic algorithms explain rows in chunks within the step's share of the time
budget. The choice, its reason and every fallback are recorded in ``card.json``;
additivity, sampling error and background sensitivity in ``quality.json``.

Options (``autolog(step_options={"shap": {...}})``): ``explainer`` forces an algorithm
(``native_tree``, ``tree``, ``pipeline_tree``, ``linear``, ``deep``, ``gradient``,
``exact``, ``permutation``, ``kernel``); ``max_rows`` caps the rows explained (default
10,000 for trees, the sample for others); ``background_rows`` (default 100);
``max_evals`` (the permutation floor, default 500); ``nsamples`` (Kernel); ``plots``
(default True); ``background_agreement`` (default True: re-explain 50 rows under a
second background); ``background_file`` (a ``background.parquet`` written earlier,
reused by drift checks so that attributions of new data share the log-time background).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.data.encoding import TableEncoding
from mlflow_clarity.errors import logger
from mlflow_clarity.explainers.shap import artifacts as shap_artifacts
from mlflow_clarity.explainers.shap import plots as shap_plots
from mlflow_clarity.explainers.shap import quality as shap_quality
from mlflow_clarity.explainers.shap.algorithms import (
    ALGORITHMS,
    CHUNKED,
    MODEL_AGNOSTIC,
    TREES,
    AlgorithmUnavailable,
    Attribution,
    ExplainSetup,
    concatenate,
    exact_evaluations,
    permutation_evaluations,
    seconds_per_model_row,
)
from mlflow_clarity.explainers.shap.selection import Choice, explainer_chain
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.types import (
    HEADROOM,
    ExplainerSpec,
    ModelContext,
    StepOutput,
    StepSkipped,
    StepWorkspace,
    chunk_sizes,
    takes_tables,
)
from mlflow_clarity.versions import library_versions

if TYPE_CHECKING:
    import numpy as np

BACKGROUND_ROWS = 100
TREE_MAX_ROWS = 10_000
DEEP_MAX_ROWS = 1_000
GRADIENT_MAX_ROWS = 200
CHUNK_MAX_ROWS = 64
TREE_CHUNK_MAX_ROWS = 1_024  # TreeSHAP costs no model calls: bigger chunks, fewer calls
PLOT_SECONDS = 3.0  # every plot, 30 features, on a busy 2-core machine: about 2 s
PLOT_SHARE = 2.0  # plots may take the step to twice its share (a 12 s budget's is ~3.5 s)
AGREEMENT_ROWS = 50
COMPILE_SECONDS = 5.0  # shap's numba code for exact/permutation, once per process, 2 cores
_COMPILED_ALGORITHMS = ("exact", "permutation")
_COMPILED = threading.Event()  # set once an exact or permutation explanation returned
TOP_FEATURES_TAG = 5
# Shares of the step's budget for explaining rows; the rest is for the quality checks
_BUDGET_SHARE = 0.5  # plots and a second background (re-explains AGREEMENT_ROWS rows)
_BUDGET_SHARE_PLOTS = 0.75  # plots only (TreeSHAP needs no background)
_BUDGET_SHARE_ALONE = 0.9  # neither (drift checks)


@dataclass
class _Attempts:
    """What was tried, for the card."""

    fallbacks: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truncated: str | None = None


def _rows_the_model_accepts(setup: ExplainSetup, x: np.ndarray, attempts: _Attempts) -> Any:
    """Positions of the rows to explain: rows with missing values only if the model takes them."""
    import numpy as np

    incomplete = ~np.isfinite(x).all(axis=1)
    everything = np.arange(len(x))
    if not incomplete.any() or setup.predictor is None:
        return everything
    try:
        setup.predictor.fn(x[incomplete][:10])
        return everything
    except Exception as exc:  # the model rejects missing values: explain complete rows
        if incomplete.all():
            raise AlgorithmUnavailable(
                f"the model fails on missing values ({type(exc).__name__}) and every row has one"
            ) from exc
        note = f"dropped {int(incomplete.sum())} row(s) with missing values the model rejects"
        if note not in attempts.notes:
            attempts.notes.append(note)
        return everything[~incomplete]


def _background(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    import numpy as np

    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), size=min(rows, len(x)), replace=False))]


def _model_rows_per_row(algorithm: str, setup: ExplainSetup, background: np.ndarray) -> int:
    n = setup.n_features
    if algorithm == "exact":
        return exact_evaluations(n, len(background))
    if algorithm == "kernel":
        nsamples = setup.ctx.options.get("nsamples", "auto")
        return (2 * n + 2048 if nsamples == "auto" else int(nsamples)) * len(background)
    return permutation_evaluations(n, dict(setup.ctx.options)) * len(background)


def _explanation_share(options: Any, algorithm: str) -> float:
    """The share of the step's budget for explaining rows: half when the background
    agreement (and the plots) need the rest, three quarters when only the plots do,
    nearly all without either (drift checks)."""
    agreement = options.get("background_agreement", True) and algorithm not in TREES
    if agreement:
        return _BUDGET_SHARE
    return _BUDGET_SHARE_PLOTS if options.get("plots", True) else _BUDGET_SHARE_ALONE


def _estimated_seconds_per_row(
    choice: Choice, setup: ExplainSetup, background: np.ndarray, seconds: float
) -> float:
    """The cost of one row from the time of one model call on a batch of its size; falls
    back at once when even one row would not fit in ``seconds``."""
    assert setup.predictor is not None
    model_rows = _model_rows_per_row(choice.algorithm, setup, background)
    per_row = seconds_per_model_row(setup.predictor, background, model_rows) * model_rows
    if per_row > seconds:
        raise AlgorithmUnavailable(
            f"too slow for the budget: about {per_row:.1f}s per row, {seconds:.0f}s available"
        )
    return per_row


def _check_compilation_fits(algorithm: str, workspace: StepWorkspace) -> None:
    """Refuse exact and permutation SHAP when shap's one-off compilation (the first such
    explanation in a process) cannot end before the deadline: a step abandoned in the
    middle of it would lose everything, a refusal leaves a reason."""
    if algorithm not in _COMPILED_ALGORITHMS or _COMPILED.is_set():
        return
    left = workspace.deadline - time.monotonic()
    if left < HEADROOM * COMPILE_SECONDS:
        raise AlgorithmUnavailable(
            f"shap compiles its {algorithm} code once per process (about "
            f"{COMPILE_SECONDS:.0f}s on 2 cores, more when they are busy) and {left:.1f}s "
            "are left of the budget: a larger budget_s, or mlflow-clarity explain, gives it "
            "the time"
        )


def _tree_chunk(left: int, per_row: float, seconds: float) -> int:
    """Rows of the next TreeSHAP chunk: as many as are expected to fit in ``seconds``
    (at most ``TREE_CHUNK_MAX_ROWS``); 0 when not even one row fits."""
    if per_row <= 0:
        return min(left, TREE_CHUNK_MAX_ROWS)
    return int(max(0.0, min(left, TREE_CHUNK_MAX_ROWS, seconds / (HEADROOM * per_row))))


def _explain_in_chunks(
    choice: Choice,
    setup: ExplainSetup,
    x: np.ndarray,
    background: np.ndarray,
    workspace: StepWorkspace,
    step_ends: float,
) -> tuple[Attribution, str | None]:
    """Explain rows chunk by chunk until they are done or the time share is used up.

    The first chunk, one row, pays one-off costs such as shap's numba compilation
    (seconds on a busy machine: refused when it would not end before the deadline, see
    :func:`_check_compilation_fits`) or building a TreeExplainer; the explanation's share of
    the budget (:func:`_explanation_share`) is counted from its end, but never runs past
    ``step_ends`` (the step's whole budget counted from its start: one-off costs such as
    importing shap shorten the explanation rather than the steps after it).

    Model-agnostic algorithms draw seeded samples per chunk, so their chunk sizes are
    fixed (:func:`~mlflow_clarity.types.chunk_sizes`); the cost per row is estimated
    from one timed model call, then re-measured on every later chunk (the latest
    chunk's rate, so a machine that slows down is noticed at once), and a chunk starts
    only if it is expected to end within the share. TreeSHAP is deterministic, so each
    chunk is sized to what is left of the share at the latest chunk's rate (the first
    chunk's rate, one-off costs included, is an upper bound): few calls on a fast model,
    one row at a time on a slow one. Rows explained so far are kept.

    Returns:
        The attribution of the rows explained (a prefix of ``x``) and, when it stopped
        early, why and how far it got.
    """
    share = _explanation_share(setup.ctx.options, choice.algorithm)
    agnostic = choice.algorithm in MODEL_AGNOSTIC
    per_row = 0.0
    _check_compilation_fits(choice.algorithm, workspace)
    if agnostic:
        available = min(workspace.work_until(share), step_ends) - time.monotonic()
        per_row = _estimated_seconds_per_row(choice, setup, background, available)
    fixed = iter(chunk_sizes(len(x), CHUNK_MAX_ROWS))
    parts: list[Attribution] = []
    done, stop_at, index = 0, float("inf"), 0
    while done < len(x):
        if agnostic:
            size = next(fixed)
        elif not parts:
            size = 1
        else:
            size = _tree_chunk(len(x) - done, per_row, stop_at - time.monotonic())
        if parts and (size == 0 or time.monotonic() + HEADROOM * per_row * size > stop_at):
            break
        tick = time.monotonic()
        parts.append(ALGORITHMS[choice.algorithm](setup, x[done : done + size], background, index))
        if index == 0:
            stop_at = min(workspace.work_until(share), step_ends)
            if choice.algorithm in _COMPILED_ALGORITHMS:
                _COMPILED.set()
        if index > 0 or not agnostic:  # numba's compilation is not a cost per row
            per_row = (time.monotonic() - tick) / size
        done += size
        index += 1
    truncated = None
    if done < len(x):
        truncated = f"time budget: explained {done:,} of {len(x):,} rows with {choice.algorithm}"
    return concatenate(parts), truncated


def _rows_wanted(choice: Choice, setup: ExplainSetup, x: np.ndarray) -> np.ndarray:
    """The rows an algorithm should explain: a prefix of the sample (or a bigger draw)."""
    ctx = setup.ctx
    cap = int(ctx.options.get("max_rows", 0)) or None
    if choice.algorithm in TREES:
        assert ctx.reference is not None
        wanted = min(cap or TREE_MAX_ROWS, ctx.reference.n_rows)
        if wanted > len(x):
            frame, _ = ctx.reference.draw(wanted)
            return setup.encoding.encode(frame)
        return x[:wanted]
    rows = {"deep": DEEP_MAX_ROWS, "gradient": GRADIENT_MAX_ROWS}.get(choice.algorithm, len(x))
    return x[: min(rows, cap or rows, len(x))]


def _explain_with_fallbacks(
    setup: ExplainSetup,
    x: np.ndarray,
    background: np.ndarray,
    workspace: StepWorkspace,
    step_ends: float,
) -> tuple[Choice, Attribution, np.ndarray, np.ndarray, _Attempts]:
    """Try the chain; return the choice, attribution, rows explained and their positions.

    Positions index the reference data's sampling order (see ``ReferenceData.draw``):
    position ``i`` is row ``i`` of the sample, or of a bigger draw for trees.
    """
    import numpy as np

    attempts = _Attempts()
    for choice in explainer_chain(setup.ctx, setup.encoding):
        try:
            keep = _rows_the_model_accepts(setup, x, attempts)
            rows = _rows_wanted(choice, setup, x[keep])
            if choice.algorithm in CHUNKED:
                attribution, attempts.truncated = _explain_in_chunks(
                    choice, setup, rows, background, workspace, step_ends
                )
                rows = rows[: len(attribution.values)]
            else:
                attribution = ALGORITHMS[choice.algorithm](setup, rows, background)
            ids = keep[: len(rows)] if len(rows) <= len(keep) else np.arange(len(rows))
            return choice, attribution, rows, ids, attempts
        except Exception as exc:  # recorded in card.json as the reason for the fallback
            reason = str(exc) if isinstance(exc, AlgorithmUnavailable) else repr(exc)
            logger.info("shap: %s did not work (%s); trying the next", choice.algorithm, reason)
            attempts.fallbacks.append({"explainer": choice.algorithm, "reason": reason[:500]})
    tried = "; ".join(f"{f['explainer']}: {f['reason']}" for f in attempts.fallbacks)
    raise StepSkipped(f"no SHAP algorithm could explain this model ({tried})")


def _background_agreement(
    setup: ExplainSetup,
    choice: Choice,
    attribution: Attribution,
    rows: np.ndarray,
    pool: np.ndarray,
    deadline: float,
    started: float,
) -> dict[str, Any]:
    """Rank agreement of global importance under a second, independent background."""
    if not attribution.uses_background:
        return {"status": "not applicable", "reason": "path-dependent TreeSHAP uses no background"}
    if not setup.ctx.options.get("background_agreement", True):
        return {"status": "skipped", "reason": "not asked for (background_agreement=False)"}
    n = min(AGREEMENT_ROWS, len(rows))
    elapsed = time.monotonic() - started
    if time.monotonic() + elapsed * n / len(rows) * 1.5 > deadline:
        return {"status": "skipped", "reason": "not enough time left in the budget"}
    other = _background(pool, BACKGROUND_ROWS, setup.ctx.seed + 1)
    second = ALGORITHMS[choice.algorithm](setup, rows[:n], other)
    spearman = shap_quality.rank_agreement(
        shap_quality.importance(attribution.values[:n]), shap_quality.importance(second.values)
    )
    return {"status": "ok", "rows": n, "spearman": spearman}


def _card(
    ctx: ModelContext,
    choice: Choice,
    attribution: Attribution,
    background: np.ndarray,
    attempts: _Attempts,
) -> dict[str, Any]:
    return {
        "explainer": choice.algorithm,
        "reason": choice.reason,
        "fallbacks": attempts.fallbacks,
        "output_space": attribution.output_space,
        "outputs": list(attribution.output_names),
        "rows_explained": len(attribution.values),
        "background_rows": len(background) if attribution.uses_background else 0,
        "background_sha256": hashlib.sha256(background.tobytes()).hexdigest(),
        "model_rows_per_explained_row": attribution.evaluations,
        "seed": ctx.seed,
        "options": dict(ctx.options),
        "notes": attempts.notes,
        "truncated": attempts.truncated,
        "versions": {k: v for k, v in library_versions().items() if k in ("shap", "numpy")},
    }


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    import numpy as np

    step_ends = workspace.work_until()  # this step's budget, counted from its start
    import shap  # noqa: F401  # imported before anything is timed: seconds when cold

    started = time.monotonic()
    assert ctx.reference is not None  # guaranteed by needs_data
    sample = ctx.reference.sample
    columns = list(sample.columns)
    encoding = TableEncoding.fit(sample)
    x = encoding.encode(sample)
    try:
        predictor = model_access.predictor(ctx, encoding)
    except (TypeError, AttributeError) as exc:
        logger.info("shap: the model cannot be called on tabular data: %s", exc)
        predictor = None
    setup = ExplainSetup(ctx, encoding, predictor)
    bg_rows = int(ctx.options.get("background_rows", BACKGROUND_ROWS))
    complete = x[np.isfinite(x).all(axis=1)]
    pool = complete if len(complete) else x  # the background avoids missing values if it can
    if ctx.options.get("background_file"):  # the background of an earlier explanation
        import pandas as pd

        background = encoding.encode(pd.read_parquet(ctx.options["background_file"]))
    else:
        background = _background(pool, bg_rows, ctx.seed)
    choice, attribution, rows, ids, attempts = _explain_with_fallbacks(
        setup, x, background, workspace, step_ends
    )
    reference_rows = ctx.reference.positions(int(ids.max()) + 1)[ids]
    quality = {
        "output_space": attribution.output_space,
        "additivity": shap_quality.additivity(attribution),
        "sampling_error": shap_quality.sampling_error(attribution),
        "background_agreement": _background_agreement(
            setup, choice, attribution, rows, pool, workspace.work_until(), started
        ),
    }
    plots = ctx.options.get("plots", True) and _time_for_plots(workspace, attempts)
    card = _card(ctx, choice, attribution, background, attempts)
    background_frame = encoding.decode(background)
    written = shap_artifacts.write_all(
        workspace.out_dir, attribution, columns, reference_rows, background_frame, quality, card
    )
    if plots:
        labels = {c: encoding.category_labels(c) for c in columns}
        shap_plots.draw_all(
            workspace.out_dir,
            attribution,
            columns,
            rows,
            reference_rows,
            shap_artifacts.representative_rows(attribution),
            labels,
        )
    summary = written["global"]
    return StepOutput(
        metrics=_metrics(attribution, quality),
        tags={
            "explainer": choice.algorithm,
            "top_features": ",".join(summary["ranking"][:TOP_FEATURES_TAG]),
        },
        summary={
            "explainer": choice.algorithm,
            "reason": choice.reason,
            "fallbacks": attempts.fallbacks,
            "top_features": summary["ranking"][:TOP_FEATURES_TAG],
        },
        results=written,
        truncated=attempts.truncated,
    )


def _time_for_plots(workspace: StepWorkspace, attempts: _Attempts) -> bool:
    """Whether the plots fit in what is left of the budget (else say they were left out).

    They may take the step past its share (up to ``PLOT_SHARE`` times it, never past the
    deadline's margin): under the default budget a step's share is shorter than the
    plots' allowance, and the steps after the explainers need less than theirs.
    """
    if time.monotonic() + HEADROOM * PLOT_SECONDS <= workspace.work_until(PLOT_SHARE):
        return True
    reason = "time budget: plots not drawn"
    attempts.truncated = f"{attempts.truncated}; {reason}" if attempts.truncated else reason
    return False


def _metrics(attribution: Attribution, quality: dict[str, Any]) -> dict[str, float]:
    """The headline figures logged to MLflow; the rest are in quality.json."""
    metrics = {"rows_explained": float(len(attribution.values))}
    if quality["additivity"] is not None:
        metrics["additivity_max"] = quality["additivity"]["max"]
    if quality["sampling_error"] is not None:
        metrics["error_mean_relative"] = quality["sampling_error"]["mean_relative"]
    return metrics


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``shap`` explainer."""
    return [
        ExplainerSpec(
            name="shap",
            run=_run,
            requires=("shap",),
            supports=takes_tables,
            description="SHAP values; exact TreeSHAP/linear/Deep or budgeted Permutation",
        )
    ]
