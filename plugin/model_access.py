"""Calling a logged model on tabular data, whatever its flavor.

Every explainer needs the model as a function of a matrix. This module wraps the
in-memory object (sklearn estimators and pipelines, xgboost, lightgbm, torch modules,
pyfunc python models) or, when there is none, the stored pyfunc model.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.types import ModelContext

if TYPE_CHECKING:
    import numpy as np

    from mlflow_clarity.data.encoding import TableEncoding


@dataclass(frozen=True)
class Predictor:
    """A model as a function of its inputs (an encoded float matrix or a DataFrame).

    Attributes:
        fn: ``fn(inputs) -> (rows, outputs)`` float array.
        output_names: One name per output (class labels for classifiers).
        output_space: What the outputs are (``probability``, ``model output``...).
        is_classifier: Whether outputs are class probabilities.
    """

    fn: Callable[[Any], np.ndarray]
    output_names: tuple[str, ...]
    output_space: str
    is_classifier: bool


def as_2d(values: Any) -> np.ndarray:
    """Return model outputs as a float ``(rows, outputs)`` array."""
    import numpy as np

    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    out = np.asarray(values, dtype=float)
    return out.reshape(len(out), -1)


def torch_module(model: Any) -> Any:
    """Return ``model`` if it is a ``torch.nn.Module``, else None (never imports torch)."""
    torch = sys.modules.get("torch")  # a torch model exists only if torch was imported
    if torch is not None and isinstance(model, torch.nn.Module):
        return model
    return None


def torch_device_and_dtype(module: Any) -> tuple[Any, Any]:
    """The device and float dtype of a module's parameters (CPU float32 without any)."""
    import torch

    params = list(module.parameters())
    if not params:
        return torch.device("cpu"), torch.float32
    return params[0].device, params[0].dtype


def reinitialised_copy(module: Any, layers: int, seed: int) -> tuple[Any, list[str]]:
    """A deep copy of a torch module whose last ``layers`` parametrised layers are
    re-initialised (seeded), for the model-parameter randomisation sanity check.

    Args:
        module: The ``torch.nn.Module``.
        layers: How many of its last layers with parameters to re-initialise.
        seed: Seed of the new weights (torch's global generator is left as it was).

    Returns:
        The copy, and the names of the layers re-initialised (``(root)`` for the module
        itself).

    Raises:
        ValueError: No layer of the module can be re-initialised.
    """
    import copy

    import torch

    twin = copy.deepcopy(module)
    resettable = [
        (name, m)
        for name, m in twin.named_modules()
        if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))
    ]
    if not resettable:
        raise ValueError("the module has no layer with reset_parameters()")
    chosen = resettable[-layers:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _, layer in chosen:
            layer.reset_parameters()
    return twin, [name or "(root)" for name, _ in chosen]


def _torch_fn(module: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    device, dtype = torch_device_and_dtype(module)

    def predict(matrix: np.ndarray) -> np.ndarray:
        module.eval()
        with torch.no_grad():
            out = module(torch.as_tensor(matrix, dtype=dtype, device=device))
        return as_2d(out.detach().cpu().numpy())

    return predict


def is_classifier(model: Any) -> bool:
    """Whether a model predicts class probabilities (sklearn API)."""
    return hasattr(model, "predict_proba") and hasattr(model, "classes_")


def _frame_predictor(ctx: ModelContext) -> Predictor:
    """Wrap the model of ``ctx`` as a function of DataFrames like its training data.

    Classifiers give one probability per class; torch modules their raw output; every
    other model what its ``predict`` returns.
    """
    model = ctx.model
    if is_classifier(model):
        names = tuple(str(c) for c in model.classes_)
        return Predictor(
            lambda frame: as_2d(model.predict_proba(frame)), names, "probability", True
        )
    module = torch_module(model)
    if module is not None:
        matrix_fn = _torch_fn(module)
        return Predictor(
            lambda frame: matrix_fn(frame.to_numpy(dtype="float64")), (), "model output", False
        )
    if model is None or ctx.flavor == "pyfunc" or not hasattr(model, "predict"):
        model = ctx.load_pyfunc()
    return Predictor(lambda frame: as_2d(model.predict(frame)), (), "model output", False)


def _encoded_predictor(ctx: ModelContext, encoding: TableEncoding) -> Predictor:
    module = torch_module(ctx.model)
    if module is not None:
        if not encoding.all_numeric:
            raise TypeError("a torch module needs numeric inputs")
        return Predictor(_torch_fn(module), (), "model output", False)
    frame_predictor = _frame_predictor(ctx)
    return dataclasses.replace(
        frame_predictor, fn=lambda matrix: frame_predictor.fn(encoding.decode(matrix))
    )


def _input_columns(ctx: ModelContext) -> list[str] | None:
    if ctx.reference is not None:
        return list(ctx.reference.columns)
    inputs = getattr(ctx.signature, "inputs", None)
    names = inputs.input_names() if inputs is not None and inputs.has_input_names() else None
    return [str(n) for n in names] if names else None


def predictor(ctx: ModelContext, encoding: TableEncoding | None = None) -> Predictor:
    """The model of ``ctx`` as a function of its inputs, whatever its flavor.

    Without ``encoding``, ``fn`` takes a DataFrame like the model's training data, or a
    2-D array whose columns are the reference data's (or the signature's) columns in
    order. With an ``encoding`` (:class:`~mlflow_clarity.data.encoding.TableEncoding`),
    ``fn`` takes encoded float matrices, which are decoded back to the model's input.
    Either way it returns a float ``(rows, outputs)`` array: one probability per class for
    classifiers (``output_names`` are the classes), the raw output of torch modules, and
    what ``predict`` returns for every other model (the stored pyfunc model when the
    in-memory one cannot be called).

    Args:
        ctx: The step's context.
        encoding: How matrices map to the model's DataFrame input, or None.

    Returns:
        The predictor.

    Raises:
        TypeError: A torch module with non-numeric inputs (with an encoding).
    """
    if encoding is not None:
        return _encoded_predictor(ctx, encoding)
    frame_predictor = _frame_predictor(ctx)
    columns = _input_columns(ctx)

    def fn(inputs: Any) -> np.ndarray:
        import pandas as pd

        if not isinstance(inputs, pd.DataFrame):
            inputs = pd.DataFrame(inputs, columns=columns)
        return frame_predictor.fn(inputs)

    return dataclasses.replace(frame_predictor, fn=fn)
