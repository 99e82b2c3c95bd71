"""A text model as a function of a list of strings, whatever its flavor."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.modality import DEFAULT_TEXT_COLUMN
from mlflow_clarity.model_access import as_2d, is_classifier
from mlflow_clarity.types import ModelContext

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TextModel:
    """A model that takes strings.

    Attributes:
        fn: ``fn(texts) -> (len(texts), outputs)`` float array.
        output_names: One name per output (the classes of a classifier), or empty.
        is_classifier: Whether the outputs are class probabilities.
        call: How the model is called, for the summary.
        mask_token: The model's own tokenizer's mask token, if it has one.
    """

    fn: Callable[[Sequence[str]], np.ndarray]
    output_names: tuple[str, ...]
    is_classifier: bool
    call: str
    mask_token: str | None = None


def _frame(column: str) -> Callable[[Sequence[str]], Any]:
    import pandas as pd

    return lambda texts: pd.DataFrame({column: list(texts)})


def _in_memory_pyfunc(python_model: Any) -> bool:
    """Whether a ``PythonModel`` can be called as it is: ``predict(context, input)`` and
    no ``load_context`` of its own (which would need the stored artifacts)."""
    import mlflow.pyfunc

    if not isinstance(python_model, mlflow.pyfunc.PythonModel):
        return False
    own_loader = type(python_model).load_context is not mlflow.pyfunc.PythonModel.load_context
    parameters = list(inspect.signature(python_model.predict).parameters)
    return not own_loader and parameters[:1] == ["context"]


def _mask_token(model: Any) -> str | None:
    token = getattr(getattr(model, "tokenizer", None), "mask_token", None)
    return token if isinstance(token, str) and token else None


def text_model(ctx: ModelContext) -> TextModel:
    """Wrap the model of ``ctx`` as a function of a list of strings.

    sklearn classifiers and pipelines get the list itself (a one-column DataFrame when
    they were fitted on a DataFrame) and give ``predict_proba``; other sklearn-like
    models ``predict``. A pyfunc's ``python_model`` is called in memory with a
    one-column DataFrame when it has no ``load_context`` of its own; otherwise, and for
    every other flavor, the stored model is loaded as a pyfunc.

    Args:
        ctx: The step's context (text modality).

    Returns:
        The wrapped model.
    """
    model = ctx.model
    column = ctx.modality.column or DEFAULT_TEXT_COLUMN
    frame = _frame(column)
    mask = _mask_token(model)
    if ctx.flavor != "pyfunc" and hasattr(model, "predict"):
        takes = frame if hasattr(model, "feature_names_in_") else list
        if is_classifier(model):
            names = tuple(str(c) for c in model.classes_)
            return TextModel(
                lambda texts: as_2d(model.predict_proba(takes(texts))),
                names,
                True,
                "predict_proba",
                mask,
            )
        return TextModel(
            lambda texts: as_2d(model.predict(takes(texts))), (), False, "predict", mask
        )
    if ctx.flavor == "pyfunc" and _in_memory_pyfunc(model):
        return TextModel(
            lambda texts: as_2d(model.predict(None, frame(texts))),
            (),
            False,
            "python_model.predict in memory",
            mask,
        )
    stored = ctx.load_pyfunc()
    return TextModel(
        lambda texts: as_2d(stored.predict(frame(texts))), (), False, "stored pyfunc", mask
    )
