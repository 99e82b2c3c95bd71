"""Writing ``clarity/report.html`` and ``clarity/model_card.md``: at log time, after
``explain``, after each logged check, and on demand with ``mlflow-clarity report``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow_clarity import layout
from mlflow_clarity.logged_models import load_context, resolve_model_uri
from mlflow_clarity.report.card import render_card
from mlflow_clarity.report.model_summary import describe_model
from mlflow_clarity.report.page import render_report
from mlflow_clarity.report.sources import ReportSources
from mlflow_clarity.store import download_clarity, upload_files, write_json
from mlflow_clarity.types import ModelContext, ReportSection, RunReport


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


def _render(sources: ReportSources, folder: Path) -> dict[str, Path]:
    paths = {
        "report": layout.local(folder, layout.REPORT),
        "card": layout.local(folder, layout.CARD),
    }
    paths["report"].write_text(render_report(sources), encoding="utf-8")
    paths["card"].write_text(render_card(sources), encoding="utf-8")
    return paths


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
    return _render(sources, folder)


def write_for_pipeline(
    ctx: ModelContext,
    report: RunReport,
    staging: Path,
    sections: list[tuple[str, ReportSection]],
) -> None:
    """Write ``model.json``, the plugins' sections, the report and the card into the
    pipeline's staging folder, from the run's results in memory.

    Args:
        ctx: The model's context.
        report: The run's report, its steps' in-memory results included.
        staging: The staging ``clarity/`` folder.
        sections: ``(plugin, section)`` pairs from ``clarity_report_sections``.
    """
    model = model_facts(ctx)
    stored = [{"plugin": plugin, **section.to_dict()} for plugin, section in sections]
    write_json(layout.local(staging, layout.MODEL), model)
    if stored:
        write_json(layout.local(staging, layout.REPORT_SECTIONS), stored)
    sources = ReportSources.from_run(staging, report, model, run_facts(ctx.run_id), stored)
    _render(sources, staging)


def refresh_after_check(model_id: str, latest: dict[str, Any]) -> None:
    """Store a check's summary with the model and re-render its report and card.

    Args:
        model_id: The LoggedModel checked.
        latest: The check's ``drift.json`` content with ``violations`` and ``run_id``.
    """
    with tempfile.TemporaryDirectory(prefix="clarity-refresh-") as tmp:
        folder = download_clarity(model_id, Path(tmp))
        write_json(layout.local(folder, layout.LATEST_CHECK), latest)
        write_report_files(folder)
        upload_files(model_id, folder, (layout.REPORT, layout.CARD, layout.LATEST_CHECK))


def report_to_folder(model_uri: str, output: Path) -> dict[str, Path]:
    """Write a model's report and card into a local folder (``mlflow-clarity report``).

    Raises:
        FileNotFoundError: The model has no ``clarity/`` folder.
    """
    resolved = resolve_model_uri(model_uri)
    with tempfile.TemporaryDirectory(prefix="clarity-report-") as tmp:
        folder = download_clarity(resolved.model_id, Path(tmp))
        model_file = layout.local(folder, layout.MODEL)
        if not model_file.exists():  # results stored before model.json existed
            write_json(model_file, model_facts(load_context(resolved)))
        written = write_report_files(folder)
        output.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, path in written.items():
            paths[key] = output / path.name
            paths[key].write_bytes(path.read_bytes())
        return paths
