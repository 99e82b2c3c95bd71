"""Online explanations: attributions for each row of a request, in Clarify's response shape.

The explainer and background are the ones stored with the model at log time
(``clarity/explanations/shap/card.json`` and ``background.parquet``), so an online
explanation is computed the way the logged one was: exact TreeSHAP from the booster or
shap's TreeExplainer for tree models, the closed form for linear models, and a
model-agnostic algorithm for the rest. Model-agnostic ones call the model many times:
every call checks the request's deadline, so an explanation stops at its time limit and
the prediction is returned with a clear error instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.data.encoding import TableEncoding
from mlflow_clarity.explainers.shap.algorithms import ALGORITHMS, MODEL_AGNOSTIC, ExplainSetup
from mlflow_clarity.explainers.shap.selection import explainer_chain
from mlflow_clarity.layout import BASELINE_FILES, MONITORING, SHAP, SHAP_FILES
from mlflow_clarity.logged_models import load_context, resolve_model_uri
from mlflow_clarity.store import download_files

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlflow_clarity.explainers.shap.algorithms import Attribution

logger = logging.getLogger(__name__)

ONLINE_MAX_EVALS = 200
"""Masked samples per row for model-agnostic algorithms online (the log-time floor is 500)."""
BACKGROUND_ROWS = 50
"""Background rows used online at most (model-agnostic cost grows with them)."""
MAX_EXPRESSION_CHARS = 64
"""Clarify's limit on an ``EnableExplanations`` expression."""
METHOD_KEYS = {
    "native_tree": "tree_shap",
    "tree": "tree_shap",
    "pipeline_tree": "tree_shap",
    "pipeline_linear": "linear_shap",
}


class ExplanationTimeout(Exception):
    """The explanation ran past its time limit."""


class ExplainRequestError(ValueError):
    """An ``EnableExplanations`` expression that is not valid JMESPath."""


def compile_expression(expression: str) -> Any:
    """Compile a Clarify ``EnableExplanations`` JMESPath expression (1-64 characters).

    Raises:
        ExplainRequestError: Too long, empty, or not JMESPath.
    """
    import jmespath

    if not 1 <= len(expression) <= MAX_EXPRESSION_CHARS:
        raise ExplainRequestError(
            f"EnableExplanations must have 1-{MAX_EXPRESSION_CHARS} characters, "
            f"not {len(expression)}"
        )
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ExplainRequestError(f"EnableExplanations {expression!r}: {exc}") from exc


def records_to_explain(expression: Any, predictions: list[Any]) -> list[bool]:
    """Evaluate a compiled expression on each record, as Clarify does.

    A record is the prediction of one row: a list stays a list, a dict a dict, a scalar
    becomes a one-element list (as a CSV record ``0.85`` becomes ``[0.85]``).

    Raises:
        ExplainRequestError: The expression does not give a boolean.
    """
    chosen = []
    for prediction in predictions:
        record = prediction if isinstance(prediction, (list, dict)) else [prediction]
        value = expression.search(record)
        if value is not None and not isinstance(value, bool):
            raise ExplainRequestError(
                f"EnableExplanations {expression.expression!r} gave {value!r}, not a boolean"
            )
        chosen.append(bool(value))
    return chosen


@dataclass(frozen=True)
class OnlineExplainer:
    """The stored explainer of a logged model, ready to explain request rows.

    Attributes:
        setup: The model, its encoding and its predictor (as the SHAP step has them).
        algorithm: The algorithm chosen at log time.
        background: The encoded background rows.
        source: Where the choice and background came from (for responses and logs).
    """

    setup: ExplainSetup
    algorithm: str
    background: np.ndarray
    source: str

    @property
    def columns(self) -> list[str]:
        """The model's input columns, in order."""
        return list(self.setup.encoding.columns)

    @property
    def method(self) -> str:
        """The key of the explanations in Clarify's response (``tree_shap``, ...)."""
        return METHOD_KEYS.get(self.algorithm, f"{self.algorithm}_shap")

    def explain(self, frame: pd.DataFrame, deadline: float) -> Attribution:
        """Attributions of every row of ``frame``, stopping at ``deadline`` (monotonic).

        Raises:
            ExplanationTimeout: The model-agnostic algorithm ran out of time.
            KeyError: ``frame`` lacks model input columns.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"the request lacks model input columns: {missing[:10]}")
        x = self.setup.encoding.encode(frame[self.columns])
        setup = self.setup
        if self.algorithm in MODEL_AGNOSTIC and setup.predictor is not None:
            setup = dataclasses.replace(setup, predictor=_with_deadline(setup.predictor, deadline))
        return ALGORITHMS[self.algorithm](setup, x, self.background)


def _with_deadline(predictor: model_access.Predictor, deadline: float) -> Any:
    def fn(matrix: Any) -> Any:
        if time.monotonic() > deadline:
            raise ExplanationTimeout("the explanation's time limit was reached")
        return predictor.fn(matrix)

    return dataclasses.replace(predictor, fn=fn)


def load_explainer(model_uri: str) -> OnlineExplainer:
    """Load a logged model's stored explainer and background.

    The model's ``clarity/explanations/shap`` card and background are used; without
    them, the explainer chain's first choice and the baseline's reference sample.

    Raises:
        mlflow_clarity.logged_models.ModelUriError: Not a ``models:/`` URI of a LoggedModel.
        FileNotFoundError: The model has neither a SHAP background nor a reference sample.
    """
    ctx = load_context(resolve_model_uri(model_uri))
    with tempfile.TemporaryDirectory(prefix="clarity-serve-") as tmp:
        card, frame = _stored_card_and_background(ctx.model_id, model_uri, Path(tmp))
    frame = frame.sample(min(len(frame), BACKGROUND_ROWS), random_state=ctx.seed)
    encoding = TableEncoding.fit(frame)
    ctx = dataclasses.replace(ctx, options={"max_evals": ONLINE_MAX_EVALS})
    try:
        predictor = model_access.predictor(ctx, encoding)
    except (TypeError, AttributeError) as exc:
        logger.info("online explanations: the model cannot be called on tables: %s", exc)
        predictor = None
    if card.get("explainer") in ALGORITHMS:
        algorithm, source = card["explainer"], "the explainer chosen at log time"
    else:
        algorithm = explainer_chain(ctx, encoding)[0].algorithm
        source = "the explainer chain (no stored SHAP card)"
    background = encoding.encode(frame)
    return OnlineExplainer(ExplainSetup(ctx, encoding, predictor), algorithm, background, source)


def _stored_card_and_background(
    model_id: str, model_uri: str, local: Path
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The SHAP card (or ``{}``) and background (or the baseline's reference sample)."""
    import pandas as pd

    wanted = (SHAP_FILES["card"], SHAP_FILES["background"])
    shap_folder = download_files(model_id, SHAP, wanted, local / "shap")
    card_path, background_path = (shap_folder / name for name in wanted)
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    if not background_path.exists():
        sample = BASELINE_FILES["sample"]
        background_path = download_files(model_id, MONITORING, (sample,), local) / sample
    if not background_path.exists():
        raise FileNotFoundError(
            f"{model_uri} has no stored SHAP background nor reference sample in clarity/; "
            f"explain it first: mlflow-clarity explain {model_uri} --data REFERENCE.csv"
        )
    return card, pd.read_parquet(background_path)


def clarify_response(
    explainer: OnlineExplainer,
    predictions: dict[str, str],
    chosen: list[bool],
    attribution: Attribution | None,
    error: str | None,
    seconds: float,
) -> dict[str, Any]:
    """The Clarify online-explainability response, plus a ``clarity`` section.

    ``explanations.<method>`` holds one list per record (empty when not explained) of
    one entry per feature: ``{"feature_header", "attributions": [{"attribution":
    [one value per output]}]}``. ``clarity`` says what the numbers are: method, output
    space and names, base values and the model outputs explained, the additivity error,
    or the error that stopped the explanation.
    """
    import numpy as np

    response: dict[str, Any] = {"version": "1.0", "predictions": predictions}
    details: dict[str, Any] = {
        "method": explainer.algorithm,
        "method_source": explainer.source,
        "explained_records": [i for i, c in enumerate(chosen) if c],
        "seconds": round(seconds, 4),
    }
    if attribution is None:
        response["explanations"] = {}
        details["error"] = error
        response["clarity"] = details
        return response
    records: list[list[dict[str, Any]]] = [[] for _ in chosen]
    explained = details["explained_records"]
    for row, record in enumerate(explained):
        records[record] = [
            {
                "feature_header": name,
                "attributions": [{"attribution": attribution.values[row, j, :].tolist()}],
            }
            for j, name in enumerate(explainer.columns)
        ]
    response["explanations"] = {explainer.method: records}
    details["output_space"] = attribution.output_space
    details["output_names"] = list(attribution.output_names)
    details["base_values"] = attribution.base.tolist()
    if attribution.output is not None:
        details["outputs"] = attribution.output.tolist()
        total = attribution.values.sum(axis=1) + attribution.base
        details["additivity_max_abs_error"] = float(np.abs(total - attribution.output).max())
    response["clarity"] = details
    return response
