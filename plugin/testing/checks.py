"""Conformance checks: does a step keep the plugin contract?

Each check is a small function returning the problems it found (empty when none);
:func:`check_explainer` and :func:`check_monitor` run them all and raise one
:class:`ConformanceError` listing every problem.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import json
import math
import numbers
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlflow_clarity.exceptions import ClarityWarning
from mlflow_clarity.manager import BUILTIN_PLUGINS, get_plugin_manager
from mlflow_clarity.testing import snapshot
from mlflow_clarity.testing.context import default_context
from mlflow_clarity.testing.running import (
    DEFAULT_BUDGET_S,
    StepRun,
    execute,
    plugin_name,
    results_of,
    run_steps,
)
from mlflow_clarity.types import (
    STEP_NAME,
    ExplainerSpec,
    ModelContext,
    MonitorSpec,
    StepOutput,
    StepResult,
    StepSpec,
    StepWorkspace,
)

HEAVY_MODULES: tuple[str, ...] = ("shap", "lime", "matplotlib", "torch", "tensorflow")
"""Libraries a plugin module must not import when it is imported (registration)."""
SUPPORTS_LIMIT_S = 1.0
"""How long ``supports(ctx)`` may take (generous: it should take microseconds)."""
DEADLINE_BUDGET_S = 1.5
"""The budget of the run that checks a step stops by its deadline."""
TEXT_SUFFIXES = frozenset({".json", ".jsonl", ".csv", ".txt", ".md", ".html", ".yaml", ".yml"})
"""Files compared byte for byte between two runs with the same seed."""
_IMPORT_TIMEOUT_S = 120.0
_PROBE = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))"
)


class ConformanceError(AssertionError):
    """A step breaks the plugin contract; the message lists every problem found.

    Attributes:
        problems: One sentence per problem.
    """

    def __init__(self, name: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(f"step {name!r} breaks the plugin contract:\n{listed}")


@dataclass(frozen=True)
class Conformance:
    """The outcome of a conformance check that found no problem.

    Attributes:
        name: The step's name.
        result: The result of its first run on the check's context (None when the
            checks stopped before running it); ``skipped`` when the step does not apply
            there or raised ``StepSkipped``, which is allowed.
        passed: The checks that ran and found nothing.
        not_checked: The checks that could not run, each with why.
    """

    name: str
    result: StepResult | None
    passed: tuple[str, ...]
    not_checked: tuple[str, ...]

    @property
    def ran(self) -> bool:
        """Whether the step ran to completion (so every check of its output ran)."""
        return self.result is not None and self.result.status == "ok"


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    def record(self, check: str, problems: list[str]) -> None:
        self.problems.extend(problems)
        if not problems:
            self.passed.append(check)

    def skip(self, checks: Iterable[str], why: str) -> None:
        self.not_checked.extend(f"{check}: {why}" for check in checks)


@dataclass(frozen=True)
class _Observed:
    """A run through the pipeline, with what ``run`` returned and did to its context."""

    run: StepRun
    returned: bool
    output: Any
    changes: tuple[str, ...]
    budget_s: float

    @property
    def result(self) -> StepResult:
        return self.run.result


class _ImportNotChecked(Exception):
    """The module of a step cannot be imported on its own; the message says why."""


# --- the checks ------------------------------------------------------------------------


def name_problems(spec: Any, kind: type[StepSpec]) -> list[str]:
    """The spec is a ``kind`` whose name is valid and not a built-in step's.

    Args:
        spec: What the plugin registered.
        kind: ``ExplainerSpec`` or ``MonitorSpec``.

    Returns:
        The problems found.
    """
    if not isinstance(spec, StepSpec):
        return [f"{type(spec).__name__} is not a step spec; register a {kind.__name__}"]
    problems = []
    if not isinstance(spec, kind):
        problems.append(f"its type is {type(spec).__name__}, expected {kind.__name__}")
    if not isinstance(spec.name, str) or not STEP_NAME.fullmatch(spec.name):
        problems.append(
            f"name {spec.name!r} does not match {STEP_NAME.pattern} (third parties: "
            "'<package>.<name>')"
        )
    builtin = {
        r.spec.name: r.spec.run
        for r in get_plugin_manager().steps()
        if r.origin.plugin in BUILTIN_PLUGINS
    }
    if spec.name in builtin and builtin[spec.name] is not spec.run:
        problems.append(f"name {spec.name!r} is a built-in step's; the built-in is kept")
    return problems


def _modules(spec: StepSpec) -> list[str]:
    callables = (spec.run, spec.supports)
    names = {getattr(c, "__module__", None) for c in callables} - {None}
    return sorted(n for n in names if n != "mlflow_clarity.types")


def _heavy_imports_of(module: str) -> list[str]:
    """Heavy libraries imported by importing ``module`` in a fresh interpreter."""
    try:
        importable = module != "__main__" and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        importable = False
    if not importable:
        raise _ImportNotChecked(f"module {module!r} is not importable by name")
    path = os.pathsep.join(p for p in sys.path if p)
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *HEAVY_MODULES],
        capture_output=True,
        text=True,
        timeout=_IMPORT_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": path},
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise _ImportNotChecked(f"module {module!r} fails to import on its own: {last}")
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def import_problems(spec: StepSpec) -> list[str]:
    """Importing the modules of ``spec.run`` and ``spec.supports`` imports nothing heavy.

    Each module is imported in a fresh interpreter (with this one's ``sys.path``), then
    :data:`HEAVY_MODULES` are looked up in ``sys.modules``; a module defined in
    ``__main__`` or not importable by name cannot be checked.

    Raises:
        _ImportNotChecked: A module cannot be imported on its own.
    """
    problems = []
    for module in _modules(spec):
        heavy = _heavy_imports_of(module)
        if heavy:
            problems.append(
                f"importing {module} imports {', '.join(heavy)}; import heavy libraries "
                "inside run(), not at module level"
            )
    return problems


def _private(ctx: ModelContext) -> ModelContext:
    """A context with its own copy of the sample (the full data is shared)."""
    reference = None if ctx.reference is None else ctx.reference.copy()
    return dataclasses.replace(ctx, reference=reference)


class _SupportsRaised(Exception):
    """``supports(ctx)`` raised; the message names the error."""


def _ask(spec: StepSpec, ctx: ModelContext) -> Any:
    try:
        return spec.supports(ctx)
    except Exception as exc:  # becomes one of the problems listed
        raise _SupportsRaised(f"{type(exc).__name__}: {exc}") from exc


def supports_problems(spec: StepSpec, ctx: ModelContext) -> list[str]:
    """``supports(ctx)`` returns a bool, changes nothing and takes well under a second.

    Steps that do not need data are also asked about a context without reference data.
    """
    contexts = [("the context", ctx)]
    if not spec.needs_data:
        missing = dataclasses.replace(ctx, reference=None, reference_missing_reason="none")
        contexts.append(("a context without reference data", missing))
    problems = []
    for label, context in contexts:
        private = _private(context)
        before = snapshot.take(private)
        started = time.perf_counter()
        try:
            answer = _ask(spec, private)
        except _SupportsRaised as exc:
            problems.append(f"supports() raised {exc} on {label}")
            continue
        elapsed = time.perf_counter() - started
        if not isinstance(answer, bool):
            problems.append(f"supports() returned {type(answer).__name__}, not a bool")
        if elapsed > SUPPORTS_LIMIT_S:
            problems.append(
                f"supports() took {elapsed:.2f}s on {label}; it must be cheap (under "
                f"{SUPPORTS_LIMIT_S:g}s; no model calls, no I/O)"
            )
        changed = snapshot.changes(before, private)
        if changed:
            problems.append(f"supports() changed {', '.join(changed)}; it must be pure")
    return problems


def _metric_problems(metrics: Mapping[Any, Any]) -> list[str]:
    problems = []
    for key, value in dict(metrics).items():
        if not isinstance(key, str):
            problems.append(f"metric key {key!r} is not a string")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            problems.append(f"metric {key!r} is a {type(value).__name__}, not a number")
        elif not math.isfinite(value):
            problems.append(f"metric {key!r} is {value}; metrics must be finite")
    return problems


def _tag_problems(tags: Mapping[Any, Any]) -> list[str]:
    return [
        f"tag {key!r} is {type(key).__name__}: {type(value).__name__}; tags are str: str"
        for key, value in dict(tags).items()
        if not isinstance(key, str) or not isinstance(value, str)
    ]


def output_problems(observed: _Observed) -> list[str]:
    """The run finished in time and returned a StepOutput (or None) with finite metrics and
    string tags."""
    result = observed.result
    if result.status == "timed_out":
        return [f"it did not finish within its {observed.budget_s:g}s budget"]
    if observed.returned and not isinstance(observed.output, (StepOutput, type(None))):
        kind = type(observed.output).__name__
        return [f"run() returned a {kind}; return a StepOutput, or None"]
    output = observed.output or StepOutput()
    problems = _metric_problems(output.metrics) + _tag_problems(output.tags)
    if result.status == "failed" and not problems:
        problems.append(f"run() failed: {result.reason}")
    return problems


def context_problems(observed: Iterable[_Observed]) -> list[str]:
    """``run`` left the context it was given as it was."""
    changed = sorted({change for run in observed for change in run.changes})
    if not changed:
        return []
    return [f"run() changed {', '.join(changed)}; copy before modifying"]


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def artifact_problems(spec: StepSpec, run: StepRun, before: set[str]) -> list[str]:
    """The artifacts are relative paths inside the step's folder, and the step wrote
    nowhere else in ``clarity/`` (``before``: the files there before it ran)."""
    folder = spec.output_folder
    problems = []
    for artifact in run.result.artifacts:
        path = PurePosixPath(artifact)
        if path.is_absolute() or ".." in path.parts or not artifact.startswith(f"{folder}/"):
            problems.append(f"artifact {artifact!r} is not inside the step's folder {folder!r}")
        elif not (run.folder / artifact).is_file():
            problems.append(f"artifact {artifact!r} was not stored")
    stray = sorted(_files(run.folder) - before - set(run.result.artifacts))
    if stray:
        problems.append(
            f"it wrote {', '.join(stray)} in workspace.root, which is read-only; write to "
            "workspace.out_dir"
        )
    return problems


def _ignored(name: str, ignore: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in ignore)


def _step_files(spec: StepSpec, run: StepRun, ignore: tuple[str, ...]) -> dict[str, Path]:
    prefix = f"{spec.output_folder}/"
    files = {a.removeprefix(prefix): path for a, path in run.files.items()}
    return {name: path for name, path in files.items() if not _ignored(name, ignore)}


def _first_difference(first: Path, second: Path) -> str:
    a = first.read_text(errors="replace").splitlines()
    b = second.read_text(errors="replace").splitlines()
    for line, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f" (line {line}: {x.strip()[:60]!r} then {y.strip()[:60]!r})"
    return f" ({len(a)} then {len(b)} lines)"


def _value_problems(what: str, first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    return [
        f"{what} {key!r} was {first.get(key)!r} then {second.get(key)!r}"
        for key in sorted(set(first) | set(second), key=str)
        if first.get(key) != second.get(key)
    ]


def determinism_problems(
    spec: StepSpec, first: _Observed, second: _Observed, ignore: tuple[str, ...]
) -> list[str]:
    """Two runs with the same seed write the same files, the same text files byte for
    byte, and return the same metrics and tags (``ignore``: glob patterns of file paths
    relative to the step's folder, and of metric and tag names)."""
    if second.result.status != first.result.status:
        return [
            f"a second run with the same seed ended {second.result.status} "
            f"({second.result.reason}), the first {first.result.status}"
        ]
    a = _step_files(spec, first.run, ignore)
    b = _step_files(spec, second.run, ignore)
    problems = []
    if set(a) != set(b):
        problems.append(
            f"two runs with the same seed wrote different files: {sorted(set(a) ^ set(b))}"
        )
    for name in sorted(set(a) & set(b)):
        if (
            Path(name).suffix.lower() in TEXT_SUFFIXES
            and a[name].read_bytes() != b[name].read_bytes()
        ):
            problems.append(
                f"{name} differs between two runs with the same seed"
                f"{_first_difference(a[name], b[name])}; derive every random choice from "
                "ctx.seed (or pass ignore= for a file that records times)"
            )
    outputs = [
        o.output if isinstance(o.output, StepOutput) else StepOutput() for o in (first, second)
    ]
    for what in ("metrics", "tags"):
        values = [
            {k: v for k, v in dict(getattr(o, what)).items() if not _ignored(str(k), ignore)}
            for o in outputs
        ]
        problems += _value_problems(what[:-1], *values)
    return problems


def deadline_problems(result: StepResult, budget_s: float) -> list[str]:
    """A run given ``budget_s`` stopped by its deadline and did not fail for lack of time."""
    if result.status == "timed_out":
        return [
            f"it ignored its deadline: with a {budget_s:g}s budget it was still running at "
            "workspace.deadline; check workspace.seconds_left() and stop early, keeping "
            "what is done (or raise StepSkipped)"
        ]
    if result.status == "failed":
        return [f"with a {budget_s:g}s budget it failed ({result.reason}); stop early instead"]
    return []


# --- running the step under observation -------------------------------------------------


def _observed_run(
    spec: StepSpec,
    ctx: ModelContext,
    staging: Path,
    upstream: Mapping[str, StepResult],
    budget_s: float,
) -> _Observed:
    """Run the step through the pipeline, recording its return value and what it changed."""
    seen: dict[str, Any] = {}

    def observe(step_ctx: ModelContext, workspace: StepWorkspace) -> Any:
        before = snapshot.take(step_ctx)
        try:
            seen["output"] = spec.run(step_ctx, workspace)
            return seen["output"]
        finally:
            seen["changes"] = tuple(snapshot.changes(before, step_ctx))

    result = execute(
        dataclasses.replace(spec, run=observe),
        _private(ctx),  # supports(ctx) gets the run's context: keep the caller's intact
        staging,
        plugin=plugin_name(spec),
        options=ctx.options,
        budget_s=budget_s,
        upstream=upstream,
        strict=False,
    )
    run = StepRun(result, staging)
    return _Observed(run, "output" in seen, seen.get("output"), seen.get("changes", ()), budget_s)


def _dependencies(spec: StepSpec) -> list[StepSpec]:
    """The registered steps ``spec`` runs after, and theirs, recursively."""
    registered = {r.spec.name: r.spec for r in get_plugin_manager().steps()}
    found: dict[str, StepSpec] = {}
    pending = list(spec.after)
    while pending:
        name = pending.pop()
        if name in found or name == spec.name or name not in registered:
            continue
        found[name] = registered[name]
        pending.extend(registered[name].after)
    return list(found.values())


def _upstream(
    spec: StepSpec,
    ctx: ModelContext,
    upstream: Mapping[str, StepResult | StepRun] | None,
    staging: Path,
    budget_s: float,
) -> dict[str, StepResult]:
    """The given upstream results, else those of the registered steps ``spec`` runs after,
    run into ``staging`` with their default options, as the pipeline would run them first."""
    staging.mkdir(parents=True)
    if upstream is not None:
        return results_of(upstream)
    dependencies = _dependencies(spec)
    defaults = {d.name: {} for d in dependencies}  # ctx.options are the checked step's
    runs = run_steps(
        dependencies, ctx, budget_s=budget_s, staging=staging, strict=False, step_options=defaults
    )
    return results_of(runs)


def _staged(upstream_folder: Path, target: Path) -> set[str]:
    """A fresh ``clarity/`` folder holding the upstream steps' files; return their paths."""
    shutil.copytree(upstream_folder, target)
    return _files(target)


_RUN_CHECKS = ("output", "context", "artifacts", "determinism", "deadline")


def _check_runs(
    spec: StepSpec,
    ctx: ModelContext,
    findings: _Findings,
    tmp: Path,
    *,
    upstream: Mapping[str, StepResult | StepRun] | None,
    ignore: tuple[str, ...],
    budget_s: float,
    deadline_s: float | None,
) -> StepResult:
    results = _upstream(spec, ctx, upstream, tmp / "upstream", budget_s)
    before = _staged(tmp / "upstream", tmp / "first")
    first = _observed_run(spec, ctx, tmp / "first", results, budget_s)
    if first.result.status == "skipped":
        findings.skip(_RUN_CHECKS, f"the step skipped: {first.result.reason}")
        return first.result
    findings.record("output", output_problems(first))
    if first.result.status != "ok":
        findings.record("context", context_problems([first]))
        findings.skip(_RUN_CHECKS[2:], f"the run ended {first.result.status}")
        return first.result
    findings.record("artifacts", artifact_problems(spec, first.run, before))
    _staged(tmp / "upstream", tmp / "second")
    second = _observed_run(spec, ctx, tmp / "second", results, budget_s)
    findings.record("context", context_problems([first, second]))
    findings.record("determinism", determinism_problems(spec, first, second, ignore))
    if deadline_s is None:
        findings.skip(["deadline"], "turned off (deadline_s=None)")
        return first.result
    _staged(tmp / "upstream", tmp / "deadline")
    hurried = execute(  # not observed: taking snapshots would eat into the short budget
        spec,
        _private(ctx),
        tmp / "deadline",
        plugin=plugin_name(spec),
        options=ctx.options,
        budget_s=deadline_s,
        upstream=results,
        strict=False,
    )
    findings.record("deadline", deadline_problems(hurried, deadline_s))
    return first.result


def _check(
    spec: Any,
    kind: type[StepSpec],
    ctx: ModelContext | None,
    *,
    upstream: Mapping[str, StepResult | StepRun] | None,
    ignore: Iterable[str],
    budget_s: float,
    deadline_s: float | None,
) -> Conformance:
    findings = _Findings()
    findings.record("name", name_problems(spec, kind))
    name = getattr(spec, "name", repr(spec))
    if not isinstance(spec, StepSpec) or findings.problems:
        raise ConformanceError(name, findings.problems)
    try:
        findings.record("imports", import_problems(spec))
    except _ImportNotChecked as exc:
        findings.skip(["imports"], str(exc))
    ctx = default_context() if ctx is None else ctx
    findings.record("supports", supports_problems(spec, ctx))
    with tempfile.TemporaryDirectory(prefix="clarity-check-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ClarityWarning)  # the failures become problems
        result = _check_runs(
            spec,
            ctx,
            findings,
            Path(tmp),
            upstream=upstream,
            ignore=tuple(ignore),
            budget_s=budget_s,
            deadline_s=deadline_s,
        )
    if findings.problems:
        raise ConformanceError(name, findings.problems)
    return Conformance(name, result, tuple(findings.passed), tuple(findings.not_checked))


def check_explainer(
    spec: Any,
    ctx: ModelContext | None = None,
    *,
    upstream: Mapping[str, StepResult | StepRun] | None = None,
    ignore: Iterable[str] = (),
    budget_s: float = DEFAULT_BUDGET_S,
    deadline_s: float | None = DEADLINE_BUDGET_S,
) -> Conformance:
    """Check that an explainer keeps the plugin contract; raise listing every problem.

    The checks (each a small function of :mod:`mlflow_clarity.testing.checks`):

    - ``name``: ``spec`` is an ``ExplainerSpec``, its name matches ``STEP_NAME`` and is not a
      built-in step's.
    - ``imports``: importing the modules of ``spec.run`` and ``spec.supports`` in a fresh
      interpreter imports none of :data:`HEAVY_MODULES` (registration must be cheap);
      not checked for modules that are not importable by name (``__main__``).
    - ``supports``: ``supports(ctx)`` returns a ``bool``, changes nothing in the context
      (fields, sample, labels, all reference rows) and takes under
      :data:`SUPPORTS_LIMIT_S` seconds.
    - ``output``: run through the pipeline's guard with ``budget_s``, the step returns a
      ``StepOutput`` or None with finite numeric metrics and string tags. Raising
      ``StepSkipped`` (or not applying to ``ctx``) is allowed: the checks of the run are
      then reported in ``not_checked``.
    - ``context``: ``run`` does not change the context it is given (a step gets its own
      copy of the sample, but the full reference rows are shared).
    - ``artifacts``: its files are stored inside its own folder, nothing elsewhere.
    - ``determinism``: a second run with the same seed writes the same files, its text
      files (``.json``, ``.csv``, ``.html``...) byte for byte, and the same metrics and tags.
    - ``deadline``: a run with a budget of ``deadline_s`` seconds does not time out (nor
      fail); run after the others, so imports are already warm.

    The steps named in ``spec.after`` run first, as in the pipeline: the registered steps
    of those names (built-ins and installed plugins, with their default options), unless
    ``upstream`` is given. ``ctx.options`` are the checked step's options. Each call of
    ``supports`` and ``run`` gets its own copy of the sample, so a step that changes the
    sample leaves ``ctx`` as it was.

    Args:
        spec: The spec the plugin registers.
        ctx: The context to run on; None uses
            :func:`~mlflow_clarity.testing.default_context` (a logistic regression on
            300 rows of sklearn's breast-cancer data; needs scikit-learn).
        upstream: Results (or runs) of the steps named in ``spec.after``, by name.
        ignore: Glob patterns of files (paths relative to the step's folder) and of
            metric and tag names that may differ between runs (they record times).
        budget_s: The budget of each ordinary run, in seconds.
        deadline_s: The budget of the deadline run; None skips that check.

    Returns:
        Which checks passed and which could not run.

    Raises:
        ConformanceError: An ``AssertionError`` listing every problem found.
    """
    return _check(
        spec,
        ExplainerSpec,
        ctx,
        upstream=upstream,
        ignore=ignore,
        budget_s=budget_s,
        deadline_s=deadline_s,
    )


def check_monitor(
    spec: Any,
    ctx: ModelContext | None = None,
    *,
    upstream: Mapping[str, StepResult | StepRun] | None = None,
    ignore: Iterable[str] = (),
    budget_s: float = DEFAULT_BUDGET_S,
    deadline_s: float | None = DEADLINE_BUDGET_S,
) -> Conformance:
    """Check that a monitor keeps the plugin contract; raise listing every problem.

    The same checks, arguments and result as :func:`check_explainer`, for a
    ``MonitorSpec``.
    """
    return _check(
        spec,
        MonitorSpec,
        ctx,
        upstream=upstream,
        ignore=ignore,
        budget_s=budget_s,
        deadline_s=deadline_s,
    )
