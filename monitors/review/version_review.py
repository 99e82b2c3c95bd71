"""Reviewing a registered model version against a policy.

Evaluates each rule of the policy on the files stored with the version's LoggedModel (and
on a batch of data, and on another version, when given), then records the verdict on the
version: tags ``clarity.review`` and ``clarity.review.failed_rules``, a markdown section
in its description that replaces its own earlier section and keeps the owner's text, and
an alias when every rule passed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mlflow_clarity.explainers.shap.quality import overall_importance
from mlflow_clarity.layout import SHAP, SHAP_FILES
from mlflow_clarity.logged_models import resolve_model_uri
from mlflow_clarity.monitors.check import statistics as stats
from mlflow_clarity.monitors.check.runner import check_model
from mlflow_clarity.monitors.review.description import with_review_section
from mlflow_clarity.monitors.review.policy import Policy
from mlflow_clarity.monitors.review.result import ReviewInputError, ReviewResult, Rule
from mlflow_clarity.processing import explain_model
from mlflow_clarity.report.sources import ReportSources
from mlflow_clarity.store import download_clarity, download_files

REVIEW_TAG = "clarity.review"
REVIEW_READY_TAG = "clarity.status"  # set last by the pipeline: the clarity files exist
FAILED_RULES_TAG = "clarity.review.failed_rules"
ARTIFACT_RULE = "artifact:"
"""Prefix of the rules that require a stored artifact (``artifact:shap``, ...)."""


def _limit_rule(
    name: str, value: float | None, limit: float | None, most: bool, absent: str | None = None
) -> Rule:
    """A rule ``value <= limit`` (``most``) or ``value >= limit``.

    Skipped when the policy turns it off, when its input was not given (``absent`` says
    which), or when the model has no such figure.
    """
    if limit is None:
        return Rule(name, "skipped", detail="off in the policy")
    if absent is not None:
        return Rule(name, "skipped", limit=limit, detail=absent)
    if value is None:
        return Rule(name, "skipped", limit=limit, detail="not measured for this model")
    ok = value <= limit if most else value >= limit
    return Rule(name, "passed" if ok else "failed", value, limit)


def _present(sources: Any) -> dict[str, bool]:
    return {
        "shap": sources.shap_global is not None,
        "lime": sources.lime_quality is not None,
        "agreement": sources.agreement is not None,
        "baseline": sources.baseline is not None,
    }


def evaluate(
    policy: Policy,
    sources: Any,
    *,
    drift_score: float | None = None,
    against: dict[str, float] | None = None,
) -> tuple[list[Rule], list[str], float | None]:
    """Evaluate every rule on a model's stored files.

    Args:
        policy: The rules.
        sources: The model's :class:`~mlflow_clarity.report.sources.ReportSources`.
        drift_score: Importance-weighted drift score against a batch, if one was checked.
        against: Global importance of the version compared with, if any.

    Returns:
        The rules' outcomes, the ranking of features, and the NDCG against ``against``.
    """
    present = _present(sources)
    rules = [
        Rule(f"{ARTIFACT_RULE}{name}", "passed" if present[name] else "failed", present[name], True)
        for name in policy.require
    ]
    shap_quality = sources.shap_quality or {}
    error = (shap_quality.get("sampling_error") or {}).get("mean_relative")
    if error is None and sources.shap_quality is not None:
        error = 0.0  # an exact explainer: no sampling error at all
    lime = sources.lime_quality or {}
    agreement = (sources.agreement or {}).get("overall") or {}
    rules += [
        _limit_rule(
            "max_additivity_residual",
            (shap_quality.get("additivity") or {}).get("max"),
            policy.max_additivity_residual,
            most=True,
        ),
        _limit_rule("max_relative_error", error, policy.max_relative_error, most=True),
        _limit_rule("min_lime_fidelity", lime.get("r2_mean"), policy.min_lime_fidelity, most=False),
        _limit_rule(
            "min_shap_lime_agreement",
            agreement.get("feature_agreement@3"),
            policy.min_shap_lime_agreement,
            most=False,
        ),
    ]
    importance = sources.importance()
    ranking = list(importance)
    top = ranking[: policy.top_k]
    if policy.protected_features:
        if not ranking:
            rules.append(Rule("protected_features", "skipped", detail="no SHAP ranking stored"))
        else:
            found = [f for f in top if f in policy.protected_features]
            rules.append(
                Rule(
                    "protected_features",
                    "failed" if found else "passed",
                    found,
                    list(policy.protected_features),
                    f"top {policy.top_k}: {', '.join(top)}",
                )
            )
    ndcg = stats.ndcg(against, importance) if against and importance else None
    rules += [
        _limit_rule(
            "max_drift_score",
            drift_score,
            policy.max_drift_score,
            most=True,
            absent=None if drift_score is not None else "no data given (--data)",
        ),
        _limit_rule(
            "min_attribution_ndcg",
            ndcg,
            policy.min_attribution_ndcg,
            most=False,
            absent=None if against is not None else "no version to compare with (--against)",
        ),
    ]
    return rules, ranking, ndcg


def _remedy(model_uri: str) -> str:
    return f"mlflow-clarity explain {model_uri} --data TRAINING_DATA.csv"


def unexplained_rules(policy: Policy) -> list[Rule]:
    """The rules of a version stored without any ``clarity/`` file: each required artifact
    fails (``clarity`` itself when the policy requires none)."""
    detail = "no clarity/ files are stored with this version"
    names = policy.require or ("clarity",)
    return [Rule(f"{ARTIFACT_RULE}{name}", "failed", False, True, detail) for name in names]


def _stored_importance(model_id: str) -> dict[str, float] | None:
    """The global SHAP importance stored with a LoggedModel, or None."""
    with tempfile.TemporaryDirectory(prefix="clarity-against-") as tmp:
        folder = download_files(model_id, SHAP, (SHAP_FILES["global"],), Path(tmp))
        path = folder / SHAP_FILES["global"]
        return overall_importance(json.loads(path.read_text())) if path.exists() else None


def _registered(model_uri: str) -> Any:
    resolved = resolve_model_uri(model_uri)
    if resolved.registered_model_name is None:
        raise ReviewInputError(
            f"{model_uri} is not a registered model version; review models:/<name>/<version> "
            "or models:/<name>@<alias>"
        )
    return resolved


def review_version(
    model_uri: str,
    policy: Policy | None = None,
    data: Any = None,
    against: str | None = None,
    *,
    labels: Any = None,
    promote: str | None = None,
    write: bool = True,
) -> ReviewResult:
    """Implement :func:`mlflow_clarity.review`."""
    from mlflow.tracking import MlflowClient

    policy = policy or Policy()
    resolved = _registered(model_uri)
    client = MlflowClient()
    if data is not None and REVIEW_READY_TAG not in client.get_logged_model(resolved.model_id).tags:
        explain_model(model_uri, data, labels)  # the artifacts are computed first
    drift_score = None
    if data is not None and policy.max_drift_score is not None:
        checked = check_model(model_uri, data, labels, ignore_columns=policy.ignore_columns)
        drift_score = checked.drift["dataset"]["weighted_score"]
    comparison = None
    against_importance = None
    if against:
        other = _registered(against)
        against_importance = _stored_importance(other.model_id)
        if against_importance is None:
            raise ReviewInputError(f"{against} has no stored SHAP explanation to compare with")
    with tempfile.TemporaryDirectory(prefix="clarity-review-") as tmp:
        try:
            folder: Path | None = download_clarity(resolved.model_id, Path(tmp))
        except FileNotFoundError:  # logged without mlflow-clarity: a failed review
            folder = None
        if folder is None:
            rules, ranking, ndcg = unexplained_rules(policy), [], None
        else:
            rules, ranking, ndcg = evaluate(
                policy,
                ReportSources.read(folder),
                drift_score=drift_score,
                against=against_importance,
            )
    if against:
        comparison = {
            "against": against,
            "version": other.registered_model_version,
            "ndcg": ndcg,
            "top_features": list(against_importance or {})[: policy.top_k],
        }
    missing = [r for r in rules if r.name.startswith(ARTIFACT_RULE) and r.status == "failed"]
    result = ReviewResult(
        resolved.registered_model_name,
        str(resolved.registered_model_version),
        resolved.model_id,
        rules,
        ranking,
        comparison,
        policy.to_dict(),
        remedy=_remedy(model_uri) if missing else None,
    )
    if write:
        _record(client, result, promote)
    return result


def _record(client: Any, result: ReviewResult, promote: str | None) -> None:
    """Tags, the description section and the alias (only when every rule passed)."""
    name, version = result.name, result.version
    client.set_model_version_tag(name, version, REVIEW_TAG, "passed" if result.passed else "failed")
    client.set_model_version_tag(
        name, version, FAILED_RULES_TAG, ",".join(result.failed_rules) or "none"
    )
    current = client.get_model_version(name, version).description or ""
    client.update_model_version(name, version, description=with_review_section(current, result))
    if promote and result.passed:
        client.set_registered_model_alias(name, promote, version)
        result.promoted = promote
