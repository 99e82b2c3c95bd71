"""The outputs of an image or text model on items, as the estimator card and the checks
read them.

An image model is called like the image explainers call it (a torch module directly, in
bounded chunks and without gradients; any other model through ``predict_proba`` or
``predict``); a text model like the text explainers call it. A model with class names
(``classes_``) gives one probability per class. A model with two or more outputs and no
class names is taken as a classifier of the classes ``0`` ... ``k-1``: its outputs when
they are probabilities, else their softmax. One output is a regression.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.model_access import Predictor
from mlflow_clarity.types import ModelContext

if TYPE_CHECKING:
    import numpy as np


def _softmax(outputs: np.ndarray) -> np.ndarray:
    import numpy as np

    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _predictor(
    fn: Callable[[Any], np.ndarray], names: tuple[str, ...], classifier: bool, probe: Any
) -> Predictor:
    """The predictor, once the outputs on ``probe`` say how many there are and whether
    they already are probabilities (decided once, for every later batch)."""
    from mlflow_clarity.explainers.images.model import probabilities

    outputs = fn(probe)
    if classifier or outputs.shape[1] < 2:
        return Predictor(fn, names, "probability" if classifier else "model output", classifier)
    classes = tuple(str(i) for i in range(outputs.shape[1]))
    if probabilities(outputs)[1] == "probability":
        return Predictor(fn, classes, "probability", True)
    return Predictor(lambda x: _softmax(fn(x)), classes, "softmax of the outputs", True)


def _image_fn(ctx: ModelContext, layout: str, dtype: str) -> tuple[Callable[[Any], Any], bool]:
    import numpy as np

    from mlflow_clarity.explainers.images.model import ImageModel

    module = model_access.torch_module(ctx.model)
    if module is not None:
        with contextlib.suppress(RuntimeError, NotImplementedError, AttributeError):
            module.eval()  # a torch.fx graph module (a logged model loaded back) has no modes
        model = ImageModel(layout, module, module, "the torch module", False)
        return model.outputs, False
    model = ctx.model
    if model is None or ctx.flavor == "pyfunc" or not hasattr(model, "predict"):
        model = ctx.load_pyfunc()
    if model_access.is_classifier(model):
        return lambda x: model_access.as_2d(model.predict_proba(np.asarray(x, dtype=dtype))), True
    return lambda x: model_access.as_2d(model.predict(np.asarray(x, dtype=dtype))), False


def item_predictor(
    ctx: ModelContext, kind: str, items: Any, *, layout: str | None = None, dtype: str = ""
) -> Predictor:
    """The model of ``ctx`` as a function of images or texts.

    Args:
        ctx: The model (in memory at log time, loaded back at check time).
        kind: ``image`` or ``text``.
        items: A few items like those the predictor will take (to count the outputs).
        layout: Images: the batch layout (``NCHW``, ``NHWC``, ``NHW``).
        dtype: Images: the dtype the model takes (models that are not torch modules).

    Returns:
        ``fn(items) -> (n, outputs)`` float array; classifiers give probabilities and
        their classes as ``output_names``.
    """
    if kind == "image":
        assert layout is not None
        fn, classifier = _image_fn(ctx, layout, dtype)
        names = tuple(str(c) for c in getattr(ctx.model, "classes_", ())) if classifier else ()
        return _predictor(fn, names, classifier, items)
    from mlflow_clarity.explainers.text.calling import text_model

    model = text_model(ctx)
    fn = lambda texts: model.fn(list(texts))  # noqa: E731
    return _predictor(fn, model.output_names, model.is_classifier, items)
