"""PNG heat maps over the explained images, drawn with matplotlib's object-oriented API.

No pyplot: figures are plain ``Figure`` objects (safe in threads). Each cell shows the
image in gray (or colour) with the signed map over it, red where the pixels raise the
explained class's output and blue where they lower it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.images.arrays import to_hwc, unit_range
from mlflow_clarity.layout import IMAGES_FILES

if TYPE_CHECKING:
    import numpy as np

PER_GRID = 8
MAX_CLASS_GRIDS = 10
_DPI = 100
_CELL_INCHES = 2.0


def _draw(ax: Any, image: np.ndarray, attribution: np.ndarray, layout: str, title: str) -> None:
    import numpy as np

    hwc = unit_range(to_hwc(image, layout))
    shown = hwc[..., 0] if hwc.shape[-1] != 3 else hwc
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, interpolation="nearest")
    limit = float(np.abs(attribution).max()) or 1.0
    ax.imshow(attribution, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.5, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def grid(
    path: Path,
    images: np.ndarray,
    maps: np.ndarray,
    titles: list[str],
    layout: str,
    heading: str,
) -> None:
    """Heat maps over up to :data:`PER_GRID` images, in a row of cells."""
    from matplotlib.figure import Figure

    shown = min(PER_GRID, len(images))
    fig = Figure(figsize=(_CELL_INCHES * shown, _CELL_INCHES + 0.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, shown, squeeze=False)[0]
    for ax, image, attribution, title in zip(axes, images, maps, titles, strict=False):
        _draw(ax, image, attribution, layout, title)
    fig.suptitle(heading, fontsize=10)
    fig.savefig(path)


def draw_all(
    out_dir: Path,
    images: np.ndarray,
    maps: np.ndarray,
    items: list[dict[str, Any]],
    layout: str,
) -> list[str]:
    """Per-class grids and the most and least confident images; return the files."""
    import numpy as np

    folder = out_dir / IMAGES_FILES["plots"]
    folder.mkdir(parents=True, exist_ok=True)
    titles = [f"#{i['position']} class {i['class']} p={i['probability']:.2f}" for i in items]
    classes = sorted({i["class_index"] for i in items})[:MAX_CLASS_GRIDS]
    for k in classes:
        rows = [n for n, i in enumerate(items) if i["class_index"] == k][:PER_GRID]
        grid(
            folder / f"class_{k}.png",
            images[rows],
            maps[rows],
            [titles[n] for n in rows],
            layout,
            f"Explained class {items[rows[0]]['class']}",
        )
    confidence = np.array([i["probability"] for i in items])
    order = list(np.argsort(-confidence, kind="stable"))
    shown = min(PER_GRID // 2, len(order))
    for name, rows in (("most_confident", order[:shown]), ("least_confident", order[-shown:])):
        heading = f"{name.replace('_', ' ').capitalize()} predictions"
        grid(
            folder / f"{name}.png",
            images[rows],
            maps[rows],
            [titles[n] for n in rows],
            layout,
            heading,
        )
    return sorted(p.name for p in folder.iterdir())
