"""The content baseline: properties profiled like columns, the unit profile and
vocabulary of texts, and an embedding sample reduced by PCA.

Written to ``clarity/monitoring/content/`` (:data:`mlflow_clarity.layout.CONTENT_FILES`),
JSON and parquet only. The PCA is fitted on the first third of the embedded reference
items and the stored projections are those of the other two thirds: projections of the
rows a PCA was fitted on are more spread along its axes than those of new rows, which a
two-sample test would see as drift.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.layout import CONTENT_FILES
from mlflow_clarity.monitors.baseline.data_profile import DataProfile, build_profile
from mlflow_clarity.monitors.content.embeddings import (
    HASHED_UNITS,
    Pca,
    embed,
    image_embedding_kind,
)
from mlflow_clarity.monitors.content.image_properties import image_properties
from mlflow_clarity.monitors.content.text_properties import (
    Vocabulary,
    text_properties,
    unit_stream,
)
from mlflow_clarity.store import write_json

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCHEMA_VERSION = 1
COMPONENTS = 16
EMBEDDING_ROWS = 3000
"""Reference items embedded at most (a third fits the PCA, the rest is stored)."""
MIN_EMBEDDING_ROWS = 60
TEXT_ROWS = 20_000
"""Reference documents profiled at most (a seeded sample)."""
TEXT_CHARACTERS = 5_000_000
"""Characters of reference documents profiled at most (long documents: fewer of them)."""
TABULAR = "tabular_columns"


@dataclass
class ContentBaseline:
    """What an image, text (or, as an option, tabular) check compares a batch with.

    Attributes:
        manifest: ``content.json``: modality, properties, embedding method, notes.
        profile: Profile of the per-item properties (or the numeric columns).
        units: Text only: profile of the unit stream (one categorical column ``unit``).
        vocabulary: Text only: the reference vocabulary.
        pca: The PCA of the embeddings, or None when there is no embedding baseline.
        embeddings: The reference items' PCA projections, or None.
    """

    manifest: dict[str, Any]
    profile: DataProfile | None
    units: DataProfile | None = None
    vocabulary: Vocabulary | None = None
    pca: Pca | None = None
    embeddings: np.ndarray | None = None

    @property
    def modality(self) -> str:
        """``image``, ``text`` or ``tabular``."""
        return str(self.manifest["modality"]["kind"])

    def write(self, folder: Path) -> list[str]:
        """Write the files into ``folder``; returns the names written."""
        import pandas as pd

        written = {"manifest": self.manifest}
        if self.profile is not None:
            written["profile"] = self.profile.to_dict()
        if self.units is not None:
            written["units"] = self.units.to_dict()
        if self.vocabulary is not None:
            written["vocabulary"] = self.vocabulary.to_dict()
        if self.pca is not None:
            written["pca"] = self.pca.to_dict()
        for role, data in written.items():
            write_json(folder / CONTENT_FILES[role], data)
        names = [CONTENT_FILES[role] for role in written]
        if self.embeddings is not None:
            columns = [f"pc_{i}" for i in range(self.embeddings.shape[1])]
            frame = pd.DataFrame(self.embeddings, columns=columns)
            frame.to_parquet(folder / CONTENT_FILES["embeddings"], index=False)
            names.append(CONTENT_FILES["embeddings"])
        return names

    @classmethod
    def read(cls, folder: Path) -> ContentBaseline:
        """Read the files :meth:`write` wrote.

        Raises:
            FileNotFoundError: ``folder`` has no ``content.json``.
        """
        import pandas as pd

        def load(role: str) -> Any:
            path = folder / CONTENT_FILES[role]
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

        manifest = load("manifest")
        if manifest is None:
            raise FileNotFoundError(f"no {CONTENT_FILES['manifest']} in {folder}")
        profile, units = load("profile"), load("units")
        vocabulary, pca = load("vocabulary"), load("pca")
        embeddings_path = folder / CONTENT_FILES["embeddings"]
        return cls(
            manifest=manifest,
            profile=None if profile is None else DataProfile.from_dict(profile),
            units=None if units is None else DataProfile.from_dict(units),
            vocabulary=None if vocabulary is None else Vocabulary.from_dict(vocabulary),
            pca=None if pca is None else Pca.from_dict(pca),
            embeddings=pd.read_parquet(embeddings_path).to_numpy()
            if embeddings_path.exists()
            else None,
        )


def _profile(frame: pd.DataFrame) -> DataProfile:
    return build_profile([frame], sample=frame)


def reduce_embeddings(
    vectors: np.ndarray, components: int = COMPONENTS
) -> tuple[Pca | None, np.ndarray | None, dict[str, Any]]:
    """Fit a PCA on the first third of ``vectors`` and project the rest.

    Returns:
        The PCA, the stored projections and the facts for the manifest (with the
        reason when there are too few rows).
    """
    import numpy as np

    n = len(vectors)
    if n < MIN_EMBEDDING_ROWS:
        return (
            None,
            None,
            {"status": "skipped", "reason": f"{n} items; at least {MIN_EMBEDDING_ROWS} needed"},
        )
    fit_rows = n // 3
    k = min(components, fit_rows - 1, vectors.shape[1])
    pca = Pca.fit(vectors[:fit_rows], k)
    projections = pca.transform(vectors[fit_rows:]).astype(np.float64)
    facts = {
        "status": "ok",
        "dimensions": int(vectors.shape[1]),
        "components": int(pca.components.shape[0]),
        "explained_variance": float(pca.explained_variance_ratio.sum()),
        "fit_rows": fit_rows,
        "reference_rows": len(projections),
    }
    return pca, projections, facts


def _manifest(modality: dict[str, Any], items: int, **facts: Any) -> dict[str, Any]:
    from mlflow_clarity.versions import library_versions

    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "modality": modality,
        "items": items,
        **facts,
        "files": dict(CONTENT_FILES),
        "versions": {
            k: v for k, v in library_versions().items() if k in ("mlflow-clarity", "numpy")
        },
    }


def build_images(
    images: np.ndarray,
    layout: str,
    *,
    model: Any,
    seed: int,
    deadline: float = float("inf"),
) -> tuple[ContentBaseline, pd.DataFrame]:
    """Profile image properties and embed the images.

    Args:
        images: The reference images in ``layout`` (the step's bounded sample).
        layout: ``NCHW``, ``NHWC`` or ``NHW``.
        model: The in-memory model (a torch module gives penultimate-layer embeddings).
        seed: Seed of the random projection (models that are not torch modules).
        deadline: ``time.monotonic()`` after which embeddings are skipped.

    Returns:
        The baseline, and the properties of each image.
    """
    properties = image_properties(images, layout)
    kind = image_embedding_kind(model)
    embedding, pca, projections, notes = _embedding_baseline(
        {"kind": kind, "seed": seed}, images, deadline, model=model, layout=layout, seed=seed
    )
    manifest = _manifest(
        {"kind": "image", "layout": layout},
        len(images),
        input={"shape": list(images.shape[1:]), "dtype": str(images.dtype)},
        properties=list(properties.columns),
        embedding=embedding,
        notes=notes,
    )
    baseline = ContentBaseline(manifest, _profile(properties), pca=pca, embeddings=projections)
    return baseline, properties


def _embedding_baseline(
    embedding: dict[str, Any], items: Any, deadline: float, **how: Any
) -> tuple[dict[str, Any], Any, Any, list[str]]:
    """Embed the first ``EMBEDDING_ROWS`` items (``how``: :func:`embed`'s model, layout
    and seed) and reduce them, unless ``deadline`` has passed.

    Returns:
        The manifest's ``embedding`` entry, the PCA and projections (None when skipped)
        and the notes.
    """
    pca = projections = None
    if time.monotonic() < deadline:
        vectors = embed(embedding["kind"], items[:EMBEDDING_ROWS], **how)
        pca, projections, facts = reduce_embeddings(vectors)
        embedding.update(facts)
    else:
        embedding.update(status="skipped", reason="time budget spent on the properties")
    notes = [] if embedding["status"] == "ok" else [f"no embedding baseline: {embedding['reason']}"]
    return embedding, pca, projections, notes


def build_texts(
    texts: tuple[str, ...], column: str, *, deadline: float = float("inf")
) -> tuple[ContentBaseline, pd.DataFrame]:
    """Profile text properties and unit frequencies, and embed the documents.

    Args:
        texts: The reference documents (a bounded, seeded sample).
        column: The text column the model reads.
        deadline: ``time.monotonic()`` after which embeddings are skipped.

    Returns:
        The baseline, and the properties of each document.
    """
    vocabulary = Vocabulary.build(texts)
    properties = text_properties(texts, vocabulary, leave_one_out=True)
    units = _profile(unit_stream(texts))
    embedding, pca, projections, notes = _embedding_baseline(
        {"kind": HASHED_UNITS}, texts, deadline, model=None, layout=None, seed=0
    )
    manifest = _manifest(
        {"kind": "text", "column": column},
        len(texts),
        properties=list(properties.columns),
        vocabulary_size=len(vocabulary.frequencies),
        embedding=embedding,
        notes=notes,
    )
    baseline = ContentBaseline(
        manifest, _profile(properties), units, vocabulary, pca=pca, embeddings=projections
    )
    return baseline, properties


def numeric_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The named columns as float64, non-finite values as NaN (:func:`standardise` turns
    them into the column mean, so a row with a gap stays in the sample)."""
    import numpy as np

    values = frame[columns].apply(lambda c: c.astype("float64")).to_numpy()
    return np.where(np.isfinite(values), values, np.nan)


def build_tabular(frame: pd.DataFrame) -> ContentBaseline:
    """The multivariate baseline of a table's numeric columns (the ``tabular`` option).

    Columns are standardised with the reference's means and standard deviations (stored
    in the manifest) before the PCA; missing values take the mean.
    """
    import numpy as np

    columns = [str(c) for c in frame.columns if frame[c].dtype.kind in "fiub"]
    dropped = [str(c) for c in frame.columns if str(c) not in columns]
    embedding: dict[str, Any] = {"kind": TABULAR, "columns": columns}
    pca = projections = None
    if columns:
        matrix = numeric_matrix(frame, columns)
        mean = np.nanmean(matrix, axis=0)
        scale = np.nanstd(matrix, axis=0)
        embedding.update(mean=mean.tolist(), scale=scale.tolist())
        pca, projections, facts = reduce_embeddings(standardise(matrix, embedding))
        embedding.update(facts)
    else:
        embedding.update(status="skipped", reason="no numeric columns")
    notes = [f"non-numeric columns left out: {dropped[:20]}"] if dropped else []
    if embedding["status"] != "ok":
        notes.append(f"no multivariate baseline: {embedding['reason']}")
    manifest = _manifest(
        {"kind": "tabular"}, len(frame), properties=[], embedding=embedding, notes=notes
    )
    return ContentBaseline(manifest, None, pca=pca, embeddings=projections)


def standardise(matrix: np.ndarray, embedding: dict[str, Any]) -> np.ndarray:
    """Columns centred and scaled by the stored reference moments; gaps become 0."""
    import numpy as np

    mean = np.asarray(embedding["mean"], dtype=float)
    scale = np.asarray(embedding["scale"], dtype=float)
    z = (matrix - mean) / np.where(scale > 0, scale, 1.0)
    return np.where(np.isfinite(z), z, 0.0)
