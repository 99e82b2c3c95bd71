"""When an estimate made without labels cannot be trusted, and why.

CBPE and DLE rest on two assumptions: the batch's rows fall where the calibration (or
the loss model) was fitted, and the relation between inputs and labels is unchanged (no
concept drift). The first can be tested without labels; the second cannot: a concept
shift that leaves the inputs alone leaves the model's scores alone too, so nothing
computed from the batch can see it. What is checked:

* ``outside_calibrated_range`` (unreliable): more than :data:`OUTSIDE_SHARE` of the rows
  have a score (classifiers: any class's raw probability; regressors: the prediction)
  outside the reference's 0.1-99.9 % range, where the calibration is extrapolated flat.
* ``predicted_rate_moved`` (caution): a class's predicted share moved by more than
  :data:`RATE_SHIFT` plus three binomial standard errors from the reference's share.
* ``input_drift`` and ``multivariate_drift`` (caution): the importance-weighted drift
  score reached its alert, or the multivariate check flagged the batch: the inputs moved
  so much that "no concept drift" cannot be assumed.
* ``unknown_label_classes`` (unreliable): the labels hold classes the model never
  predicts, which CBPE cannot count.
* ``labels_disagree`` (unreliable, per metric): when labels come, the realised value lies
  outside the estimate's interval widened by :data:`LABEL_TOLERANCE` (relative for errors):
  the calibration no longer holds, the signature of concept drift.
"""

from __future__ import annotations

import math
from typing import Any

OUTSIDE_SHARE = 0.05
RATE_SHIFT = 0.1
LABEL_TOLERANCE = {"score": 0.02, "error_relative": 0.05}
SEVERITY = {"ok": 0, "caution": 1, "unreliable": 2}
THRESHOLDS = {
    "outside_share": OUTSIDE_SHARE,
    "rate_shift": RATE_SHIFT,
    "label_tolerance": LABEL_TOLERANCE,
}


def _reason(code: str, severity: str, message: str) -> dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


def batch_reasons(
    facts: dict[str, Any],
    rows: int,
    outside: int,
    predicted_counts: Any,
    unknown_labels: int,
    drift: dict[str, Any],
) -> list[dict[str, str]]:
    """The reasons that concern every estimate of a batch.

    Args:
        facts: The estimator card's ``estimator.json`` content.
        rows: Rows estimated.
        outside: Rows with a score outside the reference range.
        predicted_counts: Rows predicted as each class (classifiers), or None.
        unknown_labels: Labels of classes the model does not have.
        drift: The check's ``drift.json`` content so far.
    """
    found = []
    share = outside / rows if rows else 0.0
    if share > OUTSIDE_SHARE:
        found.append(
            _reason(
                "outside_calibrated_range",
                "unreliable",
                f"{share:.1%} of the rows have scores outside the 0.1-99.9 % range of the "
                f"reference (more than {OUTSIDE_SHARE:.0%}): the calibration is extrapolated",
            )
        )
    if predicted_counts is not None and rows:
        shares = facts["reference"]["predicted_share"]
        for count, (name, before) in zip(predicted_counts, shares.items(), strict=True):
            now = count / rows
            limit = RATE_SHIFT + 3 * math.sqrt(before * (1 - before) / rows)
            if abs(now - before) > limit:
                found.append(
                    _reason(
                        "predicted_rate_moved",
                        "caution",
                        f"class {name} is predicted for {now:.1%} of the rows against "
                        f"{before:.1%} in the reference (limit +/-{limit:.1%}): the prediction "
                        "mix moved beyond what the calibration saw",
                    )
                )
    dataset = drift.get("dataset") or {}
    if dataset.get("status") == "violation":
        found.append(
            _reason(
                "input_drift",
                "caution",
                f"importance-weighted input drift {dataset['weighted_score']:.3g} reached its "
                f"alert ({dataset['threshold']}): with inputs this far moved, the unchanged "
                "relation between inputs and labels that the estimate assumes cannot be taken "
                "for granted",
            )
        )
    if (drift.get("multivariate") or {}).get("status") == "drift":
        found.append(
            _reason(
                "multivariate_drift",
                "caution",
                "the multivariate drift check flagged the batch: the joint input distribution "
                "moved, so concept drift cannot be ruled out",
            )
        )
    if unknown_labels:
        found.append(
            _reason(
                "unknown_label_classes",
                "unreliable",
                f"{unknown_labels:,} labels are classes the model never predicts; the estimate "
                "assumes every row belongs to a known class",
            )
        )
    return found


def labels_disagree(
    name: str, entry: dict[str, Any], realised: float, higher_is_better: bool
) -> dict[str, str] | None:
    """The per-metric reason when the realised value falls outside the widened interval."""
    if entry["lower"] is None or entry["upper"] is None:
        return None
    if higher_is_better:
        slack = LABEL_TOLERANCE["score"]
    else:
        slack = LABEL_TOLERANCE["error_relative"] * abs(entry["value"])
    if entry["lower"] - slack <= realised <= entry["upper"] + slack:
        return None
    return _reason(
        "labels_disagree",
        "unreliable",
        f"realised {name} {realised:.4g} is outside the estimate's interval "
        f"[{entry['lower']:.4g}, {entry['upper']:.4g}] widened by {slack:.3g}: the calibration "
        "does not hold on this batch (concept drift, or calibration data unlike production)",
    )


def worst(reasons: list[dict[str, str]]) -> str:
    """The overall flag of a set of reasons: ``ok``, ``caution`` or ``unreliable``."""
    return max((r["severity"] for r in reasons), key=SEVERITY.__getitem__, default="ok")
