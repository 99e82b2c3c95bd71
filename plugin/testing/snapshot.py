"""What a context holds at one moment, to tell whether a step changed it."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from mlflow_clarity.types import ModelContext, ReferenceData


@dataclass(frozen=True)
class _Same:
    """A value compared by identity (reassigned, not changed in place)."""

    value: Any


def _fingerprint(reference: ReferenceData) -> Any:
    """Hashes of every reference row and label (all rows, through ``iter_chunks``)."""
    import numpy as np
    import pandas as pd

    parts = []
    try:
        for features, labels in reference.iter_chunks():
            parts.append(pd.util.hash_pandas_object(features, index=True).to_numpy())
            if labels is not None:
                parts.append(pd.util.hash_pandas_object(labels, index=True).to_numpy())
    except TypeError:  # unhashable cells (lists, dicts): the sample is still compared
        return None
    return np.concatenate(parts) if parts else None


def _identities(prefix: str, obj: Any) -> dict[str, _Same]:
    return {f"{prefix}.{f.name}": _Same(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def take(ctx: ModelContext) -> dict[str, Any]:
    """Record a context's fields, options, reference sample, labels and all reference rows."""
    state: dict[str, Any] = {
        **_identities("ctx", ctx),
        "ctx.options (content)": copy.deepcopy(dict(ctx.options)),
    }
    reference = ctx.reference
    if reference is not None:
        labels = reference.sample_labels
        state.update(_identities("ctx.reference", reference))
        state["ctx.reference.sample (values)"] = reference.sample.copy()
        state["ctx.reference.sample_labels (values)"] = None if labels is None else labels.copy()
        state["the reference rows of ctx.reference.iter_chunks()"] = _fingerprint(reference)
    return state


def _same(before: Any, after: Any) -> bool:
    import numpy as np

    if isinstance(before, _Same):
        return isinstance(after, _Same) and before.value is after.value
    if hasattr(before, "equals"):  # DataFrame, Series
        return type(before) is type(after) and before.equals(after)
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and np.array_equal(before, after)
    return bool(before == after)


def changes(before: dict[str, Any], ctx: ModelContext) -> list[str]:
    """What differs in ``ctx`` from the state :func:`take` recorded.

    Args:
        before: The recorded state.
        ctx: The same context, later.

    Returns:
        The names of what changed (empty when nothing did).
    """
    after = take(ctx)
    return [key for key, value in before.items() if not _same(value, after.get(key))]
