"""The pipeline: run each registered step in its own guard, thread and time budget."""

from __future__ import annotations

import contextvars
import dataclasses
import importlib.util
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlflow_clarity.config import ClarityConfig
from mlflow_clarity.errors import logger, report_failure
from mlflow_clarity.manager import RegisteredStep
from mlflow_clarity.process_settings import SharedSetting
from mlflow_clarity.types import ModelContext, StepOutput, StepResult, StepSkipped, StepWorkspace

_REASON_LIMIT = 500


class StepTimeoutError(TimeoutError):
    """A step did not finish within the time budget."""


def _precheck(registered: RegisteredStep, ctx: ModelContext, config: ClarityConfig) -> str | None:
    """Return why a step must be skipped before it starts, or None."""
    spec = registered.spec
    if config.steps is not None and spec.name not in config.steps:
        return "not selected (MLFLOW_CLARITY_STEPS / autolog(steps=...))"
    missing = [name for name in spec.requires if importlib.util.find_spec(name) is None]
    if missing:
        return f"requires {', '.join(missing)}, which is not installed"
    if spec.needs_data and ctx.reference is None:
        return ctx.reference_missing_reason or "no reference data"
    if not spec.supports(ctx):
        model, kind = type(ctx.model).__name__, ctx.modality.kind
        return f"does not apply to this model (flavor {ctx.flavor!r}, {model}, {kind} input)"
    return None


def _prefixed(step: str, values: Any, *, numeric: bool) -> dict[str, Any]:
    prefixed: dict[str, Any] = {}
    for key, value in dict(values or {}).items():
        if numeric:
            value = float(value)
            if not math.isfinite(value):
                logger.info("step %r: metric %r is %s; not logged", step, key, value)
                continue
        else:
            value = str(value)
        prefixed[f"clarity.{step}.{key}"] = value
    return prefixed


def _call_in_thread(
    spec_run: Any, ctx: ModelContext, workspace: StepWorkspace
) -> tuple[bool, Any, BaseException | None]:
    """Run a step in a daemon thread; return (finished, output, exception)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["output"] = spec_run(ctx, workspace)
        except BaseException as exc:  # handed to the caller's guard
            box["error"] = exc

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), daemon=True)
    thread.name = f"mlflow-clarity-step-{workspace.out_dir.name}"
    thread.start()
    thread.join(max(0.0, workspace.deadline - time.monotonic()))
    if thread.is_alive():
        return False, None, None
    return True, box.get("output"), box.get("error")


def _one_blas_thread() -> Callable[[], None]:
    """Put every loaded BLAS library (OpenBLAS, MKL...) on one thread; return the undo.

    Steps call models and explainers many times on moderate matrices, where BLAS threads
    gain little and stall outright when another process keeps a core busy (each call
    waits for a thread that is not scheduled). Permutation SHAP of an MLP on 2 cores, one
    of them busy elsewhere: 2.5x faster on one thread; on an idle machine, 10-25 % slower.
    OpenMP is left alone: native TreeSHAP (xgboost, lightgbm) gains from its threads,
    busy machine or not, and the BLAS limit leaves its time unchanged.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas").restore_original_limits


ONE_BLAS_THREAD = SharedSetting(_one_blas_thread)
"""Held while any step runs: set when the first of the pipelines running at the same time
starts a step, lifted when the last one's step returns or is abandoned (an abandoned
thread goes on with the usual thread count)."""


def _collect_files(out_dir: Path, staging: Path, folder: str) -> tuple[str, ...]:
    """Copy a step's files into ``clarity/<folder>/``; a file already there is a conflict."""
    target = staging / folder
    relative = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*") if p.is_file())
    taken = [r.as_posix() for r in relative if (target / r).exists()]
    if taken:
        raise FileExistsError(f"another step already wrote clarity/{folder}/{taken[0]}")
    if relative:
        shutil.copytree(out_dir, target, dirs_exist_ok=True)
    return tuple(f"{folder}/{r.as_posix()}" for r in relative)


def _own_context(
    registered: RegisteredStep, ctx: ModelContext, config: ClarityConfig
) -> ModelContext:
    """A step's own copy of the context, for supports() and run() alike."""
    return dataclasses.replace(
        ctx,
        reference=None if ctx.reference is None else ctx.reference.copy(),
        options=MappingProxyType(dict(config.step_options.get(registered.spec.name, {}))),
    )


def run_step(
    registered: RegisteredStep,
    ctx: ModelContext,
    config: ClarityConfig,
    staging: Path,
    *,
    budget_s: float,
    deadline: float,
    upstream: Mapping[str, StepResult] | None = None,
) -> StepResult:
    """Run one step inside its guard and time limit.

    Args:
        registered: The step and the plugin that registered it.
        ctx: The shared context; the step receives its own copy of the data.
        config: Effective configuration.
        staging: The staging ``clarity/`` folder; the step's files are copied in on success.
        budget_s: The step's share of the remaining budget (a sizing hint).
        deadline: ``time.monotonic()`` value after which the step is abandoned.
        upstream: Results of earlier steps; the step sees those its ``after`` names.

    Returns:
        The step's result; never raises except in strict mode.
    """
    spec = registered.spec
    base = {"name": spec.name, "kind": spec.kind, "plugin": registered.origin.plugin}
    started = time.monotonic()
    step_ctx = _own_context(registered, ctx, config)
    reason = _precheck(registered, step_ctx, config)
    if reason is not None:
        logger.info("mlflow-clarity: step %r skipped: %s", spec.name, reason)
        return StepResult(**base, status="skipped", reason=reason)
    out_dir = Path(tempfile.mkdtemp(prefix=f"clarity-{spec.name}-"))
    wanted = {n: r for n, r in (upstream or {}).items() if n in spec.after}
    workspace = StepWorkspace(
        out_dir=out_dir,
        root=staging,
        budget_s=budget_s,
        deadline=deadline,
        upstream=MappingProxyType(wanted),
    )
    with ONE_BLAS_THREAD.held():
        finished, output, error = _call_in_thread(spec.run, step_ctx, workspace)
    duration = time.monotonic() - started
    if not finished:
        # The thread cannot be killed; it keeps its private folder, which is never stored.
        reason = f"did not finish within its time budget ({deadline - started:.1f}s); abandoned"
        report_failure(
            f"step {spec.name!r}",
            StepTimeoutError(reason),
            consequence="The results of the other steps are kept.",
        )
        return StepResult(**base, status="timed_out", reason=reason, duration_s=duration)
    try:
        if isinstance(error, StepSkipped):
            logger.info("mlflow-clarity: step %r skipped: %s", spec.name, error)
            return StepResult(**base, status="skipped", reason=str(error), duration_s=duration)
        if error is not None:
            if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
                raise error
            what = f"step {spec.name!r} (plugin {registered.origin.plugin!r})"
            return _failed(base, what, error, duration)
        try:
            return _succeeded(
                base, spec.name, spec.output_folder, output, out_dir, staging, duration
            )
        except Exception as exc:
            return _failed(base, f"storing the output of step {spec.name!r}", exc, duration)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _failed(base: dict[str, Any], what: str, exc: Exception, duration: float) -> StepResult:
    report_failure(what, exc, consequence="The results of the other steps are kept.")
    reason = f"{type(exc).__name__}: {exc}"[:_REASON_LIMIT]
    return StepResult(**base, status="failed", reason=reason, duration_s=duration)


def _succeeded(
    base: dict[str, Any],
    name: str,
    folder: str,
    output: Any,
    out_dir: Path,
    staging: Path,
    duration: float,
) -> StepResult:
    if output is None:
        output = StepOutput()
    if not isinstance(output, StepOutput):
        raise TypeError(f"run() returned {type(output).__name__}, expected StepOutput or None")
    artifacts = _collect_files(out_dir, staging, folder)
    if output.truncated:
        logger.info("mlflow-clarity: step %r stopped early: %s", name, output.truncated)
    return StepResult(
        **base,
        status="ok",
        duration_s=duration,
        artifacts=artifacts,
        metrics=MappingProxyType(_prefixed(name, output.metrics, numeric=True)),
        tags=MappingProxyType(_prefixed(name, output.tags, numeric=False)),
        summary=MappingProxyType(dict(output.summary)),
        results=MappingProxyType(dict(output.results)),
        truncated=None if output.truncated is None else str(output.truncated)[:_REASON_LIMIT],
    )


def run_order(steps: Sequence[RegisteredStep]) -> tuple[list[RegisteredStep], list[str]]:
    """Order steps so that each runs after the steps its ``after`` names.

    Registration order is kept wherever the dependencies allow (a stable topological
    sort); names of steps that are not registered are ignored.

    Args:
        steps: The registered steps, in registration order.

    Returns:
        The steps in run order, and the names of steps left out because their
        dependencies form a cycle.
    """
    names = {registered.spec.name for registered in steps}
    pending = list(steps)
    done: set[str] = set()
    ordered: list[RegisteredStep] = []
    while pending:
        ready = next(
            (r for r in pending if all(d in done or d not in names for d in r.spec.after)), None
        )
        if ready is None:
            break
        ordered.append(ready)
        done.add(ready.spec.name)
        pending.remove(ready)
    return ordered, [registered.spec.name for registered in pending]


def _skipped(registered: RegisteredStep, reason: str) -> StepResult:
    spec = registered.spec
    logger.info("mlflow-clarity: step %r skipped: %s", spec.name, reason)
    return StepResult(
        name=spec.name,
        kind=spec.kind,
        plugin=registered.origin.plugin,
        status="skipped",
        reason=reason,
    )


def run_pipeline(
    ctx: ModelContext,
    steps: Sequence[RegisteredStep],
    config: ClarityConfig,
    staging: Path,
) -> tuple[StepResult, ...]:
    """Run every step one at a time within the total time budget.

    Steps run in registration order, each after the steps its ``after`` names (see
    :func:`run_order`); steps whose dependencies form a cycle are skipped with that
    reason. Each step gets an equal share of what is left of the budget as a sizing hint
    (shared among the steps still to run that apply to the model), and the whole
    remaining budget as its hard limit. Once the budget is used up, the
    steps not yet started are skipped with that reason.

    Args:
        ctx: The context of the logged model.
        steps: The steps, in registration order.
        config: Effective configuration (budget, selection, step options).
        staging: The staging ``clarity/`` folder.

    Returns:
        One result per step, in run order (steps left out for a cycle last).
    """
    ordered, cyclic = run_order(steps)
    deadline = time.monotonic() + config.budget_s
    # steps that will skip at once (another model type, not selected) take no share
    applies = [_precheck(r, _own_context(r, ctx, config), config) is None for r in ordered]
    results: dict[str, StepResult] = {}
    for index, registered in enumerate(ordered):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = f"the time budget ({config.budget_s:g}s) was used up before it started"
            results[registered.spec.name] = _skipped(registered, reason)
            continue
        share = remaining / max(1, sum(applies[index:]))
        results[registered.spec.name] = run_step(
            registered,
            ctx,
            config,
            staging,
            budget_s=share,
            deadline=deadline,
            upstream=results,
        )
    for registered in steps:
        if registered.spec.name in cyclic:
            reason = f"its after= dependencies form a cycle ({', '.join(registered.spec.after)})"
            report_failure(
                f"step {registered.spec.name!r}",
                ValueError(reason),
                consequence="It was skipped; the other steps still ran.",
            )
            results[registered.spec.name] = _skipped(registered, reason)
    return tuple(results.values())
