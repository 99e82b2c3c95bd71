"""Embeddings of images and texts, reduced by a PCA fitted at log time.

For a torch module the embedding is the input of its last ``nn.Linear`` (the
penultimate layer's output), caught by a forward pre-hook (or, for the ``torch.fx``
graph MLflow loads a logged PyTorch model as, the input of the graph's last linear
operation). Other image models get a
fixed, seeded random projection of the image downsampled to at most 32 x 32 pixels per
channel; texts get a signed hashing of their units (CRC-32, the same on every machine and
Python run). The projection matrix is re-drawn from its seed at check time, never stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.monitors.content.image_properties import channels_last, unit_scale
from mlflow_clarity.monitors.content.text_properties import units

if TYPE_CHECKING:
    import numpy as np

PENULTIMATE = "penultimate_layer"
RANDOM_PROJECTION = "random_projection"
HASHED_UNITS = "hashed_units"
PROJECTION_DIM = 256
HASH_DIM = 1024
DOWNSAMPLED_SIDE = 32
CHUNK_ELEMENTS = 1 << 21
"""Input numbers per model call (8 MB of float32)."""


class EmbeddingUnavailable(RuntimeError):
    """The embedding the baseline used cannot be computed now (e.g. not a torch module)."""


def last_linear(module: Any) -> Any:
    """The module's last ``nn.Linear`` in registration order, or None."""
    import torch

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    return linears[-1] if linears else None


def _graph_linear_input(module: Any) -> Any:
    """In a ``torch.fx`` graph (how MLflow loads a logged PyTorch model, exported with
    ``torch.export``), the node feeding the last linear operation, or None."""
    found = None
    for node in getattr(getattr(module, "graph", None), "nodes", ()):
        name = str(node.target) if node.op == "call_function" else ""
        if name.startswith("aten.linear"):
            found = node.args[0]
        elif name.startswith("aten.addmm"):
            found = node.args[1]
    return found


def has_penultimate(module: Any) -> bool:
    """Whether the module has a last linear layer (a module or a graph operation)."""
    return last_linear(module) is not None or _graph_linear_input(module) is not None


def _hooked_forward(module: Any, layer: Any) -> Any:
    """A function of a batch returning the input of ``layer`` (forward pre-hook)."""
    caught: list[Any] = []

    def hook(_: Any, inputs: tuple[Any, ...]) -> None:
        caught.append(inputs[0])

    def forward(batch: Any) -> Any:
        handle = layer.register_forward_pre_hook(hook)
        try:
            module(batch)
        finally:
            handle.remove()
        return caught.pop()

    return forward


def _graph_forward(module: Any, target: Any) -> Any:
    """A function of a batch returning the value of the graph node ``target``."""
    import torch

    class Catch(torch.fx.Interpreter):
        caught: Any = None

        def run_node(self, node: Any) -> Any:
            value = super().run_node(node)
            if node is target:
                self.caught = value
            return value

    def forward(batch: Any) -> Any:
        interpreter = Catch(module)
        interpreter.run(batch)
        return interpreter.caught

    return forward


def penultimate(module: Any, images: np.ndarray) -> np.ndarray:
    """The input of the module's last linear layer on each image, ``(n, d)`` float64.

    A module with ``nn.Linear`` layers is hooked; a ``torch.fx`` graph module (a
    logged model loaded back) is run node by node and the last linear operation's input
    kept: the same numbers from the same weights.

    Raises:
        EmbeddingUnavailable: The module has no linear layer.
    """
    import numpy as np
    import torch

    layer = last_linear(module)
    target = None if layer is not None else _graph_linear_input(module)
    if layer is None and target is None:
        raise EmbeddingUnavailable("the torch module has no linear layer to take its input")
    forward = (
        _hooked_forward(module, layer) if layer is not None else _graph_forward(module, target)
    )
    device, dtype = model_access.torch_device_and_dtype(module)
    per_image = max(1, int(np.prod(images.shape[1:])))
    size = max(1, CHUNK_ELEMENTS // per_image)
    parts = []
    was_training = module.training
    if layer is not None:  # an exported graph module refuses eval(); it has no modes
        module.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), size):
                batch = torch.as_tensor(images[start : start + size], device=device).to(dtype)
                parts.append(forward(batch).detach().flatten(1).cpu().double().numpy())
    finally:
        if layer is not None:
            module.train(was_training)
    return np.concatenate(parts)


def _downsampled(images: np.ndarray, layout: str) -> np.ndarray:
    """``(n, h, w, c)`` block means with ``h, w <= DOWNSAMPLED_SIDE``."""
    x = channels_last(unit_scale(images), layout)
    n, height, width, channels = x.shape
    fy, fx = -(-height // DOWNSAMPLED_SIDE), -(-width // DOWNSAMPLED_SIDE)
    h, w = height // fy, width // fx
    x = x[:, : h * fy, : w * fx]
    return x.reshape(n, h, fy, w, fx, channels).mean(axis=(2, 4))


def random_projection(images: np.ndarray, layout: str, seed: int) -> np.ndarray:
    """A seeded Gaussian projection of the downsampled images, ``(n, PROJECTION_DIM)``."""
    import numpy as np

    flat = _downsampled(images, layout).reshape(len(images), -1)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((flat.shape[1], PROJECTION_DIM)) / np.sqrt(flat.shape[1])
    return flat @ matrix


def hashed_units(texts: Sequence[str]) -> np.ndarray:
    """Signed feature hashing of each document's units, L2-normalised, ``(n, HASH_DIM)``."""
    import numpy as np

    out = np.zeros((len(texts), HASH_DIM))
    for i, text in enumerate(texts):
        for unit in units(text):
            code = zlib.crc32(unit.encode("utf-8", "surrogatepass"))
            out[i, code % HASH_DIM] += 1.0 if (code >> 16) & 1 else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


def embed(kind: str, items: Any, *, model: Any, layout: str | None, seed: int) -> np.ndarray:
    """Embeddings of images or texts by the method ``kind`` the baseline recorded.

    Raises:
        EmbeddingUnavailable: ``kind`` is the penultimate layer and ``model`` is not a
            torch module.
    """
    if kind == HASHED_UNITS:
        return hashed_units(items)
    assert layout is not None
    if kind == RANDOM_PROJECTION:
        return random_projection(items, layout, seed)
    module = model_access.torch_module(model)
    if module is None:
        raise EmbeddingUnavailable(
            "the baseline's embeddings come from the penultimate layer of a torch module; "
            "the model did not load as one"
        )
    return penultimate(module, items)


def image_embedding_kind(model: Any) -> str:
    """The penultimate layer for a torch module with a linear layer, else a projection."""
    module = model_access.torch_module(model)
    if module is not None and has_penultimate(module):
        return PENULTIMATE
    return RANDOM_PROJECTION


@dataclass(frozen=True)
class Pca:
    """A PCA fitted with numpy's SVD, stored as JSON.

    Attributes:
        mean: Column means of the fitted embeddings.
        components: ``(k, d)`` principal axes.
        explained_variance_ratio: Share of variance of each kept axis.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, components: int) -> Pca:
        """Fit on the rows of ``x`` keeping at most ``components`` axes."""
        import numpy as np

        mean = x.mean(axis=0)
        _, singular, axes = np.linalg.svd(x - mean, full_matrices=False)
        k = max(1, min(components, len(singular)))
        variance = singular**2
        total = variance.sum()
        ratio = variance[:k] / total if total > 0 else np.zeros(k)
        return cls(mean, axes[:k], ratio)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project rows of ``x`` on the kept axes."""
        return (x - self.mean) @ self.components.T

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``pca.json``)."""
        return {
            "method": "numpy SVD of the centred embeddings",
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pca:
        """Read what :meth:`to_dict` wrote."""
        import numpy as np

        return cls(
            np.asarray(data["mean"], dtype=float),
            np.asarray(data["components"], dtype=float),
            np.asarray(data["explained_variance_ratio"], dtype=float),
        )
