"""Reference data known in memory: explicit data, and datasets logged with ``mlflow.log_input``.

MLflow stores only a digest of a logged dataset, not its rows. To use a dataset the user
logged (or sklearn autolog logged) as reference data, the in-memory dataset object is
remembered when MLflow turns it into a tracking entity, keyed by run and digest. Only the
last few are kept, and only references to the user's objects (no copies).
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow_clarity.data.reference import RawReference
from mlflow_clarity.data.spark_frames import is_spark_frame, split_label_column

_MAX_REMEMBERED_DATASETS = 8
_TRAINING_CONTEXTS = ("training", "train")

_own_calls: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mlflow_clarity_own_calls", default=False
)
_explicit: contextvars.ContextVar[RawReference | None] = contextvars.ContextVar(
    "mlflow_clarity_reference", default=None
)
_default_lock = threading.Lock()
_default: RawReference | None = None
_datasets: deque[tuple[str, str, Any]] = deque(maxlen=_MAX_REMEMBERED_DATASETS)


@contextmanager
def reference_data(
    features: Any, labels: Any = None, *, label_col: str | None = None
) -> Iterator[None]:
    """Use ``features`` (and ``labels``) as reference data for models logged in this block.

    Takes precedence over :func:`set_reference_data` and over logged datasets.

    Args:
        features: DataFrame (pandas or Spark), numpy array, dict of columns or tensor.
            A Spark DataFrame is profiled where it lives; explainers get a seeded sample.
        labels: Labels aligned with the rows, or None.
        label_col: The column of ``features`` holding the labels (instead of ``labels``).

    Example::

        with mlflow_clarity.reference_data(X_train, y_train):
            mlflow.sklearn.log_model(model, name="model")
    """
    if label_col is not None:
        features, labels = split_label_column(features, label_col)
    token = _explicit.set(RawReference(features, labels, "explicit"))
    try:
        yield
    finally:
        _explicit.reset(token)


def set_reference_data(features: Any, labels: Any = None, *, label_col: str | None = None) -> None:
    """Set reference data for every model logged from now on; ``None`` clears it.

    Args:
        features: DataFrame (pandas or Spark), numpy array, dict of columns or tensor,
            or None.
        labels: Labels aligned with the rows, or None.
        label_col: The column of ``features`` holding the labels (instead of ``labels``).
    """
    global _default
    if features is not None and label_col is not None:
        features, labels = split_label_column(features, label_col)
    with _default_lock:
        _default = None if features is None else RawReference(features, labels, "explicit")


def explicit_reference() -> RawReference | None:
    """Return the reference data given in code (context manager first, then setter)."""
    current = _explicit.get()
    if current is not None:
        return current
    with _default_lock:
        return _default


@contextmanager
def own_calls() -> Iterator[None]:
    """Mark MLflow calls made by mlflow-clarity itself in this context.

    Models the steps log are not processed again, and datasets mlflow-clarity logs
    (the reference data it links to the model) are not taken for the user's.
    """
    token = _own_calls.set(True)
    try:
        yield
    finally:
        _own_calls.reset(token)


def in_own_call() -> bool:
    """Whether the current context is inside :func:`own_calls`."""
    return _own_calls.get()


def remember_logged_dataset(dataset: Any, digest: str) -> None:
    """Remember a dataset the user (or autolog) just logged to the active run.

    Called by the MLflow patch in :mod:`mlflow_clarity.hooks.patches.datasets`; keeps a
    reference to the user's object (no copy), only for the last few datasets.

    Args:
        dataset: The in-memory ``mlflow.data.Dataset``.
        digest: The digest MLflow recorded for it.
    """
    import mlflow

    run = mlflow.active_run()
    if run is not None and not in_own_call():
        _datasets.append((run.info.run_id, digest, dataset))


def _dataset_to_raw(dataset: Any) -> RawReference | None:
    name = getattr(dataset, "name", None) or "dataset"
    frame = getattr(dataset, "df", None)
    if is_spark_frame(frame):  # SparkDataset: the rows stay on Spark, the label by name
        targets = getattr(dataset, "targets", None)
        predictions = getattr(dataset, "predictions", None)
        features = frame.drop(predictions) if predictions in frame.columns else frame
        return RawReference(
            features, targets if targets in frame.columns else None, f"dataset:{name}"
        )
    if frame is not None:  # PandasDataset
        targets = getattr(dataset, "targets", None)
        predictions = getattr(dataset, "predictions", None)
        drop = [c for c in (targets, predictions) if c is not None and c in frame.columns]
        labels = frame[targets] if targets in drop else None
        return RawReference(frame.drop(columns=drop) if drop else frame, labels, f"dataset:{name}")
    features = getattr(dataset, "features", None)
    if features is not None:  # NumpyDataset
        return RawReference(features, getattr(dataset, "targets", None), f"dataset:{name}")
    return None


def _contexts_by_digest(run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = MlflowClient().get_run(run_id).inputs
    contexts: dict[str, str] = {}
    for item in getattr(inputs, "dataset_inputs", None) or ():
        for tag in item.tags:
            if tag.key == MLFLOW_DATASET_CONTEXT:
                contexts[item.dataset.digest] = tag.value
    return contexts


def logged_dataset_reference(run_id: str | None) -> RawReference | None:
    """Return the in-memory dataset most recently logged to ``run_id``, if one is known.

    When several were logged, one whose context is ``training`` (or ``train``, as
    sklearn autolog writes) is preferred.

    Args:
        run_id: The run the model was logged in.

    Returns:
        The dataset as raw reference data, or None.
    """
    if run_id is None:
        return None
    candidates = [(digest, ds) for rid, digest, ds in reversed(_datasets) if rid == run_id]
    candidates = [(digest, raw) for digest, ds in candidates if (raw := _dataset_to_raw(ds))]
    if not candidates:
        return None
    if len(candidates) > 1:
        contexts = _contexts_by_digest(run_id)
        for digest, raw in candidates:
            if contexts.get(digest) in _TRAINING_CONTEXTS:
                return raw
    return candidates[0][1]
