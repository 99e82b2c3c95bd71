"""The two ways documents are explained, behind one interface: strings (SHAP partition
over text units, any model that takes strings) and token ids (layer integrated gradients
on the embedding of a torch model)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.text import attribution as attr
from mlflow_clarity.explainers.text.attribution import Document
from mlflow_clarity.explainers.text.calling import text_model
from mlflow_clarity.explainers.text.quality import (
    Perturbation,
    probabilities,
    randomisation_sanity,
)
from mlflow_clarity.explainers.text.units import Unit, count, rebuild, split
from mlflow_clarity.model_access import torch_module
from mlflow_clarity.types import ModelContext, StepSkipped

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MASK = "..."
PROBE_INPUTS = 64
"""Inputs of the one timed model call that estimates the cost of the first explanation."""


@dataclass(frozen=True)
class Options:
    """The step's options (``ctx.options``), validated."""

    unit: str = "token"
    documents: int = 100
    max_units: int = 512
    max_evals: int = 500
    lime_documents: int = 5
    lime_samples: int = 1000
    pad_id: int = 0
    unk_id: int = 1
    mask_token: str | None = None

    @classmethod
    def of(cls, options: Any) -> Options:
        """Read ``ctx.options``; unknown keys are ignored.

        Raises:
            ValueError: An unknown unit or a count below one.
        """
        given = {k: options[k] for k in cls.__dataclass_fields__ if k in options}
        read = cls(**given)
        split("", read.unit)  # validates the unit
        counts = ("documents", "max_units", "max_evals", "lime_samples")
        for name in counts:
            if int(getattr(read, name)) < 1:
                raise ValueError(f"text option {name} must be at least 1")
        return read


@dataclass
class Plan:
    """What a backend will explain: sample rows with units, and what it leaves out.

    Attributes:
        rows: Sample rows to explain, in order.
        units: Units of each of those rows.
        empty: Positions of documents without any unit (skipped).
        truncated: ``{"position", "units", "kept"}`` per document cut to its first units.
    """

    rows: list[int] = field(default_factory=list)
    units: dict[int, list[Unit]] = field(default_factory=dict)
    empty: list[int] = field(default_factory=list)
    truncated: list[dict[str, int]] = field(default_factory=list)


class StringBackend:
    """Models that take strings: ``shap.PartitionExplainer`` with ``maskers.Text``."""

    explainer = "shap.PartitionExplainer"

    def __init__(self, ctx: ModelContext, options: Options) -> None:
        assert ctx.reference is not None
        self.options = options
        self.model = text_model(ctx)
        self.mask = options.mask_token or self.model.mask_token or DEFAULT_MASK
        texts: tuple[str, ...] = ctx.reference.items
        self.positions = [int(p) for p in ctx.reference.positions(len(texts))]
        self.plan = Plan()
        self.texts: dict[int, str] = {}
        for row, text in enumerate(texts):
            if len(self.plan.rows) >= options.documents:
                break
            units = split(text, options.unit, options.max_units)
            if not units:
                self.plan.empty.append(self.positions[row])
                continue
            self.plan.rows.append(row)
            self.plan.units[row] = units
            self.texts[row] = text
            if len(units) == options.max_units and units[-1].end < len(text.rstrip()):
                self.texts[row] = text[: units[-1].end]
                total = count(text, options.unit)
                self.plan.truncated.append(
                    {"position": self.positions[row], "units": total, "kept": len(units)}
                )
        self.max_evals = options.max_evals
        self.outputs = 0
        self.seconds_per_input = self._probe()

    def _probe(self) -> float:
        """Seconds per input of one model call on the first documents."""
        texts = [self.texts[r] for r in self.plan.rows] or [""]
        batch = [texts[i % len(texts)] for i in range(PROBE_INPUTS)]
        tick = time.perf_counter()
        self.model.fn(batch)
        return (time.perf_counter() - tick) / PROBE_INPUTS

    @property
    def settings(self) -> dict[str, Any]:
        """The explainer's settings, for ``summary.json``."""
        return {
            "max_evals": self.max_evals,
            "mask_token": self.mask,
            "masker": "shap.maskers.Text over the unit regex",
            "model_call": self.model.call,
        }

    def seconds_per_document(self) -> float:
        """Expected seconds to explain one document (before any was measured)."""
        return 2 * self.seconds_per_input * self.max_evals

    def size_to(self, seconds: float, documents: int) -> None:
        """Lower ``max_evals`` (not below 100) so that ``documents`` fit in ``seconds``."""
        fit = int(seconds / (2 * self.seconds_per_input * max(documents, 1)))
        self.max_evals = max(min(self.max_evals, fit), min(100, self.max_evals))

    def explain(self, rows: Sequence[int]) -> list[Document]:
        """Attributions of the given sample rows toward each one's predicted class."""
        texts = [self.texts[r] for r in rows]
        outputs = self.model.fn(texts)
        self.outputs = outputs.shape[1]
        explained = attr.explained_outputs(outputs)
        setup = attr.PartitionSetup(self.model, self.options.unit, self.mask, self.max_evals)
        units = [self.plan.units[r] for r in rows]
        values = attr.explain_strings(setup, texts, units, explained.tolist())
        return [
            Document(
                row=row,
                position=self.positions[row],
                units=tuple(doc_units),
                values=doc_values,
                output_index=int(k),
                output=float(out[k]),
                base_value=base,
                text=text,
            )
            for row, text, doc_units, (doc_values, _, base), k, out in zip(
                rows, texts, units, values, explained, outputs, strict=True
            )
        ]

    def perturbation(self) -> Perturbation:
        """Units deleted by the mask token or removed; scored by the model on strings."""

        def build(doc: Document, keep: np.ndarray, replacement: str) -> str:
            assert doc.text is not None
            return rebuild(doc.text, doc.units, keep, self.mask if replacement == "mask" else "")

        def score(inputs: list[Any], output: int) -> np.ndarray:
            return probabilities(self.model.fn(inputs))[:, output]

        return Perturbation(build, score)

    def lime_model(self) -> tuple[Callable[[list[str]], np.ndarray], str, str]:
        """The model on strings for LIME, the unit it splits into and the mask it uses."""
        return self.model.fn, self.options.unit, self.mask

    def lime_text(self, doc: Document) -> str:
        """The text LIME explains for ``doc`` (its units are the document's)."""
        assert doc.text is not None
        return doc.text

    def output_names(self) -> tuple[str, ...]:
        """Names of the model's outputs (classes when known)."""
        return self.model.output_names or tuple(str(i) for i in range(self.outputs))

    def sanity(self, docs: Sequence[Document], seed: int) -> dict[str, Any]:
        """Not run: the randomisation check needs a torch model's parameters."""
        return {"documents": 0, "rho_mean": None, "reason": "needs a torch model on token ids"}


class TokenIdBackend:
    """Torch models on token ids: ``LayerIntegratedGradients`` on the embedding layer."""

    explainer = "captum.LayerIntegratedGradients"

    def __init__(self, ctx: ModelContext, options: Options) -> None:
        import numpy as np

        assert ctx.reference is not None
        module = torch_module(ctx.model)
        if module is None:
            raise StepSkipped("token ids are explained for in-memory torch models only")
        self.options = options
        self.layer_name, layer = attr.embedding_layer(module)
        self.setup = attr.IGSetup(module, layer, options.pad_id, options.unk_id)
        ids = np.asarray(ctx.reference.items)
        self.positions = [int(p) for p in ctx.reference.positions(len(ids))]
        self.plan = Plan()
        if ids.shape[1] > options.max_units:
            for row in range(min(len(ids), options.documents)):
                real = int((ids[row] != options.pad_id).sum())
                if real > options.max_units:
                    self.plan.truncated.append(
                        {"position": self.positions[row], "units": real, "kept": options.max_units}
                    )
            ids = ids[:, : options.max_units]
        self.ids = ids
        for row in range(len(ids)):
            if len(self.plan.rows) >= options.documents:
                break
            real = np.flatnonzero(ids[row] != options.pad_id)
            if len(real) == 0:
                self.plan.empty.append(self.positions[row])
                continue
            self.plan.rows.append(row)
            self.plan.units[row] = [Unit(str(ids[row, p]), int(p), int(p) + 1) for p in real]
        self.outputs = 0
        tick = time.perf_counter()
        attr.forward(module, ids[self.plan.rows[:1]] if self.plan.rows else ids[:1])
        self.seconds_per_input = time.perf_counter() - tick

    @property
    def settings(self) -> dict[str, Any]:
        """The explainer's settings, for ``summary.json``."""
        return {
            "n_steps": self.setup.n_steps,
            "method": attr.IG_METHOD,
            "layer": self.layer_name,
            "pad_id": self.setup.pad_id,
            "unk_id": self.setup.unk_id,
            "baseline": "unk_id at real positions, pad_id where the input is padded",
            "model_call": "torch module on token ids",
        }

    def seconds_per_document(self) -> float:
        """Expected seconds to explain one document: a forward and backward pass per step."""
        return 3 * self.seconds_per_input * self.setup.n_steps

    def size_to(self, seconds: float, documents: int) -> None:
        """Nothing to size: the number of integration steps is fixed."""

    def explain(self, rows: Sequence[int]) -> list[Document]:
        """Attributions of the given sample rows toward each one's predicted class."""
        ids = self.ids[list(rows)]
        outputs = attr.forward(self.setup.module, ids)
        self.outputs = outputs.shape[1]
        explained = attr.explained_outputs(outputs)
        values, f_x, f_b = attr.explain_ids(self.setup, ids, explained)
        docs = []
        for i, row in enumerate(rows):
            units = self.plan.units[row]
            docs.append(
                Document(
                    row=row,
                    position=self.positions[row],
                    units=tuple(units),
                    values=values[i, [u.start for u in units]],
                    output_index=int(explained[i]),
                    output=float(f_x[i]),
                    base_value=float(f_b[i]),
                    ids=ids[i],
                )
            )
        return docs

    def _padded(self, tokens: Sequence[int]) -> np.ndarray:
        import numpy as np

        row = np.full(self.ids.shape[1], self.setup.pad_id, dtype=self.ids.dtype)
        row[: len(tokens)] = tokens[: len(row)]
        return row

    def perturbation(self) -> Perturbation:
        """Tokens replaced by the unknown id, or removed (the rest shifted left)."""
        import numpy as np

        def build(doc: Document, keep: np.ndarray, replacement: str) -> np.ndarray:
            assert doc.ids is not None
            at = np.array([u.start for u in doc.units])
            if replacement == "removal":
                return self._padded(doc.ids[at[keep]])
            row = doc.ids.copy()
            row[at[~keep]] = self.setup.unk_id
            return row

        def score(inputs: list[Any], output: int) -> np.ndarray:
            return probabilities(attr.forward(self.setup.module, np.stack(inputs)))[:, output]

        return Perturbation(build, score)

    def lime_model(self) -> tuple[Callable[[list[str]], np.ndarray], str, str]:
        """The model on space-separated token ids for LIME, the unit (``token``) and the
        mask (the unknown-token id)."""
        import numpy as np

        unk = self.setup.unk_id

        def fn(texts: list[str]) -> np.ndarray:
            rows = [
                self._padded([int(t) if t.isdigit() else unk for t in text.split()])
                for text in texts
            ]
            return attr.forward(self.setup.module, np.stack(rows))

        return fn, "token", str(unk)

    def lime_text(self, doc: Document) -> str:
        """The document's real token ids, separated by spaces."""
        return " ".join(u.text for u in doc.units)

    def output_names(self) -> tuple[str, ...]:
        """Names of the model's outputs (their indices)."""
        return tuple(str(i) for i in range(self.outputs))

    def sanity(self, docs: Sequence[Document], seed: int) -> dict[str, Any]:
        """The model-randomisation check on a few explained documents."""
        return randomisation_sanity(self.setup, docs, attr.explain_ids, seed)


Backend = StringBackend | TokenIdBackend


def backend(ctx: ModelContext, options: Options) -> Backend:
    """The backend for the context's modality (``text`` or ``token_ids``)."""
    if ctx.modality.kind == "token_ids":
        return TokenIdBackend(ctx, options)
    return StringBackend(ctx, options)
