"""Estimated then realised, on the same batch: linking a labelled check to earlier ones.

A check given an id column (``--id COL``) records an order-independent fingerprint of
the batch's ids (the wrapped sum of their 64-bit hashes, and their count) in the
``estimated`` section and as the run tag :data:`IDS_TAG`. When a later check of the same
model has labels for a batch with the same fingerprint, the realised metrics
(``quality.<metric>``) are also logged to those earlier checks' runs, at their own steps:
each run then holds the estimate made without labels and the truth, in one chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.errors import report_failure
from mlflow_clarity.store import log_metrics

if TYPE_CHECKING:
    import pandas as pd

IDS_TAG = "clarity.check.ids"
LINKED_TAG = "clarity.check.realised_for"
_MASK = (1 << 64) - 1


@dataclass
class IdFingerprint:
    """The order-independent fingerprint of a batch's row ids, chunk by chunk."""

    column: str
    total: int = 0
    rows: int = 0

    def update(self, chunk: pd.DataFrame) -> None:
        """Add a chunk (ignored when it lacks the id column)."""
        import numpy as np
        import pandas as pd

        if self.column not in chunk.columns:
            return
        ids = chunk[self.column].dropna().astype(str)
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
        self.total = (self.total + int(hashes.sum(dtype=np.uint64))) & _MASK
        self.rows += len(ids)

    def to_dict(self) -> dict[str, Any]:
        """``batch_ids`` of the ``estimated`` section."""
        return {
            "column": self.column,
            "rows": self.rows,
            "fingerprint": f"{self.rows}-{self.total:016x}",
        }


def link_realised(client: Any, experiment_id: str, run_id: str, drift: dict[str, Any]) -> list[str]:
    """Tag a check's run with its batch's fingerprint and, when it had labels, log the
    realised metrics to earlier checks of the same model on the same batch.

    Args:
        client: An ``MlflowClient``.
        experiment_id: The monitoring experiment.
        run_id: This check's run.
        drift: This check's ``drift.json`` content.

    Returns:
        The ids of the earlier runs that received the realised metrics.
    """
    estimated = drift.get("estimated") or {}
    ids = estimated.get("batch_ids")
    if not ids or not ids["rows"]:
        return []
    try:
        return _link(client, experiment_id, run_id, drift, ids["fingerprint"])
    except Exception as exc:  # the check itself is logged
        report_failure("linking realised metrics to earlier checks", exc)
        return []


def _link(
    client: Any, experiment_id: str, run_id: str, drift: dict[str, Any], fingerprint: str
) -> list[str]:
    client.set_tag(run_id, IDS_TAG, fingerprint)
    metrics = drift["estimated"].get("metrics") or {}
    realised = {f"quality.{n}": e["realised"] for n, e in metrics.items() if "realised" in e}
    if not realised:
        return []
    model_id = drift["model"]["model_id"]
    same_batch = f"tags.`{IDS_TAG}` = '{fingerprint}' and tags.`clarity.model_id` = '{model_id}'"
    earlier = client.search_runs([experiment_id], filter_string=same_batch)
    linked = []
    for run in earlier:
        if run.info.run_id == run_id or any(k.startswith("quality.") for k in run.data.metrics):
            continue
        step = int(run.data.tags.get("clarity.check.step", "0"))
        log_metrics(run.info.run_id, None, realised, step)
        linked.append(run.info.run_id)
    if linked:
        client.set_tag(run_id, LINKED_TAG, ",".join(linked)[:5000])
    return linked
