"""Batches of images or texts to check: folders of image files, ``.npy`` arrays, CSV or
parquet files with the text column, or the same in memory; read in bounded chunks.

Image files are read with Pillow and converted to the reference's channels and layout;
files of another kind in a folder are skipped and counted, unreadable images are listed
with the reason, and none of them stops the check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CHUNK_IMAGES = 256
CHUNK_TEXTS = 10_000
EXAMPLES = 10
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class ContentInputError(ValueError):
    """The batch cannot be read as the images or texts the model takes."""


@dataclass
class ImageChunk:
    """Images read together: equally sized groups, and the same images resized to the
    reference size (for embeddings)."""

    groups: list[np.ndarray]
    resized: np.ndarray


@dataclass
class ReadLog:
    """What reading the batch skipped and why."""

    files: int = 0
    skipped_files: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    resized: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``drift.json``'s ``batch`` section."""
        return {
            "files": self.files,
            "skipped_non_image_files": self.skipped_files,
            "skipped_examples": self.skipped_examples,
            "unreadable_images": len(self.unreadable),
            "unreadable_examples": self.unreadable[:EXAMPLES],
            "resized_for_embeddings": self.resized,
        }


def _to_layout(image: np.ndarray, layout: str) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, C)`` image in one item of ``layout``."""
    if layout == "NHW":
        return image if image.ndim == 2 else image[..., 0]
    if image.ndim == 2:
        image = image[..., None]
    return image.transpose(2, 0, 1) if layout == "NCHW" else image


def _reference_scale(images: np.ndarray, dtype: str) -> np.ndarray:
    """File pixels (uint8) in the reference's dtype: floats on the [0, 1] scale."""
    import numpy as np

    from mlflow_clarity.monitors.content.image_properties import unit_scale

    target = np.dtype(dtype)
    if target.kind == "f" and images.dtype.kind in "iu":
        return unit_scale(images).astype(target)
    return images.astype(target)


def _image_files(folder: Path, log: ReadLog) -> list[Path]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            log.skipped_files += 1
            if len(log.skipped_examples) < EXAMPLES:
                log.skipped_examples.append(path.name)
    log.files = len(files)
    return files


def _read_file(path: Path, channels: int, log: ReadLog) -> np.ndarray | None:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(_MODES.get(channels, "RGB")))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        log.unreadable.append({"file": path.name, "reason": str(exc)[:200]})
        return None


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import numpy as np
    from PIL import Image

    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _group(images: list[np.ndarray]) -> list[np.ndarray]:
    """Equally sized images stacked together, in order of first appearance."""
    import numpy as np

    shapes: dict[tuple[int, ...], list[np.ndarray]] = {}
    for image in images:
        shapes.setdefault(image.shape, []).append(image)
    return [np.stack(group) for group in shapes.values()]


def _folder_chunks(
    folder: Path, layout: str, shape: list[int], dtype: str, log: ReadLog
) -> Iterator[ImageChunk]:
    import numpy as np

    channels = 1 if layout == "NHW" else (shape[0] if layout == "NCHW" else shape[-1])
    height, width = (shape[0], shape[1]) if layout in ("NHW", "NHWC") else (shape[1], shape[2])
    files = _image_files(folder, log)
    for start in range(0, len(files), CHUNK_IMAGES):
        raw = [_read_file(p, channels, log) for p in files[start : start + CHUNK_IMAGES]]
        images = [image for image in raw if image is not None]
        if not images:
            continue
        resized = []
        for image in images:
            fitted = _resize(image, height, width)
            log.resized += fitted is not image
            resized.append(_to_layout(fitted, layout))
        groups = _group([_to_layout(image, layout) for image in images])
        yield ImageChunk(groups, _reference_scale(np.stack(resized), dtype))


def _array_chunks(array: np.ndarray, layout: str, shape: list[int]) -> Iterator[ImageChunk]:
    from mlflow_clarity.data.modality import image_layout

    if array.ndim == len(shape) and tuple(array.shape) == tuple(shape):
        array = array[None]  # one image without its batch axis
    if array.ndim != len(shape) + 1 or image_layout(array.shape) not in (layout, None):
        raise ContentInputError(
            f"the model takes images shaped {tuple(shape)} ({layout}); the batch has shape "
            f"{array.shape}"
        )
    if array.dtype.kind not in "fiub":
        raise ContentInputError(f"images must be numbers; got an array of {array.dtype}")
    if tuple(array.shape[1:]) != tuple(shape):
        raise ContentInputError(
            f"the batch's images are shaped {array.shape[1:]}; the model takes {tuple(shape)}"
        )
    for start in range(0, len(array), CHUNK_IMAGES):
        part = array[start : start + CHUNK_IMAGES]
        yield ImageChunk([part], part)


def image_chunks(data: Any, manifest: dict[str, Any], log: ReadLog) -> Iterator[ImageChunk]:
    """The batch's images in chunks of at most :data:`CHUNK_IMAGES`.

    Args:
        data: A folder of PNG/JPEG files, a ``.npy`` file, an array, a torch tensor or a
            list of PIL images.
        manifest: The content baseline's manifest (layout, input shape and dtype).
        log: Collects skipped and unreadable files.

    Raises:
        ContentInputError: A missing path, a file of another kind, a pickled ``.npy``,
            or images of another shape than the model takes.
    """
    import numpy as np

    layout = manifest["modality"]["layout"]
    shape, dtype = manifest["input"]["shape"], manifest["input"]["dtype"]
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.is_dir():
            yield from _folder_chunks(path, layout, shape, dtype, log)
            return
        if not path.is_file():
            raise ContentInputError(f"{str(path)!r} is neither a folder of images nor a file")
        if path.suffix.lower() != ".npy":
            raise ContentInputError(
                f"{str(path)!r}: an image model's batch is a folder of PNG/JPEG files or a "
                ".npy array"
            )
        try:
            data = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise ContentInputError(f"cannot read {str(path)!r} as a numpy array: {exc}") from exc
    if hasattr(data, "detach") and hasattr(data, "cpu"):
        data = data.detach().cpu().numpy()
    if isinstance(data, (list, tuple)) and data and not isinstance(data[0], np.ndarray):
        data = np.stack([np.asarray(image) for image in data])
    yield from _array_chunks(np.asarray(data), layout, shape)


def _text_column(frame: Any, column: str) -> Any:
    if column in frame.columns:
        return frame[column]
    text_like = [c for c in frame.columns if frame[c].dtype.kind == "O"]
    if frame.shape[1] == 1 or len(text_like) == 1:
        return frame[text_like[0] if text_like else frame.columns[0]]
    raise ContentInputError(
        f"the model reads the text column {column!r}; the batch has columns "
        f"{[str(c) for c in frame.columns][:20]}"
    )


def text_chunks(
    data: Any, column: str, labels_column: str | None = None
) -> Iterator[tuple[list[str], Any]]:
    """The batch's documents in chunks of at most :data:`CHUNK_TEXTS`, each with the
    chunk's labels column (None without ``labels_column``).

    Args:
        data: A CSV or parquet file, a DataFrame, a Series or a list of strings.
        column: The text column the model reads (found by name, or the only text column).
        labels_column: The column holding labels, or None.

    Raises:
        ContentInputError: No such column, or values that are not strings.
    """
    import pandas as pd

    from mlflow_clarity.data.files import iter_chunks

    if isinstance(data, (list, tuple)):
        data = pd.DataFrame({column: pd.Series(list(data), dtype=object)})
    elif isinstance(data, pd.Series):
        data = data.to_frame(column if data.name is None else data.name)
    for frame, _ in iter_chunks(data, rows=CHUNK_TEXTS):
        if labels_column is not None and labels_column not in frame.columns:
            raise ContentInputError(f"the batch has no label column {labels_column!r}")
        labels = None if labels_column is None else frame[labels_column]
        values = _text_column(frame.drop(columns=[labels_column] if labels_column else []), column)
        bad = int((~values.map(lambda v: isinstance(v, str))).sum())
        if bad:
            raise ContentInputError(
                f"{bad} of {len(values)} values of the text column are not strings; drop "
                "missing values and decode bytes first"
            )
        yield values.tolist(), labels
