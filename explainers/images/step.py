"""Built-in explainer ``images``: attribution maps for image models, with their quality.

For a torch module, Integrated Gradients (50 Gauss-Legendre steps; 20 when 50 would not
explain enough images in the budget) on the predicted class of each image, else
GradientSHAP; for any other model (or a torch module when asked), KernelSHAP over 20
SLIC superpixels as SageMaker Clarify does. The baseline is a blurred copy of each image
(sigma 5 % of its side) unless the blurred copies keep the model's predictions, then the
reference images' channel mean. Quality: completeness, deletion and insertion against
a random order under zero and blur replacement, a parameter-randomisation sanity check,
and LIME on the same superpixels with its agreement. Every phase is sized to the step's
time budget and what was cut is said in ``truncated``.

Options (``autolog(step_options={"images": {...}})``): ``explainer``
(``integrated_gradients``, ``gradient_shap``, ``kernel_shap``), ``baseline`` (``auto``,
``blur``, ``mean``), ``max_images`` (32), ``n_steps`` (IG), ``n_samples`` (KernelSHAP,
200), ``quality_images`` (8), ``sanity_images`` (8), ``sanity_layers`` (2),
``lime_images`` (4), ``plots`` (True).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlflow_clarity.errors import logger
from mlflow_clarity.explainers.images import artifacts, plots, quality
from mlflow_clarity.explainers.images.arrays import blur_sigma, blurred, channel_mean
from mlflow_clarity.explainers.images.attribution import (
    GRADIENT_METHODS,
    GRADIENT_SHAP_SAMPLES,
    IG_STEPS,
    IG_STEPS_REDUCED,
    KERNEL_SAMPLES,
    METHOD_FUNCTIONS,
    METHODS,
    Explained,
    MethodUnavailable,
    Setup,
    concatenate,
    images_per_batch,
    internal_batch_size,
)
from mlflow_clarity.explainers.images.lime_images import LIME_SAMPLES, agreement, lime_segments
from mlflow_clarity.explainers.images.model import ImageModel, image_model, probabilities
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import IMAGES, IMAGES_FILES
from mlflow_clarity.types import (
    HEADROOM,
    ExplainerSpec,
    ModelContext,
    ReportSection,
    RunReport,
    StepOutput,
    StepSkipped,
    StepWorkspace,
)

if TYPE_CHECKING:
    import numpy as np

STEP = "images"
MAX_IMAGES = 32
MIN_IMAGES = 8  # IG drops to 20 steps when 50 would explain fewer in the budget
QUALITY_IMAGES = 8
SANITY_IMAGES = 8
SANITY_LAYERS = 2
LIME_IMAGES = 4
PLOT_SECONDS = 4.0
BLUR_KEEPS_CLASS = 0.5  # share of images whose class survives blurring: blur is no baseline
_GRADIENT_COST = 3.0  # a forward and backward pass cost about three forward passes
# Ends of each phase, as shares of the step's budget counted from its start.
_EXPLAIN_SHARE, _QUALITY_SHARE, _LIME_SHARE = 0.5, 0.75, 0.87


@dataclass
class _Progress:
    """What was tried, cut and noticed, for the summary."""

    fallbacks: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """The images to explain and what the model says about them."""

    layout: str
    x: np.ndarray
    positions: list[int]
    labels: list[Any] | None
    outputs: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    score_space: str
    seconds_per_row: float


@dataclass(frozen=True)
class _Baseline:
    """Baseline images (one per explained image), their kind and why."""

    kind: str
    images: np.ndarray
    reason: str


def supports_images(ctx: ModelContext) -> bool:
    """Whether the model takes images (decided from the reference data or signature)."""
    return ctx.modality.kind == "image"


def _phase_end(started: float, workspace: StepWorkspace, share: float) -> float:
    return min(started + share * workspace.budget_s, workspace.work_until())


def _plan(ctx: ModelContext, model: ImageModel) -> _Plan:
    import numpy as np

    assert ctx.reference is not None
    wanted = int(ctx.options.get("max_images", MAX_IMAGES))
    x = np.asarray(ctx.reference.items[:wanted], dtype=np.float32)
    positions = [int(p) for p in ctx.reference.sample["position"].to_numpy()[: len(x)]]
    labels = None
    if ctx.reference.sample_labels is not None:
        labels = [artifacts.json_value(v) for v in ctx.reference.sample_labels.iloc[: len(x)]]
    tick = time.monotonic()
    outputs = model.outputs(x)
    seconds_per_row = (time.monotonic() - tick) / len(x)
    classes = outputs.argmax(axis=1)
    probs, space = probabilities(outputs)
    scores = probs[np.arange(len(x)), classes]
    return _Plan(
        model.layout, x, positions, labels, outputs, classes, scores, space, seconds_per_row
    )


def _baseline(ctx: ModelContext, model: ImageModel, plan: _Plan) -> _Baseline:
    """The baseline (option ``baseline``: ``auto``, ``blur``, ``mean``)."""
    assert ctx.reference is not None
    wanted = str(ctx.options.get("baseline", "auto"))
    sigma = blur_sigma(plan.x, model.layout)
    blur = blurred(plan.x, model.layout)
    mean = channel_mean(ctx.reference.items, model.layout, plan.x)
    if wanted == "blur":
        return _Baseline("blur", blur, f"asked for: a blurred copy (sigma {sigma:.1f} px)")
    if wanted == "mean":
        return _Baseline("channel_mean", mean, "asked for: the reference images' channel mean")
    checked = min(len(plan.x), MIN_IMAGES)
    kept = int((model.outputs(blur[:checked]).argmax(axis=1) == plan.classes[:checked]).sum())
    if kept >= BLUR_KEEPS_CLASS * checked and plan.outputs.shape[1] > 1:
        return _Baseline(
            "channel_mean",
            mean,
            f"blurred copies (sigma {sigma:.1f} px) keep the predicted class of {kept} of "
            f"{checked} images, so they remove little of what the model uses; the reference "
            "images' channel mean instead",
        )
    return _Baseline(
        "blur",
        blur,
        f"a blurred copy of each image (sigma {sigma:.1f} px, 5% of its side); it changes "
        f"the predicted class of {checked - kept} of {checked} images",
    )


def _chain(ctx: ModelContext, model: ImageModel) -> list[tuple[str, str]]:
    """Methods to try in order, each with why."""
    asked = ctx.options.get("explainer")
    if asked is not None and asked not in METHODS:
        raise StepSkipped(f"unknown explainer {asked!r}; choose one of {', '.join(METHODS)}")
    if model.differentiable:
        chain = [
            ("integrated_gradients", "a torch module: gradients are available"),
            ("gradient_shap", "fallback: expected gradients over reference images"),
            ("kernel_shap", "fallback: model-agnostic KernelSHAP over SLIC superpixels"),
        ]
    else:
        chain = [("kernel_shap", f"not a torch module ({model.source}): model-agnostic")]
    if asked is not None:
        chain = [(asked, "asked for (option explainer)")] + [c for c in chain if c[0] != asked]
    return chain


def _estimate(method: str, setup: Setup, plan: _Plan) -> float:
    """Seconds per image, from the time of one forward pass per image."""
    rows = {
        "integrated_gradients": setup.n_steps * _GRADIENT_COST,
        "gradient_shap": setup.n_samples * _GRADIENT_COST,
        "kernel_shap": setup.n_samples + 2.0,
    }[method]
    return rows * plan.seconds_per_row


def _setup(
    ctx: ModelContext,
    method: str,
    model: ImageModel,
    plan: _Plan,
    stop_at: float,
    progress: _Progress,
) -> Setup:
    """Settings of a method, sized so that enough images fit before ``stop_at``."""
    assert ctx.reference is not None
    if method == "kernel_shap":
        return Setup(model, ctx.seed, n_samples=int(ctx.options.get("n_samples", KERNEL_SAMPLES)))
    if method == "gradient_shap":
        reference = ctx.reference.items[: 2 * MIN_IMAGES].astype("float32")
        return Setup(model, ctx.seed, n_samples=GRADIENT_SHAP_SAMPLES, reference=reference)
    setup = Setup(model, ctx.seed, n_steps=int(ctx.options.get("n_steps", IG_STEPS)))
    available = stop_at - time.monotonic()
    wanted = min(MIN_IMAGES, len(plan.x))
    per_image = _estimate(method, setup, plan)
    if "n_steps" not in ctx.options and per_image * wanted > available:
        progress.notes.append(
            f"Integrated Gradients with {IG_STEPS_REDUCED} steps: {IG_STEPS} steps (about "
            f"{per_image:.1f}s per image) would explain fewer than {wanted} images in the budget"
        )
        setup = replace(setup, n_steps=IG_STEPS_REDUCED)
    return setup


def _batches(total: int, size: int) -> list[int]:
    """Fixed batch sizes (one image first, then ``size``): never depend on timing."""
    sizes, done = [], 0
    while done < total:
        sizes.append(min(1 if not sizes else size, total - done))
        done += sizes[-1]
    return sizes


def _explain(
    method: str, setup: Setup, plan: _Plan, baselines: np.ndarray, stop_at: float
) -> Explained:
    """Explain images batch by batch while the next batch is expected to end in time."""
    per_image = _estimate(method, setup, plan)
    if time.monotonic() + per_image > stop_at:
        raise MethodUnavailable(
            f"too slow for the budget: about {per_image:.1f}s per image, "
            f"{max(0.0, stop_at - time.monotonic()):.1f}s available"
        )
    steps = setup.n_steps if method == "integrated_gradients" else setup.n_samples
    parts: list[Explained] = []
    done = 0
    for index, size in enumerate(_batches(len(plan.x), images_per_batch(plan.x, steps))):
        if parts and time.monotonic() + HEADROOM * per_image * size > stop_at:
            break
        tick = time.monotonic()
        end = done + size
        part = METHOD_FUNCTIONS[method](
            setup, plan.x[done:end], baselines[done:end], plan.classes[done:end], index
        )
        parts.append(part)
        per_image = (time.monotonic() - tick) / size
        done = end
    return concatenate(parts)


def _explain_with_fallbacks(
    ctx: ModelContext,
    plan: _Plan,
    baselines: np.ndarray,
    stop_at: float,
    progress: _Progress,
) -> tuple[str, str, Setup, Explained]:
    model = image_model(ctx)
    for method, reason in _chain(ctx, model):
        try:
            method_model = model if method in GRADIENT_METHODS else image_model(ctx, black_box=True)
            setup = _setup(ctx, method, method_model, plan, stop_at, progress)
            return method, reason, setup, _explain(method, setup, plan, baselines, stop_at)
        except Exception as exc:  # recorded as the reason for the fallback
            why = str(exc) if isinstance(exc, MethodUnavailable) else repr(exc)
            logger.info("images: %s did not work (%s); trying the next", method, why)
            progress.fallbacks.append({"explainer": method, "reason": why[:500]})
    tried = "; ".join(f"{f['explainer']}: {f['reason']}" for f in progress.fallbacks)
    raise StepSkipped(f"no method could explain this image model ({tried})")


def _curves(
    setup: Setup, plan: _Plan, explained: Explained, limit: int, stop_at: float
) -> tuple[dict[str, Any] | None, int]:
    """Deletion/insertion figures on up to ``limit`` images, while time allows."""
    import numpy as np

    model = setup.model
    rng = np.random.default_rng(setup.seed)
    wanted = min(limit, len(explained.maps))
    per_image = quality.curve_forwards() * plan.seconds_per_row
    per_image_results = []
    for i in range(wanted):
        if time.monotonic() + HEADROOM * per_image > stop_at:
            break
        tick = time.monotonic()
        image = plan.x[i : i + 1]

        def score(batch: np.ndarray, target: int) -> np.ndarray:
            return probabilities(model.outputs(batch))[0][:, target]

        canvases = {k: v[0] for k, v in quality.canvases(image, model.layout).items()}
        per_image_results.append(
            quality.curves_for_image(
                score,
                image[0],
                explained.maps[i],
                int(plan.classes[i]),
                model.layout,
                canvases,
                rng,
            )
        )
        per_image = time.monotonic() - tick
    if not per_image_results:
        return None, wanted
    return quality.summarise_curves(per_image_results), wanted


def _sanity(
    ctx: ModelContext,
    method: str,
    setup: Setup,
    plan: _Plan,
    baselines: np.ndarray,
    explained: Explained,
    stop_at: float,
) -> dict[str, Any]:
    """Parameter-randomisation check on up to ``sanity_images`` images."""
    input_rho = quality.input_similarity(
        explained.maps, plan.x[: len(explained.maps)], setup.model.layout
    )
    result: dict[str, Any] = {
        "input_rho": input_rho,
        "rho": None,
        "threshold": quality.SANITY_WARN_RHO,
    }
    if setup.model.module is None:
        result["status"] = "not applicable: the model is not a torch module"
        return result
    layers = int(ctx.options.get("sanity_layers", SANITY_LAYERS))
    try:
        twin, names = setup.model.randomised(layers, ctx.seed)
    except ValueError as exc:
        result["status"] = f"not computed: {exc}"
        return result
    wanted = min(int(ctx.options.get("sanity_images", SANITY_IMAGES)), len(explained.maps))
    if wanted == 0:
        result["status"] = "not asked for (sanity_images 0)"
        return result
    per_image = _estimate(method, setup, plan)
    fits = (
        max(0, int((stop_at - time.monotonic()) / (HEADROOM * per_image))) if per_image else wanted
    )
    n = min(wanted, fits)
    if n == 0:
        result["status"] = "skipped: not enough time left in the budget"
        return result
    random_setup = replace(setup, model=twin)
    random_maps = METHOD_FUNCTIONS[method](
        random_setup, plan.x[:n], baselines[:n], plan.classes[:n], 0
    ).maps
    rho = quality.randomisation_rho(explained.maps[:n], random_maps)
    result.update(
        status="ok",
        images=n,
        randomised_layers=names,
        rho=rho,
        input_rho_same_images=quality.input_similarity(
            explained.maps[:n], plan.x[:n], setup.model.layout
        ),
    )
    if method == "kernel_shap":
        result["note"] = "the SLIC segments are shared by both models, which raises rho"
    result["verdict"] = quality.sanity_verdict(rho, input_rho)
    return result


def _lime(
    ctx: ModelContext, plan: _Plan, baselines: np.ndarray, explained: Explained, stop_at: float
) -> tuple[dict[str, Any] | None, int]:
    """LIME on a few images and its agreement with the attributions, while time allows."""
    import numpy as np

    wanted = min(int(ctx.options.get("lime_images", LIME_IMAGES)), len(explained.maps))
    setup = Setup(image_model(ctx, black_box=True), ctx.seed, n_samples=LIME_SAMPLES)
    per_image = (LIME_SAMPLES + 2) * plan.seconds_per_row
    segments, weights = [], []
    for i in range(wanted):
        if time.monotonic() + HEADROOM * per_image > stop_at:
            break
        tick = time.monotonic()
        s, w = lime_segments(
            setup, plan.x[i : i + 1], baselines[i : i + 1], plan.classes[i : i + 1]
        )
        segments.append(s[0])
        weights.extend(w)
        per_image = time.monotonic() - tick
    if not weights:
        return None, wanted
    found = agreement(explained.maps[: len(weights)], np.stack(segments), tuple(weights))
    found["samples"] = LIME_SAMPLES
    return found, wanted


def _items(
    plan: _Plan, explained: Explained, names: list[str], ctx: ModelContext
) -> list[dict[str, Any]]:
    per_image = quality.completeness(explained.delta, explained.delta_f)["per_image"]
    class_names = getattr(ctx.model, "classes_", None)
    items = []
    for i, name in enumerate(names):
        k = int(plan.classes[i])
        items.append(
            {
                "position": plan.positions[i],
                "label": None if plan.labels is None else plan.labels[i],
                "class_index": k,
                "class": k if class_names is None else artifacts.json_value(class_names[k]),
                "output": float(plan.outputs[i, k]),
                "probability": float(plan.scores[i]),
                "delta_f": float(explained.delta_f[i]),
                "completeness_relative": per_image[i],
                "map": name,
            }
        )
    return items


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Headline figures first (the first five are logged to MLflow); finite ones only."""
    q = summary["quality"]
    curves = q["deletion_insertion"] or {}
    candidates = [
        ("rows_explained", summary["rows_explained"]),
        ("completeness_delta", q["completeness"]["relative"]),
        ("deletion_ratio", curves.get("zero", {}).get("deletion_ratio")),
        ("insertion_ratio", curves.get("zero", {}).get("insertion_ratio")),
        ("sanity_rho", q["sanity"]["rho"]),
        ("deletion_ratio_blur", curves.get("blur", {}).get("deletion_ratio")),
        ("insertion_ratio_blur", curves.get("blur", {}).get("insertion_ratio")),
        ("input_rho", q["sanity"]["input_rho"]),
        ("lime_top_k_overlap", (q["lime_agreement"] or {}).get("top_k_overlap")),
        ("lime_spearman", (q["lime_agreement"] or {}).get("spearman")),
    ]
    import math

    return {k: float(v) for k, v in candidates if v is not None and math.isfinite(v)}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "captum", "scikit-image", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _settings(method: str, setup: Setup, plan: _Plan) -> dict[str, Any]:
    if method == "integrated_gradients":
        batch = images_per_batch(plan.x, setup.n_steps)
        return {
            "n_steps": setup.n_steps,
            "method": "gausslegendre",
            "images_per_batch": batch,
            "internal_batch_size": internal_batch_size(plan.x[:batch], setup.n_steps),
            "target": "predicted class",
        }
    if method == "gradient_shap":
        return {"n_samples": setup.n_samples, "baselines": "reference images", "stdevs": 0.0}
    return {"n_samples": setup.n_samples, "segments": "SLIC, 20 segments, compactness 5"}


def _quality(
    ctx: ModelContext,
    method: str,
    setup: Setup,
    plan: _Plan,
    baselines: np.ndarray,
    explained: Explained,
    ends: tuple[float, float],
    progress: _Progress,
) -> dict[str, Any]:
    """Completeness, deletion/insertion and sanity until ``ends[0]``, LIME until ``ends[1]``."""
    tick = time.monotonic()
    completeness = quality.completeness(explained.delta, explained.delta_f)
    limit = int(ctx.options.get("quality_images", QUALITY_IMAGES))
    curves, curves_wanted = _curves(setup, plan, explained, limit, ends[0])
    curve_images = 0 if curves is None else curves["images"]
    if curve_images < curves_wanted:
        progress.cut.append(f"deletion/insertion on {curve_images} of {curves_wanted} images")
    sanity = _sanity(ctx, method, setup, plan, baselines, explained, ends[0])
    if sanity["status"].startswith("skipped"):
        progress.cut.append("no sanity check")
    progress.seconds["quality_s"] = time.monotonic() - tick
    tick = time.monotonic()
    lime, lime_wanted = _lime(ctx, plan, baselines, explained, ends[1])
    lime_images = 0 if lime is None else lime["images"]
    if lime_images < lime_wanted:
        progress.cut.append(f"LIME on {lime_images} of {lime_wanted} images")
    progress.seconds["lime_s"] = time.monotonic() - tick
    return {
        "completeness": {k: v for k, v in completeness.items() if k != "per_image"},
        "deletion_insertion": curves,
        "sanity": sanity,
        "lime_agreement": lime,
    }


def _plots(
    ctx: ModelContext,
    workspace: StepWorkspace,
    plan: _Plan,
    explained: Explained,
    items: list[dict[str, Any]],
    progress: _Progress,
) -> list[str]:
    """Draw the plots if they fit in the time left (else say they were left out)."""
    if not ctx.options.get("plots", True):
        return []
    if time.monotonic() + HEADROOM * PLOT_SECONDS > workspace.work_until():
        progress.cut.append("plots not drawn")
        return []
    tick = time.monotonic()
    n = len(explained.maps)
    drawn = plots.draw_all(workspace.out_dir, plan.x[:n], explained.maps, items, plan.layout)
    progress.seconds["plots_s"] = time.monotonic() - tick
    return [f"{IMAGES_FILES['plots']}/{name}" for name in drawn]


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    import captum.attr  # noqa: F401  # imported before anything is timed
    import skimage.segmentation  # noqa: F401

    started = time.monotonic()
    progress = _Progress()
    model = image_model(ctx)
    plan = _plan(ctx, model)
    if len(plan.x) == 1:
        progress.notes.append("only one image: the explanation and its quality figures are rough")
    baseline = _baseline(ctx, model, plan)
    method, reason, setup, explained = _explain_with_fallbacks(
        ctx, plan, baseline.images, _phase_end(started, workspace, _EXPLAIN_SHARE), progress
    )
    progress.seconds["explain_s"] = time.monotonic() - started
    if method == "gradient_shap":
        baseline = _Baseline("reference_images", baseline.images, "GradientSHAP's baselines")
    n = len(explained.maps)
    if n < len(plan.x):
        progress.cut.insert(0, f"explained {n} of {len(plan.x)} images")
    ends = (
        _phase_end(started, workspace, _QUALITY_SHARE),
        _phase_end(started, workspace, _LIME_SHARE),
    )
    found = _quality(ctx, method, setup, plan, baseline.images, explained, ends, progress)
    names = artifacts.write_maps(workspace.out_dir, explained.maps, plan.positions[:n])
    items = _items(plan, explained, names, ctx)
    drawn = _plots(ctx, workspace, plan, explained, items, progress)
    truncated = f"time budget: {'; '.join(progress.cut)}" if progress.cut else None
    summary = {
        "explainer": method,
        "reason": reason,
        "fallbacks": progress.fallbacks,
        "model_call": setup.model.source,
        "settings": _settings(method, setup, plan),
        "baseline": {"kind": baseline.kind, "reason": baseline.reason},
        "layout": plan.layout,
        "image_shape": list(plan.x.shape[1:]),
        "explained_class": "the predicted class of each image",
        "score_space": plan.score_space,
        "rows_explained": n,
        "rows_wanted": len(plan.x),
        "quality": found,
        "items": items,
        "plots": drawn,
        "notes": progress.notes,
        "truncated": truncated,
        "seed": ctx.seed,
        "versions": _versions(),
    }
    artifacts.write_summary(workspace.out_dir, summary)
    progress.seconds["total_s"] = time.monotonic() - started
    return StepOutput(
        metrics=_metrics(summary),
        tags={"explainer": method, "baseline": baseline.kind},
        summary={
            "explainer": method,
            "reason": reason,
            "fallbacks": progress.fallbacks,
            "baseline": baseline.kind,
            "rows_explained": n,
            "notes": progress.notes,
            "seconds": {k: round(v, 3) for k, v in progress.seconds.items()},
        },
        results={"summary": summary, "maps": explained.maps, "positions": plan.positions[:n]},
        truncated=truncated,
    )


@hookimpl
def clarity_explainers() -> list[ExplainerSpec]:
    """Register the built-in ``images`` explainer."""
    return [
        ExplainerSpec(
            name=STEP,
            run=_run,
            supports=supports_images,
            requires=("torch", "captum", "skimage"),
            folder=IMAGES,
            description="Image attributions: IG for torch modules, else SLIC-KernelSHAP; "
            "LIME, deletion/insertion, sanity",
        )
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _verdicts(summary: dict[str, Any]) -> list[str]:
    q = summary["quality"]
    lines = []
    relative = q["completeness"]["relative"]
    if relative is not None:
        fit = "add up to" if relative <= 0.01 else "do not quite add up to"
        lines.append(
            f"Completeness: the attributions {fit} the change of the output from the baseline "
            f"(error {_percent(relative)})."
        )
    zero = (q["deletion_insertion"] or {}).get("zero")
    if zero and zero["deletion_ratio"] is not None:
        better = "faster" if zero["deletion_ratio"] < 1 else "no faster"
        lines.append(
            f"Deletion: removing pixels in the map's order lowers the class probability {better} "
            f"than a random order (area ratio {zero['deletion_ratio']:.2f}, lower is better)."
        )
    if q["sanity"].get("verdict"):
        lines.append(f"Sanity check: {q['sanity']['verdict']}.")
    lime = q["lime_agreement"]
    if lime and lime["top_k_overlap"] is not None:
        lines.append(
            f"LIME names {lime['top_k_overlap']:.0%} of the same top-{lime['top_k']} superpixels "
            f"(Spearman {_number(lime['spearman'])})."
        )
    return lines


@hookimpl
def clarity_report_sections(context: ModelContext, report: RunReport) -> list[ReportSection]:
    """The images step's explainer, quality verdicts and top figures, when it ran."""
    summary = report.results_of(STEP).get("summary")
    if summary is None:
        return []
    q = summary["quality"]
    curves = q["deletion_insertion"] or {}
    rows = [
        ("images explained", f"{summary['rows_explained']} of {summary['rows_wanted']}"),
        ("completeness error", _percent(q["completeness"]["relative"])),
    ]
    for scheme in quality.SCHEMES:
        if scheme in curves:
            rows.append((f"deletion ratio ({scheme})", _number(curves[scheme]["deletion_ratio"])))
            rows.append((f"insertion ratio ({scheme})", _number(curves[scheme]["insertion_ratio"])))
    rows.append(("sanity rho (randomised layers)", _number(q["sanity"]["rho"])))
    rows.append(("rho with the input", _number(q["sanity"]["input_rho"])))
    lead = (
        f"Explainer: {summary['explainer']} ({summary['reason']}); baseline: "
        f"{summary['baseline']['kind']} ({summary['baseline']['reason']}). Each image is "
        "explained for its predicted class."
    )
    files = (
        f"Maps and heat-map plots are stored under clarity/{IMAGES}/ (summary.json, maps/, plots/)."
    )
    return [
        ReportSection(
            title="Image explanations",
            paragraphs=(lead, *_verdicts(summary), files),
            columns=("figure", "value"),
            rows=tuple(rows),
        )
    ]
