"""Log a check to a run of the monitoring experiment, so drift over time is an MLflow chart.

Each check of a model is one run tagged with the model's id and registered version. Its
statistics are metrics at step N, where N counts the earlier checks of the same model
(kept in the LoggedModel tag ``clarity.check.count``), so the run charts draw drift over
time; the importance-weighted drift score and the violation count are also linked to the
model, so its page shows them over time without crowding out its own metrics. The files
(``drift.json``, ``constraint_violations.json``, ``drift_report.html``) are the run's
artifacts under ``clarity/``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from mlflow_clarity import run_models
from mlflow_clarity.layout import ARTIFACT_DIR
from mlflow_clarity.monitors.check.multivariate import multivariate_metrics
from mlflow_clarity.monitors.estimation.batch import estimated_metrics
from mlflow_clarity.monitors.estimation.linking import link_realised
from mlflow_clarity.store import log_metrics, quiet_artifacts

DEFAULT_EXPERIMENT = "clarity-monitoring"
COUNT_TAG = "clarity.check.count"
MODEL_METRICS = ("drift.weighted_score", "violations")
"""The check's metrics also shown on the model's page (all are on the check's run)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(*parts: str) -> str:
    """A metric name MLflow accepts, from parts that may hold any character."""
    return ".".join(_UNSAFE.sub("_", str(p)) for p in parts)[:250]


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _column_metrics(prefix: str, columns: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for name, column in columns.items():
        dist = column["distribution"]
        for stat in ("score", "linf_robust", "psi_robust"):
            metrics[metric_key(prefix, name, stat)] = dist.get(stat)
        metrics[metric_key(prefix, name, "completeness")] = column["completeness"]["current"]
    return metrics


def check_metrics(drift: dict[str, Any]) -> dict[str, float]:
    """Every drift statistic worth charting, as MLflow metric names and values."""
    dataset = drift["dataset"]
    metrics: dict[str, Any] = {
        "drift.weighted_score": dataset["weighted_score"],
        "drift.share": dataset["drift_share"],
        "drift.columns_drifted": len(dataset["columns_drifted"]),
        "violations": drift["violation_count"],
        "batch.rows": drift["batch"]["rows"],
        **_column_metrics("drift", drift["columns"]),
        **_column_metrics("prediction", drift["predictions"].get("columns") or {}),
    }
    for name, value in (drift["quality"].get("metrics") or {}).items():
        metrics[metric_key("quality", name)] = value
    metrics["attribution.ndcg"] = drift["attribution"].get("ndcg")
    metrics.update(estimated_metrics(drift))  # beside quality.<metric>: one chart
    metrics.update(multivariate_metrics(drift))  # drift.multivariate.auc and its p-values
    return _finite(metrics)


def log_check(drift: dict[str, Any], files: dict[str, Path], experiment: str) -> str:
    """Log a check's metrics, tags and files to a new run of ``experiment``.

    Args:
        drift: The ``drift.json`` content (with its ``model`` section).
        files: Local files to upload under ``clarity/``.
        experiment: Name of the monitoring experiment (created when missing).

    Returns:
        The run id.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    model = drift["model"]
    model_id = model["model_id"]
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)
    step = int(run_models.model_tags(model_id).get(COUNT_TAG, "0"))
    label = model["registered_model"] or model_id
    version = f" v{model['registered_version']}" if model["registered_version"] else ""
    tags = {
        "clarity.model_id": model_id,
        "clarity.model_uri": model["uri"],
        "clarity.check.step": str(step),
        "clarity.check.status": drift["status"],
        "clarity.check.violations": str(drift["violation_count"]),
        **(
            {
                "clarity.registered_model": model["registered_model"],
                "clarity.registered_version": str(model["registered_version"]),
            }
            if model["registered_model"]
            else {}
        ),
    }
    run = client.create_run(experiment_id, run_name=f"check {label}{version} #{step}", tags=tags)
    run_id = run.info.run_id
    try:
        metrics = check_metrics(drift)
        linked = {k: v for k, v in metrics.items() if k in MODEL_METRICS}
        log_metrics(run_id, None, {k: v for k, v in metrics.items() if k not in linked}, step)
        log_metrics(run_id, run_models.metrics_model_id(model_id), linked, step=step)
        link_realised(client, experiment_id, run_id, drift)  # truth beside earlier estimates
        with quiet_artifacts():
            for path in files.values():
                client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)
    finally:
        client.set_terminated(run_id)
    run_models.set_model_tags(
        model_id,
        {
            COUNT_TAG: str(step + 1),
            "clarity.check.last_status": drift["status"],
            "clarity.check.last_run_id": run_id,
        },
    )
    return run_id
