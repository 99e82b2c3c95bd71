"""Where every file mlflow-clarity stores lives: the one definition of the artifact layout.

Paths are relative to the logged model's ``clarity/`` folder (:data:`ARTIFACT_DIR`),
always with ``/`` separators; join them to a local folder with :func:`local`. A step's
``*_FILES`` mapping names its files inside its own folder (what it writes into
``workspace.out_dir``); the full paths are derived from it.
"""

from __future__ import annotations

from pathlib import Path

ARTIFACT_DIR = "clarity"
"""The folder inside the logged model's artifacts that holds everything."""

EXPLANATIONS = "explanations"
"""Parent folder of explainers' outputs (``explanations/<step name>`` by default)."""
MONITORING = "monitoring"
"""Parent folder of monitors' outputs (``monitoring/<step name>`` by default)."""

STATUS = "status.json"
MODEL = "model.json"
REPORT = "report.html"
CARD = "model_card.md"
REPORT_SECTIONS = "report_sections.json"

SHAP = f"{EXPLANATIONS}/shap"
SHAP_FILES = {
    "values": "values.parquet",
    "values_csv": "values.csv",
    "global": "global.json",
    "analysis": "analysis.json",
    "card": "card.json",
    "quality": "quality.json",
    "background": "background.parquet",
    "plots": "plots",
}

LIME = f"{EXPLANATIONS}/lime"
LIME_FILES = {"explanations": "explanations.json", "quality": "quality.json"}

IMAGES = f"{EXPLANATIONS}/images"
IMAGES_FILES = {"summary": "summary.json", "maps": "maps", "plots": "plots"}
"""The ``images`` step's files: maps are ``maps/item_<position>.npy`` (float32, H x W)."""

TEXT = f"{EXPLANATIONS}/text"
TEXT_FILES = {
    "summary": "summary.json",
    "tokens": "tokens.json",
    "page": "documents.html",
    "terms": "terms.json",
    "terms_plot": "terms.png",
}
"""The ``text`` step's files."""

AGREEMENT_FILE = "agreement.json"
AGREEMENT = f"{EXPLANATIONS}/{AGREEMENT_FILE}"

BASELINE_FILES = {
    "manifest": "baseline.json",
    "profile": "profile.json",
    "predictions": "prediction_profile.json",
    "statistics": "statistics.json",
    "constraints": "constraints.json",
    "sample": "reference_sample.parquet",
}
"""The baseline's files (in ``monitoring/``, or any folder a baseline is saved to)."""

ESTIMATION = f"{MONITORING}/estimation"
ESTIMATION_FILES = {
    "card": "estimator.json",
    "loss_mae": "loss_mae.txt",
    "loss_rmse": "loss_rmse.txt",
}
"""The ``estimation`` step's files: calibration and reference performance (JSON), and the
regression loss models in LightGBM's text format."""

CONTENT = f"{MONITORING}/content"
CONTENT_FILES = {
    "manifest": "content.json",
    "profile": "profile.json",
    "units": "unit_profile.json",
    "vocabulary": "vocabulary.json",
    "pca": "pca.json",
    "embeddings": "embeddings.parquet",
    "plot": "properties.png",
}
"""The ``content`` step's files: image or text properties, units and embeddings."""

LATEST_CHECK = f"{MONITORING}/checks/latest.json"
"""The latest check's summary, stored with the model after each logged check."""
CHECK_FILES = {
    "drift": "drift.json",
    "violations": "constraint_violations.json",
    "clarity_violations": "clarity_violations.json",
    "statistics": "statistics.json",
    "constraints": "constraints.json",
    "report": "drift_report.html",
}
"""A check's files, under ``clarity/`` of its monitoring run (and in ``--output``):
SageMaker's check types in ``constraint_violations.json``, ours in
``clarity_violations.json``, the batch's own SageMaker ``statistics.json`` and
``constraints.json``."""


def shap_file(role: str) -> str:
    """Path of one of the ``shap`` step's files (a key of :data:`SHAP_FILES`)."""
    return f"{SHAP}/{SHAP_FILES[role]}"


def lime_file(role: str) -> str:
    """Path of one of the ``lime`` step's files (a key of :data:`LIME_FILES`)."""
    return f"{LIME}/{LIME_FILES[role]}"


def baseline_file(role: str) -> str:
    """Path of one of the ``baseline`` step's files (a key of :data:`BASELINE_FILES`)."""
    return f"{MONITORING}/{BASELINE_FILES[role]}"


def local(folder: Path, relative: str) -> Path:
    """The local path of a layout entry inside a local copy of ``clarity/``."""
    return folder.joinpath(*relative.split("/"))


def remote(artifact_location: str, relative: str = "") -> str:
    """The artifact URI of a layout entry (or of ``clarity/`` itself) of a logged model."""
    tail = f"/{relative}" if relative else ""
    return f"{artifact_location.rstrip('/')}/{ARTIFACT_DIR}{tail}"
