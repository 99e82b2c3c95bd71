"""The image model as a function of image batches, for captum and for the quality checks.

A torch module is called directly (differentiable, so gradient methods apply); any other
model through its ``predict`` (the in-memory object, else the stored pyfunc model), which
only model-agnostic methods can use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.types import ModelContext

if TYPE_CHECKING:
    import numpy as np
    import torch

CHUNK_ELEMENTS = 1 << 21
"""Input numbers per model call (2M floats, 8 MB): bounds memory for large images."""
_PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ImageModel:
    """A model of images.

    Attributes:
        layout: Axes of a batch (``NCHW``, ``NHWC``, ``NHW``).
        forward: ``forward(tensor) -> (n, outputs)`` tensor.
        module: The torch module, or None for a model only callable through ``predict``.
        source: How the model is called, for the card.
        differentiable: Whether :attr:`forward` keeps gradients (a torch module called
            directly); model-agnostic methods call it without.
    """

    layout: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    module: Any
    source: str
    differentiable: bool

    def tensor(self, images: np.ndarray) -> torch.Tensor:
        """Images as a float tensor on the module's device (CPU float32 otherwise)."""
        import torch

        device, dtype = (
            model_access.torch_device_and_dtype(self.module)
            if self.module is not None
            else (torch.device("cpu"), torch.float32)
        )
        return torch.as_tensor(images, device=device).to(dtype)

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """Raw outputs ``(n, outputs)`` as float64, in chunks of bounded size, no gradients."""
        import numpy as np
        import torch

        per_image = max(1, int(np.prod(images.shape[1:])))
        size = max(1, CHUNK_ELEMENTS // per_image)
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), size):
                out = self.forward(self.tensor(images[start : start + size]))
                parts.append(out.detach().cpu().double().numpy().reshape(len(out), -1))
        return np.concatenate(parts)

    def randomised(self, layers: int, seed: int) -> tuple[ImageModel, list[str]]:
        """A deep copy whose last ``layers`` parametrised layers are re-initialised.

        Returns:
            The copy, and the names of the layers that were re-initialised.

        Raises:
            ValueError: Not a torch module, or no layer can be re-initialised.
        """
        if self.module is None:
            raise ValueError("only a torch module can be randomised")
        twin, names = model_access.reinitialised_copy(self.module, layers, seed)
        twin.eval()
        forward = twin if self.differentiable else _no_grad(twin)
        return ImageModel(self.layout, forward, twin, self.source, self.differentiable), names


def probabilities(outputs: np.ndarray) -> tuple[np.ndarray, str]:
    """Class scores in [0, 1] for deletion curves: the outputs if they are probabilities,
    else their softmax (two or more outputs), else the raw single output.

    Returns:
        The scores and what they are (``probability``, ``softmax of the outputs``,
        ``model output``).
    """
    import numpy as np

    finite = np.isfinite(outputs).all()
    if finite and outputs.min() >= 0 and outputs.max() <= 1:
        sums = outputs.sum(axis=1)
        if outputs.shape[1] == 1 or np.allclose(sums, 1, atol=_PROBABILITY_TOLERANCE):
            return outputs, "probability"
    if outputs.shape[1] >= 2:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True), "softmax of the outputs"
    return outputs, "model output"


def _predict_fn(ctx: ModelContext) -> tuple[Callable[[Any], Any], str]:
    model = ctx.model
    if hasattr(model, "predict_proba") and ctx.flavor != "pyfunc":
        return model.predict_proba, "predict_proba of the in-memory model"
    if model is not None and ctx.flavor != "pyfunc" and hasattr(model, "predict"):
        return model.predict, "predict of the in-memory model"
    return ctx.load_pyfunc().predict, "the stored pyfunc model"


def _black_box(predict: Callable[[Any], Any], dtype: Any) -> Callable[[Any], Any]:
    """A torch forward function around a numpy ``predict`` (integer images are rounded)."""
    import numpy as np
    import torch

    def forward(batch: torch.Tensor) -> torch.Tensor:
        images = batch.detach().cpu().numpy()
        if np.dtype(dtype).kind in "iu":
            images = np.rint(images)
        out = model_access.as_2d(predict(images.astype(dtype)))
        return torch.as_tensor(out, dtype=torch.float32)

    return forward


def image_model(ctx: ModelContext, *, black_box: bool = False) -> ImageModel:
    """The model of ``ctx`` as a function of image batches in the reference layout.

    Args:
        ctx: The step's context (with image reference data).
        black_box: Call a torch module without gradients, as any other model.
    """
    assert ctx.reference is not None and ctx.reference.modality.layout is not None
    layout = ctx.reference.modality.layout
    module = model_access.torch_module(ctx.model)
    if module is not None:
        module.eval()
        if not black_box:
            return ImageModel(layout, module, module, "the torch module", True)
        return ImageModel(layout, _no_grad(module), module, "the torch module, no gradients", False)
    predict, source = _predict_fn(ctx)
    forward = _black_box(predict, ctx.reference.items.dtype)
    return ImageModel(layout, forward, None, source, False)


def _no_grad(module: Any) -> Callable[[Any], Any]:
    import torch

    def forward(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(batch)

    return forward
