"""LIME on the same SLIC superpixels, and how well it agrees with the SHAP attributions.

LIME (captum's ``Lime`` with a ridge surrogate) explains a few images on the segments
the attribution used (for pixel maps, SLIC segments of the image, with the pixel
attributions summed per segment). Agreement per image: the share of the top-k segments
by magnitude that both methods name, and the Spearman rho of the segments' magnitudes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.images.attribution import Setup, segment_attribution
from mlflow_clarity.explainers.images.quality import spearman
from mlflow_clarity.explainers.images.segments import segment_sums

if TYPE_CHECKING:
    import numpy as np

LIME_SAMPLES = 200
TOP_K = 5


def lime_segments(
    setup: Setup, x: np.ndarray, baselines: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """LIME weights per SLIC segment of each image: ``(segments, weights)``."""
    explained = segment_attribution(setup, x, baselines, classes, index=0, lime=True)
    assert explained.segments is not None and explained.segment_values is not None
    return explained.segments, explained.segment_values


def agreement(
    shap_maps: np.ndarray, segments: np.ndarray, lime_weights: tuple[np.ndarray, ...]
) -> dict[str, Any]:
    """Top-k overlap and Spearman rho of segment magnitudes, per image and on average."""
    import numpy as np

    rows = []
    for shap_map, labels, weights in zip(shap_maps, segments, lime_weights, strict=True):
        shap_values = np.abs(segment_sums(shap_map, labels))
        lime_values = np.abs(weights)
        k = min(TOP_K, len(weights))
        top_shap = set(np.argsort(-shap_values, kind="stable")[:k].tolist())
        top_lime = set(np.argsort(-lime_values, kind="stable")[:k].tolist())
        rows.append(
            {
                "segments": len(weights),
                "top_k": k,
                "top_k_overlap": len(top_shap & top_lime) / k if k else None,
                "spearman": spearman(shap_values, lime_values),
            }
        )
    overlaps = [r["top_k_overlap"] for r in rows if r["top_k_overlap"] is not None]
    rhos = [r["spearman"] for r in rows if r["spearman"] is not None]
    return {
        "images": len(rows),
        "top_k": TOP_K,
        "top_k_overlap": float(np.mean(overlaps)) if overlaps else None,
        "spearman": float(np.mean(rhos)) if rhos else None,
        "per_image": rows,
    }
