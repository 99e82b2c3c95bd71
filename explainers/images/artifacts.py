"""The files of the ``images`` step, under ``clarity/explanations/images/``.

- ``summary.json``: the explainer, its reason and fallbacks, the baseline, the quality
  figures, and per explained image its position in the reference data, the explained
  class, the model output and the relative path of its map.
- ``maps/item_<position>.npy``: one float32 ``(H, W)`` attribution map per image, summed
  over channels (no pickle).
- ``plots/``: heat maps over the images (see :mod:`.plots`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.layout import IMAGES_FILES
from mlflow_clarity.store import write_json

if TYPE_CHECKING:
    import numpy as np


def map_name(position: int) -> str:
    """Relative path (inside the step's folder) of the map of one image."""
    return f"{IMAGES_FILES['maps']}/item_{position}.npy"


def write_maps(out_dir: Path, maps: np.ndarray, positions: list[int]) -> list[str]:
    """Write one ``.npy`` per map; return their relative paths."""
    import numpy as np

    (out_dir / IMAGES_FILES["maps"]).mkdir(parents=True, exist_ok=True)
    names = []
    for attribution, position in zip(maps, positions, strict=True):
        name = map_name(position)
        np.save(out_dir / name, attribution.astype(np.float32), allow_pickle=False)
        names.append(name)
    return names


def json_value(value: Any) -> Any:
    """A label or class as JSON: numbers stay numbers, anything else becomes its str."""
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, (bool, int, float)) or value is None else str(value)


def write_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """Write ``summary.json``."""
    write_json(out_dir / IMAGES_FILES["summary"], summary)
