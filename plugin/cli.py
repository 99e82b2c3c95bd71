"""The ``mlflow-clarity`` command line."""

from __future__ import annotations

import sys
from typing import Any

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@click.group()
@click.version_option(package_name="mlflow-clarity")
def cli() -> None:
    """Explanations and drift baselines stored with every logged MLflow model."""


@cli.command("plugins")
def plugins_command() -> None:
    """List every registered explainer and monitor and where it came from."""
    from .manager import get_plugin_manager

    rows = [("KIND", "STEP", "PLUGIN", "DISTRIBUTION", "VERSION", "DESCRIPTION")]
    for registered in get_plugin_manager().steps():
        spec, origin = registered.spec, registered.origin
        rows.append(
            (
                spec.kind,
                spec.name,
                origin.plugin,
                origin.distribution,
                origin.version,
                spec.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def _print_report(report: Any) -> None:
    click.echo(f"model {report.model_id}: clarity.status={report.status}")
    for step in report.steps:
        detail = f" ({step.reason})" if step.reason else f" {len(step.artifacts)} file(s)"
        click.echo(f"  {step.kind:<9} {step.name:<20} {step.status:<9}{detail}")
    if report.storage_error:
        click.echo(f"  storing failed: {report.storage_error}")


@cli.command("explain")
@click.argument("model_uri")
@click.option("--data", "data_path", required=True, help="Reference data: a .csv or .parquet file.")
@click.option("--labels", default=None, help="Name of the label column in the data.")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's).")
@click.option("--strict", is_flag=True, help="Raise step errors instead of recording them.")
def explain_command(
    model_uri: str, data_path: str, labels: str | None, tracking_uri: str | None, strict: bool
) -> None:
    """Explain and profile a model logged earlier; store the results with it.

    MODEL_URI is models:/m-<id>, models:/<name>/<version> or models:/<name>@<alias>.
    Exits 0 when results were stored (ok, partial or skipped), 1 when the run failed,
    2 for bad input.
    """
    import mlflow

    from .logged_models import explain_model

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        report = explain_model(model_uri, data_path, labels, strict=strict or None)
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _print_report(report)
    sys.exit(EXIT_FAILED if report.status == "failed" else EXIT_OK)


def main() -> None:
    """Entry point of the ``mlflow-clarity`` script."""
    cli()
