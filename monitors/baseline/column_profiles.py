"""Mergeable per-column profiles: what a drift check needs, without the data.

A numeric column keeps counts, moments (mean and M2, merged exactly with Chan et al.'s
formula), min and max, a KLL quantile sketch (Apache DataSketches; the same bytes Spark's
DataSketches produce), exact counts in fixed bins cut at baseline quantiles, and its
values while it has at most 20 of them (a discrete column is checked as categorical). A
categorical column keeps exact value counts (the top K are written, the rest in
``__other__``), missing values, the Python types seen (mixed-type object columns) and an
HLL distinct-count sketch. Two profiles of the same column merge into the profile of the
union.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

KLL_K = 200
HLL_LG_K = 12
DISCRETE_MAX_VALUES = 20
TOP_K = 1000
DOMAIN_MAX_VALUES = 100
MAX_TRACKED_VALUES = 100_000
GRID_POINTS = 101
GRID = [i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
OTHER = "__other__"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kll(data: str | None = None) -> Any:
    from datasketches import kll_doubles_sketch

    if data is None:
        return kll_doubles_sketch(KLL_K)
    return kll_doubles_sketch.deserialize(base64.b64decode(data))


def _hll(data: str | None = None) -> Any:
    from datasketches import hll_sketch

    if data is None:
        return hll_sketch(HLL_LG_K)
    return hll_sketch.deserialize(base64.b64decode(data))


def _sum_of_squares(values: np.ndarray, center: float) -> float:
    """Sum of squared deviations from ``center``, by numpy's pairwise summation.

    Not ``np.dot``: BLAS splits a dot product across threads, so its rounding depends on
    the thread count, and it crawls when the other cores are busy.
    """
    import numpy as np

    deviations = values - center
    np.square(deviations, out=deviations)
    return float(deviations.sum())


def _writable(values: np.ndarray) -> np.ndarray:
    """The values as an array the sketch's binding takes: writable and contiguous."""
    import numpy as np

    if values.flags.writeable and values.flags.c_contiguous:
        return values
    return np.array(values)  # pandas hands out read-only views


@dataclass
class NumericProfile:
    """Profile of a numeric (or datetime, as epoch seconds) column.

    Attributes:
        logical_type: ``numeric`` or ``datetime``.
        integral: Whether the column has an integer dtype (SageMaker ``Integral``).
        edges: Interior bin edges (baseline quantiles); bins run from -inf to +inf.
    """

    logical_type: str
    integral: bool
    edges: list[float]
    count: int = 0
    missing: int = 0
    non_finite: int = 0
    sum: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None
    bin_counts: list[int] = field(default_factory=list)
    values: Counter[float] | None = field(default_factory=Counter)
    sketch: Any = field(default_factory=_kll)

    def __post_init__(self) -> None:
        if not self.bin_counts:
            self.bin_counts = [0] * (len(self.edges) + 1)
        if not self.integral:  # only integer columns can be discrete (checked as categorical)
            self.values = None

    def update(self, values: np.ndarray) -> None:
        """Add a chunk of float64 values (NaN = missing)."""
        finite = self._count_missing(values)
        if len(finite) == 0:
            return
        total = float(finite.sum())
        mean = total / len(finite)  # exactly what finite.mean() returns, without its pass
        self._merge_moments(len(finite), mean, _sum_of_squares(finite, mean))
        self.sum += total
        low, high = float(finite.min()), float(finite.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        self._count_bins(finite)
        self.sketch.update(_writable(finite))
        if self.values is not None:
            self._count_values(finite, low, high)

    def _count_missing(self, values: np.ndarray) -> np.ndarray:
        """Count the NaN and infinite values; return the finite ones, in their order."""
        import numpy as np

        finite_mask = np.isfinite(values)
        if finite_mask.all():
            return values
        finite = values[finite_mask]
        nan = int(np.isnan(values).sum())
        self.missing += nan
        self.non_finite += len(values) - len(finite) - nan
        return finite

    def _count_bins(self, finite: np.ndarray) -> None:
        """Add the values' counts per bin (bin i holds ``edges[i-1] <= v < edges[i]``)."""
        import numpy as np

        # one count_nonzero per edge beats searchsorted/digitize on unsorted values
        below = [int(np.count_nonzero(finite < edge)) for edge in self.edges]
        counts = np.diff([0, *below, len(finite)])
        self.bin_counts = [a + int(b) for a, b in zip(self.bin_counts, counts, strict=True)]

    def _count_values(self, finite: np.ndarray, low: float, high: float) -> None:
        """Track the values of a discrete integer column, while it has at most 20."""
        import numpy as np

        assert self.values is not None
        if high - low <= 10_000:
            counts = np.bincount((finite - low).astype(np.int64))
            present = np.flatnonzero(counts)
            self.values.update(
                dict(zip((present + low).tolist(), counts[present].tolist(), strict=True))
            )
        else:
            uniques, counts = np.unique(finite, return_counts=True)
            self.values.update(dict(zip(uniques.tolist(), counts.tolist(), strict=True)))
        if len(self.values) > DISCRETE_MAX_VALUES:
            self.values = None

    def _merge_moments(self, n: int, mean: float, m2: float) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    def merge(self, other: NumericProfile) -> None:
        """Add ``other`` (same column, same edges) into this profile."""
        if other.edges != self.edges:
            raise ValueError("cannot merge numeric profiles with different bin edges")
        if other.count:
            self._merge_moments(other.count, other.mean, other.m2)
            self.sum += other.sum
            self.min = other.min if self.min is None else min(self.min, other.min)
            self.max = other.max if self.max is None else max(self.max, other.max)
            self.sketch.merge(other.sketch)
        self.missing += other.missing
        self.non_finite += other.non_finite
        self.bin_counts = [a + b for a, b in zip(self.bin_counts, other.bin_counts, strict=True)]
        if self.values is not None and other.values is not None:
            self.values.update(other.values)
            if len(self.values) > DISCRETE_MAX_VALUES:
                self.values = None
        else:
            self.values = None

    @property
    def check_type(self) -> str:
        """How drift checks treat the column: a discrete integer column is categorical."""
        return "categorical" if self.values is not None and self.integral else self.logical_type

    @property
    def std_dev(self) -> float | None:
        """Population standard deviation of the finite values."""
        return (self.m2 / self.count) ** 0.5 if self.count else None

    def quantiles(self, points: list[float]) -> list[float] | None:
        """Quantiles from the sketch (None when there are no finite values)."""
        if self.count == 0:
            return None
        return [float(q) for q in self.sketch.get_quantiles(points)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        return {
            "kind": "numeric",
            "logical_type": self.check_type,
            "storage_type": self.logical_type,
            "integral": self.integral,
            "count": self.count,
            "missing": self.missing,
            "non_finite": self.non_finite,
            "sum": self.sum,
            "mean": self.mean if self.count else None,
            "m2": self.m2,
            "std_dev": self.std_dev,
            "min": self.min,
            "max": self.max,
            "bins": {"edges": self.edges, "counts": self.bin_counts},
            "quantile_grid": {"points": GRID, "values": self.quantiles(GRID)},
            "values": None
            if self.values is None
            else {str(k): v for k, v in sorted(self.values.items())},
            "kll": {"k": KLL_K, "bytes": _b64(self.sketch.serialize())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        """Read a profile written by :meth:`to_dict`."""
        values = data.get("values")
        return cls(
            logical_type=data["storage_type"],
            integral=data["integral"],
            edges=list(data["bins"]["edges"]),
            count=data["count"],
            missing=data["missing"],
            non_finite=data["non_finite"],
            sum=data["sum"],
            mean=data["mean"] or 0.0,
            m2=data["m2"],
            min=data["min"],
            max=data["max"],
            bin_counts=list(data["bins"]["counts"]),
            values=None if values is None else Counter({float(k): v for k, v in values.items()}),
            sketch=_kll(data["kll"]["bytes"]),
        )


@dataclass
class CategoricalProfile:
    """Profile of a string, categorical, boolean or mixed-type column."""

    logical_type: str = "categorical"
    count: int = 0
    missing: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    untracked: int = 0
    types: Counter[str] = field(default_factory=Counter)
    sketch: Any = field(default_factory=_hll)

    def update(self, column: pd.Series) -> None:
        """Add a chunk of values (any dtype; values are compared as strings)."""
        missing = int(column.isna().sum())
        present = column.dropna() if missing else column
        self.missing += missing
        self.count += len(present)
        if column.dtype == object:
            self.types.update(type(v).__name__ for v in present.head(1000))
        counted = present.astype(str).value_counts()
        values, counts = counted.index.tolist(), counted.tolist()
        for value in values:
            self.sketch.update(value)
        self._count(values, counts)

    def _count(self, values: list[str], counts: list[int]) -> None:
        """Add value counts; past ``MAX_TRACKED_VALUES`` values, new ones go untracked."""
        room = MAX_TRACKED_VALUES - len(self.counts)
        if len(values) <= room:  # every value fits, whether seen before or not
            self.counts.update(dict(zip(values, counts, strict=True)))
            return
        for value, n in zip(values, counts, strict=True):
            if value in self.counts or room > 0:
                room -= value not in self.counts
                self.counts[value] += n
            else:
                self.untracked += n

    def merge(self, other: CategoricalProfile) -> None:
        """Add ``other`` (same column) into this profile."""
        self.count += other.count
        self.missing += other.missing
        self.counts.update(other.counts)
        self.untracked += other.untracked
        self.types.update(other.types)
        self.sketch = _union(self.sketch, other.sketch)

    @property
    def check_type(self) -> str:
        """How drift checks treat the column (always categorical)."""
        return self.logical_type

    @property
    def distinct(self) -> float:
        """Number of distinct values: exact while all are tracked, else the HLL estimate."""
        return float(len(self.counts)) if not self.untracked else float(self.sketch.get_estimate())

    def top(self, k: int = TOP_K) -> dict[str, int]:
        """The ``k`` most frequent values, then ``__other__`` for the rest."""
        top = dict(self.counts.most_common(k))
        other = self.count - sum(top.values())
        return {**top, **({OTHER: other} if other else {})}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        mixed = len([t for t in self.types if t != "NoneType"]) > 1
        return {
            "kind": "categorical",
            "logical_type": self.logical_type,
            "count": self.count,
            "missing": self.missing,
            "distinct": self.distinct,
            "top": self.top(),
            "mixed_types": dict(self.types) if mixed else None,
            "hll": {"lg_k": HLL_LG_K, "bytes": _b64(self.sketch.serialize_compact())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        """Read a profile written by :meth:`to_dict` (values beyond the top K are lost)."""
        top = dict(data["top"])
        other = top.pop(OTHER, 0)
        return cls(
            logical_type=data["logical_type"],
            count=data["count"],
            missing=data["missing"],
            counts=Counter(top),
            untracked=other,
            types=Counter(data.get("mixed_types") or {}),
            sketch=_hll(data["hll"]["bytes"]),
        )


def _union(first: Any, second: Any) -> Any:
    from datasketches import hll_union

    union = hll_union(HLL_LG_K)
    union.update(first)
    union.update(second)
    return union.get_result()
