"""The estimator card: what a check needs to estimate performance without labels.

Fitted at log time on labelled reference rows (a seeded sample of at most
:data:`FIT_ROWS`): for classifiers the isotonic maps, the reference metrics, the share
of each predicted class and the range of the raw scores; for regressors the nanny loss
models, the reference MAE/RMSE and the range of the predictions. Stored as
``estimator.json`` (and LightGBM texts) in ``clarity/monitoring/estimation/``.

The calibration is only as good as the rows it is fitted on: scores of a model on its own
training rows are over-confident, so held-out labelled rows make the honest reference.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.layout import ESTIMATION, ESTIMATION_FILES
from mlflow_clarity.monitors.baseline.model_quality import new_quality
from mlflow_clarity.monitors.estimation import dle
from mlflow_clarity.monitors.estimation.calibration import (
    IsotonicMap,
    calibrate,
    expected_calibration_error,
    fit_maps,
)
from mlflow_clarity.monitors.estimation.cbpe import ClassifierEstimator
from mlflow_clarity.monitors.estimation.item_outputs import item_predictor
from mlflow_clarity.store import download_files, write_json
from mlflow_clarity.types import StepSkipped

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlflow_clarity.types import ModelContext

SCHEMA_VERSION = 1
FIT_ROWS = 100_000
TEXT_ROWS = 20_000
"""Reference documents the model is called on at most (a text model can be slow)."""
ITEM_CHUNK = 256
"""Images or documents per model call at log time (the deadline is checked between)."""
DLE_ROWS = 50_000
DLE_CELLS = 5_000_000
"""At most this many input cells (rows x columns) train the loss models."""
MIN_ROWS = 200
RANGE_QUANTILES = (0.001, 0.999)
BOOTSTRAP = 20
"""Refits of the calibration on bootstrap resamples, for its share of the intervals."""
CALIBRATION_ADVICE = (
    "calibrated on the reference data given to log_model: if that is the training data, "
    "scores are over-confident there and the estimates run optimistic; give held-out "
    "labelled rows (mlflow_clarity.reference_data(X_valid, y_valid))"
)


class NoCalibrationError(FileNotFoundError):
    """The model has no stored estimator card."""


@dataclass
class EstimatorCard:
    """Everything a check needs to estimate a model's performance without labels.

    Attributes:
        facts: The ``estimator.json`` content (method, classes, reference metrics,
            ranges, notes; the calibration maps as arrays).
        maps: Isotonic maps (classifiers), one per class (the positive one if binary).
        bootstrap: Refits of ``maps`` on bootstrap resamples (the calibration's own
            uncertainty, in the intervals).
        loss_models: Nanny models by metric (regressors).
    """

    facts: dict[str, Any]
    maps: list[IsotonicMap] = field(default_factory=list)
    bootstrap: list[list[IsotonicMap]] = field(default_factory=list)
    loss_models: dict[str, dle.LossModel] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """``CBPE`` or ``DLE``."""
        return self.facts["method"]

    def estimator(self, seed: int = 0) -> ClassifierEstimator | dle.RegressorEstimator:
        """A fresh accumulator for a batch."""
        if self.method == "CBPE":
            classes = tuple(self.facts["classes"])
            return ClassifierEstimator(classes, self.maps, seed, self.bootstrap)
        inputs = dle.LossInputs(
            tuple(self.facts["inputs"]["columns"]), self.facts["inputs"]["vocabularies"]
        )
        return dle.RegressorEstimator(inputs, self.loss_models)

    def write(self, folder: Path) -> None:
        """Write ``estimator.json`` and the loss model texts into ``folder``."""
        write_json(folder / ESTIMATION_FILES["card"], self.facts)
        for metric, model in self.loss_models.items():
            (folder / ESTIMATION_FILES[f"loss_{metric}"]).write_text(model.text, encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> EstimatorCard:
        """Read a card written by :meth:`write`.

        Raises:
            NoCalibrationError: The folder has no ``estimator.json``.
        """
        path = folder / ESTIMATION_FILES["card"]
        if not path.exists():
            raise NoCalibrationError(f"no {ESTIMATION_FILES['card']} in {folder}")
        facts = json.loads(path.read_text())
        calibration = facts.get("calibration", {})
        maps = [IsotonicMap.from_dict(m) for m in calibration.get("maps", [])]
        bootstrap = [
            [IsotonicMap.from_dict(m) for m in refit] for refit in calibration.get("bootstrap", [])
        ]
        models = {
            metric: dle.LossModel(
                (folder / ESTIMATION_FILES[f"loss_{metric}"]).read_text(encoding="utf-8"),
                entry["residual_sd"],
            )
            for metric, entry in (facts.get("loss_models") or {}).items()
        }
        return cls(facts, maps, bootstrap, models)


def download_card(model_id: str) -> EstimatorCard:
    """The card stored with a logged model.

    Raises:
        NoCalibrationError: The model has none (logged without reference labels, or
            before this feature).
    """
    target = Path(tempfile.mkdtemp(prefix="clarity-estimation-"))
    names = ESTIMATION_FILES.values()
    return EstimatorCard.read(download_files(model_id, ESTIMATION, names, target))


def _score_range(scores: np.ndarray) -> dict[str, list[float]]:
    import numpy as np

    low, high = np.quantile(scores, RANGE_QUANTILES, axis=0)
    return {"lower": np.atleast_1d(low).tolist(), "upper": np.atleast_1d(high).tolist()}


def _known_rows(labels: pd.Series, classes: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Class index of each label (-1 for classes the model does not have), unknown classes."""
    index = {c: i for i, c in enumerate(classes)}
    text = labels.astype(str)
    truth = text.map(index).fillna(-1).to_numpy(dtype=int)
    unknown = sorted(set(text[truth < 0]))
    return truth, unknown


def _classifier_facts(
    outputs: np.ndarray, labels: pd.Series, classes: tuple[str, ...], seed: int
) -> tuple[dict[str, Any], list[IsotonicMap], list[list[IsotonicMap]]]:
    import numpy as np

    truth, unknown = _known_rows(labels, classes)
    notes = []
    if unknown:
        if (truth < 0).all():
            raise StepSkipped(
                f"no reference label is one of the model's classes {list(classes)[:10]} "
                f"(labels seen: {unknown[:10]}); calibration needs labels in the classes "
                "the model predicts"
            )
        notes.append(
            f"{int((truth < 0).sum()):,} reference rows have labels the model never predicts "
            f"({unknown[:10]}); calibration leaves them out"
        )
    known = truth >= 0
    outputs, truth = outputs[known], truth[known]
    if len(np.unique(truth)) < 2:
        raise StepSkipped("the labelled reference rows hold one class: nothing to calibrate")
    maps = fit_maps(outputs, truth)
    rng = np.random.default_rng(seed)
    resamples = (rng.integers(0, len(truth), len(truth)) for _ in range(BOOTSTRAP))
    bootstrap = [fit_maps(outputs[rows], truth[rows]) for rows in resamples]
    calibrated = calibrate(outputs, maps)
    quality = new_quality(classes, outputs.shape[1])
    assert quality is not None
    quality.update(outputs, labels[known])
    predicted = np.bincount(outputs.argmax(axis=1), minlength=len(classes)) / len(outputs)
    facts = {
        "method": "CBPE",
        "classes": list(classes),
        "calibration": {
            "maps": [m.to_dict() for m in maps],
            "bootstrap": [[m.to_dict() for m in refit] for refit in bootstrap],
            "mapped_classes": list(classes[1:]) if len(classes) == 2 else list(classes),
            "ece_raw": expected_calibration_error(outputs, truth),
            "ece_calibrated_in_sample": expected_calibration_error(calibrated, truth),
        },
        "reference": {
            "metrics": quality.metrics(),
            "predicted_share": dict(zip(classes, predicted.tolist(), strict=True)),
        },
        "score_range": _score_range(outputs),
    }
    return facts | {"notes": notes}, maps, bootstrap


def _regressor_facts(
    features: pd.DataFrame, outputs: np.ndarray, labels: pd.Series, seed: int, deadline: float
) -> tuple[dict[str, Any], dict[str, dle.LossModel]]:
    import importlib.util

    import numpy as np
    import pandas as pd

    if importlib.util.find_spec("lightgbm") is None:
        raise StepSkipped("loss estimation for regressors needs lightgbm: pip install lightgbm")
    truth = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(truth) & np.isfinite(outputs[:, 0])
    if keep.sum() < MIN_ROWS:
        raise StepSkipped(
            f"{int(keep.sum())} reference rows have a numeric label and prediction; "
            f"loss estimation needs {MIN_ROWS}"
        )
    limit = max(MIN_ROWS, min(DLE_ROWS, DLE_CELLS // (features.shape[1] + 1)))
    rows = np.flatnonzero(keep)[:limit]
    features, outputs, truth = features.iloc[rows], outputs[rows], truth[rows]
    inputs = dle.LossInputs.fit(features)
    matrix = inputs.matrix(features, outputs[:, 0])
    models, notes = {}, []
    for left, metric in zip(range(len(dle.LOSSES), 0, -1), dle.LOSSES, strict=True):
        own = time.monotonic() + (deadline - time.monotonic()) / left  # an equal share each
        loss = dle.loss_of(metric, outputs[:, 0], truth)
        models[metric], stopped = dle.fit_loss_model(matrix, loss, inputs.categorical(), seed, own)
        if stopped:
            notes.append(f"time budget: the {metric} loss model stopped boosting early")
    quality = new_quality((), 1)
    assert quality is not None
    quality.update(outputs, pd.Series(truth))
    facts = {
        "method": "DLE",
        "inputs": {"columns": list(inputs.columns), "vocabularies": inputs.vocabularies},
        "loss_models": {
            metric: {"file": ESTIMATION_FILES[f"loss_{metric}"], **entry}
            for metric, entry in dle.dict_of(models).items()
        },
        "loss_rows": len(rows),
        "reference": {"metrics": quality.metrics()},
        "score_range": _score_range(outputs),
        "notes": notes,
    }
    return facts, models


def _reference_outputs(
    ctx: ModelContext, deadline: float, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series, np.ndarray, model_access.Predictor]:
    """Labelled reference rows (for images and texts: no input columns), their labels,
    the model's outputs on them and the predictor.

    Images are the explainers' bounded sample (:attr:`ReferenceData.items`, at most 256);
    texts a seeded sample of at most :data:`TEXT_ROWS`, tables of :data:`FIT_ROWS`. The
    model is called on images and texts in chunks until ``deadline`` (what it answered
    by then is used, with a note in ``notes``).
    """
    import numpy as np
    import pandas as pd

    reference = ctx.reference
    assert reference is not None
    modality = reference.modality
    if modality.kind == "image":
        items, labels = np.asarray(reference.items), reference.sample_labels
        features = pd.DataFrame(index=range(len(items)))
    else:
        rows = TEXT_ROWS if modality.kind == "text" else FIT_ROWS
        features, labels = reference.draw(min(reference.n_rows, rows))
        if modality.kind == "text":
            column = modality.column or str(features.columns[0])
            items = tuple(features[column].tolist())
            features = pd.DataFrame(index=range(len(items)))
    if labels is None or len(features) < MIN_ROWS:
        raise StepSkipped(f"{len(features)} labelled reference rows; estimation needs {MIN_ROWS}")
    if modality.kind == "tabular":
        predictor = model_access.predictor(ctx)
        return features, labels, predictor.fn(features), predictor
    dtype = str(items.dtype) if modality.kind == "image" else ""
    predictor = item_predictor(ctx, modality.kind, items[:2], layout=modality.layout, dtype=dtype)
    outputs = _outputs_until(predictor, items, deadline)
    if len(outputs) < len(items):
        if len(outputs) < MIN_ROWS:
            raise StepSkipped(
                f"time budget: the model answered for {len(outputs)} reference items before "
                f"the deadline; estimation needs {MIN_ROWS}"
            )
        notes.append(
            f"time budget: calibrated on the first {len(outputs):,} of {len(items):,} "
            "sampled reference items (the model was too slow for all of them)"
        )
    return features.iloc[: len(outputs)], labels.iloc[: len(outputs)], outputs, predictor


def _outputs_until(predictor: model_access.Predictor, items: Any, deadline: float) -> np.ndarray:
    """The model's outputs on the items, :data:`ITEM_CHUNK` at a time, until ``deadline``
    (the items are a seeded sample in random order: a prefix is a sample too)."""
    import numpy as np

    parts = []
    for start in range(0, len(items), ITEM_CHUNK):
        if parts and time.monotonic() > deadline:
            break
        parts.append(predictor.fn(items[start : start + ITEM_CHUNK]))
    return np.concatenate(parts)


def outputs_profile(outputs: np.ndarray, predictor: model_access.Predictor) -> dict[str, Any]:
    """The profile of a model's outputs (``proba_<class>`` and ``predicted_label``, or
    ``prediction``), as the baseline profiles a table model's outputs."""
    from mlflow_clarity.monitors.baseline.data_profile import build_profile
    from mlflow_clarity.monitors.baseline.step import output_frame

    frame = output_frame(outputs, predictor.output_names, predictor.is_classifier)
    return build_profile([frame], sample=frame).to_dict()


def fit_card(ctx: ModelContext, deadline: float = math.inf) -> EstimatorCard:
    """Fit the card on a seeded sample of the labelled reference rows.

    Args:
        ctx: The model's context, with labelled reference data.
        deadline: ``time.monotonic()`` value by which the loss models stop boosting.

    Raises:
        StepSkipped: No labels, too few rows, labels the model cannot have, or outputs that
            are neither class probabilities nor one regression output; the message says so.
    """
    reference = ctx.reference
    assert reference is not None
    if reference.sample_labels is None:
        raise StepSkipped(
            "the reference data has no labels, so performance cannot be estimated later; "
            "log the model inside mlflow_clarity.reference_data(X_valid, y_valid)"
        )
    started, notes = time.monotonic(), []
    calls_until = started + (deadline - started) / 2  # the rest: bootstrap, loss models
    features, labels, outputs, predictor = _reference_outputs(ctx, calls_until, notes)
    if predictor.is_classifier:
        facts, maps, bootstrap = _classifier_facts(
            outputs, labels, predictor.output_names, ctx.seed
        )
        models: dict[str, dle.LossModel] = {}
    elif outputs.shape[1] == 1:
        facts, models = _regressor_facts(features, outputs, labels, ctx.seed, deadline)
        maps, bootstrap = [], []
    else:
        raise StepSkipped(
            f"the model's {outputs.shape[1]} outputs are neither class probabilities "
            "(predict_proba) nor one regression output"
        )
    if reference.modality.kind in ("image", "text"):  # prediction drift of item checks
        facts["reference"]["outputs_profile"] = outputs_profile(outputs, predictor)
    facts["notes"] = [*notes, *facts["notes"]]
    facts = {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **facts,
        "data": {
            "source": reference.source,
            "rows": len(features),
            "rows_available": reference.n_rows,
            "advice": CALIBRATION_ADVICE,
        },
    }
    return EstimatorCard(facts, maps, bootstrap, models)
