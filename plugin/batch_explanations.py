"""``mlflow_clarity.explain_batch``: SHAP values for every row of a Spark DataFrame.

Each Arrow batch of each partition is explained where it lives (``mapInPandas``) by the
registered ``shap`` step, as it ran at log time: the explainer recorded in the model's
``card.json`` and the stored ``background.parquet``, without plots. The per-row values
are written as a parquet dataset in the long form of ``values.parquet`` (one row per
explained row and output) with the partition and the row's position in its batch; the
global importance (mean |SHAP| per feature and output) is then aggregated on Spark from
that dataset.

The Spark workers load the model and the SHAP files from the tracking server (its URI
is passed to them), so they need mlflow-clarity installed and access to the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow_clarity.layout import SHAP_FILES

_KEYS = ("partition", "batch", "row", "reference_row", "output", "base_value", "model_output")


def _explain_frame(
    ctx: Any, frame: Any, shap_folder: Path, card: dict[str, Any], budget_s: float
) -> tuple[Any, dict[str, Any]]:
    """SHAP values of ``frame``'s rows (long form) and the step's card."""
    from mlflow_clarity.monitors.check.attribution_drift import rerun_shap

    results, values = rerun_shap(ctx, frame, shap_folder, card, budget_s, "batch")
    return values, dict(results["card"])


def _stored(model_uri: str) -> tuple[Any, Path, dict[str, Any]]:
    """The model's context, its local SHAP folder and its log-time card."""
    from mlflow_clarity.logged_models import load_context, resolve_model_uri
    from mlflow_clarity.monitors.check.stored_artifacts import download_shap_folder

    resolved = resolve_model_uri(model_uri)
    folder = download_shap_folder(resolved.model_id)
    if folder is None or not (folder / SHAP_FILES["card"]).exists():
        raise FileNotFoundError(
            f"model {model_uri} has no stored SHAP explanation (clarity/explanations/shap); "
            f"create one with mlflow-clarity explain {model_uri} --data TRAINING_DATA.csv"
        )
    card = json.loads((folder / SHAP_FILES["card"]).read_text())
    return load_context(resolved), folder, card


def _with_keys(values: Any, partition: int, batch: int) -> Any:
    values.insert(0, "partition", partition)
    values.insert(1, "batch", batch)
    if "model_output" not in values.columns:
        values.insert(6, "model_output", float("nan"))
    return values


def explain_batch(
    model_uri: str,
    data: Any,
    output: str,
    *,
    budget_s_per_batch: float = 120.0,
) -> dict[str, Any]:
    """Implement :func:`mlflow_clarity.explain_batch`."""
    import mlflow
    from pyspark.sql import functions as F

    ctx, folder, card = _stored(model_uri)
    features = list(data.columns)
    probe, _ = _explain_frame(ctx, data.limit(2).toPandas(), folder, card, budget_s_per_batch)
    probe = _with_keys(probe, 0, 0)
    spark = data.sparkSession
    schema = spark.createDataFrame(probe).schema
    columns = list(probe.columns)
    tracking_uri, registry_uri = mlflow.get_tracking_uri(), mlflow.get_registry_uri()

    def explain_partition(batches: Any) -> Any:
        import mlflow
        from pyspark import TaskContext

        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry_uri)
        task = TaskContext.get()
        partition = task.partitionId() if task is not None else 0
        worker_ctx, worker_folder, worker_card = _stored(model_uri)
        for number, batch in enumerate(batches):
            if len(batch) == 0:
                continue
            values, _ = _explain_frame(
                worker_ctx, batch, worker_folder, worker_card, budget_s_per_batch
            )
            yield _with_keys(values, partition, number)[columns]

    data.mapInPandas(explain_partition, schema).write.mode("overwrite").parquet(output)
    written = spark.read.parquet(output)
    shap_columns = [c for c in columns if c not in _KEYS]
    means = written.groupBy("output").agg(
        F.count(F.lit(1)).alias("rows"), *[F.avg(F.abs(F.col(c))).alias(c) for c in shap_columns]
    )
    outputs = {
        row["output"]: {"rows": row["rows"], "mean_abs": {c: row[c] for c in shap_columns}}
        for row in means.collect()
    }
    overall = {c: sum(o["mean_abs"][c] for o in outputs.values()) for c in shap_columns}
    summary = {
        "model_uri": model_uri,
        "explainer": card["explainer"],
        "rows_in_batch": data.count(),
        "rows_explained": max((o["rows"] for o in outputs.values()), default=0),
        "features": [c for c in features if c in shap_columns],
        "outputs": outputs,
        "ranking": sorted(shap_columns, key=lambda c: -overall[c]),
        "values": output,
    }
    if "://" not in output or output.startswith("file:"):
        path = Path(output.removeprefix("file:")) / "_global.json"
        path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary
