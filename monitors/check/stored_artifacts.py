"""Local copies of the clarity files a check needs, downloaded from a LoggedModel."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow_clarity.layout import BASELINE_FILES, MONITORING, SHAP, SHAP_FILES, baseline_file
from mlflow_clarity.store import download_files

CHECK_SHAP_FILES = tuple(SHAP_FILES[role] for role in ("global", "card", "background"))
"""What attribution drift needs of the stored SHAP explanation."""


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
    local = Path(tempfile.mkdtemp(prefix="clarity-check-"))
    wanted = tuple(BASELINE_FILES[role] for role in ("manifest", "profile", "predictions"))
    monitoring = download_files(model_id, MONITORING, wanted, local / "monitoring")
    if not (monitoring / BASELINE_FILES["manifest"]).exists():
        raise MissingBaselineError(
            f"model {model_uri} has no clarity baseline (clarity/{baseline_file('manifest')}). "
            f"Create one with: mlflow-clarity explain {model_uri} --data TRAINING_DATA.csv"
        )
    return monitoring, download_shap_folder(model_id, local)


def download_shap_folder(model_id: str, local: Path | None = None) -> Path | None:
    """Download what attribution drift needs of the model's SHAP explanation.

    Args:
        model_id: The LoggedModel id.
        local: Folder to download into (default: a new temporary folder).

    Returns:
        The local SHAP folder, or None when the model has no stored SHAP explanation.
    """
    local = local or Path(tempfile.mkdtemp(prefix="clarity-check-"))
    shap = download_files(model_id, SHAP, CHECK_SHAP_FILES, local / "shap")
    return shap if (shap / SHAP_FILES["global"]).exists() else None
