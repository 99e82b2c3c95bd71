"""What kind of input a model takes: tables, images, text or token ids.

Decided from the reference data first (its type and shape say it unambiguously), then
from the model's signature, and recorded with the reason. Tabular data keeps the
tabular path; images and text get their own explainers.
"""

from __future__ import annotations

import sys
from typing import Any

from mlflow_clarity.types import TABULAR, Modality

IMAGE_CHANNELS = (1, 3, 4)
DEFAULT_TEXT_COLUMN = "text"


def image_layout(shape: tuple[int, ...]) -> str | None:
    """The layout of a batch of images from its shape (the batch axis first), or None.

    A channel axis of 1, 3 or 4 right after the batch axis is ``NCHW``; last, ``NHWC``
    (channel-first wins when both fit, as in torch). Three axes are grayscale ``NHW``
    when both sides are at least 8 pixels.
    """
    if len(shape) == 4:
        if shape[1] in IMAGE_CHANNELS and shape[2] > 4 and shape[3] > 4:
            return "NCHW"
        if shape[3] in IMAGE_CHANNELS and shape[1] > 4 and shape[2] > 4:
            return "NHWC"
    if len(shape) == 3 and shape[1] >= 8 and shape[2] >= 8:
        return "NHW"
    return None


def has_embedding(model: Any) -> bool:
    """Whether ``model`` is a torch module containing an ``nn.Embedding`` (never imports
    torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(model, torch.nn.Module):
        return False
    return any(isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)) for m in model.modules())


def _is_pil_image(value: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def _strings(values: Any, checked: int = 1000) -> bool:
    """Whether the first ``checked`` values (and so, presumably, all) are strings."""
    head = list(values[:checked]) if not hasattr(values, "iloc") else list(values.iloc[:checked])
    return len(head) > 0 and all(isinstance(v, str) for v in head)


def _from_data(features: Any, model: Any) -> Modality | None:
    """The modality the reference data shows, or None when it looks tabular."""
    import numpy as np
    import pandas as pd

    if hasattr(features, "detach") and hasattr(features, "cpu"):  # a torch tensor
        features = features.detach().cpu().numpy()
    if isinstance(features, (list, tuple)) and features and _is_pil_image(features[0]):
        return Modality("image", f"a list of {len(features)} PIL images", layout="NHWC")
    if isinstance(features, (list, tuple)) and _strings(features):
        return Modality("text", f"a list of {len(features)} strings", column=DEFAULT_TEXT_COLUMN)
    if isinstance(features, pd.Series) and features.dtype.kind == "O" and _strings(features):
        column = str(features.name) if features.name is not None else DEFAULT_TEXT_COLUMN
        return Modality("text", f"a Series of {len(features)} strings", column=column)
    if (
        isinstance(features, pd.DataFrame)
        and features.shape[1] == 1
        and features.iloc[:, 0].dtype.kind == "O"
        and _strings(features.iloc[:, 0])
    ):
        column = str(features.columns[0])
        return Modality("text", f"a one-column DataFrame of strings ({column!r})", column=column)
    if isinstance(features, np.ndarray):
        layout = image_layout(features.shape)
        if layout is not None and features.dtype.kind in "fiub":
            return Modality("image", f"an array of images shaped {features.shape}", layout=layout)
        if features.ndim == 2 and features.dtype.kind in "iu" and has_embedding(model):
            return Modality(
                "token_ids",
                f"an integer array shaped {features.shape} and a model with an embedding layer",
            )
    return None


def _from_signature(signature: Any, model: Any) -> Modality | None:
    """The modality the model's signature shows, or None."""
    inputs = getattr(signature, "inputs", None)
    specs = list(getattr(inputs, "inputs", None) or [])
    if len(specs) != 1:
        return None
    spec = specs[0]
    shape = getattr(spec, "shape", None)
    if shape is not None:  # a TensorSpec
        shape = tuple(shape)
        layout = image_layout(shape)
        if layout is not None:
            return Modality("image", f"the signature's tensor input is shaped {shape}", layout)
        kind = getattr(getattr(spec, "type", None), "kind", "")
        if len(shape) == 2 and kind in "iu" and has_embedding(model):
            return Modality(
                "token_ids",
                f"the signature's integer tensor {shape} feeds a model with an embedding layer",
            )
        return None
    if str(getattr(spec, "type", "")).lower().endswith("string"):
        name = getattr(spec, "name", None) or DEFAULT_TEXT_COLUMN
        return Modality("text", f"the signature's only input, {name!r}, is a string", column=name)
    return None


def detect(features: Any, signature: Any = None, model: Any = None) -> Modality:
    """Decide what kind of input a model takes.

    Args:
        features: The reference data as the user gave it (or None).
        signature: The model's ``ModelSignature``, or None.
        model: The in-memory model, or None.

    Returns:
        The modality, with its reason; tabular when nothing says otherwise.
    """
    found = _from_data(features, model) if features is not None else None
    if found is not None:
        return found
    found = _from_signature(signature, model)
    if found is not None:
        return found
    return TABULAR
