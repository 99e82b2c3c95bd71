"""Images as the model takes them: layouts, channel sums, masks, blurred copies.

Every array keeps the layout of the reference data (``NCHW``, ``NHWC`` or ``NHW``), so
perturbed images can be given to the model unchanged; attribution maps are ``(H, W)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BLUR_SIDE_SHARE = 0.05
"""Gaussian sigma of the blurred copy, as a share of the image's shorter side."""


def channel_axis(layout: str) -> int | None:
    """The channel axis of a batch laid out as ``layout``, or None for ``NHW``."""
    return {"NCHW": 1, "NHWC": 3}.get(layout)


def spatial_shape(images: np.ndarray, layout: str) -> tuple[int, int]:
    """``(H, W)`` of a batch of images."""
    if layout == "NCHW":
        return int(images.shape[2]), int(images.shape[3])
    return int(images.shape[1]), int(images.shape[2])


def channel_sum(values: np.ndarray, layout: str) -> np.ndarray:
    """Sum a batch over its channel axis: ``(n, H, W)``."""
    axis = channel_axis(layout)
    return values if axis is None else values.sum(axis=axis)


def expand(masks: np.ndarray, layout: str) -> np.ndarray:
    """Broadcastable form of ``(n, H, W)`` masks for a batch laid out as ``layout``."""
    axis = channel_axis(layout)
    return masks if axis is None else masks[:, None] if axis == 1 else masks[..., None]


def to_hwc(image: np.ndarray, layout: str) -> np.ndarray:
    """One image (without the batch axis) as ``(H, W, C)``."""
    if layout == "NCHW":
        return image.transpose(1, 2, 0)
    return image if layout == "NHWC" else image[..., None]


def unit_range(image: np.ndarray) -> np.ndarray:
    """An image scaled to [0, 1] (for display and segmentation), whatever its range."""
    import numpy as np

    image = image.astype(np.float64)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def blur_sigma(images: np.ndarray, layout: str) -> float:
    """The blur's sigma in pixels: :data:`BLUR_SIDE_SHARE` of the shorter side."""
    return BLUR_SIDE_SHARE * min(spatial_shape(images, layout))


def blurred(images: np.ndarray, layout: str) -> np.ndarray:
    """Gaussian-blurred copies (over the two spatial axes only), as float32."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    sigma = blur_sigma(images, layout)
    sigmas = [0.0] * images.ndim
    for axis in _spatial_axes(layout):
        sigmas[axis] = sigma
    return gaussian_filter(images.astype(np.float32), sigma=sigmas, mode="nearest")


def channel_mean(reference: np.ndarray, layout: str, like: np.ndarray) -> np.ndarray:
    """Images shaped like ``like`` filled with the reference images' mean per channel."""
    import numpy as np

    axis = channel_axis(layout)
    keep = tuple(a for a in range(reference.ndim) if a != axis)
    means = reference.astype(np.float64).mean(axis=keep, keepdims=True)
    return np.broadcast_to(means, like.shape).astype(np.float32)


def _spatial_axes(layout: str) -> tuple[int, int]:
    return (2, 3) if layout == "NCHW" else (1, 2)
