"""Reference data that is not a table: images, texts and token ids.

The items are kept as the model takes them (an array of images in their layout, strings,
an integer array of token ids), sampled with the same seeded, stratified order as
tables, and bounded: images are large, so their sample holds at most
:data:`IMAGE_SAMPLE_MAX` of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.sampling import (
    TINY_ROWS,
    RawReference,
    ReferenceDataError,
    sampling_order,
    to_labels,
)
from mlflow_clarity.types import Modality, ReferenceData

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

IMAGE_SAMPLE_MAX = 256
"""At most this many images are sampled for the explainers (they are large)."""


def _pil_to_array(images: list[Any]) -> np.ndarray:
    import numpy as np

    arrays = [np.asarray(image) for image in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        shown = ", ".join(str(s) for s in sorted(shapes)[:4])
        raise ReferenceDataError(
            f"the images have {len(shapes)} different sizes ({shown}); resize them to the "
            "size the model takes before passing them as reference data"
        )
    stacked = np.stack(arrays)
    return stacked[..., None] if stacked.ndim == 3 else stacked


def image_array(features: Any, modality: Modality) -> np.ndarray:
    """The images as one array in ``modality.layout``.

    Raises:
        ReferenceDataError: Mixed sizes, too few axes, or not numbers.
    """
    import numpy as np

    if hasattr(features, "detach") and hasattr(features, "cpu"):
        features = features.detach().cpu().numpy()
    if isinstance(features, (list, tuple)):
        features = _pil_to_array(list(features)) if features else np.empty((0,))
    array = np.asarray(features)
    if array.dtype.kind not in "fiub":
        raise ReferenceDataError(f"images must be numbers; got an array of {array.dtype}")
    expected_axes = 3 if modality.layout == "NHW" else 4
    if array.ndim != expected_axes:
        raise ReferenceDataError(
            f"the model takes images laid out {modality.layout} ({modality.reason}); the "
            f"reference data has shape {array.shape}"
        )
    return array


def _texts(features: Any) -> tuple[str, ...]:
    import pandas as pd

    if isinstance(features, pd.DataFrame):
        if features.shape[1] != 1:
            raise ReferenceDataError(
                f"a text model takes one column of strings; the data has {features.shape[1]}"
            )
        features = features.iloc[:, 0]
    values = features.tolist() if hasattr(features, "tolist") else list(features)
    bad = [type(v).__name__ for v in values if not isinstance(v, str)]
    if bad:
        raise ReferenceDataError(
            f"{len(bad)} of {len(values)} texts are not strings (e.g. {bad[0]}); decode "
            "bytes and drop missing values first"
        )
    return tuple(values)


def _items(raw: RawReference, modality: Modality) -> Any:
    import numpy as np

    if modality.kind == "image":
        return image_array(raw.features, modality)
    if modality.kind == "text":
        return _texts(raw.features)
    return np.asarray(raw.features)  # token ids


def _take(items: Any, positions: Any) -> Any:
    if isinstance(items, tuple):
        return tuple(items[int(i)] for i in positions)
    return items[positions]


def _sample_frame(items: Any, positions: Any, modality: Modality) -> pd.DataFrame:
    import pandas as pd

    if modality.kind == "text":  # object dtype: any str, lone surrogates included
        return pd.DataFrame({modality.column or "text": pd.Series(list(items), dtype=object)})
    return pd.DataFrame({"position": positions})


def prepare_items(
    raw: RawReference, modality: Modality, *, sample_rows: int, seed: int
) -> ReferenceData:
    """Convert, validate and sample reference images, texts or token ids.

    Args:
        raw: The data as given.
        modality: What the model takes (see :func:`mlflow_clarity.data.modality.detect`).
        sample_rows: Maximum items in the sample (images: at most ``IMAGE_SAMPLE_MAX``).
        seed: Sampling seed.

    Returns:
        The reference data, with the sampled items in ``items``.

    Raises:
        ReferenceDataError: No items, mixed image sizes, non-strings among texts.
    """
    items = _items(raw, modality)
    n_rows = len(items)
    if n_rows == 0:
        raise ReferenceDataError("reference data has no items")
    labels = to_labels(raw.labels, n_rows)
    notes = [f"{modality.kind} data: {modality.reason}"]
    if n_rows < TINY_ROWS:
        notes.append(f"only {n_rows} item(s): explanations will be rough")
    if modality.kind == "image":
        sample_rows = min(sample_rows, IMAGE_SAMPLE_MAX)
    order = sampling_order(labels, n_rows, seed)
    if n_rows > sample_rows:
        notes.append(f"explainers use a seeded sample of {sample_rows} of {n_rows} items")

    def draw(rows: int) -> tuple[pd.DataFrame, pd.Series | None]:
        positions = order[:rows]
        chosen = None if labels is None else labels.iloc[positions].reset_index(drop=True)
        return _sample_frame(_take(items, positions), positions, modality), chosen

    def chunks(rows: int) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
        import numpy as np

        for start in range(0, n_rows, rows):
            positions = np.arange(start, min(start + rows, n_rows))
            chunk_labels = None if labels is None else labels.iloc[positions]
            yield _sample_frame(_take(items, positions), positions, modality), chunk_labels

    sample, sample_labels = draw(sample_rows)
    return ReferenceData(
        source=raw.source,
        n_rows=n_rows,
        columns=tuple(sample.columns),
        sample=sample,
        sample_labels=sample_labels,
        chunk_source=chunks,
        row_source=draw,
        row_order=order,
        notes=tuple(notes),
        modality=modality,
        items=_take(items, order[:sample_rows]),
    )
