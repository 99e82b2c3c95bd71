"""The baseline profile of a Spark reference, computed where the rows live.

Each partition builds the same mergeable :class:`DataProfile` the pandas path builds
(``mapInPandas``: Arrow batches, the same column profiles, bin edges and types from the
driver-side sample) and sends it back as JSON; the driver merges the partition profiles.
The result has the same item counts, columns and files as the pandas path on the same
rows. Two things make it independent of the partitioning: categorical counts travel in
full (not only the top values ``profile.json`` keeps), and each numeric column's sum is
exact (every double is an integer multiple of 2^-1126; the partitions' integer sums add
up exactly and are rounded once), so the baseline fingerprint is the same however the
DataFrame is split. Quantile sketches (KLL) merge within their rank error.
"""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.spark_frames import SparkRows
from mlflow_clarity.errors import report_failure
from mlflow_clarity.monitors.baseline.column_profiles import CategoricalProfile, NumericProfile
from mlflow_clarity.monitors.baseline.data_profile import DataProfile, numeric_values

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import pandas as pd

    from mlflow_clarity.types import ReferenceData

_SCALE_BITS = 1126  # 1074 (smallest subnormal) + 52: every finite double * 2**1126 is an integer
_HALF_BITS = 26
_EXACT = "exact_sums"
_COUNTS = "category_counts"


def exact_sum(values: np.ndarray) -> int:
    """The exact sum of finite float64 values, times 2**1126 (an integer).

    Each value is ``mantissa * 2**exponent`` (``numpy.frexp``) with a 53-bit integer
    mantissa; mantissas are split into 26-bit halves and summed per exponent in float64,
    exact below 2**26 values, then combined as Python integers.
    """
    import numpy as np

    if len(values) == 0:
        return 0
    mantissas, exponents = np.frexp(values)
    integers = (mantissas * 2.0**53).astype(np.int64)
    shifts = exponents + (_SCALE_BITS - 53)
    high = (integers >> _HALF_BITS).astype(float)
    low = (integers & ((1 << _HALF_BITS) - 1)).astype(float)
    high_sums = np.bincount(shifts, weights=high)
    low_sums = np.bincount(shifts, weights=low)
    total = 0
    for shift in np.flatnonzero(high_sums.astype(bool) | low_sums.astype(bool)):
        part = (int(high_sums[shift]) << _HALF_BITS) + int(low_sums[shift])
        total += part << int(shift)
    return total


def _as_float(total: int) -> float:
    return float(Fraction(total, 1 << _SCALE_BITS))


def profile_payload(profile: DataProfile) -> dict[str, Any]:
    """A profile as JSON values, its categorical counts in full (``profile.json`` keeps
    only the top values), so that the profiles of partitions merge exactly."""
    payload = profile.to_dict()
    payload[_COUNTS] = {
        name: [dict(c.counts), c.untracked]
        for name, c in profile.columns.items()
        if isinstance(c, CategoricalProfile)
    }
    return payload


def profile_from_payload(payload: dict[str, Any]) -> DataProfile:
    """Read :func:`profile_payload`'s content back."""
    profile = DataProfile.from_dict(payload)
    for name, (counts, untracked) in payload[_COUNTS].items():
        column = profile.columns[name]
        assert isinstance(column, CategoricalProfile)
        column.counts, column.untracked = Counter(counts), untracked
    return profile


def _partition_profile(template: str, columns: list[str]) -> Any:
    """The ``mapInPandas`` function: one JSON profile per partition."""

    def profile_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np
        import pandas as pd

        profile = DataProfile.from_dict(json.loads(template))
        sums = dict.fromkeys(columns, 0)
        for batch in batches:
            profile.update(batch)
            for name, column in profile.columns.items():
                if isinstance(column, NumericProfile) and name not in profile.skipped:
                    values = numeric_values(batch[name])
                    sums[name] += exact_sum(values[np.isfinite(values)])
        payload = profile_payload(profile)
        payload[_EXACT] = {k: str(v) for k, v in sums.items()}
        yield pd.DataFrame({"profile": [json.dumps(payload)]})

    return profile_partition


def _read_partition(payload: dict[str, Any]) -> tuple[DataProfile, dict[str, int]]:
    return profile_from_payload(payload), {k: int(v) for k, v in payload[_EXACT].items()}


def spark_profile(rows: SparkRows, sample: pd.DataFrame) -> DataProfile:
    """Profile every row of a Spark reference on Spark and merge the partitions' profiles.

    Args:
        rows: The reference's rows (features and label).
        sample: Rows that set the column types and bin edges (the explainers' sample,
            as on the pandas path).

    Returns:
        The profile of the feature columns over all rows.
    """
    columns = list(rows.columns)
    empty = DataProfile.empty_like(sample[columns])
    function = _partition_profile(json.dumps(empty.to_dict()), columns)
    features = rows.frame.select(*[f"`{c}`" for c in columns])
    payloads = features.mapInPandas(function, "profile string").collect()
    merged, totals = empty, dict.fromkeys(columns, 0)
    for row in payloads:
        profile, sums = _read_partition(json.loads(row["profile"]))
        merged.merge(profile)
        totals = {k: totals[k] + sums.get(k, 0) for k in totals}
    for name, column in merged.columns.items():
        if isinstance(column, NumericProfile):
            column.sum = _as_float(totals[name])
    return merged


def distributed_profile(reference: ReferenceData) -> DataProfile | None:
    """The profile of a Spark reference computed on Spark, or None for other data (and
    when the Spark job fails, e.g. workers without mlflow-clarity: then the rows are
    streamed through the driver instead)."""
    rows = reference.chunk_source
    if not isinstance(rows, SparkRows):
        return None
    try:
        return spark_profile(rows, reference.sample)
    except Exception as exc:
        report_failure(
            "profiling the Spark reference on Spark",
            exc,
            consequence="Its rows are streamed through the driver instead; install "
            "mlflow-clarity on the Spark workers.",
        )
        return None
