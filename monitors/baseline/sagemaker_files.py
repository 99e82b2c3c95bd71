"""SageMaker Model Monitor's ``statistics.json`` and ``constraints.json``, from a profile.

The files follow the schema of SageMaker's data-quality baseline job (a Deequ profile), in
content as well as in shape, so that Deequ-style readers compute what we compute:

- ``version 0.0``; per feature ``inferred_type`` Integral, Fractional or String only;
  population ``std_dev``.
- ``kll.sketch.data`` holds real KLL levels: ``data[i]`` lists the retained items of
  weight ``2**i`` (level 0 holds raw values), so the weights sum to ``num_present``
  exactly as in Deequ's ``QuantileNonSample``. They are the levels of the profile's own
  DataSketches KLL sketch (k=200); ``parameters`` gives Deequ's shrinking factor and that k.
  A discrete integer column (at most 20 values, counted exactly) is written exactly: each
  value sits in level i for each bit i of its count.
- ``kll.buckets``: always 10 equal-width buckets between min and max, integer counts from
  the sketch's weighted ranks as Deequ computes them (``[low, high)``, the last one
  closed), which sum to ``num_present``.
- String columns list up to 1,000 most frequent values, like Deequ's histogram.
- A column without any value is a String with zero counts (SageMaker has no ``Unknown``);
  a datetime column is a String (a captured timestamp is text to SageMaker) with counts
  and no value list; its epoch seconds stay in ``profile.json``.

Constraints carry completeness, ``is_non_negative``, ``domains`` for columns with at most
100 values, and SageMaker's ``monitoring_config`` in SageMaker's meaning: the data-type
and domain thresholds are the share of values that must conform (1.0, as real baselines
write). Our own thresholds stay in ``baseline.json``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.column_profiles import (
    DOMAIN_MAX_VALUES,
    KLL_K,
    OTHER,
    TOP_K,
    CategoricalProfile,
    NumericProfile,
)
from mlflow_clarity.monitors.baseline.data_profile import DataProfile

if TYPE_CHECKING:
    import numpy as np

SAGEMAKER_BUCKETS = 10
DEEQU_SHRINKING_FACTOR = 0.64
KLL_PARAMETERS = {"c": DEEQU_SHRINKING_FACTOR, "k": float(KLL_K)}
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def kll_levels(sketch: Any) -> list[list[float]]:
    """A DataSketches KLL sketch as Deequ's compactor levels (level i: items of weight 2^i)."""
    levels: list[list[float]] = []
    for item, weight in sketch:
        level = int(weight).bit_length() - 1
        while len(levels) <= level:
            levels.append([])
        levels[level].append(float(item))
    return levels


def exact_levels(counts: dict[float, int]) -> list[list[float]]:
    """Exact value counts as compactor levels: a value goes to level i for each bit i of
    its count, so every value's weight is exactly its count (a discrete column)."""
    levels: list[list[float]] = []
    for value, count in sorted(counts.items()):
        for level in range(int(count).bit_length()):
            if count >> level & 1:
                while len(levels) <= level:
                    levels.append([])
                levels[level].append(float(value))
    return levels


def _weighted_items(levels: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Items of all levels, sorted, with their cumulative weights."""
    import numpy as np

    items = np.concatenate([np.asarray(level, dtype=float) for level in levels] or [[]])
    weights = np.concatenate(
        [np.full(len(level), 2**i, dtype=np.int64) for i, level in enumerate(levels)] or [[]]
    ).astype(np.int64)
    order = np.argsort(items, kind="stable")
    return items[order], np.cumsum(weights[order])


def kll_buckets(levels: list[list[float]], low: float, high: float) -> list[dict[str, float | int]]:
    """Deequ's 10 equal-width buckets between ``low`` and ``high``, counted on the levels.

    Bucket i counts the weight in ``[bound_i, bound_i+1)`` (the last bucket is closed), so
    the counts are integers that sum to the total weight.
    """
    import numpy as np

    items, cumulative = _weighted_items(levels)

    def rank(value: float, inclusive: bool) -> int:
        at = np.searchsorted(items, value, side="right" if inclusive else "left")
        return int(cumulative[at - 1]) if at else 0

    bounds = [low + (high - low) * i / SAGEMAKER_BUCKETS for i in range(SAGEMAKER_BUCKETS)]
    bounds.append(high)  # low + (high - low) can round below high
    buckets: list[dict[str, float | int]] = []
    for i in range(SAGEMAKER_BUCKETS):
        last = i == SAGEMAKER_BUCKETS - 1
        count = rank(bounds[i + 1], inclusive=last) - rank(bounds[i], inclusive=False)
        buckets.append({"lower_bound": bounds[i], "upper_bound": bounds[i + 1], "count": count})
    return buckets


def _common(present: int, missing: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": missing}


def _numeric(name: str, column: NumericProfile) -> dict[str, Any]:
    assert column.min is not None and column.max is not None
    # a discrete column's exact counts; otherwise the sketch's own levels
    levels = exact_levels(column.values) if column.values else kll_levels(column.sketch)
    return {
        "name": name,
        "inferred_type": _numeric_type(column),
        "numerical_statistics": {
            "common": _common(column.count, column.missing + column.non_finite),
            "mean": column.mean,
            "sum": column.sum,
            "std_dev": column.std_dev,
            "min": column.min,
            "max": column.max,
            "distribution": {
                "kll": {
                    "buckets": kll_buckets(levels, column.min, column.max),
                    "sketch": {"parameters": dict(KLL_PARAMETERS), "data": levels},
                }
            },
        },
    }


def _string_entry(
    name: str, common: dict[str, int], distinct: float, buckets: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": common,
            "distinct_count": distinct,
            "distribution": {"categorical": {"buckets": buckets}},
        },
    }


def _datetime_distinct(column: NumericProfile) -> float:
    """Distinct values the sketch holds: exact while it holds every value, else a floor."""
    return float(len({item for item, _ in column.sketch})) if column.count else 0.0


def as_string(column: NumericProfile | CategoricalProfile) -> bool:
    """Whether a column is a String in SageMaker's files (text, no value, or a datetime)."""
    return not isinstance(column, NumericProfile) or (
        column.count == 0 or column.logical_type == "datetime"
    )


def inferred_type(column: NumericProfile | CategoricalProfile) -> str:
    """The column's ``inferred_type`` in SageMaker's files."""
    if as_string(column):
        return "String"
    return _numeric_type(column)  # type: ignore[arg-type]


def _feature(name: str, column: NumericProfile | CategoricalProfile) -> dict[str, Any]:
    if isinstance(column, CategoricalProfile):
        buckets = [{"value": v, "count": n} for v, n in column.top(TOP_K).items() if v != OTHER]
        return _string_entry(name, _common(column.count, column.missing), column.distinct, buckets)
    missing = column.missing + column.non_finite
    if as_string(column):  # no value at all, or a datetime: counts only
        return _string_entry(name, _common(column.count, missing), _datetime_distinct(column), [])
    return _numeric(name, column)


def statistics(profile: DataProfile) -> dict[str, Any]:
    """``statistics.json`` content."""
    features = [_feature(name, c) for name, c in profile.columns.items()]
    return {"version": 0.0, "dataset": {"item_count": profile.item_count}, "features": features}


def empty_columns(profile: DataProfile) -> list[str]:
    """Columns without a single value (written as String with zero counts)."""
    return [name for name, column in profile.columns.items() if column.count == 0]


def _completeness(present: int, missing: int) -> float:
    total = present + missing
    return present / total if total else 0.0


def constraints(profile: DataProfile) -> dict[str, Any]:
    """``constraints.json`` content, with SageMaker's default ``monitoring_config``."""
    features = []
    for name, column in profile.columns.items():
        if isinstance(column, NumericProfile):
            missing = column.missing + column.non_finite
            entry: dict[str, Any] = {
                "name": name,
                "inferred_type": inferred_type(column),
                "completeness": _completeness(column.count, missing),
            }
            if not as_string(column):
                entry["num_constraints"] = {"is_non_negative": (column.min or 0.0) >= 0}
        else:
            entry = {
                "name": name,
                "inferred_type": "String",
                "completeness": _completeness(column.count, column.missing),
            }
            if not column.untracked and len(column.counts) <= DOMAIN_MAX_VALUES:
                entry["string_constraints"] = {"domains": sorted(column.counts)}
        features.append(entry)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": copy.deepcopy(MONITORING_CONFIG),
    }


def _numeric_type(column: NumericProfile) -> str:
    return "Integral" if column.integral else "Fractional"
