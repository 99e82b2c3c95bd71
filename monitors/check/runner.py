"""``mlflow_clarity.check``: check a batch, write its files, log them to MLflow."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.config import DEFAULT_CHECK_BUDGET_S
from mlflow_clarity.errors import report_failure
from mlflow_clarity.layout import CHECK_FILES
from mlflow_clarity.monitors.baseline import sagemaker_files
from mlflow_clarity.monitors.baseline.data_profile import DataProfile
from mlflow_clarity.monitors.check.batch_columns import BatchColumns
from mlflow_clarity.monitors.check.drift_check import CheckResult, run_check
from mlflow_clarity.monitors.check.drift_report import render
from mlflow_clarity.monitors.check.sagemaker_baseline import (
    SageMakerBaselineError,
    read_sagemaker_baseline,
)
from mlflow_clarity.monitors.check.tracking import DEFAULT_EXPERIMENT, log_check
from mlflow_clarity.monitors.check.violations import split
from mlflow_clarity.report.files import refresh_after_check
from mlflow_clarity.store import write_json

if TYPE_CHECKING:
    from mlflow_clarity.data.files import DataLike


def write_check_files(result: CheckResult, folder: Path) -> dict[str, Path]:
    """Write a check's files (:data:`~mlflow_clarity.layout.CHECK_FILES`).

    ``drift.json``; SageMaker's check types in ``constraint_violations.json`` and ours in
    ``clarity_violations.json``; the batch's own ``statistics.json`` and
    ``constraints.json`` (suggested from the batch, as a SageMaker monitoring run writes
    them); ``drift_report.html``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in CHECK_FILES.items()}
    sagemaker, ours = split(result.violations)
    write_json(paths["drift"], result.drift)
    write_json(paths["violations"], {"violations": sagemaker})
    write_json(paths["clarity_violations"], {"violations": ours})
    profile = result.batch_profile or DataProfile()
    write_json(paths["statistics"], sagemaker_files.statistics(profile))
    write_json(paths["constraints"], sagemaker_files.constraints(profile))
    paths["report"].write_text(render(result.drift, result.violations), encoding="utf-8")
    return paths


def _default_output_dir(now: datetime | None = None) -> Path:
    """A new ``./clarity-check-<UTC timestamp>/`` folder for a check that is not logged.

    A suffix (``-2``, ``-3``, ...) keeps checks started in the same second apart.
    """
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    base = Path.cwd() / f"clarity-check-{stamp}"
    folder, number = base, 1
    while True:
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            number += 1
            folder = base.with_name(f"{base.name}-{number}")


def _refresh_model_report(result: CheckResult) -> None:
    """Show the check in the model's report and card (a failure leaves the check intact)."""

    latest = {**result.drift, "violations": result.violations, "run_id": result.run_id}
    try:
        refresh_after_check(result.drift["model"]["model_id"], latest)
    except Exception as exc:
        report_failure(
            "refreshing the model's report after the check",
            exc,
            consequence="The check itself is logged.",
        )


def check_model(
    model_uri: str,
    data: DataLike,
    labels: Any = None,
    *,
    thresholds: dict[str, Any] | None = None,
    experiment: str | None = DEFAULT_EXPERIMENT,
    output_dir: str | Path | None = None,
    attribution: bool = True,
    chunk_rows: int = 100_000,
    budget_s: float = DEFAULT_CHECK_BUDGET_S,
    ignore_columns: Sequence[str] = (),
    strict_columns: bool = False,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    baseline_statistics: str | Path | None = None,
    baseline_constraints: str | Path | None = None,
) -> CheckResult:
    """Implement :func:`mlflow_clarity.check`.

    Beyond its arguments: ``ignore_columns`` are never checked (nor reported as extra);
    ``strict_columns`` makes a column not in the baseline an ``extra_column_check``
    violation (by default it is information in ``drift.json``'s ``schema``);
    ``id_column`` and ``timestamp_column`` are ignored too, and recorded in
    ``drift.json``'s ``batch`` (rows with an id; the batch's time range). With
    ``experiment=None`` and no ``output_dir``, the files go to a new
    ``./clarity-check-<UTC timestamp>/`` folder; ``result.files`` holds their paths
    whenever they were kept. ``baseline_statistics`` (and ``baseline_constraints``):
    SageMaker Model Monitor baseline files to check against instead of the model's own
    baseline.
    """
    columns = BatchColumns(tuple(ignore_columns), strict_columns, id_column, timestamp_column)
    if baseline_constraints is not None and baseline_statistics is None:
        raise SageMakerBaselineError("baseline_constraints needs baseline_statistics")
    baseline = (
        None
        if baseline_statistics is None
        else read_sagemaker_baseline(baseline_statistics, baseline_constraints)
    )
    result, _ = run_check(
        model_uri,
        data,
        labels,
        thresholds=thresholds,
        columns=columns,
        attribution=attribution,
        chunk_rows=chunk_rows,
        budget_s=budget_s,
        baseline=baseline,
    )
    if output_dir is None and not experiment:
        output_dir = _default_output_dir()  # nothing is logged: the files must stay somewhere
    with tempfile.TemporaryDirectory(prefix="clarity-check-files-") as tmp:
        folder = Path(output_dir) if output_dir is not None else Path(tmp)
        files = write_check_files(result, folder)
        if experiment:
            result.run_id = log_check(result.drift, files, experiment)
            _refresh_model_report(result)
        if output_dir is not None:
            result.files = files
    return result
