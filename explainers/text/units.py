"""Text units (tokens or sentences) with their character offsets, and texts rebuilt
from them with some units masked or removed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

UNIT_PATTERNS = {
    "token": r"\w+|[^\w\s]+",
    "sentence": r"[^\s.!?][^.!?\n]*(?:[.!?]+|$)|[.!?]+",
}
"""What one unit is, as a regex: a word or a run of punctuation; a sentence up to its
ending punctuation or line end. Everything that is not whitespace is in some unit."""
UNITS = tuple(UNIT_PATTERNS)
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Unit:
    """One unit of a document.

    Attributes:
        text: The unit's text.
        start: Offset of its first character in the document.
        end: Offset just after its last character.
    """

    text: str
    start: int
    end: int


def split(text: str, unit: str, max_units: int | None = None) -> list[Unit]:
    """The units of ``text`` in document order (at most ``max_units``).

    Args:
        text: The document.
        unit: ``token`` or ``sentence`` (a key of :data:`UNIT_PATTERNS`).
        max_units: Keep only the first this many units; None keeps all.

    Raises:
        ValueError: An unknown unit.
    """
    if unit not in UNIT_PATTERNS:
        raise ValueError(f"unknown text unit {unit!r}; use one of {', '.join(UNITS)}")
    units = []
    for match in re.finditer(UNIT_PATTERNS[unit], text):
        if max_units is not None and len(units) >= max_units:
            break
        piece = match.group().rstrip()
        units.append(Unit(piece, match.start(), match.start() + len(piece)))
    return units


def count(text: str, unit: str) -> int:
    """Number of units in ``text``."""
    return sum(1 for _ in re.finditer(UNIT_PATTERNS[unit], text))


class UnitTokenizer:
    """The unit splitter in the minimal tokenizer API that ``shap.maskers.Text`` takes.

    Args:
        unit: ``token`` or ``sentence``.
    """

    def __init__(self, unit: str) -> None:
        self.unit = unit

    def __call__(self, text: str, return_offsets_mapping: bool = True) -> dict[str, Any]:
        """``input_ids`` (the unit texts) and ``offset_mapping`` (their spans)."""
        units = split(text, self.unit)
        out: dict[str, Any] = {"input_ids": [u.text for u in units]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(u.start, u.end) for u in units]
        return out


def rebuild(text: str, units: Sequence[Unit], keep: Sequence[bool], replacement: str) -> str:
    """``text`` with the units whose ``keep`` is False replaced by ``replacement``.

    Text outside the units (whitespace, a truncated tail) is kept as it is, except the
    tail after the last unit, which is dropped (the units cover what was explained).
    An empty ``replacement`` removes the units.
    """
    parts, previous = [], 0
    for unit, kept in zip(units, keep, strict=True):
        parts.append(text[previous : unit.start])
        parts.append(unit.text if kept else replacement)
        previous = unit.end
    return "".join(parts)


def printable(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def term(text: str) -> str:
    """The key a unit is counted under in global term importance: printable, lower case,
    whitespace collapsed."""
    return _SPACES.sub(" ", printable(text)).strip().casefold()
