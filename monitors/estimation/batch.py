"""Estimating a batch's performance during a check: the ``estimated`` section of drift.json.

The check feeds each chunk's model inputs, outputs and (optional) labels to
:class:`BatchEstimation`; once the rest of ``drift.json`` is known, :meth:`result` turns
the accumulated sums into estimates with intervals, reliability flags and, when labels
came, the realised values beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_clarity.errors import report_failure
from mlflow_clarity.monitors.baseline.model_quality import HIGHER_IS_BETTER, compare_quality
from mlflow_clarity.monitors.estimation import reliability
from mlflow_clarity.monitors.estimation.card import EstimatorCard, NoCalibrationError, download_card
from mlflow_clarity.monitors.estimation.cbpe import ClassifierEstimator
from mlflow_clarity.monitors.estimation.linking import IdFingerprint

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NO_CARD = (
    "the model has no stored calibration (clarity/monitoring/estimation/estimator.json): it "
    "was logged without reference labels, or by an older mlflow-clarity; log it inside "
    "mlflow_clarity.reference_data(X_valid, y_valid) to estimate performance without labels"
)
INTERVAL = {
    "CBPE": "95 % normal interval from 200 seeded label draws from the calibrated "
    "probabilities (label sampling only)",
    "DLE": "95 % normal interval from the loss model's held-out residual spread",
}


@dataclass
class BatchEstimation:
    """Performance estimation for one checked batch.

    Attributes:
        card: The model's estimator card, or None.
        reason: Why there is no estimate (no card, outputs that do not match it).
    """

    card: EstimatorCard | None
    reason: str | None = None
    estimator: Any = None
    outside: int = 0
    unknown_labels: int = 0
    ids: IdFingerprint | None = None

    def see_ids(self, chunk: pd.DataFrame, column: str | None) -> None:
        """Add a chunk's row ids (the whole chunk, id column included) to the fingerprint
        that links a later labelled check of the same batch to this one."""
        if column is None or self.card is None:
            return
        self.ids = self.ids or IdFingerprint(column)
        self.ids.update(chunk)

    @classmethod
    def for_model(cls, model_id: str) -> BatchEstimation:
        """The estimation of a logged model (a reason instead when it has no card)."""
        try:
            return cls(download_card(model_id))
        except NoCalibrationError:
            return cls(None, NO_CARD)
        except Exception as exc:  # the rest of the check stands without the estimate
            report_failure("reading the estimator card", exc, consequence="No estimate.")
            return cls(None, f"the estimator card could not be read: {exc!r}"[:300])

    def update(
        self,
        inputs: pd.DataFrame,
        outputs: np.ndarray,
        output_names: tuple[str, ...],
        labels: pd.Series | None,
    ) -> None:
        """Add a chunk: the model's inputs, its outputs and the labels when known."""
        if self.card is None or self.reason is not None:
            return
        try:
            self._update(inputs, outputs, output_names, labels)
        except Exception as exc:  # the rest of the check stands without the estimate
            report_failure("estimating performance", exc, consequence="No estimate.")
            self.reason = f"estimation failed on the batch: {exc!r}"[:300]

    def _update(
        self,
        inputs: pd.DataFrame,
        outputs: np.ndarray,
        output_names: tuple[str, ...],
        labels: pd.Series | None,
    ) -> None:
        import numpy as np

        assert self.card is not None
        facts = self.card.facts
        if self.card.method == "CBPE" and tuple(facts["classes"]) != tuple(output_names):
            self.reason = (
                f"the model's classes {list(output_names)[:10]} are not those it was "
                f"calibrated for {facts['classes'][:10]}"
            )
            return
        if self.estimator is None:
            self.estimator = self.card.estimator()
        if isinstance(self.estimator, ClassifierEstimator):
            self.estimator.update(outputs)
            if labels is not None:
                known = set(facts["classes"])
                self.unknown_labels += int((~labels.astype(str).isin(known)).sum())
        else:
            self.estimator.update(inputs, outputs)
        score_range = facts["score_range"]
        low, high = np.asarray(score_range["lower"]), np.asarray(score_range["upper"])
        self.outside += int(((outputs < low) | (outputs > high)).any(axis=1).sum())

    def result(self, drift: dict[str, Any]) -> dict[str, Any]:
        """The ``estimated`` section, given the rest of ``drift.json`` (quality, drift)."""
        try:
            return self._result(drift)
        except Exception as exc:  # the rest of the check stands without the estimate
            report_failure("estimating performance", exc, consequence="No estimate.")
            return {"status": "skipped", "reason": f"estimation failed: {exc!r}"[:300]}

    def _result(self, drift: dict[str, Any]) -> dict[str, Any]:
        if self.card is None or self.reason is not None:
            return {"status": "skipped", "reason": self.reason}
        if self.estimator is None or self.estimator.rows == 0:
            return {"status": "skipped", "reason": "the model's outputs on the batch are unknown"}
        facts = self.card.facts
        counts = getattr(self.estimator, "predicted_counts", None)
        shared = reliability.batch_reasons(
            facts, self.estimator.rows, self.outside, counts, self.unknown_labels, drift
        )
        quality = drift.get("quality") or {}
        realised = quality.get("metrics") or {} if quality.get("status") != "skipped" else {}
        reference = facts["reference"]["metrics"]
        metrics, every = {}, list(shared)
        for name, entry in self.estimator.estimates().items():
            entry = {**entry, "reference": reference.get(name)}
            own = []
            if realised.get(name) is not None and entry["value"] is not None:
                entry["realised"] = realised[name]
                entry["error"] = entry["value"] - realised[name]
                disagree = reliability.labels_disagree(
                    name, entry, realised[name], name in HIGHER_IS_BETTER
                )
                own += [disagree] if disagree else []
            entry["reliability"] = reliability.worst(shared + own)
            entry["reasons"] = [r["code"] for r in shared + own]
            metrics[name] = entry
            every += own
        values = {"n": self.estimator.rows, **{n: e["value"] for n, e in metrics.items()}}
        compared = compare_quality(reference, values, drift["thresholds"])
        return {
            "status": "ok",
            "method": self.card.method,
            "rows": self.estimator.rows,
            "metrics": metrics,
            "reliability": reliability.worst(every),
            "reasons": every,
            "degraded": compared["degraded"],
            "interval": INTERVAL[self.card.method],
            "thresholds": reliability.THRESHOLDS,
            "calibration": facts["data"],
            **({"batch_ids": self.ids.to_dict()} if self.ids is not None else {}),
        }


def estimated_metrics(drift: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics of the ``estimated`` section: ``estimated.<metric>`` with its
    ``.lower`` and ``.upper`` bounds, ``.error`` (estimated - realised) when labels came,
    and ``estimated.reliability`` (0 ok, 1 caution, 2 unreliable)."""
    estimated = drift.get("estimated") or {}
    if estimated.get("status") != "ok":
        return {}
    found = {"estimated.reliability": float(reliability.SEVERITY[estimated["reliability"]])}
    for name, entry in estimated["metrics"].items():
        found[f"estimated.{name}"] = entry["value"]
        for part in ("lower", "upper", "error"):
            found[f"estimated.{name}.{part}"] = entry.get(part)
    return {k: v for k, v in found.items() if v is not None}
