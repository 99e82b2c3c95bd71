"""Per-document text properties, the reference vocabulary and the unit stream.

Units are the text explainer's ``token`` units (a word or a run of punctuation), so no
language-specific tokenizer is needed. The out-of-vocabulary share of a reference
document is counted leave-one-out (a unit seen in no other reference document), which is
what a new document from the same source would show against the stored vocabulary;
counting it against a vocabulary that contains the document itself would make every
reference share zero and every batch look drifted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow_clarity.explainers.text.units import UNIT_PATTERNS

if TYPE_CHECKING:
    import pandas as pd

VOCABULARY_MAX = 20_000
"""The vocabulary keeps at most this many units (the most frequent across documents)."""
UNITS_PER_DOCUMENT = 2_000
"""Units of one document counted at most (bounds the cost of very long documents)."""
UNIT_FREQUENCY = "unit_frequency"
"""The column of the unit stream: checked like a categorical column of the top units."""
_UNIT = re.compile(UNIT_PATTERNS["token"])
_DIGIT = re.compile(r"\d")
_PUNCTUATION = re.compile(r"[^\w\s]")


def units(text: str) -> list[str]:
    """The document's units, lower-cased (at most :data:`UNITS_PER_DOCUMENT`)."""
    found = []
    for match in _UNIT.finditer(text):
        found.append(match.group().lower())
        if len(found) >= UNITS_PER_DOCUMENT:
            break
    return found


@dataclass(frozen=True)
class Vocabulary:
    """The reference units and in how many reference documents each appears.

    Attributes:
        frequencies: Document frequency of each kept unit.
        documents: Reference documents counted.
    """

    frequencies: dict[str, int]
    documents: int

    @classmethod
    def build(cls, texts: Iterable[str], size: int = VOCABULARY_MAX) -> Vocabulary:
        """Count each unit once per document; keep the ``size`` most frequent units."""
        counts: Counter[str] = Counter()
        documents = 0
        for text in texts:
            counts.update(set(units(text)))
            documents += 1
        return cls(dict(counts.most_common(size)), documents)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (``vocabulary.json``)."""
        return {"documents": self.documents, "document_frequency": self.frequencies}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Vocabulary:
        """Read what :meth:`to_dict` wrote."""
        return cls(dict(data["document_frequency"]), int(data["documents"]))  # type: ignore[arg-type]


def _share(pattern: re.Pattern[str], text: str) -> float:
    return len(pattern.findall(text)) / len(text) if text else 0.0


def text_properties(
    texts: Sequence[str], vocabulary: Vocabulary, *, leave_one_out: bool = False
) -> pd.DataFrame:
    """One row of properties per document.

    Columns: ``characters``, ``units``, ``oov_share`` (share of units not in the
    vocabulary), ``non_ascii_share``, ``digit_share`` and ``punctuation_share`` (of the
    characters).

    Args:
        texts: The documents.
        vocabulary: The reference vocabulary.
        leave_one_out: The documents are the reference's own: a unit seen in only one
            reference document counts as out of vocabulary.
    """
    import numpy as np
    import pandas as pd

    floor = 1 if leave_one_out else 0
    frequencies = vocabulary.frequencies
    rows = np.zeros((len(texts), 6))
    for i, text in enumerate(texts):
        found = units(text)
        unknown = sum(1 for u in found if frequencies.get(u, 0) <= floor)
        non_ascii = sum(1 for c in text if ord(c) > 127)
        rows[i] = (
            len(text),
            len(found),
            unknown / len(found) if found else 0.0,
            non_ascii / len(text) if text else 0.0,
            _share(_DIGIT, text),
            _share(_PUNCTUATION, text),
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "characters",
            "units",
            "oov_share",
            "non_ascii_share",
            "digit_share",
            "punctuation_share",
        ],
    )
    return frame.astype({"characters": "int64", "units": "int64"})


def unit_stream(texts: Iterable[str]) -> pd.DataFrame:
    """Every unit of the documents as one categorical column (:data:`UNIT_FREQUENCY`)."""
    import pandas as pd

    return pd.DataFrame(
        {UNIT_FREQUENCY: pd.Series([u for t in texts for u in units(t)], dtype=object)}
    )
