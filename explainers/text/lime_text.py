"""LIME's text explainer as a second opinion, and its agreement with the attributions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.text.attribution import Document
from mlflow_clarity.explainers.text.units import split
from mlflow_clarity.types import HEADROOM

if TYPE_CHECKING:
    import numpy as np

LIME_DOCUMENTS = 5
LIME_SAMPLES = 1000
TOP_K = 5


def lime_values(
    fn: Callable[[list[str]], np.ndarray],
    text: str,
    unit: str,
    output: int,
    *,
    mask: str,
    samples: int,
    seed: int,
) -> np.ndarray:
    """LIME weights of the units of ``text`` toward ``output`` (one per unit, in order).

    ``bow=False``: each occurrence of a word is its own feature, masked in place by
    ``mask``, so feature ``j`` is unit ``j`` of :func:`~.units.split`.
    """
    import numpy as np
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(
        bow=False,
        split_expression=lambda s: [u.text for u in split(s, unit)],
        mask_string=mask,
        random_state=seed,
    )
    count = len(split(text, unit))
    explanation = explainer.explain_instance(
        text, fn, labels=(output,), num_features=count, num_samples=samples
    )
    values = np.zeros(count)
    for feature, weight in explanation.local_exp[output]:
        values[feature] = weight
    return values


def top_overlap(first: np.ndarray, second: np.ndarray, k: int = TOP_K) -> float:
    """Share of the ``k`` units with the largest |value| on one side that are also among
    the ``k`` largest on the other."""
    import numpy as np

    k = min(k, len(first))
    top_a = set(np.argsort(-np.abs(first), kind="stable")[:k].tolist())
    top_b = set(np.argsort(-np.abs(second), kind="stable")[:k].tolist())
    return len(top_a & top_b) / k if k else 1.0


def agreement(
    fn: Callable[[list[str]], np.ndarray],
    docs: Sequence[tuple[Document, str]],
    unit: str,
    *,
    mask: str,
    samples: int,
    seed: int,
    stop_at: float,
    estimate: float,
) -> dict[str, Any]:
    """Explain a few documents with LIME and compare the top units with the attributions.

    Args:
        fn: The model as a function of strings.
        docs: The documents with the text LIME explains (its units are the document's).
        unit: ``token`` or ``sentence``.
        mask: What a masked unit is replaced by.
        samples: LIME's perturbed samples per document.
        seed: LIME's random state.
        stop_at: ``time.monotonic()`` value by which to stop (checked per document).
        estimate: Expected seconds for the first document (later ones: the last one's).

    Returns:
        Per-document overlap and LIME weights, and the mean overlap (None when no
        document fitted).
    """
    import numpy as np

    rows, cost = [], estimate
    for doc, text in docs:
        if time.monotonic() + HEADROOM * cost > stop_at:
            break
        tick = time.monotonic()
        weights = lime_values(
            fn, text, unit, doc.output_index, mask=mask, samples=samples, seed=seed
        )
        cost = time.monotonic() - tick
        rows.append(
            {
                "position": doc.position,
                "top_k_overlap": top_overlap(doc.values, weights),
                "lime": [round(float(w), 6) for w in weights],
            }
        )
    overlaps = [r["top_k_overlap"] for r in rows]
    return {
        "documents": len(rows),
        "top_k": TOP_K,
        "num_samples": samples,
        "bow": False,
        "mask": mask,
        "top_k_overlap_mean": float(np.mean(overlaps)) if overlaps else None,
        "rows": rows,
    }
