"""How far to trust image attributions: completeness, deletion/insertion, sanity.

- Completeness: ``|sum(map) - delta_f| / |delta_f|`` (Sundararajan et al. 2017).
- Deletion and insertion (Petsiuk et al. 2018): pixels are removed from the image (or
  inserted into a canvas) in the map's order, in :data:`CURVE_STEPS` equal parts, and
  the area under the explained class's probability curve is divided by the same area
  under a random order. Under two replacement values: zero and a blurred copy, because
  the ranking of methods flips between them.
- Sanity (Adebayo et al. 2018): Spearman rho of ``|map|`` between the model and a copy
  whose last layers are re-initialised (low is good), next to the rho of ``|map|`` with
  the image itself; both high means the map shows the input, not the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.images.arrays import blurred, channel_sum, expand

if TYPE_CHECKING:
    import numpy as np

CURVE_STEPS = 16
SANITY_WARN_RHO = 0.7
SCHEMES = ("zero", "blur")


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman rho of two flattened arrays; None when either is constant."""
    import numpy as np
    from scipy.stats import spearmanr

    a, b = np.ravel(first), np.ravel(second)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def completeness(delta: np.ndarray, delta_f: np.ndarray) -> dict[str, Any]:
    """Completeness error over the explained images: the aggregate
    ``sum|delta| / sum|delta_f|`` (the headline), and per-image relative errors."""
    import numpy as np

    scale = np.abs(delta_f)
    relative = np.abs(delta) / np.where(scale > 0, scale, np.nan)
    total = float(np.abs(delta).sum() / scale.sum()) if scale.sum() > 0 else None
    finite = relative[np.isfinite(relative)]
    return {
        "relative": total,
        "median_relative": float(np.median(finite)) if len(finite) else None,
        "max_relative": float(finite.max()) if len(finite) else None,
        "per_image": [None if not np.isfinite(r) else float(r) for r in relative],
    }


def _ranks(order_map: np.ndarray) -> np.ndarray:
    """Rank of each pixel (0 = first removed) when removing in decreasing map order."""
    import numpy as np

    flat = order_map.ravel()
    ranks = np.empty(flat.size, dtype=np.int64)
    ranks[np.argsort(-flat, kind="stable")] = np.arange(flat.size)
    return ranks.reshape(order_map.shape)


def _curve_inputs(
    image: np.ndarray, canvas: np.ndarray, ranks: np.ndarray, layout: str, insert: bool
) -> np.ndarray:
    """The ``CURVE_STEPS + 1`` images of one curve: step k has k/steps of the pixels
    replaced by the canvas (deletion) or taken from the image (insertion)."""
    import numpy as np

    pixels = ranks.size
    cuts = np.rint(np.linspace(0, pixels, CURVE_STEPS + 1)).astype(np.int64)
    masks = ranks[None] < cuts[:, None, None]  # (steps+1, H, W): pixels done
    masks = expand(masks, layout)
    start, end = (canvas, image) if insert else (image, canvas)
    return np.where(masks, end[None], start[None])


def _auc(curve: np.ndarray) -> float:
    import numpy as np

    return float(np.trapezoid(curve, dx=1.0 / (len(curve) - 1)))


def curves_for_image(
    score: Callable[[np.ndarray, int], np.ndarray],
    image: np.ndarray,
    attribution: np.ndarray,
    target: int,
    layout: str,
    canvases: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, dict[str, float]]:
    """Deletion and insertion AUCs of one image, for the map and a random order, under
    each replacement value (``canvases``: scheme -> image-shaped replacement)."""
    import numpy as np

    random_ranks = rng.permutation(attribution.size).reshape(attribution.shape)
    orders = {"map": _ranks(attribution), "random": random_ranks}
    result: dict[str, dict[str, float]] = {}
    for scheme, canvas in canvases.items():
        batch = [
            _curve_inputs(image, canvas, ranks, layout, insert)
            for insert in (False, True)
            for ranks in orders.values()
        ]
        scores = score(np.concatenate(batch), target).reshape(4, CURVE_STEPS + 1)
        result[scheme] = {
            "deletion": _auc(scores[0]),
            "deletion_random": _auc(scores[1]),
            "insertion": _auc(scores[2]),
            "insertion_random": _auc(scores[3]),
        }
    return result


def curve_forwards() -> int:
    """Model rows per image for the deletion and insertion curves."""
    return len(SCHEMES) * 4 * (CURVE_STEPS + 1)


def canvases(images: np.ndarray, layout: str) -> dict[str, np.ndarray]:
    """The replacement values of each scheme for a batch of images."""
    import numpy as np

    return {"zero": np.zeros(images.shape, np.float32), "blur": blurred(images, layout)}


def summarise_curves(per_image: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Mean AUCs per scheme and their ratios to the random order.

    ``deletion_ratio`` below 1 (lower is better) and ``insertion_ratio`` above 1 (higher
    is better) mean the map orders pixels better than chance.
    """
    import numpy as np

    summary: dict[str, Any] = {"images": len(per_image), "steps": CURVE_STEPS}
    for scheme in SCHEMES:
        means = {
            key: float(np.mean([image[scheme][key] for image in per_image]))
            for key in ("deletion", "deletion_random", "insertion", "insertion_random")
        }
        means["deletion_ratio"] = _ratio(means["deletion"], means["deletion_random"])
        means["insertion_ratio"] = _ratio(means["insertion"], means["insertion_random"])
        summary[scheme] = means
    return summary


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def input_similarity(maps: np.ndarray, images: np.ndarray, layout: str) -> float | None:
    """Mean Spearman rho of ``|map|`` with the image's pixels (summed over channels)."""
    pixels = channel_sum(images.astype("float64"), layout)
    return _mean_rho([spearman(abs(m), p) for m, p in zip(maps, pixels, strict=True)])


def randomisation_rho(maps: np.ndarray, random_maps: np.ndarray) -> float | None:
    """Mean Spearman rho of ``|map|`` between the model and its randomised copy."""
    return _mean_rho([spearman(abs(a), abs(b)) for a, b in zip(maps, random_maps, strict=True)])


def _mean_rho(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def sanity_verdict(rho: float | None, input_rho: float | None) -> str:
    """Plain words for the sanity check."""
    if rho is None:
        return "not computed"
    if rho > SANITY_WARN_RHO and input_rho is not None and input_rho > SANITY_WARN_RHO:
        return (
            f"warning: the maps barely change when the last layers are randomised "
            f"(rho {rho:.2f}) and follow the image itself (rho {input_rho:.2f}): they show "
            "the input more than the model"
        )
    if rho > SANITY_WARN_RHO:
        return (
            f"warning: the maps barely change when the last layers are randomised (rho {rho:.2f})"
        )
    return f"passed: the maps change when the last layers are randomised (rho {rho:.2f})"
