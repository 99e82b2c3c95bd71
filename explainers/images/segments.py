"""SLIC superpixels, as SageMaker Clarify segments images (20 segments, compactness 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_clarity.explainers.images.arrays import channel_axis, to_hwc, unit_range

if TYPE_CHECKING:
    import numpy as np

N_SEGMENTS = 20
COMPACTNESS = 5.0


def slic_segments(
    image: np.ndarray, layout: str, n_segments: int = N_SEGMENTS, compactness: float = COMPACTNESS
) -> np.ndarray:
    """SLIC labels ``(H, W)`` (0..k-1, consecutive) of one image (without the batch axis).

    The image is scaled to [0, 1] first, so compactness means the same whatever the
    input's range; colour images are segmented in Lab space (in RGB when noisy colours
    merge into fewer than a quarter of the segments there), grayscale ones as one channel.
    """
    import numpy as np
    from skimage.segmentation import slic

    hwc = unit_range(to_hwc(image, layout))
    colour = channel_axis(layout) is not None and hwc.shape[-1] == 3
    pixels = hwc if colour else hwc.mean(axis=-1)
    options = {"n_segments": n_segments, "compactness": compactness, "start_label": 0}
    labels = slic(pixels, channel_axis=-1 if colour else None, **options)
    if colour and labels.max() + 1 < max(2, n_segments // 4):  # noisy colours merge in Lab
        labels = slic(pixels, channel_axis=-1, convert2lab=False, **options)
    _, consecutive = np.unique(labels, return_inverse=True)
    return consecutive.reshape(labels.shape)


def segment_sums(values: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Sum of an ``(H, W)`` map over each segment: one value per segment."""
    import numpy as np

    return np.bincount(segments.ravel(), weights=values.ravel(), minlength=segments.max() + 1)


def spread(values: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` map giving each pixel its segment's value divided by the segment's
    area: the map sums to the segment values' sum, and pixels rank by density."""
    import numpy as np

    areas = np.bincount(segments.ravel(), minlength=len(values))
    return (values / np.maximum(areas, 1))[segments].astype(np.float32)
