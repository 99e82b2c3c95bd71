"""How good the attributions are: deletion and insertion curves against a random order
(under two replacement values), the model-randomisation sanity check, completeness."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.text.attribution import Document, IGSetup, embedding_layer
from mlflow_clarity.model_access import reinitialised_copy
from mlflow_clarity.types import HEADROOM

if TYPE_CHECKING:
    import numpy as np

CURVE_STEPS = 10
"""Points of a deletion or insertion curve after the start (fewer for shorter documents)."""
REPLACEMENTS = ("mask", "removal")
"""Deleted units are replaced by the mask token (unknown-token id), or removed."""
SANITY_DOCUMENTS = 8


@dataclass(frozen=True)
class Perturbation:
    """How to rebuild a document with some units deleted, and score the results.

    Attributes:
        build: ``build(document, keep, replacement)``: the model input with the units
            whose ``keep`` is False deleted (``replacement`` is one of
            :data:`REPLACEMENTS`).
        score: ``score(inputs, output)``: the probability of ``output`` for each input.
    """

    build: Callable[[Document, np.ndarray, str], Any]
    score: Callable[[list[Any], int], np.ndarray]


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Outputs as probabilities: kept when they already are (rows in [0, 1] that sum to
    one, or one column in [0, 1]), else softmax (several columns) or sigmoid (one)."""
    import numpy as np

    within = bool(np.all((outputs >= 0) & (outputs <= 1)))
    if within and (outputs.shape[1] == 1 or np.allclose(outputs.sum(axis=1), 1, atol=1e-3)):
        return outputs
    if outputs.shape[1] == 1:
        return 1 / (1 + np.exp(-outputs))
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _keep_masks(order: np.ndarray, steps: int, inserting: bool) -> list[np.ndarray]:
    import numpy as np

    masks = []
    for step in range(steps + 1):
        keep = np.full(len(order), not inserting)
        keep[order[: round(step * len(order) / steps)]] = inserting
        masks.append(keep)
    return masks


def _auc(scores: np.ndarray) -> float:
    """Area under a curve over [0, 1] sampled at equal steps (trapezoid rule)."""
    steps = len(scores) - 1
    return float((scores[:-1] + scores[1:]).sum() / (2 * steps))


def document_curves(
    doc: Document, perturbation: Perturbation, seed: int
) -> dict[str, dict[str, float]]:
    """Deletion and insertion AUCs of one document, in attribution and in random order.

    Units are deleted (or inserted, starting from every unit deleted) most supporting
    first. Returns ``{replacement: {deletion, deletion_random, insertion,
    insertion_random}}``; all curves of the document are scored in one model call.
    """
    import numpy as np

    steps = min(CURVE_STEPS, len(doc.units))
    orders = {
        "": np.argsort(-doc.values, kind="stable"),
        "_random": np.random.default_rng([seed, doc.row]).permutation(len(doc.units)),
    }
    keys, inputs = [], []
    for replacement in REPLACEMENTS:
        for curve in ("deletion", "insertion"):
            for suffix, order in orders.items():
                masks = _keep_masks(order, steps, inserting=curve == "insertion")
                keys.append((replacement, curve + suffix))
                inputs += [perturbation.build(doc, mask, replacement) for mask in masks]
    scores = perturbation.score(inputs, doc.output_index).reshape(len(keys), steps + 1)
    result: dict[str, dict[str, float]] = {r: {} for r in REPLACEMENTS}
    for (replacement, name), curve_scores in zip(keys, scores, strict=True):
        result[replacement][name] = _auc(curve_scores)
    return result


def curves(
    docs: Sequence[Document],
    perturbation: Perturbation,
    seed: int,
    stop_at: float,
    estimate: float,
) -> dict[str, Any]:
    """Mean deletion and insertion AUCs over documents, each divided by the random order's.

    Documents are scored one at a time until ``stop_at`` (``time.monotonic()``), the
    cost of the first one being ``estimate`` seconds, that of the next the last one's.

    Returns:
        ``documents`` scored, ``steps``, and per replacement the mean AUCs with
        ``deletion_ratio`` (lower is better) and ``insertion_ratio`` (higher is better).
    """
    import numpy as np

    per_doc: list[dict[str, dict[str, float]]] = []
    cost = estimate
    for doc in docs:
        if time.monotonic() + HEADROOM * cost > stop_at:
            break
        tick = time.monotonic()
        per_doc.append(document_curves(doc, perturbation, seed))
        cost = time.monotonic() - tick
    summary: dict[str, Any] = {"documents": len(per_doc), "steps": CURVE_STEPS}
    for replacement in REPLACEMENTS:
        means = {
            name: float(np.mean([d[replacement][name] for d in per_doc])) if per_doc else None
            for name in ("deletion", "deletion_random", "insertion", "insertion_random")
        }
        for curve in ("deletion", "insertion"):
            random = means[f"{curve}_random"]
            means[f"{curve}_ratio"] = (
                means[curve] / random if random else None  # None: no documents, or zero
            )
        summary[replacement] = means
    return summary


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (NaN when either side is constant)."""
    import numpy as np
    from scipy.stats import rankdata

    a, b = rankdata(first), rankdata(second)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def randomisation_sanity(
    setup: IGSetup,
    docs: Sequence[Document],
    explain: Callable[[IGSetup, np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
    seed: int,
) -> dict[str, Any]:
    """Model-parameter randomisation check (Adebayo et al. 2018) on a few documents.

    The same documents are attributed by a copy of the model whose last layer is
    re-initialised; a mean Spearman rho of |attribution| near 1 means the attributions
    do not depend on what the model learned.
    """
    import dataclasses

    import numpy as np

    chosen = [d for d in docs if len(d.units) >= 3][:SANITY_DOCUMENTS]
    if not chosen:
        return {"documents": 0, "rho_mean": None}
    randomised, _ = reinitialised_copy(setup.module, 1, seed)
    _, layer = embedding_layer(randomised)
    setup = dataclasses.replace(setup, module=randomised, layer=layer)
    ids = np.stack([d.ids for d in chosen])
    values, *_ = explain(setup, ids, np.array([d.output_index for d in chosen]))
    rhos = []
    for doc, row in zip(chosen, values, strict=True):
        positions = [u.start for u in doc.units]
        rhos.append(spearman(np.abs(doc.values), np.abs(row[positions])))
    finite = [r for r in rhos if np.isfinite(r)]
    return {
        "documents": len(chosen),
        "rho_mean": float(np.mean(finite)) if finite else None,
        "layer_reinitialised": "last layer with parameters",
    }


def _ratio_words(ratio: float | None, curve: str) -> str | None:
    if ratio is None:
        return None
    if curve == "deletion":
        verdict = (
            "much faster than"
            if ratio <= 0.5
            else "faster than"
            if ratio < 0.9
            else "no faster than"
        )
        return (
            f"Deleting the most important units first lowers the explained output {verdict} "
            f"deleting them in random order (deletion ratio {ratio:.2f}; lower is better)."
        )
    verdict = (
        "much faster than" if ratio >= 1.5 else "faster than" if ratio > 1.1 else "no faster than"
    )
    return (
        f"Inserting the most important units first restores the explained output {verdict} "
        f"inserting them in random order (insertion ratio {ratio:.2f}; higher is better)."
    )


def verdicts(quality: dict[str, Any]) -> list[str]:
    """The quality figures in plain words, one sentence each."""
    sentences = [
        _ratio_words(quality["curves"]["mask"]["deletion_ratio"], "deletion"),
        _ratio_words(quality["curves"]["mask"]["insertion_ratio"], "insertion"),
    ]
    overlap = quality["lime"]["top_k_overlap_mean"]
    if overlap is not None:
        level = "agree" if overlap >= 0.6 else "partly agree" if overlap >= 0.3 else "disagree"
        sentences.append(
            f"LIME and the attributions {level} on the top {quality['lime']['top_k']} units "
            f"(mean overlap {overlap:.2f})."
        )
    delta = quality["completeness"]["delta_mean"]
    if delta is not None:
        adds = "add up to" if delta <= 0.02 else "do not add up to"
        sentences.append(
            f"The attributions {adds} the difference between the model's output and its "
            f"output on the baseline (mean relative gap {delta:.2%})."
        )
    rho = quality["sanity"]["rho_mean"]
    if rho is not None:
        passed = "passes" if rho < 0.7 else "fails"
        sentences.append(
            f"The model-randomisation sanity check {passed}: attributions from a model with a "
            f"re-initialised last layer correlate at rho {rho:.2f} (below 0.7 passes)."
        )
    return [s for s in sentences if s is not None]
