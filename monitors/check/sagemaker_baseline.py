"""A baseline read from SageMaker Model Monitor's ``statistics.json`` and ``constraints.json``.

Teams moving from SageMaker keep their baselines: each feature of ``statistics.json``
becomes the column profile a check compares with.

- Numeric (Integral/Fractional): counts, sum, mean, population std (as M2), min and max
  as written; the distribution is the KLL sketch's levels (an item of level i weighs
  2^i), replayed into a DataSketches sketch; bin edges at its weighted deciles, with the
  weighted counts in each bin. An Integral column of at most 20 values is checked as
  categorical, on its weighted values, as our own baselines do. A numeric feature
  without sketch data falls back to its 10 buckets (the bucket midpoints).
- String: the value counts of ``categorical.buckets``; values beyond them (SageMaker lists
  only the most frequent) count as the rest (``__other__``).

Thresholds are our calibrated defaults; a ``monitoring_config`` value that differs from
SageMaker's default overrides the matching one (``comparison_threshold``: the numeric
L-infinity threshold, ``categorical_comparison_threshold``: the categorical one,
``datatype_check_threshold``: the share of values that must conform).
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.monitors.baseline.column_profiles import (
    DISCRETE_MAX_VALUES,
    KLL_K,
    CategoricalProfile,
    NumericProfile,
)
from mlflow_clarity.monitors.baseline.data_profile import BIN_QUANTILES, SCHEMA_VERSION, DataProfile
from mlflow_clarity.monitors.baseline.sagemaker_files import MONITORING_CONFIG
from mlflow_clarity.monitors.baseline.step import NOT_MODEL_INPUTS, THRESHOLDS, Baseline

if TYPE_CHECKING:
    import numpy as np

MAX_REPLAYED_ITEMS = 4_000_000
"""At most this many items are replayed into the sketch (weights scale down beyond)."""


class SageMakerBaselineError(ValueError):
    """The files are not SageMaker data-quality baseline files."""


def _weighted(numeric: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Items and integer weights: the KLL levels, else the bucket midpoints."""
    import numpy as np

    kll = (numeric.get("distribution") or {}).get("kll") or {}
    levels = (kll.get("sketch") or {}).get("data") or []
    if any(levels):
        items = np.concatenate([np.asarray(level, dtype=float) for level in levels])
        weights = np.concatenate(
            [np.full(len(level), 2**i, dtype=np.int64) for i, level in enumerate(levels)]
        )
        return items, weights
    buckets = [b for b in kll.get("buckets") or [] if b.get("count")]
    items = np.array([(b["lower_bound"] + b["upper_bound"]) / 2 for b in buckets], dtype=float)
    weights = np.array([round(b["count"]) for b in buckets], dtype=np.int64)
    return items, weights


def _replayed_sketch(items: np.ndarray, weights: np.ndarray) -> Any:
    """A DataSketches KLL sketch of the weighted items (each repeated by its weight)."""
    import numpy as np
    from datasketches import kll_doubles_sketch

    scale = max(1, math.ceil(int(weights.sum()) / MAX_REPLAYED_ITEMS))
    repeats = np.maximum(weights // scale, 1)
    sketch = kll_doubles_sketch(KLL_K)
    if len(items):
        sketch.update(np.repeat(items, repeats))
    return sketch


def _numeric(feature: dict[str, Any]) -> NumericProfile:
    import numpy as np

    numeric = feature["numerical_statistics"]
    common = numeric["common"]
    present = int(common.get("num_present") or 0)
    items, weights = _weighted(numeric)
    order = np.argsort(items, kind="stable")
    items, weights = items[order], weights[order]
    total = int(weights.sum())
    edges: list[float] = []
    bin_counts: list[int] = [present]
    if total:
        cumulative = np.cumsum(weights) / total
        at = np.searchsorted(cumulative, BIN_QUANTILES, side="left")
        edges = sorted({float(items[min(i, len(items) - 1)]) for i in at})
        below = [round(int(weights[items < edge].sum()) * present / total) for edge in edges]
        bin_counts = [int(c) for c in np.diff([0, *below, present])]
    integral = feature["inferred_type"] == "Integral"
    values = None
    if integral and total and len(np.unique(items)) <= DISCRETE_MAX_VALUES:
        values = Counter()
        for item, weight in zip(items.tolist(), weights.tolist(), strict=True):
            values[item] += weight
        values = Counter({v: round(n * present / total) for v, n in values.items()})
    std = numeric.get("std_dev") or 0.0
    return NumericProfile(
        logical_type="numeric",
        integral=integral,
        edges=edges,
        count=present,
        missing=int(common.get("num_missing") or 0),
        sum=float(numeric.get("sum") or 0.0),
        mean=float(numeric.get("mean") or 0.0),
        m2=float(std) ** 2 * present,
        min=numeric.get("min"),
        max=numeric.get("max"),
        bin_counts=bin_counts,
        values=values,
        sketch=_replayed_sketch(items, weights),
    )


def _string(feature: dict[str, Any]) -> CategoricalProfile:
    strings = feature.get("string_statistics") or {}
    common = strings.get("common") or {}
    present = int(common.get("num_present") or 0)
    buckets = ((strings.get("distribution") or {}).get("categorical") or {}).get("buckets")
    counts = Counter({str(b["value"]): int(b["count"]) for b in buckets or []})
    profile = CategoricalProfile(
        count=present,
        missing=int(common.get("num_missing") or 0),
        counts=counts,
        untracked=max(0, present - sum(counts.values())),
    )
    for value in counts:
        profile.sketch.update(value)
    return profile


def _column(feature: dict[str, Any]) -> NumericProfile | CategoricalProfile:
    kind = feature.get("inferred_type")
    if kind in ("Integral", "Fractional") and "numerical_statistics" in feature:
        return _numeric(feature)
    if kind in ("String", "Unknown", None) or "string_statistics" in feature:
        return _string(feature)
    raise SageMakerBaselineError(f"feature {feature.get('name')!r}: unknown type {kind!r}")


_LINF_THRESHOLDS = (
    ("comparison_threshold", "numeric"),
    ("categorical_comparison_threshold", "categorical"),
)


def _thresholds(constraints: dict[str, Any] | None) -> dict[str, Any]:
    """Our defaults, overridden by the monitoring_config values a user changed."""
    limits = copy.deepcopy(THRESHOLDS)
    config = (constraints or {}).get("monitoring_config") or {}
    default = MONITORING_CONFIG["distribution_constraints"]
    distribution = config.get("distribution_constraints") or {}
    pairs = (
        ("comparison_threshold", "numeric"),
        ("categorical_comparison_threshold", "categorical"),
    )
    for key, group in pairs:
        value = distribution.get(key)
        if isinstance(value, (int, float)) and value != default[key]:
            limits[group]["linf_robust_warn"] = float(value)
    share = config.get("datatype_check_threshold")
    if isinstance(share, (int, float)) and share != MONITORING_CONFIG["datatype_check_threshold"]:
        limits["datatype_check"] = max(0.0, 1.0 - float(share))
    return limits


def sagemaker_baseline(
    statistics: dict[str, Any], constraints: dict[str, Any] | None = None, source: str = ""
) -> Baseline:
    """A :class:`Baseline` from the content of SageMaker's baseline files.

    Args:
        statistics: ``statistics.json`` content.
        constraints: ``constraints.json`` content, or None (SageMaker's defaults).
        source: Where the files came from, for the manifest.

    Raises:
        SageMakerBaselineError: The statistics have no ``features`` list.
    """
    features = statistics.get("features")
    if not isinstance(features, list):
        raise SageMakerBaselineError("statistics.json has no 'features' list")
    columns = {str(f["name"]): _column(f) for f in features}
    item_count = int((statistics.get("dataset") or {}).get("item_count") or 0)
    profile = DataProfile(item_count, columns)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"source": source or "SageMaker baseline files", "item_count": item_count},
        "columns": {
            name: {"role": "feature", "logical_type": c.check_type, "inferred_type": f}
            for (name, c), f in zip(
                columns.items(), (f.get("inferred_type") for f in features), strict=True
            )
        },
        "outputs": {},
        NOT_MODEL_INPUTS: [],
        "matching": "by column name",
        "thresholds": _thresholds(constraints),
        "notes": ["read from SageMaker Model Monitor baseline files"],
    }
    return Baseline(profile, None, manifest)


def read_sagemaker_baseline(
    statistics_path: str | Path, constraints_path: str | Path | None = None
) -> Baseline:
    """Read SageMaker's ``statistics.json`` (and ``constraints.json``) from disk.

    Raises:
        SageMakerBaselineError: A file is not JSON or not a SageMaker baseline file.
        FileNotFoundError: A file does not exist.
    """

    def load(path: str | Path) -> dict[str, Any]:
        try:
            content = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SageMakerBaselineError(f"{path} is not JSON: {exc}") from exc
        if not isinstance(content, dict):
            raise SageMakerBaselineError(f"{path} is not a JSON object")
        return content

    constraints = load(constraints_path) if constraints_path is not None else None
    return sagemaker_baseline(load(statistics_path), constraints, str(statistics_path))
