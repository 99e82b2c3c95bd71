"""Writing ``clarity/report.html`` and ``clarity/model_card.md``: at log time, after
``explain``, after each logged check, and on demand with ``mlflow-clarity report``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .model_card import render_card
from .model_summary import describe_model
from .report_page import render_report
from .report_sources import LATEST_CHECK, MODEL_FILE, ReportSources
from .store import ARTIFACT_DIR, write_json
from .types import ModelContext

REPORT_FILE = "report.html"
CARD_FILE = "model_card.md"


def model_facts(ctx: ModelContext) -> dict[str, Any]:
    """The ``model.json`` content: ids, names, flavor and what the model is made of."""
    return {
        "model_id": ctx.model_id,
        "run_id": ctx.run_id,
        "flavor": ctx.flavor,
        "registered_model": ctx.registered_model_name,
        "registered_version": ctx.registered_model_version,
        "architecture": describe_model(ctx.model),
    }


def run_facts(run_id: str | None) -> dict[str, Any]:
    """Parameters and metrics of the run a model was logged in (empty without a run)."""
    if not run_id:
        return {}
    from mlflow.tracking import MlflowClient

    data = MlflowClient().get_run(run_id).data
    return {"run_id": run_id, "params": dict(data.params), "metrics": dict(data.metrics)}


def write_report_files(folder: Path, run: dict[str, Any] | None = None) -> dict[str, Path]:
    """Render the report and the card from the files in a local ``clarity/`` folder.

    Args:
        folder: The local ``clarity/`` folder.
        run: Parameters and metrics of the model's run; None fetches those of the run
            that ``model.json`` names.

    Returns:
        The paths written.
    """
    sources = ReportSources.read(folder, run)
    if run is None:
        sources.run = run_facts(sources.model.get("run_id"))
    paths = {"report": folder / REPORT_FILE, "card": folder / CARD_FILE}
    paths["report"].write_text(render_report(sources), encoding="utf-8")
    paths["card"].write_text(render_card(sources), encoding="utf-8")
    return paths


def write_for_pipeline(ctx: ModelContext, staging: Path) -> None:
    """Write ``model.json``, the report and the card into the pipeline's staging folder."""
    write_json(staging / MODEL_FILE, model_facts(ctx))
    write_report_files(staging, run_facts(ctx.run_id))


def download_clarity(model_id: str, local: Path) -> Path:
    import mlflow
    from mlflow.tracking import MlflowClient

    location = MlflowClient().get_logged_model(model_id).artifact_location
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{location}/{ARTIFACT_DIR}")
    if not listed:
        raise FileNotFoundError(
            f"model {model_id} has no clarity/ folder; create one with "
            f"mlflow-clarity explain models:/{model_id} --data TRAINING_DATA.csv"
        )
    mlflow.artifacts.download_artifacts(f"{location}/{ARTIFACT_DIR}", dst_path=str(local))
    return local / ARTIFACT_DIR


def refresh_after_check(model_id: str, latest: dict[str, Any]) -> None:
    """Store a check's summary with the model and re-render its report and card.

    Args:
        model_id: The LoggedModel checked.
        latest: The check's ``drift.json`` content with ``violations`` and ``run_id``.
    """
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory(prefix="clarity-refresh-") as tmp:
        folder = download_clarity(model_id, Path(tmp))
        write_json(folder / LATEST_CHECK, latest)
        write_report_files(folder)
        upload = Path(tmp) / "upload"
        for relative in (REPORT_FILE, CARD_FILE, LATEST_CHECK):
            target = upload / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((folder / relative).read_bytes())
        MlflowClient().log_model_artifacts(model_id, str(upload), artifact_path=ARTIFACT_DIR)


def report_to_folder(model_uri: str, output: Path) -> dict[str, Path]:
    """Write a model's report and card into a local folder (``mlflow-clarity report``).

    Raises:
        FileNotFoundError: The model has no ``clarity/`` folder.
    """
    from .logged_models import load_context, resolve_model_uri

    resolved = resolve_model_uri(model_uri)
    with tempfile.TemporaryDirectory(prefix="clarity-report-") as tmp:
        folder = download_clarity(resolved.model_id, Path(tmp))
        if not (folder / MODEL_FILE).exists():  # results stored before model.json existed
            write_json(folder / MODEL_FILE, model_facts(load_context(resolved)))
        written = write_report_files(folder)
        output.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, path in written.items():
            paths[key] = output / path.name
            paths[key].write_bytes(path.read_bytes())
        return paths
