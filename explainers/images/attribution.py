"""Attribution methods for images: Integrated Gradients, GradientSHAP, SLIC-KernelSHAP.

Each method explains a batch of images for one class per image and returns an
:class:`Explained`: one ``(H, W)`` map per image (summed over channels) and its
completeness figures, ``delta = sum(map) - delta_f`` with ``delta_f`` the change of the
explained output from the baseline to the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.images.arrays import channel_sum, expand
from mlflow_clarity.explainers.images.model import CHUNK_ELEMENTS, ImageModel
from mlflow_clarity.explainers.images.segments import slic_segments, spread

if TYPE_CHECKING:
    import numpy as np

IG_STEPS = 50
IG_STEPS_REDUCED = 20  # Gauss-Legendre: 0.33 % completeness error at 20 steps, 0.11 % at 50
GRADIENT_SHAP_SAMPLES = 20
GRADIENT_SHAP_BASELINES = 16
KERNEL_SAMPLES = 200  # Clarify-like; ``nsamples="auto"`` would be 2 * 20 + 2048
METHODS = ("integrated_gradients", "gradient_shap", "kernel_shap")
GRADIENT_METHODS = ("integrated_gradients", "gradient_shap")


class MethodUnavailable(Exception):
    """A method cannot explain this model here; the message is the recorded reason."""


@dataclass(frozen=True)
class Setup:
    """What every method needs besides the images.

    Attributes:
        model: The model of images.
        seed: Seed of every random draw (derived per batch).
        n_steps: Integration steps of Integrated Gradients.
        n_samples: Samples of GradientSHAP (per image) or KernelSHAP (coalitions).
        reference: Reference images, the baseline distribution of GradientSHAP.
    """

    model: ImageModel
    seed: int
    n_steps: int = IG_STEPS
    n_samples: int = KERNEL_SAMPLES
    reference: Any = None


@dataclass(frozen=True)
class Explained:
    """Attributions of a batch of images.

    Attributes:
        maps: ``(n, H, W)`` float32 attribution maps, summed over channels.
        delta: ``(n,)`` completeness error, ``sum(map) - delta_f``.
        delta_f: ``(n,)`` change of the explained output from baseline to image.
        segments: ``(n, H, W)`` SLIC labels for segment methods, else None.
        segment_values: One array of segment values per image for segment methods.
    """

    maps: np.ndarray
    delta: np.ndarray
    delta_f: np.ndarray
    segments: np.ndarray | None = None
    segment_values: tuple[np.ndarray, ...] | None = None


Method = Callable[[Setup, "np.ndarray", "np.ndarray", "np.ndarray", int], Explained]


def internal_batch_size(images: np.ndarray, n_steps: int) -> int:
    """Rows per model call of Integrated Gradients: bounded input size (memory)."""
    import numpy as np

    per_image = max(1, int(np.prod(images.shape[1:])))
    return max(len(images), min(len(images) * n_steps, CHUNK_ELEMENTS // per_image))


def images_per_batch(images: np.ndarray, n_steps: int) -> int:
    """Images per batch so that one batch is about one internal batch of IG."""
    import numpy as np

    per_image = max(1, int(np.prod(images.shape[1:])))
    return int(max(1, min(16, CHUNK_ELEMENTS // (per_image * n_steps))))


def _require_gradients(setup: Setup) -> None:
    if not setup.model.differentiable:
        raise MethodUnavailable("needs a torch module (gradients); the model is a black box")


def integrated_gradients(
    setup: Setup, x: np.ndarray, baselines: np.ndarray, classes: np.ndarray, index: int
) -> Explained:
    """Integrated Gradients, Gauss-Legendre, with captum's convergence delta."""
    import numpy as np
    from captum.attr import IntegratedGradients

    _require_gradients(setup)
    model = setup.model
    attr, delta = IntegratedGradients(model.forward).attribute(
        model.tensor(x),
        baselines=model.tensor(baselines),
        target=[int(c) for c in classes],
        n_steps=setup.n_steps,
        method="gausslegendre",
        internal_batch_size=internal_batch_size(x, setup.n_steps),
        return_convergence_delta=True,
    )
    maps = channel_sum(attr.detach().cpu().double().numpy(), model.layout)
    delta = delta.detach().cpu().double().numpy()
    totals = maps.reshape(len(maps), -1).sum(axis=1)
    return Explained(maps.astype(np.float32), delta, totals - delta)


def gradient_shap(
    setup: Setup, x: np.ndarray, baselines: np.ndarray, classes: np.ndarray, index: int
) -> Explained:
    """GradientSHAP (expected gradients) over reference images as baselines."""
    import numpy as np
    import torch
    from captum.attr import GradientShap

    _require_gradients(setup)
    model = setup.model
    reference = setup.reference[:GRADIENT_SHAP_BASELINES]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(setup.seed + index)
        attr = GradientShap(model.forward).attribute(
            model.tensor(x),
            baselines=model.tensor(reference),
            n_samples=setup.n_samples,
            target=[int(c) for c in classes],
        )
    maps = channel_sum(attr.detach().cpu().double().numpy(), model.layout)
    outputs_x = model.outputs(x)[np.arange(len(x)), classes]
    outputs_b = model.outputs(reference)[:, classes].mean(axis=0)
    delta_f = outputs_x - outputs_b
    totals = maps.reshape(len(maps), -1).sum(axis=1)
    return Explained(maps.astype(np.float32), totals - delta_f, delta_f)


def _feature_mask(segments: np.ndarray, image: np.ndarray, setup: Setup) -> Any:
    import numpy as np
    import torch

    mask = np.broadcast_to(expand(segments[None], setup.model.layout), image[None].shape)
    return torch.as_tensor(np.array(mask, dtype=np.int64), dtype=torch.long)


def segment_attribution(
    setup: Setup,
    x: np.ndarray,
    baselines: np.ndarray,
    classes: np.ndarray,
    index: int,
    *,
    lime: bool = False,
) -> Explained:
    """KernelSHAP (or LIME) over SLIC superpixels, one image at a time.

    Segments switched off take the baseline's pixels. A pixel's value in the map is its
    segment's value divided by the segment's area.
    """
    import numpy as np
    import torch
    from captum.attr import KernelShap, Lime

    model = setup.model
    per_image = max(1, int(np.prod(x.shape[1:])))
    per_eval = max(1, min(setup.n_samples, CHUNK_ELEMENTS // per_image))
    if lime:
        from captum._utils.models.linear_model import SkLearnRidge

        explainer: Any = Lime(model.forward, interpretable_model=SkLearnRidge(alpha=1.0))
    else:
        explainer = KernelShap(model.forward)
    maps, values, segments = [], [], []
    for i in range(len(x)):
        labels = slic_segments(x[i], model.layout)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(setup.seed + 1000 * index + i)
            coefficients = explainer.attribute(
                model.tensor(x[i : i + 1]),
                baselines=model.tensor(baselines[i : i + 1]),
                target=int(classes[i]),
                feature_mask=_feature_mask(labels, x[i], setup),
                n_samples=setup.n_samples,
                perturbations_per_eval=per_eval,
                return_input_shape=False,
            )
        value = coefficients.detach().cpu().double().numpy().reshape(-1)
        segments.append(labels)
        values.append(value)
        maps.append(spread(value, labels))
    outputs_x = model.outputs(x)[np.arange(len(x)), classes]
    outputs_b = model.outputs(baselines)[np.arange(len(x)), classes]
    delta_f = outputs_x - outputs_b
    totals = np.array([v.sum() for v in values])
    return Explained(np.stack(maps), totals - delta_f, delta_f, np.stack(segments), tuple(values))


def kernel_shap(
    setup: Setup, x: np.ndarray, baselines: np.ndarray, classes: np.ndarray, index: int
) -> Explained:
    """KernelSHAP over SLIC superpixels (SageMaker Clarify's method)."""
    return segment_attribution(setup, x, baselines, classes, index)


METHOD_FUNCTIONS: dict[str, Method] = {
    "integrated_gradients": integrated_gradients,
    "gradient_shap": gradient_shap,
    "kernel_shap": kernel_shap,
}


def concatenate(parts: list[Explained]) -> Explained:
    """One :class:`Explained` from batches (in order)."""
    import numpy as np

    segments = None
    values = None
    if parts and parts[0].segments is not None:
        segments = np.concatenate([p.segments for p in parts])
        values = tuple(v for p in parts for v in p.segment_values or ())
    return Explained(
        np.concatenate([p.maps for p in parts]),
        np.concatenate([p.delta for p in parts]),
        np.concatenate([p.delta_f for p in parts]),
        segments,
        values,
    )
