"""Per-image properties, one row per image, profiled like table columns.

Pixel values are read on a [0, 1] scale: integer images are divided by their dtype's
maximum (255 for ``uint8``), float images are taken as they are. The same rule holds at
log time and at check time, so a folder of PNG files checks against float reference
arrays of the same pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SATURATED_LOW = 0.5 / 255
SATURATED_HIGH = 254.5 / 255
"""A pixel value below / above these counts as clipped (saturated): it is 0 or 255 once
stored with 8 bits, so float images and their PNG files agree."""
RGB = ("red", "green", "blue")


def unit_scale(images: np.ndarray) -> np.ndarray:
    """Images as float64 on the [0, 1] scale (integers divided by their dtype's maximum)."""
    import numpy as np

    if images.dtype.kind in "iu":
        return images.astype(np.float64) / float(np.iinfo(images.dtype).max)
    if images.dtype.kind == "b":
        return images.astype(np.float64)
    return images.astype(np.float64, copy=False)


def channels_last(images: np.ndarray, layout: str) -> np.ndarray:
    """Images as ``(n, H, W, C)`` whatever their layout (``NCHW``, ``NHWC``, ``NHW``)."""
    if layout == "NCHW":
        return images.transpose(0, 2, 3, 1)
    if layout == "NHW":
        return images[..., None]
    return images


def _laplacian_variance(gray: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of each ``(H, W)`` image (sharpness)."""
    import numpy as np

    if gray.shape[1] < 3 or gray.shape[2] < 3:
        return np.zeros(len(gray))
    lap = (
        gray[:, :-2, 1:-1]
        + gray[:, 2:, 1:-1]
        + gray[:, 1:-1, :-2]
        + gray[:, 1:-1, 2:]
        - 4 * gray[:, 1:-1, 1:-1]
    )
    return lap.reshape(len(lap), -1).var(axis=1)


def _colourfulness(rgb: np.ndarray) -> np.ndarray:
    """Hasler and Suesstrunk's colourfulness of each ``(H, W, 3)`` image."""
    import numpy as np

    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = (r - g).reshape(len(rgb), -1)
    yb = (0.5 * (r + g) - b).reshape(len(rgb), -1)
    spread = np.sqrt(rg.var(axis=1) + yb.var(axis=1))
    centre = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return spread + 0.3 * centre


def image_properties(images: np.ndarray, layout: str) -> pd.DataFrame:
    """One row of properties per image of a batch of equally sized images.

    Columns: ``brightness`` (mean of the gray image), ``contrast_rms`` (its standard
    deviation), ``sharpness`` (variance of its Laplacian), ``saturated_share`` (share of
    values clipped at either end), ``width``, ``height``, ``aspect`` (width / height);
    for colour images also ``colourfulness`` and ``mean_red``/``mean_green``/``mean_blue``
    (other channel counts: ``mean_channel_<i>``).

    Args:
        images: The batch in ``layout``.
        layout: ``NCHW``, ``NHWC`` or ``NHW``.
    """
    import numpy as np
    import pandas as pd

    x = channels_last(unit_scale(np.asarray(images)), layout)
    n, height, width, channels = x.shape
    colour = x[..., :3] if channels >= 3 else None
    gray = (
        colour @ np.array([0.299, 0.587, 0.114]) if colour is not None else x[..., 0]
    )  # ITU-R BT.601 luma
    flat = x.reshape(n, -1)
    columns: dict[str, np.ndarray] = {
        "brightness": gray.reshape(n, -1).mean(axis=1),
        "contrast_rms": gray.reshape(n, -1).std(axis=1),
        "sharpness": _laplacian_variance(gray),
        "saturated_share": ((flat < SATURATED_LOW) | (flat > SATURATED_HIGH)).mean(axis=1),
        "width": np.full(n, width, dtype=np.int64),
        "height": np.full(n, height, dtype=np.int64),
        "aspect": np.full(n, width / height),
    }
    if colour is not None:
        columns["colourfulness"] = _colourfulness(colour)
    means = x.reshape(n, -1, channels).mean(axis=1)
    names = RGB if channels == 3 else tuple(f"channel_{i}" for i in range(channels))
    if channels > 1:
        for i, name in enumerate(names):
            columns[f"mean_{name}"] = means[:, i]
    return pd.DataFrame(columns)
