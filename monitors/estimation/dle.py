"""Direct loss estimation (DLE) of a regressor on a batch without labels.

A "nanny" model learns each reference row's loss (``|y - y_hat|`` for MAE, ``(y - y_hat)^2``
for RMSE) from the model's inputs and its prediction; a batch's estimate is the mean of
the predicted losses (its square root for RMSE). The nanny is a small LightGBM model
stored as LightGBM's own text format (no pickle). It is fitted on three quarters of the
reference rows with early stopping on the last quarter, whose residuals give the spread
from which a 95 % interval at the batch's size follows. A scale correction from that
quarter (mean loss over mean predicted loss) was tried and dropped: squared errors are
so heavy-tailed that the ratio moved the RMSE estimate by +/-5 % from one seed to the next.
Non-numeric inputs are coded by a stored vocabulary (values never seen become missing).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.estimation.cbpe import Z95

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

VOCABULARY = 200
MAX_ROUNDS = 400
HOLDOUT = 0.25
PATIENCE = 100
PARAMS = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "num_threads": 1,
    "deterministic": True,
    "verbose": -1,
}
"""Small trees, slow learning; losses are noisy targets (squared errors above all), so
early stopping waits :data:`PATIENCE` rounds before it gives up."""
LOSSES = ("mae", "rmse")
"""Estimated metrics; the nanny of ``rmse`` learns squared errors."""


@dataclass(frozen=True)
class LossInputs:
    """How a batch becomes the nanny models' input matrix.

    Attributes:
        columns: The model's input columns, in order (the prediction comes last).
        vocabularies: Known values of each non-numeric column, by column.
    """

    columns: tuple[str, ...]
    vocabularies: dict[str, list[str]]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> LossInputs:
        """Learn the columns and the vocabularies of non-numeric columns."""
        import pandas as pd

        vocabularies = {
            str(name): [str(v) for v in frame[name].astype(str).value_counts().index[:VOCABULARY]]
            for name in frame.columns
            if not pd.api.types.is_numeric_dtype(frame[name])
            or pd.api.types.is_bool_dtype(frame[name])
        }
        return cls(tuple(str(c) for c in frame.columns), vocabularies)

    def matrix(self, frame: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
        """The float matrix: inputs (categories as codes, unknown as NaN), then predictions."""
        import numpy as np
        import pandas as pd

        columns = []
        for name in self.columns:
            values = frame[name]
            if name in self.vocabularies:
                codes = {v: float(i) for i, v in enumerate(self.vocabularies[name])}
                columns.append(values.astype(str).map(codes).to_numpy(dtype=float))
            else:
                columns.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))
        return np.column_stack([*columns, predictions.reshape(-1)])

    def categorical(self) -> list[int]:
        """Positions of the coded columns in :meth:`matrix`."""
        return [i for i, name in enumerate(self.columns) if name in self.vocabularies]


@dataclass(frozen=True)
class LossModel:
    """A nanny model of one loss, with the spread of its residuals.

    Attributes:
        text: The LightGBM booster in LightGBM's text format.
        residual_sd: Standard deviation of held-out ``loss - predicted loss``.
    """

    text: str
    residual_sd: float

    @functools.cached_property
    def booster(self) -> Any:
        """The LightGBM booster read from :attr:`text`."""
        import lightgbm

        return lightgbm.Booster(model_str=self.text)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Predicted losses (never negative)."""
        import numpy as np

        return np.maximum(self.booster.predict(matrix), 0.0)


def loss_of(metric: str, predictions: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-row loss behind a metric: absolute error (mae) or squared error (rmse)."""
    import numpy as np

    error = predictions - truth
    return np.abs(error) if metric == "mae" else np.square(error)


def fit_loss_model(
    matrix: np.ndarray,
    loss: np.ndarray,
    categorical: list[int],
    seed: int,
    deadline: float = math.inf,
) -> tuple[LossModel, bool]:
    """Fit a nanny model on a seeded 75/25 split (early stopping and residual spread).

    Returns:
        The model, and whether ``deadline`` (a ``time.monotonic()`` value) stopped the
        boosting before early stopping did.
    """
    import lightgbm
    import numpy as np

    stopped = []

    def stop_at_deadline(env: Any) -> None:
        if time.monotonic() > deadline:
            stopped.append(env.iteration)
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    order = np.random.default_rng(seed).permutation(len(loss))
    cut = int(len(loss) * (1 - HOLDOUT))
    fit, held = order[:cut], order[cut:]
    params = {**PARAMS, "seed": seed}
    train = lightgbm.Dataset(matrix[fit], loss[fit], categorical_feature=categorical)
    valid = lightgbm.Dataset(matrix[held], loss[held], reference=train)
    booster = lightgbm.train(
        params,
        train,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[valid],
        callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False), stop_at_deadline],
    )
    text = booster.model_to_string(num_iteration=booster.best_iteration or None)
    predicted = LossModel(text, 0.0).predict(matrix[held])
    return LossModel(text, float(np.std(loss[held] - predicted))), bool(stopped)


@dataclass
class RegressorEstimator:
    """Accumulates a batch's predicted losses, chunk by chunk.

    Attributes:
        inputs: How batch chunks become the nanny models' input.
        models: A nanny model per metric (:data:`LOSSES`).
    """

    inputs: LossInputs
    models: dict[str, LossModel]
    rows: int = 0
    sums: dict[str, float] | None = None

    def update(self, frame: pd.DataFrame, predictions: np.ndarray) -> None:
        """Add a chunk of model inputs and the model's predictions (one column)."""
        matrix = self.inputs.matrix(frame, predictions[:, 0])
        sums = self.sums or dict.fromkeys(self.models, 0.0)
        for metric, model in self.models.items():
            sums[metric] += float(model.predict(matrix).sum())
        self.sums, self.rows = sums, self.rows + len(frame)

    def estimates(self) -> dict[str, dict[str, float | None]]:
        """Each metric's estimate and 95 % interval: ``{metric: {value, lower, upper}}``."""
        found = {}
        for metric, model in self.models.items():
            mean = (self.sums or {}).get(metric, 0.0) / max(self.rows, 1)
            half = Z95 * model.residual_sd / math.sqrt(max(self.rows, 1))
            low, high = max(mean - half, 0.0), mean + half
            if metric == "rmse":
                mean, low, high = math.sqrt(mean), math.sqrt(low), math.sqrt(high)
            found[metric] = {"value": mean, "lower": low, "upper": high}
        return found


def dict_of(models: dict[str, LossModel]) -> dict[str, Any]:
    """The JSON part of the nanny models (their texts are stored as separate files)."""
    return {m: {"residual_sd": x.residual_sd} for m, x in models.items()}
