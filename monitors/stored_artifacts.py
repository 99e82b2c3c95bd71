"""Local copies of the clarity files a check needs, downloaded from a LoggedModel."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .attribution_drift import SHAP_FILES
from .baseline import FILES

MONITORING = "clarity/monitoring"
SHAP = "clarity/explanations/shap"


class MissingBaselineError(FileNotFoundError):
    """The model has no stored baseline."""


def download_clarity_folders(model_id: str, model_uri: str) -> tuple[Path, Path | None]:
    """Download the model's baseline folder and its SHAP summary files.

    Args:
        model_id: The LoggedModel id.
        model_uri: The URI the user gave, for messages.

    Returns:
        The local baseline folder, and the local SHAP folder (None when the model has no
        stored SHAP explanation).

    Raises:
        MissingBaselineError: The model has no ``clarity/monitoring/baseline.json``; the
            message says how to create one.
    """
    from mlflow.tracking import MlflowClient

    location = MlflowClient().get_logged_model(model_id).artifact_location
    local = Path(tempfile.mkdtemp(prefix="clarity-check-"))
    wanted = (FILES["manifest"], FILES["profile"], FILES["predictions"])
    monitoring = download_files(f"{location}/{MONITORING}", wanted, local / "monitoring")
    if not (monitoring / FILES["manifest"]).exists():
        raise MissingBaselineError(
            f"model {model_uri} has no clarity baseline ({MONITORING}/{FILES['manifest']}). "
            f"Create one with: mlflow-clarity explain {model_uri} --data TRAINING_DATA.csv"
        )
    shap = download_files(f"{location}/{SHAP}", SHAP_FILES, local / "shap")
    return monitoring, shap if (shap / "global.json").exists() else None


def download_files(folder_uri: str, names: tuple[str, ...], local: Path) -> Path:
    """Download those of ``names`` that exist in an artifact folder into ``local``."""
    import mlflow

    local.mkdir(parents=True, exist_ok=True)
    present = {Path(f.path).name for f in mlflow.artifacts.list_artifacts(artifact_uri=folder_uri)}
    for name in names:
        if name in present:
            mlflow.artifacts.download_artifacts(f"{folder_uri}/{name}", dst_path=str(local))
    return local
