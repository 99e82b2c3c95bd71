"""The MLflow patch that lets logged datasets serve as reference data.

MLflow stores only a digest of a logged dataset, not its rows. To use a dataset the user
logged (or sklearn autolog logged) as reference data, the in-memory dataset object is
handed to :func:`mlflow_clarity.data.capture.remember_logged_dataset` when MLflow turns it
into a tracking entity.
"""

from __future__ import annotations

import functools
from typing import Any

from mlflow_clarity.data.capture import remember_logged_dataset
from mlflow_clarity.errors import report_failure


def install_dataset_capture() -> None:
    """Wrap ``mlflow.data.dataset.Dataset._to_mlflow_entity`` to remember logged datasets."""
    from mlflow.data.dataset import Dataset

    original = Dataset.__dict__["_to_mlflow_entity"]
    if getattr(original, "__clarity_wrapped__", False):
        return

    @functools.wraps(original)
    def _to_mlflow_entity(self: Any) -> Any:
        entity = original(self)
        try:
            remember_logged_dataset(self, entity.digest)
        except Exception as exc:
            report_failure("remembering a logged dataset", exc)
        return entity

    _to_mlflow_entity.__clarity_wrapped__ = True  # type: ignore[attr-defined]
    _to_mlflow_entity.__clarity_original__ = original  # type: ignore[attr-defined]
    Dataset._to_mlflow_entity = _to_mlflow_entity  # type: ignore[method-assign]


def uninstall_dataset_capture() -> None:
    """Undo :func:`install_dataset_capture`."""
    from mlflow.data.dataset import Dataset

    current = Dataset.__dict__["_to_mlflow_entity"]
    original = getattr(current, "__clarity_original__", None)
    if original is not None:
        Dataset._to_mlflow_entity = original  # type: ignore[method-assign]
