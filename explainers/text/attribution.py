"""Attributions over text units: SHAP's partition explainer for models that take
strings, layer integrated gradients on the embedding for torch models on token ids."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.text.calling import TextModel
from mlflow_clarity.explainers.text.units import Unit, UnitTokenizer
from mlflow_clarity.types import StepSkipped

if TYPE_CHECKING:
    import numpy as np

IG_STEPS = 50
IG_METHOD = "gausslegendre"
_TINY = 1e-12


@dataclass(frozen=True)
class Document:
    """One explained document.

    Attributes:
        row: Its row in the reference sample.
        position: Its position in the user's reference data.
        units: Its units in document order (for token ids, one per non-padding position).
        values: One attribution per unit, toward ``output_index``.
        output_index: The explained output (the predicted class of a classifier).
        output: The model's explained output on the document as explained.
        base_value: The explained output with every unit masked (the baseline).
        text: The document as explained (truncated to its first units), or None for
            token ids.
        ids: The token ids as explained, or None for strings.
    """

    row: int
    position: int
    units: tuple[Unit, ...]
    values: np.ndarray
    output_index: int
    output: float
    base_value: float
    text: str | None = None
    ids: np.ndarray | None = None

    @property
    def completeness_delta(self) -> float:
        """|sum of attributions - (output - baseline output)| relative to that difference."""
        gap = self.output - self.base_value
        return abs(float(self.values.sum()) - gap) / max(abs(gap), _TINY)


def explained_outputs(outputs: np.ndarray) -> np.ndarray:
    """The output explained for each row: the largest (the predicted class), or the only one."""
    import numpy as np

    if outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    return np.zeros(len(outputs), dtype=int)


# --- SHAP partition over strings ---------------------------------------------------------


@dataclass(frozen=True)
class PartitionSetup:
    """How documents are explained with ``shap.PartitionExplainer``."""

    model: TextModel
    unit: str
    mask_token: str
    max_evals: int


def _masker(setup: PartitionSetup) -> Any:
    import shap

    return shap.maskers.Text(
        UnitTokenizer(setup.unit), mask_token=setup.mask_token, collapse_mask_token=True
    )


def explain_strings(
    setup: PartitionSetup,
    texts: Sequence[str],
    units: Sequence[Sequence[Unit]],
    outputs: Sequence[int],
) -> list[tuple[np.ndarray, float, float]]:
    """Owen values of each text's units toward its explained output.

    Args:
        setup: The explainer's settings.
        texts: The documents, as explained (already truncated).
        units: The units of each document (what the masker finds in it).
        outputs: The output to explain for each document.

    Returns:
        For each document: the values, the model's output and the base value.
    """
    import numpy as np
    import shap

    masker = _masker(setup)
    explained: dict[int, tuple[np.ndarray, float, float]] = {}
    for k in sorted(set(outputs)):
        chosen = [i for i, output in enumerate(outputs) if output == k]
        explainer = shap.PartitionExplainer(
            lambda batch, k=k: setup.model.fn(list(batch))[:, k : k + 1], masker
        )
        result = explainer(
            [texts[i] for i in chosen],
            max_evals=setup.max_evals,
            batch_size=setup.max_evals,
            silent=True,
        )
        for row, i in enumerate(chosen):
            values = np.asarray(result.values[row], dtype=float).reshape(-1)
            if len(values) != len(units[i]):
                raise RuntimeError(f"shap gave {len(values)} values for {len(units[i])} units")
            base = float(np.asarray(result.base_values[row]).reshape(-1)[0])
            explained[i] = (values, base + float(values.sum()), base)
    return [explained[i] for i in range(len(texts))]


# --- layer integrated gradients on token ids ---------------------------------------------


def embedding_layer(module: Any) -> tuple[str, Any]:
    """The first ``nn.Embedding`` or ``nn.EmbeddingBag`` of ``module``, with its name.

    Raises:
        StepSkipped: The module has none.
    """
    import torch

    for name, child in module.named_modules():
        if isinstance(child, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            return name or "(the model)", child
    raise StepSkipped("the torch model has no nn.Embedding or nn.EmbeddingBag layer")


class _TokenEmbedding:
    """Per-token embeddings that stand in for an ``EmbeddingBag``'s pooled output.

    While active, a forward hook replaces the bag's output by the same pooling (sum,
    mean or max over non-padding positions) of per-token embeddings computed by
    :attr:`layer`, a module layer integrated gradients can attribute to.
    """

    def __init__(self, bag: Any) -> None:
        import torch

        self.bag = bag
        self.layer = torch.nn.Embedding.from_pretrained(
            bag.weight, freeze=False, padding_idx=bag.padding_idx
        )
        self.layer.weight = bag.weight  # shared, so gradients and copies stay in step

    def pooled(self, ids: Any) -> Any:
        import torch

        tokens = self.layer(ids)
        keep = torch.ones_like(ids, dtype=torch.bool)
        if self.bag.padding_idx is not None:
            keep = ids != self.bag.padding_idx
        mask = keep.unsqueeze(-1).to(tokens.dtype)
        if self.bag.mode == "max":
            filled = tokens.masked_fill(~keep.unsqueeze(-1), float("-inf")).amax(dim=1)
            return torch.where(keep.any(dim=1, keepdim=True), filled, torch.zeros_like(filled))
        total = (tokens * mask).sum(dim=1)
        if self.bag.mode == "sum":
            return total
        return total / mask.sum(dim=1).clamp(min=1.0)

    @contextlib.contextmanager
    def active(self) -> Iterator[Any]:
        """Route the bag's output through :attr:`layer`; yields the layer."""

        def hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], _out: Any) -> Any:
            extra = [*args[1:], *kwargs.values()]
            if args[0].dim() != 2 or any(value is not None for value in extra):
                raise StepSkipped(
                    "the EmbeddingBag is called with offsets or per-sample weights; "
                    "per-token attributions need 2-D token ids"
                )
            return self.pooled(args[0])

        handle = self.bag.register_forward_hook(hook, with_kwargs=True)
        try:
            yield self.layer
        finally:
            handle.remove()


@contextlib.contextmanager
def per_token_layer(module: Any, layer: Any, ids: np.ndarray) -> Iterator[Any]:
    """The layer to attribute to: ``layer`` itself, or for an ``EmbeddingBag`` a
    per-token view of it, checked to give the model's own outputs on ``ids``.

    Raises:
        StepSkipped: The per-token view changes the model's outputs.
    """
    import numpy as np
    import torch

    if not isinstance(layer, torch.nn.EmbeddingBag):
        yield layer
        return
    expected = forward(module, ids)
    with _TokenEmbedding(layer).active() as view:
        if not np.allclose(forward(module, ids), expected, rtol=1e-4, atol=1e-5):
            raise StepSkipped(
                f"per-token attributions through EmbeddingBag(mode={layer.mode!r}) do not "
                "reproduce the model's outputs"
            )
        yield view


@dataclass(frozen=True)
class IGSetup:
    """How token ids are attributed with ``LayerIntegratedGradients``."""

    module: Any
    layer: Any
    pad_id: int
    unk_id: int
    n_steps: int = IG_STEPS


def baseline_ids(ids: np.ndarray, pad_id: int, unk_id: int) -> np.ndarray:
    """The unknown-token id at real positions and the padding id where ``ids`` is padded,
    so that the model computes the same padding mask for both ends of the path."""
    import numpy as np

    return np.where(ids == pad_id, pad_id, unk_id)


def forward(module: Any, ids: np.ndarray) -> np.ndarray:
    """The module's outputs on token ids, as a float ``(rows, outputs)`` array."""
    import torch

    from mlflow_clarity.model_access import as_2d

    module.eval()
    with torch.no_grad():
        out = module(torch.as_tensor(ids, dtype=torch.long))
    return as_2d(out.detach().cpu().numpy())


def explain_ids(
    setup: IGSetup, ids: np.ndarray, outputs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer integrated gradients of each row's explained output, per position.

    Args:
        setup: The model, its embedding layer and the baseline ids.
        ids: Token ids, ``(rows, length)``.
        outputs: The output explained for each row.

    Returns:
        Attributions ``(rows, length)`` (summed over the embedding dimension; zero at
        padding), the model's outputs and the baseline outputs (both for the explained
        output); their gap less the attributions' sum is the convergence delta.
    """
    import numpy as np
    import torch
    from captum.attr import LayerIntegratedGradients

    module = setup.module
    base = baseline_ids(ids, setup.pad_id, setup.unk_id)
    module.eval()
    with torch.no_grad():
        vector = module(torch.as_tensor(ids[:1], dtype=torch.long)).dim() == 1
    target = None if vector else torch.as_tensor(outputs, dtype=torch.long)
    with per_token_layer(module, setup.layer, ids) as layer:
        method = LayerIntegratedGradients(module, layer)
        attributions = method.attribute(
            torch.as_tensor(ids, dtype=torch.long),
            baselines=torch.as_tensor(base, dtype=torch.long),
            target=target,
            n_steps=setup.n_steps,
            method=IG_METHOD,
            internal_batch_size=setup.n_steps,
        )
        rows = np.arange(len(ids))
        f_x = forward(module, ids)[rows, outputs]
        f_b = forward(module, base)[rows, outputs]
    values = attributions.detach().sum(dim=-1).cpu().numpy().astype(float)
    values[ids == setup.pad_id] = 0.0
    return values, f_x, f_b
