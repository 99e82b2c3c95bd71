"""SageMaker Model Monitor's ``statistics.json`` and ``constraints.json``, from a profile.

The files follow the schema of SageMaker's data-quality baseline job, so users can carry
their habits and tools over: ``version 0.0``; per feature ``inferred_type``
(Integral/Fractional/String), population ``std_dev``, 10 equal-width ``kll.buckets``
between min and max. SageMaker's ``sketch.data`` holds Deequ's KLL compactor levels; here
it holds one level with the 101-point quantile grid, equal-weight items that give the same
CDF. A numeric column without any value gets Deequ's ``Unknown`` type and counts only.
Constraints carry completeness, ``is_non_negative``, ``domains`` for columns with at most
100 values, and SageMaker's default ``monitoring_config``.
"""

from __future__ import annotations

from typing import Any

from mlflow_clarity.monitors.baseline.column_profiles import (
    DOMAIN_MAX_VALUES,
    GRID,
    OTHER,
    CategoricalProfile,
    NumericProfile,
)
from mlflow_clarity.monitors.baseline.data_profile import DataProfile

SAGEMAKER_BUCKETS = 10
STRING_BUCKETS = 100  # most frequent values listed; profile.json keeps the top 1,000
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def _buckets(column: NumericProfile) -> list[dict[str, float]]:
    """10 equal-width buckets between min and max; counts from the KLL sketch."""
    if column.count == 0 or column.min is None or column.max is None:
        return []
    low, high = column.min, column.max
    width = (high - low) / SAGEMAKER_BUCKETS
    if width == 0:
        return [{"lower_bound": low, "upper_bound": high, "count": float(column.count)}]
    splits = [low + width * i for i in range(1, SAGEMAKER_BUCKETS)]
    masses = column.sketch.get_pmf(splits)
    return [
        {
            "lower_bound": low + width * i,
            "upper_bound": high if i == SAGEMAKER_BUCKETS - 1 else low + width * (i + 1),
            "count": float(round(mass * column.count)),
        }
        for i, mass in enumerate(masses)
    ]


def _numeric(name: str, column: NumericProfile) -> dict[str, Any]:
    common = {"num_present": column.count, "num_missing": column.missing + column.non_finite}
    if column.count == 0:  # no value at all: Deequ's "Unknown" type, counts only
        return {
            "name": name,
            "inferred_type": "Unknown",
            "numerical_statistics": {"common": common},
        }
    grid = column.quantiles(GRID) or []
    return {
        "name": name,
        "inferred_type": "Integral" if column.integral else "Fractional",
        "numerical_statistics": {
            "common": {
                "num_present": column.count,
                "num_missing": column.missing + column.non_finite,
            },
            "mean": column.mean if column.count else None,
            "sum": column.sum,
            "std_dev": column.std_dev,
            "min": column.min,
            "max": column.max,
            "distribution": {
                "kll": {
                    "buckets": _buckets(column),
                    "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [grid]},
                }
            },
        },
    }


def _string(name: str, column: CategoricalProfile) -> dict[str, Any]:
    buckets = [
        {"value": v, "count": n} for v, n in column.top(STRING_BUCKETS).items() if v != OTHER
    ]
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": column.count, "num_missing": column.missing},
            "distinct_count": column.distinct,
            "distribution": {"categorical": {"buckets": buckets}},
        },
    }


def statistics(profile: DataProfile) -> dict[str, Any]:
    """``statistics.json`` content."""
    features = [
        _numeric(name, c) if isinstance(c, NumericProfile) else _string(name, c)
        for name, c in profile.columns.items()
    ]
    return {"version": 0.0, "dataset": {"item_count": profile.item_count}, "features": features}


def _completeness(present: int, missing: int) -> float:
    total = present + missing
    return present / total if total else 0.0


def constraints(profile: DataProfile) -> dict[str, Any]:
    """``constraints.json`` content, with SageMaker's default ``monitoring_config``."""
    features = []
    for name, column in profile.columns.items():
        if isinstance(column, NumericProfile):
            numeric_type = "Integral" if column.integral else "Fractional"
            entry: dict[str, Any] = {
                "name": name,
                "inferred_type": numeric_type if column.count else "Unknown",
                "completeness": _completeness(column.count, column.missing + column.non_finite),
                "num_constraints": {"is_non_negative": column.min is not None and column.min >= 0},
            }
        else:
            entry = {
                "name": name,
                "inferred_type": "String",
                "completeness": _completeness(column.count, column.missing),
            }
            if not column.untracked and len(column.counts) <= DOMAIN_MAX_VALUES:
                entry["string_constraints"] = {"domains": sorted(column.counts)}
        features.append(entry)
    return {"version": 0.0, "features": features, "monitoring_config": MONITORING_CONFIG}
