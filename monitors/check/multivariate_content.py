"""Checks of image and text batches (and, as an option, the multivariate check of
tables) against the ``content`` baseline stored with a model.

The batch's per-item properties go through the tabular check as columns (so the column
rules, BH q-values, violations and logging are today's); the text unit stream is
checked as one categorical column; embeddings of a seeded sample of the batch go through
the multivariate check (:mod:`mlflow_clarity.monitors.check.multivariate`), whose result
is ``drift.json``'s ``multivariate`` section and, when it drifted, a
``multivariate_drift_check`` violation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.errors import report_failure
from mlflow_clarity.layout import CONTENT, CONTENT_FILES
from mlflow_clarity.monitors.baseline.batch_profile import CategoricalBatch
from mlflow_clarity.monitors.baseline.step import Baseline
from mlflow_clarity.monitors.check.column_drift import compare_column
from mlflow_clarity.monitors.check.multivariate import (
    MULTIVARIATE,
    MultivariateOptions,
    multivariate_drift,
)
from mlflow_clarity.monitors.content.baseline import (
    TABULAR,
    ContentBaseline,
    numeric_matrix,
    standardise,
)
from mlflow_clarity.monitors.content.batch_items import (
    ContentInputError,
    ReadLog,
    image_chunks,
    text_chunks,
)
from mlflow_clarity.monitors.content.embeddings import EmbeddingUnavailable, embed
from mlflow_clarity.monitors.content.image_properties import image_properties
from mlflow_clarity.monitors.content.text_properties import (
    UNIT_FREQUENCY,
    text_properties,
    unit_stream,
)
from mlflow_clarity.monitors.estimation.item_outputs import item_predictor
from mlflow_clarity.store import download_files

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlflow_clarity.model_access import Predictor
    from mlflow_clarity.monitors.estimation.card import EstimatorCard
    from mlflow_clarity.types import ModelContext


NO_OUTPUTS_PROFILE = (
    "the model was logged without labelled reference items, so its outputs have no "
    "reference profile; log it inside mlflow_clarity.reference_data(images_or_texts, "
    "labels) for prediction drift, quality and estimates"
)


def stored_content(model_id: str) -> ContentBaseline | None:
    """The model's content baseline, or None when it has none."""
    local = Path(tempfile.mkdtemp(prefix="clarity-content-"))
    folder = download_files(model_id, CONTENT, tuple(CONTENT_FILES.values()), local)
    if not (folder / CONTENT_FILES["manifest"]).exists():
        return None
    return ContentBaseline.read(folder)


def takes_items(content: ContentBaseline | None) -> bool:
    """Whether the batch is images or texts (checked through their properties)."""
    return content is not None and content.modality in ("image", "text")


def items_baseline(content: ContentBaseline, card: EstimatorCard | None = None) -> Baseline:
    """The content baseline's property profile as a tabular baseline; with the model's
    estimator card, also the profile and quality of its outputs on the reference items
    (for prediction drift and quality)."""
    from mlflow_clarity.monitors.baseline.data_profile import DataProfile

    assert content.profile is not None
    manifest = content.manifest
    reference = {} if card is None else card.facts["reference"]
    outputs = reference.get("outputs_profile")
    return Baseline(
        content.profile,
        None if outputs is None else DataProfile.from_dict(outputs),
        {
            "created_at": manifest["created_at"],
            "data": {"fingerprint_sha256": None},
            "columns": {n: {"role": "property"} for n in content.profile.columns},
            **({"quality": {"metrics": reference["metrics"]}} if outputs is not None else {}),
        },
    )


def _captured(outputs: np.ndarray, predictor: Predictor) -> pd.DataFrame:
    """Outputs as a capture folder gives them (``proba_<class>``, or ``prediction``)."""
    import pandas as pd

    if predictor.is_classifier:
        return pd.DataFrame(outputs, columns=[f"proba_{n}" for n in predictor.output_names])
    columns = (
        ["prediction"]
        if outputs.shape[1] == 1
        else [f"output_{i}" for i in range(outputs.shape[1])]
    )
    return pd.DataFrame(outputs, columns=columns)


def _label_file(path: str | Path) -> np.ndarray:
    """Labels of an image batch from a ``.npy`` file (read without pickle)."""
    import numpy as np

    if Path(path).suffix.lower() != ".npy" or not Path(path).is_file():
        raise ContentInputError(
            f"labels {str(path)!r}: an image batch takes its labels as an array, or as the "
            "path of a .npy file with one label per image in reading order"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ContentInputError(f"cannot read {str(path)!r} as a numpy array: {exc}") from exc


@dataclass
class _Labels:
    """Labels given for the batch's items: an array in the order the items are read, or
    (texts) the name of a column of the batch file."""

    given: Any
    used: int = 0

    @property
    def column(self) -> str | None:
        return self.given if isinstance(self.given, str) else None

    def next(self, count: int, from_column: pd.Series | None) -> pd.Series | None:
        import numpy as np
        import pandas as pd

        if self.given is None:
            return None
        if from_column is not None:
            return from_column.reset_index(drop=True)
        values = pd.Series(np.asarray(self.given)[self.used : self.used + count])
        self.used += count
        if len(values) < count:
            self._mismatch(f"at least {self.used}")
        return values

    def finish(self) -> None:
        if self.given is not None and self.column is None and self.used != len(self.given):
            self._mismatch(str(self.used))

    def _mismatch(self, items: str) -> None:
        raise ContentInputError(
            f"{len(self.given)} labels for {items} items; give one label per item in the "
            "order they are read (a folder: sorted file paths, readable images only)"
        )


def multivariate_options(thresholds: dict[str, Any] | None) -> MultivariateOptions:
    """Defaults updated by ``thresholds["multivariate"]`` (``alpha``, ``permutations``...)."""
    import dataclasses

    given = dict((thresholds or {}).get(MULTIVARIATE) or {})
    known = {f.name for f in dataclasses.fields(MultivariateOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown multivariate option(s) {unknown}; known: {sorted(known)}")
    defaults = MultivariateOptions()
    try:  # the command line gives every number as a float
        typed = {k: type(getattr(defaults, k))(v) for k, v in given.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"multivariate options must be numbers: {exc}") from exc
    return dataclasses.replace(defaults, **typed)


def column_thresholds(thresholds: dict[str, Any] | None) -> dict[str, Any] | None:
    """The overrides without the multivariate options (the column checks' own)."""
    if not thresholds or MULTIVARIATE not in thresholds:
        return thresholds
    return {k: v for k, v in thresholds.items() if k != MULTIVARIATE}


@dataclass
class _Sample:
    """A seeded uniform sample of at most ``size`` vectors, computed only for the items
    that can enter it (a reservoir on random keys)."""

    size: int
    rng: np.random.Generator
    keys: Any = None
    vectors: Any = None
    pending: Any = None

    def offer(self, count: int) -> np.ndarray:
        """Positions of ``count`` new items that would enter the sample, with their keys."""
        import numpy as np

        keys = self.rng.random(count)
        self.pending = keys
        if self.keys is None or len(self.keys) < self.size:
            return np.arange(count)
        return np.flatnonzero(keys < self.keys.max())

    def add(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        """Add the vectors of the items :meth:`offer` chose."""
        import numpy as np

        keys = self.pending[positions]
        if self.keys is not None:
            keys = np.concatenate([self.keys, keys])
            vectors = np.vstack([self.vectors, vectors])
        keep = np.argsort(keys, kind="stable")[: self.size]
        self.keys, self.vectors = keys[keep], vectors[keep]


@dataclass
class ContentReader:
    """Reads a batch for the content check and keeps what the tabular check does not.

    Attributes:
        content: The stored content baseline.
        ctx: The loaded model (embeddings from its penultimate layer), or None.
        options: The multivariate check's options.
    """

    content: ContentBaseline
    ctx: ModelContext | None
    options: MultivariateOptions = field(default_factory=MultivariateOptions)
    log: ReadLog = field(default_factory=ReadLog)
    units: CategoricalBatch | None = None
    sample: _Sample | None = None
    embedding_error: str | None = None
    predictor: Predictor | None = None
    outputs_error: str | None = None

    def __post_init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(self.options.seed)
        self.sample = _Sample(self.options.max_rows, rng)
        if self.content.units is not None:
            self.units = CategoricalBatch(self.content.units.columns[UNIT_FREQUENCY])

    @property
    def _embedding(self) -> dict[str, Any]:
        return dict(self.content.manifest.get("embedding") or {})

    def _offer(self, count: int, vectors_of: Any) -> None:
        """Embed the items of a chunk that enter the sample (once an error, no more)."""
        if self.content.pca is None or self.embedding_error is not None:
            return
        assert self.sample is not None
        positions = self.sample.offer(count)
        if len(positions) == 0:
            return
        try:
            vectors = vectors_of(positions)
        except EmbeddingUnavailable as exc:
            self.embedding_error = str(exc)
            return
        expected = len(self.content.pca.mean)
        if vectors.shape[1] != expected:
            self.embedding_error = (
                f"the batch's embeddings have {vectors.shape[1]} dimensions; the baseline's "
                f"have {expected} (another model than the one the baseline was built with?)"
            )
            return
        self.sample.add(positions, self.content.pca.transform(vectors))

    def _embed(self, items: Any) -> np.ndarray:
        embedding = self._embedding
        modality = self.content.manifest["modality"]
        model = None if self.ctx is None else self.ctx.model
        return embed(
            embedding["kind"],
            items,
            model=model,
            layout=modality.get("layout"),
            seed=int(embedding.get("seed", 0)),
        )

    def _outputs(self, items: Any, rows: int) -> pd.DataFrame | None:
        """The model's outputs on a chunk's items as captured outputs; after a failure (or
        without a reference to compare them with) an empty frame that carries the reason
        (``attrs["error"]``); None without a model."""
        import pandas as pd

        if self.ctx is None:
            return None
        if self.outputs_error is None:
            modality = self.content.manifest["modality"]
            dtype = (self.content.manifest.get("input") or {}).get("dtype", "")
            try:
                self.predictor = self.predictor or item_predictor(
                    self.ctx,
                    modality["kind"],
                    items[:2],
                    layout=modality.get("layout"),
                    dtype=dtype,
                )
                return _captured(self.predictor.fn(items), self.predictor)
            except Exception as exc:  # properties and embeddings are still checked
                report_failure(
                    "calling the model on the batch's items",
                    exc,
                    consequence="Properties and embeddings are still checked.",
                )
                self.outputs_error = f"the model could not be called on the batch: {exc!r}"[:300]
        frame = pd.DataFrame(index=range(rows))
        frame.attrs["error"] = self.outputs_error
        return frame

    def chunks(
        self, data: Any, labels: Any = None, *, compare_outputs: bool = True
    ) -> Iterator[tuple[pd.DataFrame, pd.Series | None, pd.DataFrame | None]]:
        """Property frames of the batch's images or texts, as the tabular check reads,
        with the items' labels and the model's outputs on them (when it is loaded).

        Args:
            data: The batch (see :func:`image_chunks` and :func:`text_chunks`).
            labels: None, one label per item in reading order (images: also the path
                of a ``.npy`` file), or (texts) the name of the batch file's label column.
            compare_outputs: Whether the baseline has a profile of the model's outputs
                (from its estimator card); without one the model is not called.

        Raises:
            ContentInputError: Unreadable batch, or as many labels as items.
        """
        import numpy as np
        import pandas as pd

        modality = self.content.manifest["modality"]
        if modality["kind"] == "image" and isinstance(labels, (str, Path)):
            labels = _label_file(labels)
        given = _Labels(labels)
        if not compare_outputs:
            self.outputs_error = NO_OUTPUTS_PROFILE
        if modality["kind"] == "image":
            for chunk in image_chunks(data, self.content.manifest, self.log):
                images = np.array(chunk.resized)  # writable (a .npy batch is memory-mapped)
                self._offer(len(images), lambda p, c=images: self._embed(c[p]))
                properties = [image_properties(g, modality["layout"]) for g in chunk.groups]
                frame = pd.concat(properties, ignore_index=True)  # rows need not be in order
                yield frame, given.next(len(images), None), self._outputs(images, len(images))
            given.finish()
            return
        vocabulary = self.content.vocabulary
        assert vocabulary is not None
        for texts, column in text_chunks(data, modality["column"], given.column):
            self._offer(len(texts), lambda p, t=texts: self._embed([t[i] for i in p]))
            if self.units is not None:
                self.units.update(unit_stream(texts)[UNIT_FREQUENCY])
            chunk_labels = given.next(len(texts), column)
            yield text_properties(texts, vocabulary), chunk_labels, self._outputs(texts, len(texts))
        given.finish()

    def tap(self, chunks: Iterator[tuple[pd.DataFrame, Any]]) -> Iterator[tuple[pd.DataFrame, Any]]:
        """Pass table chunks through, keeping a sample of their numeric columns."""
        embedding = self._embedding
        columns = list(embedding.get("columns") or [])
        for chunk in chunks:
            features = chunk[0]
            if all(c in features.columns for c in columns):
                self._offer(
                    len(features),
                    lambda p, f=features: standardise(
                        numeric_matrix(f.iloc[p], columns), embedding
                    ),
                )
            else:
                self.embedding_error = "the batch lacks some of the baseline's numeric columns"
            yield chunk

    def _multivariate(self) -> dict[str, Any]:
        embedding = self._embedding
        space = (
            "numeric columns"
            if embedding.get("kind") == TABULAR
            else f"embedding ({embedding.get('kind')})"
        )
        if self.content.embeddings is None:
            reason = embedding.get("reason", "the baseline has no embeddings")
            return {"status": "skipped", "reason": reason, "space": space}
        if self.embedding_error is not None:
            return {"status": "skipped", "reason": self.embedding_error, "space": space}
        assert self.sample is not None
        if self.sample.vectors is None:
            return {"status": "skipped", "reason": "no batch items were embedded", "space": space}
        found = multivariate_drift(self.content.embeddings, self.sample.vectors, self.options)
        return {**found, "space": space}

    def add_to(self, drift: dict[str, Any]) -> None:
        """Add the unit profile's comparison, the multivariate check and what reading
        skipped to a check's ``drift.json`` content (before its violations are listed)."""
        if self.units is not None and self.units.rows:
            drift["columns"][UNIT_FREQUENCY] = compare_column(self.units, drift["thresholds"])
        if takes_items(self.content):
            drift["batch"]["content"] = {
                "modality": self.content.modality,
                **(self.log.to_dict() if self.content.modality == "image" else {}),
            }
        drift[MULTIVARIATE] = self._multivariate()
