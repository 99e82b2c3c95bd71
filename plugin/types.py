"""The data types that cross the hook boundary.

Everything a plugin receives or returns is a frozen dataclass: a plugin cannot change the
context another plugin sees, and the pipeline can record exactly what each step produced.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mlflow_clarity.layout import EXPLANATIONS, MONITORING

if TYPE_CHECKING:
    import pandas as pd

STEP_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
"""What a step name may contain; names become folder names and metric prefixes."""

WRITE_MARGIN = 0.1
"""Share of the time left that divisible work leaves for writing files (see ``work_until``)."""
HEADROOM = 1.5
"""Factor on the measured cost of the next unit of work before starting it: machines
slow down when other work starts, and a step that overruns its deadline loses everything."""


def chunk_sizes(total: int, largest: int) -> list[int]:
    """Sizes of the chunks divisible work is done in: 1, 2, 4, ... then ``largest``.

    The sizes never depend on timing, so an item's result (a seeded draw per chunk) is
    the same however many chunks the time budget allowed; the small first chunks give a
    cost measurement early.

    Args:
        total: Number of items.
        largest: The biggest chunk.
    """
    sizes, size, done = [], 1, 0
    while done < total:
        sizes.append(min(size, total - done))
        done += sizes[-1]
        size = min(size * 2, largest)
    return sizes


StepKind = Literal["explainer", "monitor"]
StepStatus = Literal["ok", "skipped", "failed", "timed_out"]
RunStatus = Literal["ok", "partial", "failed", "skipped", "running"]


ModalityKind = Literal["tabular", "image", "text", "token_ids"]


@dataclass(frozen=True)
class Modality:
    """The kind of input a model takes, and why mlflow-clarity thinks so.

    Attributes:
        kind: ``tabular``, ``image``, ``text`` or ``token_ids``.
        reason: What the decision rests on (data type and shape, signature, model).
        layout: For images, the axes of a batch: ``NCHW``, ``NHWC`` or ``NHW``
            (grayscale without a channel axis); None otherwise.
        column: For text, the name of the input column the model reads; None otherwise.
    """

    kind: ModalityKind
    reason: str
    layout: str | None = None
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``card.json`` and ``status.json``."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "layout": self.layout,
            "column": self.column,
        }


TABULAR = Modality("tabular", "the reference data is a table")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


class StepSkipped(Exception):
    """Raised by a step to say it does not apply here; the message is the recorded reason.

    A skip is not a failure: it is logged at INFO level and the run status stays ``ok``.
    """


@dataclass(frozen=True)
class ReferenceData:
    """The data a logged model is explained and profiled on.

    Attributes:
        source: Where the data came from: ``explicit``, ``dataset:<name>`` or
            ``input_example``.
        n_rows: Number of rows of the full reference data.
        columns: Feature column names, in the model's order.
        sample: A bounded, seeded sample of the features (stratified by label when labels
            are known). Each step receives its own copy.
        sample_labels: Labels aligned with ``sample``, or None.
        notes: Remarks about the data made while preparing it (dropped columns, size).
        dropped_columns: Columns of the user's data dropped because the model does not
            take them (not in its signature or ``feature_names_in_``), in the data's order.
        chunk_source: Yields the full data as ``(features, labels)`` chunks of at most the
            given number of rows; use :meth:`iter_chunks`.
        row_source: Draws a seeded sample of the given size from all rows; use :meth:`draw`.
        row_order: Positions (0-based, in the reference data) of the rows in the order
            :meth:`draw` takes them; use :meth:`positions`.
        modality: What kind of input the data is (tables, images, text, token ids).
        items: For images, text and token ids: the sample as the model takes it (an
            array of images in ``modality.layout``, a tuple of strings, or an integer
            array), row ``i`` being row ``i`` of :attr:`sample`; None for tables. For
            text, :attr:`sample` is also a one-column frame of the strings; for images
            and token ids it holds each item's position in the user's data.
    """

    source: str
    n_rows: int
    columns: tuple[str, ...]
    sample: pd.DataFrame
    sample_labels: pd.Series | None
    chunk_source: Callable[[int], Iterator[tuple[pd.DataFrame, pd.Series | None]]]
    row_source: Callable[[int], tuple[pd.DataFrame, pd.Series | None]]
    row_order: Any
    notes: tuple[str, ...] = ()
    dropped_columns: tuple[str, ...] = ()
    modality: Modality = TABULAR
    items: Any = None

    def iter_chunks(self, rows: int = 50_000) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
        """Stream all reference rows (not only the sample) as ``(features, labels)`` chunks.

        Args:
            rows: Maximum rows per chunk.

        Yields:
            Feature frames restricted to :attr:`columns`, with their labels or None.
        """
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        return self.chunk_source(rows)

    def draw(self, rows: int) -> tuple[pd.DataFrame, pd.Series | None]:
        """Return a seeded sample of ``rows`` rows from all reference rows (a new copy).

        Use it when a step can afford more rows than :attr:`sample` holds (TreeSHAP
        explains up to 10,000 rows). The draw is stratified like the sample, and the
        sample is its prefix: row ``i`` of the sample is row ``i`` of every draw.

        Args:
            rows: Number of rows wanted; all rows are returned when there are fewer.

        Returns:
            ``(features, labels)`` with a fresh 0..n-1 index.
        """
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        return self.row_source(rows)

    def positions(self, rows: int) -> Any:
        """Positions in the reference data of the first ``rows`` rows of any draw.

        Row ``i`` of :attr:`sample` (or of ``draw(n)``) is row ``positions(n)[i]`` of the
        data the user gave, so per-row results can point back to it.
        """
        return self.row_order[:rows]

    def copy(self) -> ReferenceData:
        """Return a copy whose sample a step may modify without affecting other steps."""
        labels = None if self.sample_labels is None else self.sample_labels.copy()
        items = self.items.copy() if hasattr(self.items, "copy") else self.items
        return dataclasses.replace(
            self, sample=self.sample.copy(), sample_labels=labels, items=items
        )

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary for ``status.json``."""
        return {
            "source": self.source,
            "n_rows": self.n_rows,
            "sample_rows": len(self.sample),
            "n_columns": len(self.columns),
            "has_labels": self.sample_labels is not None,
            "modality": self.modality.to_dict(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ModelContext:
    """What a step may know about the model that was just logged.

    Attributes:
        flavor: The MLflow flavor's short name (``sklearn``, ``pytorch``, ``pyfunc``...).
        model: The in-memory model object passed to ``log_model`` (for pyfunc, the
            ``python_model``), or None when only the stored model is available.
        model_id: The LoggedModel id (``m-...``).
        model_uri: ``models:/<model_id>``.
        run_id: The run the model was logged in, or None.
        artifact_location: The LoggedModel's artifact location.
        signature: The model's ``mlflow.models.ModelSignature``, or None.
        input_example: The input example given to ``log_model``, or None.
        registered_model_name: Name of the model version registered by the same call.
        registered_model_version: Version registered by the same call.
        reference: The reference data, or None (see ``reference_missing_reason``).
        reference_missing_reason: Why there is no reference data.
        seed: Seed every random choice must derive from.
        options: This step's own options (``autolog(step_options={name: {...}})``).
    """

    flavor: str
    model: Any
    model_id: str
    model_uri: str
    run_id: str | None = None
    artifact_location: str | None = None
    signature: Any = None
    input_example: Any = None
    registered_model_name: str | None = None
    registered_model_version: str | None = None
    reference: ReferenceData | None = None
    reference_missing_reason: str | None = None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def modality(self) -> Modality:
        """What kind of input the model takes, as decided from its reference data
        (tabular when there is none)."""
        return self.reference.modality if self.reference is not None else TABULAR

    def load_pyfunc(self) -> Any:
        """Load the stored model as an ``mlflow.pyfunc.PyFuncModel`` (slower than ``model``)."""
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(self.model_uri)


@dataclass(frozen=True)
class StepWorkspace:
    """Where and for how long a step may work.

    Attributes:
        out_dir: The step's own, initially empty folder; everything written here is
            stored under ``clarity/<folder>/`` when the step succeeds.
        root: The staging ``clarity/`` folder holding the outputs of steps that already
            finished (read-only for this step).
        budget_s: This step's share of the remaining time budget, a sizing hint: divisible
            work should plan for it and stop by :attr:`deadline` at the latest.
        deadline: ``time.monotonic()`` value after which the step is abandoned: its thread
            is left running, its files are dropped and its status is ``timed_out``.
        upstream: The results of the steps named in the spec's ``after``, by name, for
            those that ran before this one (any status; check ``status``). Their
            in-memory values are in ``upstream[name].results``.
    """

    out_dir: Path
    root: Path
    budget_s: float
    deadline: float
    upstream: Mapping[str, StepResult] = field(default_factory=_empty)

    def seconds_left(self) -> float:
        """Seconds until :attr:`deadline` (negative once it has passed)."""
        return self.deadline - time.monotonic()

    def work_until(self, share: float = 1.0, margin: float = WRITE_MARGIN) -> float:
        """When divisible work should stop, as a ``time.monotonic()`` value.

        That is ``share`` of this step's budget (or of the time left, if less) from now,
        but never later than the deadline less ``margin`` of the time left, which stays
        for writing files.
        Start a unit of work (a chunk of rows) only if it is expected to end by then.

        Args:
            share: Fraction of :attr:`budget_s` this part of the work may use.
            margin: Fraction of the time left before the deadline kept in reserve.
        """
        now = time.monotonic()
        left = max(0.0, self.deadline - now)
        return min(now + share * min(self.budget_s, left), self.deadline - margin * left)


@dataclass(frozen=True)
class StepOutput:
    """What a step returns besides the files it wrote.

    Attributes:
        metrics: Numbers logged as LoggedModel metrics; keys are prefixed with
            ``clarity.<step>.``.
        tags: Short strings set as LoggedModel tags; keys are prefixed with
            ``clarity.<step>.``.
        summary: JSON-ready facts recorded for the step in ``status.json``.
        results: In-memory values for the steps that run after this one (``after=``) and
            for report sections (``clarity_report_sections``): arrays, frames, dicts.
            Never stored; store what should last as files in ``workspace.out_dir``.
        truncated: Why the step stopped before all the work it wanted, and what it did
            (``"time budget: explained 1,180 of 2,000 rows"``), or None. A step that
            divides its work stops at its deadline, keeps what it has and says so here;
            its status stays ``ok``.
    """

    metrics: Mapping[str, float] = field(default_factory=_empty)
    tags: Mapping[str, str] = field(default_factory=_empty)
    summary: Mapping[str, Any] = field(default_factory=_empty)
    results: Mapping[str, Any] = field(default_factory=_empty)
    truncated: str | None = None


def _always(ctx: ModelContext) -> bool:
    return True


def takes_tables(ctx: ModelContext) -> bool:
    """A ``supports`` for steps that work on tables only (not images, text or tokens)."""
    return ctx.modality.kind == "tabular"


@dataclass(frozen=True)
class StepSpec:
    """A unit of work a plugin registers. Use :class:`ExplainerSpec` or :class:`MonitorSpec`.

    Attributes:
        name: Unique step name; third parties should use ``<package>.<name>``.
        run: Does the work: ``run(ctx, workspace) -> StepOutput | None``. It may raise
            :class:`StepSkipped` with a reason.
        supports: Pure, fast test whether the step applies to a context.
        requires: Import names checked before running; a missing one skips the step.
        needs_data: Whether the step needs reference data (skipped without it).
        folder: Output folder under ``clarity/``; defaults to ``explanations/<name>``
            for explainers and ``monitoring/<name>`` for monitors.
        description: One line shown by ``mlflow-clarity plugins``.
        after: Names of steps this one runs after; their results reach ``run`` in
            ``workspace.upstream``. A name that is not registered is ignored.
    """

    kind: ClassVar[StepKind]
    default_parent: ClassVar[str]

    name: str
    run: Callable[[ModelContext, StepWorkspace], StepOutput | None]
    supports: Callable[[ModelContext], bool] = _always
    requires: tuple[str, ...] = ()
    needs_data: bool = True
    folder: str | None = None
    description: str = ""
    after: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not STEP_NAME.fullmatch(self.name):
            raise ValueError(
                f"invalid step name {self.name!r}: use lower-case letters, digits and "
                "'_', '.' or '-' (third parties: '<package>.<name>')"
            )
        if isinstance(self.after, str) or not all(isinstance(a, str) for a in self.after):
            raise TypeError(f"step {self.name!r}: after must be a tuple of step names")
        if self.name in self.after:
            raise ValueError(f"step {self.name!r} cannot run after itself")
        folder = self.output_folder
        if folder.startswith("/") or ".." in folder.split("/") or "\\" in folder:
            raise ValueError(f"step {self.name!r}: folder {folder!r} must be a relative path")

    @property
    def output_folder(self) -> str:
        """The folder under ``clarity/`` this step's files are stored in."""
        return self.folder or f"{self.default_parent}/{self.name}"


@dataclass(frozen=True)
class ExplainerSpec(StepSpec):
    """A step that explains the model (registered by ``clarity_explainers``)."""

    kind: ClassVar[StepKind] = "explainer"
    default_parent: ClassVar[str] = EXPLANATIONS


@dataclass(frozen=True)
class MonitorSpec(StepSpec):
    """A step that profiles data for monitoring (registered by ``clarity_monitors``)."""

    kind: ClassVar[StepKind] = "monitor"
    default_parent: ClassVar[str] = MONITORING


@dataclass(frozen=True)
class StepResult:
    """What happened to one step.

    Attributes:
        name: The step's name.
        kind: ``explainer`` or ``monitor``.
        plugin: The plugin that registered it.
        status: ``ok``, ``skipped``, ``failed`` or ``timed_out``.
        reason: Why it was skipped, failed or timed out.
        duration_s: Wall time spent.
        artifacts: Stored files, relative to ``clarity/``.
        metrics: Metrics the step produced (already prefixed).
        tags: Tags the step produced (already prefixed).
        summary: The step's own summary.
        results: The step's in-memory values (:attr:`StepOutput.results`); not written
            to ``status.json`` and empty in reports read back from it.
        truncated: Why an ``ok`` step stopped early with partial results, or None.
    """

    name: str
    kind: StepKind
    plugin: str
    status: StepStatus
    reason: str | None = None
    duration_s: float = 0.0
    artifacts: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=_empty)
    tags: Mapping[str, str] = field(default_factory=_empty)
    summary: Mapping[str, Any] = field(default_factory=_empty)
    results: Mapping[str, Any] = field(default_factory=_empty, repr=False, compare=False)
    truncated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (without the in-memory ``results``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "status": self.status,
            "reason": self.reason,
            "truncated": self.truncated,
            "duration_s": round(self.duration_s, 4),
            "artifacts": list(self.artifacts),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "summary": dict(self.summary),
        }


def overall_status(steps: tuple[StepResult, ...]) -> RunStatus:
    """Summarise step results: ``ok``, ``partial``, ``failed`` or ``skipped``.

    Args:
        steps: The results of every step of a run.

    Returns:
        ``skipped`` when nothing ran, ``failed`` when every step that ran failed,
        ``partial`` when some failed and some succeeded, else ``ok``.
    """
    ran = [s for s in steps if s.status != "skipped"]
    if not ran:
        return "skipped"
    bad = [s for s in ran if s.status in ("failed", "timed_out")]
    if not bad:
        return "ok"
    return "failed" if len(bad) == len(ran) else "partial"


@dataclass(frozen=True)
class RunReport:
    """The outcome of one pipeline run, written as ``clarity/status.json``.

    Attributes:
        status: Overall status (see :func:`overall_status`).
        model_id: The LoggedModel the results belong to.
        steps: One result per registered step.
        started_at: ISO-8601 UTC start time.
        duration_s: Wall time of the whole run.
        seed: The seed used.
        config: The effective configuration.
        versions: Versions of the libraries involved.
        reference: Summary of the reference data, or the reason there was none.
        storage_error: Why storing the results failed, if it did.
    """

    status: RunStatus
    model_id: str
    steps: tuple[StepResult, ...]
    started_at: str
    duration_s: float
    seed: int
    config: Mapping[str, Any]
    versions: Mapping[str, str]
    reference: Mapping[str, Any]
    storage_error: str | None = None

    def step(self, name: str) -> StepResult:
        """Return the result of the step called ``name``.

        Raises:
            KeyError: No step of that name ran.
        """
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(name)

    def results_of(self, name: str) -> Mapping[str, Any]:
        """Return the in-memory results of the step called ``name`` when it ran and
        succeeded (``ok``), else an empty mapping (not selected, disabled, skipped,
        failed)."""
        for result in self.steps:
            if result.name == name:
                return result.results if result.status == "ok" else {}
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the content of ``status.json``)."""
        return {
            "schema_version": 1,
            "status": self.status,
            "model_id": self.model_id,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 4),
            "seed": self.seed,
            "steps": [s.to_dict() for s in self.steps],
            "reference": dict(self.reference),
            "config": dict(self.config),
            "versions": dict(self.versions),
            "storage_error": self.storage_error,
        }


@dataclass(frozen=True)
class ReportSection:
    """A section a plugin adds to ``report.html`` and ``model_card.md``.

    Everything is plain text: the report escapes it for HTML and for markdown, so a
    value that came from data cannot inject markup.

    Attributes:
        title: The section's heading.
        paragraphs: Text paragraphs, in order.
        columns: Header of an optional table.
        rows: The table's rows, each as long as ``columns`` (values are shown with
            ``str``).
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError("a report section needs a non-empty title")
        if isinstance(self.paragraphs, str):
            raise TypeError("paragraphs must be a tuple of strings, not one string")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"section {self.title!r}: a row has {len(row)} values for "
                    f"{len(self.columns)} columns"
                )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (as stored in ``clarity/report_sections.json``)."""
        return {
            "title": self.title,
            "paragraphs": [str(p) for p in self.paragraphs],
            "columns": [str(c) for c in self.columns],
            "rows": [[str(v) for v in row] for row in self.rows],
        }
