"""mlflow-clarity: explanations and drift baselines stored with every logged MLflow model.

Installing the package is enough: on ``import mlflow`` it wraps ``Model.log``, and every
``mlflow.<flavor>.log_model(...)`` then stores its results under ``clarity/`` inside the
logged model. This module is the public API; it imports nothing heavy. It is imported
inside every ``import mlflow`` (the bootstrap), so the features behind ``explain``,
``check`` and ``review`` are imported when those are called, not here.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING, Any

from mlflow_clarity.config import (
    DEFAULT_CHECK_BUDGET_S,
    current_config,
    set_code_options,
    validate_options,
)
from mlflow_clarity.data.capture import reference_data, set_reference_data
from mlflow_clarity.exceptions import ClarityWarning
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.jobs import wait_all
from mlflow_clarity.model_access import Predictor, predictor
from mlflow_clarity.store import write_json
from mlflow_clarity.types import (
    ExplainerSpec,
    ModelContext,
    MonitorSpec,
    ReferenceData,
    ReportSection,
    RunReport,
    StepOutput,
    StepResult,
    StepSkipped,
    StepWorkspace,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from mlflow_clarity.data.files import DataLike
    from mlflow_clarity.monitors.check.drift_check import CheckResult
    from mlflow_clarity.monitors.review.policy import Policy
    from mlflow_clarity.monitors.review.result import ReviewResult

try:
    __version__ = importlib.metadata.version("mlflow-clarity")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ClarityWarning",
    "ExplainerSpec",
    "ModelContext",
    "MonitorSpec",
    "Predictor",
    "ReferenceData",
    "ReportSection",
    "RunReport",
    "StepOutput",
    "StepResult",
    "StepSkipped",
    "StepWorkspace",
    "__version__",
    "autolog",
    "check",
    "explain",
    "explain_batch",
    "hookimpl",
    "predictor",
    "reference_data",
    "review",
    "set_reference_data",
    "wait",
    "write_json",
]


def autolog(disable: bool = False, **options: Any) -> None:
    """Turn the automatic pipeline on or off, and set its options in code.

    Each call replaces the options of the previous call. Options set here override
    ``MLFLOW_CLARITY_*`` environment variables, except ``MLFLOW_CLARITY_DISABLE=1``,
    which always wins.

    Args:
        disable: Stop running on logged models.
        **options: ``budget_s`` (12), ``store_timeout_s`` (60), ``sample_rows`` (2000),
            ``seed`` (0), ``background`` (False), ``steps`` (None: all), ``step_options``
            (``{step_name: {...}}``), ``disabled_plugins`` (names), ``strict`` (False).

    Raises:
        TypeError: An unknown option or a value of the wrong type.
        ValueError: A value out of range.

    Example::

        mlflow_clarity.autolog(budget_s=30, step_options={"shap": {"max_rows": 500}})
    """
    normalised = validate_options(options)
    set_code_options(normalised, disable=disable)
    if not disable and current_config().enabled:
        from mlflow_clarity.hooks.patches.log_model import install

        install()


def explain(
    model_uri: str, data: DataLike, labels: Any = None, *, strict: bool | None = None
) -> RunReport:
    """Run the pipeline on a model logged earlier, storing results with it.

    Args:
        model_uri: ``models:/m-...``, ``models:/<name>/<version>`` or
            ``models:/<name>@<alias>``.
        data: Reference data: a DataFrame, an array, or a path to a CSV or parquet file.
        labels: Labels, or the name of the label column in ``data``.
        strict: Raise step errors instead of recording them (default: the configured
            strict mode).

    Returns:
        The run's report, as stored in ``clarity/status.json``.
    """
    from mlflow_clarity.processing import explain_model

    return explain_model(model_uri, data, labels, strict=strict)


def check(
    model_uri: str,
    data: DataLike,
    labels: Any = None,
    *,
    thresholds: dict[str, Any] | None = None,
    experiment: str | None = "clarity-monitoring",
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
    """Check a batch of production data against the baseline stored with a model.

    Needs only the model's stored ``clarity/`` files (and the model itself for output,
    quality and attribution drift). Files are read in chunks of ``chunk_rows``.

    Args:
        model_uri: ``models:/m-...``, ``models:/<name>/<version>``,
            ``models:/<name>@<alias>`` or ``runs:/<run_id>/<path>`` (a Spark model).
        data: The batch: a pandas or Spark DataFrame, an array, a path to a CSV or
            parquet file, a folder captured by ``mlflow-clarity serve`` (or a
            ``CaptureFolder``), or for image models a folder of PNG/JPEG files or a
            ``.npy`` file.
        labels: The name of the label column in ``data``, or labels aligned with it
            (for a capture folder: a file of labels joined by ``id_column``); gives
            model-quality metrics.
        thresholds: Overrides of the baseline's thresholds, nested as in its
            ``baseline.json`` (``{"numeric": {"psi_warn": 0.2}}``).
        experiment: Monitoring experiment to log the check to (a run per check, metrics
            at a step counting the model's checks); None logs nothing.
        output_dir: Also keep ``drift.json``, ``constraint_violations.json``,
            ``clarity_violations.json``, the batch's ``statistics.json`` and
            ``constraints.json``, and ``drift_report.html`` in this folder. With
            ``experiment=None`` and no ``output_dir`` they go to a new
            ``./clarity-check-<UTC timestamp>/``; ``result.files`` holds their paths.
        attribution: Explain a sample of the batch to measure attribution drift (NDCG).
        chunk_rows: Rows read at a time.
        budget_s: Time allowed for SHAP on the batch sample; the attribution section
            records the rows sampled and explained, and why fewer.
        ignore_columns: Columns never checked (ids, times, the model's logged outputs);
            reference columns that were not model inputs are always ignored.
        strict_columns: Make a column not in the baseline an ``extra_column_check``
            violation (by default it is listed in ``drift.json``'s ``schema``).
        id_column: A row id column: ignored, and counted in ``drift.json``'s ``batch``.
        timestamp_column: An event time column: ignored, and the batch's time range
            recorded in ``drift.json``'s ``batch``.
        baseline_statistics: A SageMaker Model Monitor ``statistics.json`` to check
            against instead of the model's stored baseline (a model baselined in
            SageMaker).
        baseline_constraints: Its ``constraints.json`` (optional).

    Returns:
        The result: ``passed``, ``exit_code``, ``violations``, ``drift``, ``run_id``.

    Raises:
        FileNotFoundError: The model has no baseline (the message says how to make one).
        ValueError: A bad model URI, data file or threshold.
    """
    from mlflow_clarity.monitors.check.runner import check_model

    return check_model(
        model_uri,
        data,
        labels,
        thresholds=thresholds,
        experiment=experiment,
        output_dir=output_dir,
        attribution=attribution,
        chunk_rows=chunk_rows,
        budget_s=budget_s,
        ignore_columns=ignore_columns,
        strict_columns=strict_columns,
        id_column=id_column,
        timestamp_column=timestamp_column,
        baseline_statistics=baseline_statistics,
        baseline_constraints=baseline_constraints,
    )


def explain_batch(
    model_uri: str, data: Any, output: str, *, budget_s_per_batch: float = 120.0
) -> dict[str, Any]:
    """SHAP values for every row of a Spark DataFrame, computed where the rows live.

    Each Arrow batch of each partition is explained with the model's log-time explainer
    (``card.json``) and stored background; the Spark workers need mlflow-clarity and
    access to the tracking server.

    Args:
        model_uri: A model logged with a SHAP explanation (``models:/...`` or
            ``runs:/...``).
        data: A Spark DataFrame of the model's input columns.
        output: Where the per-row values go: a parquet dataset (long form: one row per
            explained row and output, with ``partition``, ``batch`` and ``row``). A local
            folder also gets ``_global.json``.
        budget_s_per_batch: Time allowed to explain one Arrow batch (rows beyond it are
            left out and the summary's counts show it).

    Returns:
        The global summary: rows explained, mean |SHAP| per feature and output, ranking.
    """
    from mlflow_clarity.batch_explanations import explain_batch as run

    return run(model_uri, data, output, budget_s_per_batch=budget_s_per_batch)


def review(
    model_uri: str,
    policy: Policy | str | Path | None = None,
    data: DataLike | None = None,
    against: str | None = None,
    *,
    labels: Any = None,
    promote: str | None = None,
) -> ReviewResult:
    """Review a registered model version against a policy and record the verdict on it.

    Sets the version's tags ``clarity.review`` (``passed|failed``) and
    ``clarity.review.failed_rules``, replaces the review section of its description (the
    owner's text is kept), and sets the alias ``promote`` only when every rule passed.

    Args:
        model_uri: ``models:/<name>/<version>`` or ``models:/<name>@<alias>``.
        policy: A :class:`~mlflow_clarity.monitors.review.policy.Policy`, a path to a YAML
            policy, or None for the documented defaults.
        data: A batch to check drift against (and to compute the clarity files from
            first when the model has none).
        against: Another version (``models:/<name>@champion``) to compare the feature
            attributions with (NDCG).
        labels: Labels of ``data`` (a column name or values).
        promote: Alias to set when the review passes.

    Returns:
        The review: ``passed``, ``exit_code``, ``rules``, ``top_features``, ``comparison``.

    Raises:
        ValueError: Not a registered version, a bad policy, or nothing to review.
    """
    from mlflow_clarity.monitors.review.policy import Policy
    from mlflow_clarity.monitors.review.version_review import review_version

    if not isinstance(policy, Policy):
        policy = Policy.load(policy)
    return review_version(model_uri, policy, data, against, labels=labels, promote=promote)


def wait(timeout: float | None = None) -> list[RunReport]:
    """Wait for pipelines still running in the background (see ``background=True``).

    Args:
        timeout: Seconds to wait in all; None waits until they finish.

    Returns:
        The reports of the runs that finished.

    Raises:
        BaseException: The first error of a run, in strict mode.
    """
    jobs = wait_all(timeout)
    for job in jobs:
        if job.error is not None:
            raise job.error
    return [job.result for job in jobs if job.done and job.result is not None]
