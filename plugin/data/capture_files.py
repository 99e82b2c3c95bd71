"""Read a data capture folder (SageMaker Data Capture JSON lines) back as a batch.

Each record's request is parsed as MLflow's scoring server parses it (CSV, the JSON
formats ``dataframe_split`` / ``dataframe_records`` / ``inputs`` / ``instances``,
parquet), its response's ``predictions`` become output columns, so a check sees what
the model saw and what it answered without calling it again. Labels are joined later
by ``inferenceId`` from a CSV / parquet file or SageMaker ground-truth JSON lines.
Real SageMaker capture files read the same way.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from io import BytesIO, StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.data.reference import to_frame

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

ID_COLUMN = "inferenceId"
"""The column holding each row's ``eventMetadata.inferenceId`` (the labels' join key)."""


class CaptureReadError(ValueError):
    """A capture folder, a record or a label file cannot be read."""


@dataclass(frozen=True)
class CaptureFolder:
    """A capture folder to check, with the hours to read and the labels to join.

    Attributes:
        path: The folder (``YYYY/MM/DD/HH/*.jsonl`` below it).
        since: Only records at or after this time (UTC ISO 8601 or datetime).
        until: Only records before this time.
        labels: A label file (CSV/parquet with ``id_column`` and one label column, or
            ground-truth JSON lines, a file or folder), or None.
        id_column: The join key's name (the frame column holding ``inferenceId``).
    """

    path: str | Path
    since: str | datetime | None = None
    until: str | datetime | None = None
    labels: str | Path | None = None
    id_column: str = ID_COLUMN


CAPTURE_PATTERNS = (
    "*.jsonl",
    "[0-9][0-9][0-9][0-9]/*/*/*/*.jsonl",
    "*/*/[0-9][0-9][0-9][0-9]/*/*/*/*.jsonl",  # SageMaker's <endpoint>/<variant>/yyyy/...
)
"""Where a capture folder has its JSON lines (a folder of images has none)."""


def is_capture(data: Any) -> bool:
    """Whether ``data`` names a capture folder: a :class:`CaptureFolder`, or a directory
    with ``.jsonl`` files in it or in ``YYYY/MM/DD/HH/`` below it."""
    if isinstance(data, CaptureFolder):
        return True
    if not isinstance(data, (str, Path)) or not Path(data).is_dir():
        return False
    root = Path(data)
    return any(next(root.glob(pattern), None) is not None for pattern in CAPTURE_PATTERNS)


def parse_time(value: str | datetime | None) -> datetime | None:
    """A UTC datetime from ISO 8601 (``Z`` allowed; naive means UTC), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CaptureReadError(f"not an ISO 8601 time: {value!r}") from exc
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def capture_files(folder: str | Path, since: Any = None, until: Any = None) -> list[Path]:
    """The ``.jsonl`` files of a capture folder whose hour overlaps ``[since, until)``.

    Raises:
        CaptureReadError: The folder does not exist.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CaptureReadError(f"capture folder {str(root)!r} does not exist")
    start, end = parse_time(since), parse_time(until)
    found = []
    for path in sorted(root.rglob("*.jsonl")):
        hour = _hour_of(path.relative_to(root))
        if hour is not None and start is not None and hour.timestamp() + 3600 <= start.timestamp():
            continue
        if hour is not None and end is not None and hour >= end:
            continue
        found.append(path)
    return found


def _hour_of(relative: Path) -> datetime | None:
    parts = relative.parts[-5:-1]
    try:
        return datetime(*(int(p) for p in parts), tzinfo=timezone.utc) if len(parts) == 4 else None
    except (TypeError, ValueError):
        return None


def _body(payload: dict[str, Any]) -> bytes | str:
    data = payload.get("data", "")
    if payload.get("encoding") == "BASE64":
        return base64.b64decode(data)
    return data


def request_frame(
    body: bytes | str,
    content_type: str | None,
    column_hint: Sequence[str] | None = None,
    schema: Any = None,
) -> pd.DataFrame:
    """Parse a scoring request body as MLflow's scoring server does, as a DataFrame.

    Raises:
        CaptureReadError: An unknown content type, or a body MLflow cannot parse.
    """
    from mlflow.pyfunc import scoring_server

    mime = (content_type or "").split(";")[0].strip().lower()
    try:
        if mime == scoring_server.CONTENT_TYPE_CSV:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            data = scoring_server.parse_csv_input(StringIO(text), schema)
        elif mime in (scoring_server.CONTENT_TYPE_JSON, "application/jsonlines"):
            fields, _ = scoring_server._split_data_and_params(body)
            data = scoring_server.infer_and_parse_data(fields, schema)
        elif mime == scoring_server.CONTENT_TYPE_PARQUET:
            raw = body if isinstance(body, bytes) else body.encode("latin-1")
            data = scoring_server.parse_parquet_input(BytesIO(raw))
        else:
            raise CaptureReadError(f"unsupported request content type {content_type!r}")
        return to_frame(_rows_of_dicts(data), column_hint)
    except CaptureReadError:
        raise
    except Exception as exc:
        raise CaptureReadError(f"cannot parse a {mime} request: {exc}"[:500]) from exc


def _rows_of_dicts(data: Any) -> Any:
    """``inputs`` given as records come back (without a schema) as dicts of 0-d arrays."""
    import numpy as np
    import pandas as pd

    if isinstance(data, (list, np.ndarray)) and len(data) and isinstance(data[0], dict):
        return pd.DataFrame([{k: np.asarray(v).tolist() for k, v in row.items()} for row in data])
    return data


def response_frame(body: bytes | str) -> pd.DataFrame:
    """The ``predictions`` of a scoring response as columns.

    Scalars give ``prediction``, lists ``output_<i>``, dicts their keys. An explained
    response (Clarify's shape) gives the predictions it wraps.

    Raises:
        CaptureReadError: The body is not a JSON object with ``predictions``.
    """
    import pandas as pd

    try:
        decoded = json.loads(body)
        predictions = decoded["predictions"] if isinstance(decoded, dict) else decoded
        if isinstance(predictions, dict) and "content_type" in predictions:  # Clarify's shape
            return response_frame(predictions["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptureReadError(f"the response holds no predictions: {exc!r}") from exc
    if isinstance(predictions, dict):  # column-oriented (a DataFrame's dict)
        return pd.DataFrame(predictions)
    if not isinstance(predictions, list):
        predictions = [predictions]
    if predictions and isinstance(predictions[0], dict):
        return pd.DataFrame(predictions)
    if predictions and isinstance(predictions[0], list):
        width = len(predictions[0])
        return pd.DataFrame(predictions, columns=[f"output_{i}" for i in range(width)])
    return pd.DataFrame({"prediction": predictions})


def outputs_as_profile_columns(
    outputs: pd.DataFrame, profiled: Sequence[str]
) -> tuple[pd.DataFrame, Any]:
    """Captured outputs under the names of a prediction profile's columns.

    ``profiled`` are the baseline's output columns (``prediction``, ``output_<i>``, or
    ``proba_<class>`` + ``predicted_label``). A classifier served through pyfunc answers
    labels: they become ``predicted_label``; answered probabilities (one per class)
    become ``proba_<class>`` and their arg-max ``predicted_label``.

    Returns:
        The renamed frame (only profiled columns) and the outputs as a float
        ``(rows, outputs)`` array for quality (None when they are labels only).
    """
    import numpy as np

    classes = [c[len("proba_") :] for c in profiled if c.startswith("proba_")]
    if not classes:
        frame = outputs[[c for c in outputs.columns if c in profiled]]
        try:
            return frame, frame.to_numpy(dtype=float) if len(frame.columns) else None
        except (TypeError, ValueError):
            return frame, None
    if len(outputs.columns) == len(classes):
        probabilities = outputs.to_numpy(dtype=float)
        frame = outputs.set_axis([f"proba_{c}" for c in classes], axis=1)
        frame["predicted_label"] = [classes[i] for i in probabilities.argmax(axis=1)]
        return frame, probabilities
    if len(outputs.columns) == 1:
        labels = outputs.iloc[:, 0].map(_label_text)
        return labels.to_frame("predicted_label"), None
    return outputs.iloc[:, :0], np.empty((len(outputs), 0))


def _label_text(value: Any) -> str:
    """A label as the profile names classes (``1.0`` answered as JSON is class ``1``)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


@dataclass
class _Rows:
    """Parsed records waiting to become a chunk."""

    inputs: list[pd.DataFrame]
    outputs: list[pd.DataFrame | None]
    count: int = 0


def read_labels(path: str | Path, id_column: str = ID_COLUMN) -> dict[str, Any]:
    """Labels by inference id, from a CSV / parquet file or ground-truth JSON lines.

    A table needs ``id_column`` and one other column (or a ``label`` column). A
    ground-truth record (``groundTruthData.data``, ``eventMetadata.eventId``) is
    SageMaker's format; CSV data holding several values labels a record of several rows.

    Raises:
        CaptureReadError: The file is missing or has no usable columns.
    """
    import pandas as pd

    source = Path(path)
    if source.is_dir() or source.suffix.lower() in (".jsonl", ".json"):
        files = sorted(source.rglob("*.jsonl")) if source.is_dir() else [source]
        labels: dict[str, Any] = {}
        for file in files:
            for record in _records(file):
                truth = record.get("groundTruthData", {})
                data = str(truth.get("data", ""))
                values = data.split(",") if truth.get("encoding", "CSV") == "CSV" else [data]
                labels[str(record["eventMetadata"]["eventId"])] = [_number(v) for v in values]
        return labels
    if not source.is_file():
        raise CaptureReadError(f"label file {str(source)!r} does not exist")
    table = (
        pd.read_parquet(source)
        if source.suffix.lower() in (".parquet", ".pq")
        else (pd.read_csv(source, dtype={id_column: str}))
    )
    if id_column not in table.columns:
        raise CaptureReadError(f"label file {str(source)!r} has no {id_column!r} column")
    others = [c for c in table.columns if c != id_column]
    column = "label" if "label" in others else (others[0] if len(others) == 1 else None)
    if column is None:
        raise CaptureReadError(
            f"label file {str(source)!r}: expected {id_column!r} and one label column "
            f"(or a 'label' column), found {list(table.columns)}"
        )
    return {str(k): [v] for k, v in zip(table[id_column], table[column], strict=True)}


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text.strip()
    return int(value) if value.is_integer() else value


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                logger.warning("%s line %d is not JSON; skipped", path, number)


def capture_chunks(
    data: CaptureFolder | str | Path,
    labels: Any = None,
    *,
    rows: int = 100_000,
    column_hint: Sequence[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.Series | None, pd.DataFrame | None]]:
    """Yield ``(inputs, labels, outputs)`` chunks of the captured requests.

    ``inputs`` carries the ``id_column`` (each row's ``inferenceId``, else its
    ``eventId``); ``outputs`` the responses' predictions row for row (None when a chunk
    has a record whose response cannot be matched to its rows); ``labels`` the joined
    labels (None when no row of the chunk has one). Records outside ``since``/``until``
    and records that cannot be parsed are skipped (a warning says how many).

    Args:
        data: The folder, or a :class:`CaptureFolder`.
        labels: A label file (overrides the folder's), or None.
        rows: Rows per chunk (records are never split).
        column_hint: Column names for requests without names (``instances`` lists).

    Raises:
        CaptureReadError: The folder or label file cannot be read, or holds no record.
    """
    import pandas as pd

    folder = data if isinstance(data, CaptureFolder) else CaptureFolder(data)
    label_source = labels if isinstance(labels, (str, Path)) else folder.labels
    known = read_labels(label_source, folder.id_column) if label_source is not None else None
    start, end = parse_time(folder.since), parse_time(folder.until)
    pending = _Rows([], [])
    skipped: dict[str, int] = {}
    read = 0

    def chunk() -> tuple[pd.DataFrame, pd.Series | None, pd.DataFrame | None]:
        inputs = pd.concat(pending.inputs, ignore_index=True)
        outputs = (
            None
            if any(o is None for o in pending.outputs)
            else pd.concat(pending.outputs, ignore_index=True)
        )
        joined = None
        if known is not None:
            joined = _join(inputs[folder.id_column], pending.inputs, known, folder.id_column)
        pending.inputs.clear()
        pending.outputs.clear()
        pending.count = 0
        return inputs, joined, outputs

    for path in capture_files(folder.path, start, end):
        for record in _records(path):
            try:
                meta = record["eventMetadata"]
                when = parse_time(meta.get("inferenceTime"))
                if (start and when and when < start) or (end and when and when >= end):
                    continue
                request = record["captureData"]["endpointInput"]
                kind = request.get("observedContentType")
                frame = request_frame(_body(request), kind, column_hint)
            except (KeyError, TypeError, CaptureReadError) as exc:
                reason = type(exc).__name__
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            output = _outputs(record, len(frame))
            frame[folder.id_column] = str(meta.get("inferenceId") or meta.get("eventId"))
            pending.inputs.append(frame)
            pending.outputs.append(output)
            pending.count += len(frame)
            read += 1
            if pending.count >= rows:
                yield chunk()
    if skipped:
        logger.warning("capture records skipped (cannot be read): %s", skipped)
    if pending.inputs:
        yield chunk()
    elif not read:
        raise CaptureReadError(f"no capture record in {str(folder.path)!r} (in the time range)")


def _outputs(record: dict[str, Any], rows: int) -> pd.DataFrame | None:
    response = record["captureData"].get("endpointOutput")
    if not response:
        return None
    try:
        outputs = response_frame(_body(response))
    except CaptureReadError:
        return None
    return outputs if len(outputs) == rows else None


def _join(
    ids: pd.Series, frames: list[pd.DataFrame], known: dict[str, Any], id_column: str
) -> pd.Series | None:
    """Labels row for row: a record's labels apply when there is one per row."""
    import pandas as pd

    values: list[Any] = []
    for frame in frames:
        labels = known.get(frame[id_column].iloc[0]) if len(frame) else None
        fits = labels is not None and len(labels) == len(frame)
        values.extend(labels if fits else [None] * len(frame))
    joined = pd.Series(values, index=ids.index, dtype=object)
    if joined.isna().all():
        return None
    return joined.infer_objects()
