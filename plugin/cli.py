"""The ``mlflow-clarity`` command line."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import click

import mlflow_clarity
from mlflow_clarity.config import DEFAULT_CHECK_BUDGET_S, EXPLAIN_BUDGET_S
from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.monitors.review.policy import Policy, PolicyError
from mlflow_clarity.monitors.review.service import serve
from mlflow_clarity.processing import explain_model
from mlflow_clarity.report.files import report_to_folder

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


def _quiet_tracking(tracking_uri: str | None) -> None:
    """Use ``tracking_uri`` (if given), without MLflow's download progress bars in our output."""
    import os

    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our own process
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)


def _model_and_data(data_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The arguments every model command takes: MODEL_URI, --data, --labels, --tracking-uri."""
    decorators = (
        click.argument("model_uri"),
        click.option("--data", "data_path", required=True, help=data_help),
        click.option("--labels", default=None, help="Name of the label column in the data."),
        click.option(
            "--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's)."
        ),
    )

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


@cli.command("explain")
@_model_and_data("Reference data: a .csv or .parquet file.")
@click.option("--strict", is_flag=True, help="Raise step errors instead of recording them.")
@click.option(
    "--budget",
    "budget_s",
    type=click.FloatRange(min=0, min_open=True),
    default=EXPLAIN_BUDGET_S,
    show_default=True,
    help="Seconds for all steps (log_model's default is smaller; this explains more rows).",
)
def explain_command(
    model_uri: str,
    data_path: str,
    labels: str | None,
    tracking_uri: str | None,
    strict: bool,
    budget_s: float,
) -> None:
    """Explain and profile a model logged earlier; store the results with it.

    MODEL_URI is models:/m-<id>, models:/<name>/<version> or models:/<name>@<alias>.
    Exits 0 when results were stored (ok, partial or skipped), 1 when the run failed,
    2 for bad input.
    """
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        report = explain_model(
            model_uri, data_path, labels, strict=strict or None, budget_s=budget_s
        )
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _print_report(report)
    sys.exit(EXIT_FAILED if report.status == "failed" else EXIT_OK)


def _threshold_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``numeric.psi_warn=0.2`` pairs as the nested dict ``check`` takes."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected NAME=NUMBER", param_hint="--threshold")
        try:
            number = float(value)
        except ValueError:
            raise click.BadParameter(f"{pair!r}: {value!r} is not a number") from None
        group, _, name = key.rpartition(".")
        (overrides.setdefault(group, {}) if group else overrides)[name] = number
    return overrides


def _column_names(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    """``a,b`` as ``("a", "b")``."""
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


_ignore_columns_option = click.option(
    "--ignore-columns",
    default=None,
    callback=_column_names,
    help="Comma-separated columns never checked (e.g. request_id,served_at).",
)


def _print_schema(schema: dict[str, Any]) -> None:
    if schema["extra_columns"] and not schema["strict_columns"]:
        names = ", ".join(schema["extra_columns"][:20])
        click.echo(f"  info: not in the baseline, not checked: {names}")
    if schema["ignored_columns"]:
        names = ", ".join(f"{n} ({why})" for n, why in list(schema["ignored_columns"].items())[:20])
        click.echo(f"  info: ignored: {names}")


def _print_check(result: Any) -> None:
    drift = result.drift
    dataset = drift["dataset"]
    click.echo(
        f"model {drift['model']['model_id']}: {drift['status']}, "
        f"{len(result.violations)} violation(s); {drift['batch']['rows']} rows; "
        f"{len(dataset['columns_drifted'])}/{dataset['columns_checked']} columns drifted; "
        f"weighted drift score {dataset['weighted_score']:.3f}"
    )
    for violation in result.violations:
        feature = violation.get("feature_name")
        where = f" {feature}" if feature else ""
        click.echo(f"  {violation['constraint_check_type']}{where}: {violation['description']}")
    _print_schema(drift["schema"])
    if result.run_id:
        click.echo(f"logged to run {result.run_id}")
    if result.files:
        folder = next(iter(result.files.values())).parent
        click.echo(f"files written to {folder}")


@cli.command("check")
@_model_and_data(
    "The batch: a .csv or .parquet file; for image models a folder of PNG/JPEG files or a .npy "
    "array."
)
@click.option(
    "--experiment",
    default="clarity-monitoring",
    show_default=True,
    help="Monitoring experiment to log the check to.",
)
@click.option(
    "--no-log",
    is_flag=True,
    help="Do not log the check to MLflow (files go to ./clarity-check-<UTC time>/ "
    "unless --output is given).",
)
@click.option("--output", "output_dir", default=None, help="Also write the files here.")
@click.option(
    "--threshold",
    "threshold_pairs",
    multiple=True,
    help="Override a threshold, e.g. numeric.psi_warn=0.2 (repeatable).",
)
@click.option("--no-attribution", is_flag=True, help="Skip SHAP on the batch (NDCG).")
@click.option("--chunk-rows", default=100_000, show_default=True, help="Rows read at a time.")
@click.option(
    "--budget",
    "budget_s",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_CHECK_BUDGET_S,
    show_default=True,
    help="Seconds for SHAP on a sample of the batch (attribution drift).",
)
@_ignore_columns_option
@click.option(
    "--strict-columns",
    is_flag=True,
    help="Fail on columns not in the baseline (extra_column_check); else they are listed.",
)
@click.option("--id", "id_column", default=None, help="Row id column: ignored, counted.")
@click.option(
    "--timestamp",
    "timestamp_column",
    default=None,
    help="Event time column: ignored; the batch's time range is recorded.",
)
@click.option("--since", default=None, help="Capture folder: records from this UTC time on.")
@click.option("--until", default=None, help="Capture folder: records before this UTC time.")
@click.option(
    "--baseline-statistics",
    default=None,
    help="SageMaker Model Monitor statistics.json to check against (instead of the "
    "model's own baseline).",
)
@click.option("--baseline-constraints", default=None, help="Its constraints.json (optional).")
@click.option("--spark", is_flag=True, help="Read --data (parquet) with Spark; check it on Spark.")
@click.option("--master", default=None, help="Spark master for --spark (e.g. local[*]).")
def check_command(
    model_uri: str,
    data_path: str,
    labels: str | None,
    tracking_uri: str | None,
    experiment: str,
    no_log: bool,
    output_dir: str | None,
    threshold_pairs: tuple[str, ...],
    no_attribution: bool,
    chunk_rows: int,
    budget_s: float,
    ignore_columns: tuple[str, ...],
    strict_columns: bool,
    id_column: str | None,
    timestamp_column: str | None,
    since: str | None,
    until: str | None,
    baseline_statistics: str | None,
    baseline_constraints: str | None,
    spark: bool,
    master: str | None,
) -> None:
    """Check a batch of data against the baseline stored with a model.

    --data may be a data capture folder of ``mlflow-clarity serve`` (or SageMaker):
    its requests are the batch, its responses the outputs (the model is not called for
    them), and --labels a label file joined on --id (default inferenceId).

    MODEL_URI is models:/m-<id>, models:/<name>/<version> or models:/<name>@<alias>.
    Exits 0 when no constraint is violated, 1 when one is, 2 for bad input (no
    baseline, unreadable file, bad threshold).
    """

    import mlflow

    from mlflow_clarity.data.capture_files import ID_COLUMN, CaptureFolder, is_capture
    from mlflow_clarity.monitors.check.runner import check_model

    _quiet_tracking(tracking_uri)
    data: Any = data_path
    if spark:
        from mlflow_clarity.data.spark_frames import read_spark_data

        try:
            data = read_spark_data(data_path, master)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    elif is_capture(data_path):
        id_column = id_column or ID_COLUMN
        data = CaptureFolder(data_path, since, until, labels, id_column)
        labels = None
    try:
        result = check_model(
            model_uri,
            data,
            labels,
            thresholds=_threshold_overrides(threshold_pairs),
            experiment=None if no_log else experiment,
            output_dir=output_dir,
            attribution=not no_attribution,
            chunk_rows=chunk_rows,
            budget_s=budget_s,
            ignore_columns=ignore_columns,
            strict_columns=strict_columns,
            id_column=id_column,
            timestamp_column=timestamp_column,
            baseline_statistics=baseline_statistics,
            baseline_constraints=baseline_constraints,
        )
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _print_check(result)
    sys.exit(result.exit_code)


def _print_review(result: Any) -> None:
    verdict = "passed" if result.passed else "failed"
    click.echo(f"{result.name} version {result.version}: review {verdict}")
    for rule in result.rules:
        detail = f" ({rule.detail})" if rule.detail else ""
        click.echo(f"  {rule.status:<8} {rule.name}: {rule.value!r} vs {rule.limit!r}{detail}")
    click.echo(f"  top features: {', '.join(result.top_features[:10])}")
    if result.remedy:
        click.echo(f"  produce the missing files with: {result.remedy}")
    if result.promoted:
        click.echo(f"  alias {result.promoted} set to version {result.version}")


@cli.command("review")
@click.argument("model_uri")
@click.option("--policy", "policy_path", default=None, help="YAML policy (default: defaults).")
@click.option("--data", "data_path", default=None, help="Batch to check drift against.")
@click.option("--labels", default=None, help="Name of the label column in the data.")
@click.option("--against", default=None, help="Version to compare with: models:/NAME@ALIAS.")
@click.option("--promote", default=None, help="Alias to set when every rule passes.")
@_ignore_columns_option
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's).")
def review_command(
    model_uri: str,
    policy_path: str | None,
    data_path: str | None,
    labels: str | None,
    against: str | None,
    promote: str | None,
    ignore_columns: tuple[str, ...],
    tracking_uri: str | None,
) -> None:
    """Review a registered model version against a policy; record the verdict on it.

    MODEL_URI is models:/<name>/<version> or models:/<name>@<alias>. Exits 0 when every
    rule passed, 1 when a rule failed, 2 for bad input (bad policy, unknown model).
    """

    import mlflow

    _quiet_tracking(tracking_uri)
    try:
        policy = Policy.load(policy_path)
        if ignore_columns:  # added to the policy's own
            ignored = (*policy.ignore_columns, *ignore_columns)
            policy = dataclasses.replace(policy, ignore_columns=ignored)
        result = mlflow_clarity.review(
            model_uri, policy, data_path, against, labels=labels, promote=promote
        )
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _print_review(result)
    sys.exit(result.exit_code)


@cli.command("reviewer")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, required=True, help="Port to listen on.")
@click.option("--policy", "policy_path", default=None, help="YAML policy (default: defaults).")
@click.option("--promote", default=None, help="Alias to set when a review passes.")
@click.option(
    "--secret-env",
    default="MLFLOW_CLARITY_WEBHOOK_SECRET",
    show_default=True,
    help="Environment variable holding the webhook secret.",
)
@click.option(
    "--register-url",
    default=None,
    help="Create the registry webhook on the tracking server, delivering to this URL.",
)
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's).")
def reviewer_command(
    host: str,
    port: int,
    policy_path: str | None,
    promote: str | None,
    secret_env: str,
    register_url: str | None,
    tracking_uri: str | None,
) -> None:
    """Review model versions when MLflow's registry webhooks say they are ready.

    Verifies each delivery's HMAC signature with the secret in --secret-env and rejects
    unsigned, badly signed, stale and replayed deliveries. Exits 2 without a secret or
    with a bad policy.
    """
    import os

    secret = os.environ.get(secret_env)
    if not secret:
        click.echo(f"error: set the webhook secret in ${secret_env}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        policy = Policy.load(policy_path)
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _quiet_tracking(tracking_uri)
    click.echo(f"mlflow-clarity reviewer listening on http://{host}:{port}/")
    serve(host, port, secret, policy, promote, register_url)


@cli.command("report")
@click.argument("model_uri")
@click.option("--output", "output_dir", required=True, help="Folder to write the files into.")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's).")
def report_command(model_uri: str, output_dir: str, tracking_uri: str | None) -> None:
    """Write a model's report.html and model_card.md into a local folder.

    MODEL_URI is models:/m-<id>, models:/<name>/<version> or models:/<name>@<alias>.
    Exits 0 when written, 2 for bad input (unknown model, no clarity results).
    """
    from pathlib import Path

    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        paths = report_to_folder(model_uri, Path(output_dir))
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    for path in paths.values():
        click.echo(str(path))


@cli.command("serve")
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=5000, show_default=True, help="Port to listen on.")
@click.option("--capture", "capture_dir", default=None, help="Data capture folder (JSON lines).")
@click.option(
    "--capture-percent",
    type=click.FloatRange(0, 100),
    default=100.0,
    show_default=True,
    help="Share of invocations captured.",
)
@click.option(
    "--capture-artifacts",
    is_flag=True,
    help="Also upload closed hour files to a run of --capture-experiment.",
)
@click.option("--capture-experiment", default="clarity-monitoring", show_default=True)
@click.option("--explain", is_flag=True, help="Answer explanation requests (and /explain).")
@click.option(
    "--explain-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds one request's explanation may take.",
)
@click.option("--max-body-mb", type=float, default=20.0, show_default=True, help="Body limit.")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's).")
def serve_command(
    model_uri: str,
    host: str,
    port: int,
    capture_dir: str | None,
    capture_percent: float,
    capture_artifacts: bool,
    capture_experiment: str,
    explain: bool,
    explain_timeout: float,
    max_body_mb: float,
    tracking_uri: str | None,
) -> None:
    """Serve a model with MLflow's scoring app, data capture and online explanations.

    Same routes, payloads and responses as ``mlflow models serve``; see docs/serving.md.
    Exits 2 when the model cannot be loaded or, with --explain, has no stored explainer.
    """
    import mlflow

    from mlflow_clarity.serving.app import ServeConfig
    from mlflow_clarity.serving.app import serve as serve_model

    _quiet_tracking(tracking_uri)
    config = ServeConfig(
        model_uri,
        capture_dir,
        capture_percent,
        explain,
        explain_timeout,
        int(max_body_mb * 1024 * 1024),
        capture_artifacts,
        capture_experiment,
    )
    try:
        serve_model(config, host, port)
    except (ValueError, FileNotFoundError, mlflow.exceptions.MlflowException) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def main() -> None:
    """Entry point of the ``mlflow-clarity`` script."""
    cli()
