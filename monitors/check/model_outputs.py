"""A chunk's model outputs added to a check's summaries, on the driver or in a Spark task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.batch_profile import BatchProfile
from mlflow_clarity.monitors.baseline.model_quality import new_quality
from mlflow_clarity.monitors.baseline.step import output_frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlflow_clarity.model_access import Predictor
    from mlflow_clarity.monitors.baseline.data_profile import DataProfile


def add_outputs(
    batch: BatchProfile | None,
    quality: Any,
    predictions: DataProfile | None,
    outputs: np.ndarray,
    predictor: Predictor,
    labels: pd.Series | None,
) -> tuple[BatchProfile | None, Any]:
    """Add the model's outputs on a chunk to their batch summary and, with labels, to the
    quality.

    Args:
        batch: The outputs' batch summary so far (None before the first chunk).
        quality: The quality so far (None before the first labelled chunk).
        predictions: The baseline's profile of the outputs (None: not summarised).
        outputs: The model's outputs on the chunk.
        predictor: The predictor that computed them (output names, classifier or not).
        labels: The chunk's labels, or None.

    Returns:
        The updated ``batch`` and ``quality`` (created on first use).
    """
    names = predictor.output_names
    if batch is None and predictions is not None:
        batch = BatchProfile.for_baseline(predictions.columns)
    if batch is not None:
        batch.update(output_frame(outputs, names, predictor.is_classifier))
    if labels is not None:
        quality = quality or new_quality(names, outputs.shape[1])
        if quality is not None:
            quality.update(outputs, labels)
    return batch, quality
