"""Running steps in tests exactly as the pipeline runs them."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlflow_clarity.config import ClarityConfig
from mlflow_clarity.errors import strict_mode
from mlflow_clarity.manager import PluginOrigin, RegisteredStep
from mlflow_clarity.pipeline import run_order
from mlflow_clarity.pipeline import run_step as pipeline_run_step
from mlflow_clarity.types import ModelContext, StepResult, StepSpec

DEFAULT_BUDGET_S = 30.0


@dataclass(frozen=True)
class StepRun:
    """What running one step in a test gives: its result and where its files are.

    Attributes:
        result: The step's result, as recorded in ``status.json``; its ``artifacts`` are
            paths relative to :attr:`folder`, and ``results`` holds the in-memory values.
        folder: The staging ``clarity/`` folder the step's files were stored in (it
            also holds the files of the steps that ran before it in the same folder).
    """

    result: StepResult
    folder: Path

    @property
    def files(self) -> dict[str, Path]:
        """The step's stored files: local path by artifact path (relative to ``clarity/``)."""
        return {artifact: self.folder / artifact for artifact in self.result.artifacts}


def plugin_name(spec: StepSpec) -> str:
    """The name a step's results are attributed to in tests: the module of its ``run``."""
    return getattr(spec.run, "__module__", None) or "unknown"


def results_of(upstream: Mapping[str, StepResult | StepRun] | None) -> dict[str, StepResult]:
    """Step results by name, from results or runs (what :func:`run_steps` returns)."""
    return {
        name: value.result if isinstance(value, StepRun) else value
        for name, value in (upstream or {}).items()
    }


def execute(
    spec: StepSpec,
    ctx: ModelContext,
    staging: Path,
    *,
    plugin: str,
    options: Mapping[str, Any],
    budget_s: float,
    upstream: Mapping[str, StepResult],
    strict: bool | None,
) -> StepResult:
    """Run one step through the pipeline's guard, with its own budget and options."""
    registered = RegisteredStep(spec, PluginOrigin(plugin, "unknown", "unknown"))
    config = ClarityConfig(
        budget_s=budget_s, step_options=MappingProxyType({spec.name: dict(options)})
    )
    staging.mkdir(parents=True, exist_ok=True)
    with strict_mode(strict):
        return pipeline_run_step(
            registered,
            ctx,
            config,
            staging,
            budget_s=budget_s,
            deadline=time.monotonic() + budget_s,
            upstream=upstream,
        )


def _staging(staging: Path | None) -> Path:
    return Path(tempfile.mkdtemp(prefix="clarity-test-")) if staging is None else staging


def run_step(
    spec: StepSpec,
    ctx: ModelContext,
    *,
    budget_s: float = DEFAULT_BUDGET_S,
    upstream: Mapping[str, StepResult | StepRun] | None = None,
    staging: Path | None = None,
    strict: bool | None = None,
) -> StepRun:
    """Run one step the way the pipeline runs it at ``log_model``.

    The step runs in its own thread with a deadline ``budget_s`` from now, on its own copy
    of the reference sample, with ``ctx.options`` as its options, inside the pipeline's
    error guard; its files are copied into ``staging/<spec.output_folder>/``. A step
    whose ``supports(ctx)`` is False, whose ``requires`` are missing, or that needs data
    the context lacks is skipped as in the pipeline.

    Args:
        spec: The step (an ``ExplainerSpec`` or ``MonitorSpec``).
        ctx: The context, e.g. from :func:`~mlflow_clarity.testing.make_context`.
        budget_s: The step's budget and hard time limit, in seconds.
        upstream: Results (or runs) of earlier steps by name; the step sees those its
            ``after`` names in ``workspace.upstream``. See :func:`run_steps`.
        staging: The ``clarity/`` folder to store the files in; None makes a new
            temporary folder (yours to delete; in pytest, pass ``tmp_path``).
        strict: True raises the step's error (with its traceback) instead of returning
            a ``failed`` or ``timed_out`` result; None follows ``MLFLOW_CLARITY_STRICT``.

    Returns:
        The step's result and the folder holding its files.
    """
    folder = _staging(staging)
    result = execute(
        spec,
        ctx,
        folder,
        plugin=plugin_name(spec),
        options=ctx.options,
        budget_s=budget_s,
        upstream=results_of(upstream),
        strict=strict,
    )
    return StepRun(result, folder)


def ordered(specs: Sequence[StepSpec]) -> list[StepSpec]:
    """Order steps as the pipeline does: each after the steps its ``after`` names.

    Raises:
        ValueError: The steps' ``after`` names form a cycle.
    """
    registered = [RegisteredStep(s, PluginOrigin(plugin_name(s), "", "")) for s in specs]
    order, cyclic = run_order(registered)
    if cyclic:
        raise ValueError(f"the after= dependencies of {', '.join(cyclic)} form a cycle")
    return [r.spec for r in order]


def run_steps(
    specs: Sequence[StepSpec],
    ctx: ModelContext,
    *,
    budget_s: float = DEFAULT_BUDGET_S,
    staging: Path | None = None,
    strict: bool | None = None,
    step_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, StepRun]:
    """Run several steps in pipeline order, each seeing the results of those before it.

    Use it to give a step real upstream results, e.g. ``run_steps([shap_spec, my_spec],
    ctx)["my.step"]``. The steps are ordered by ``after`` as in the pipeline (the order
    given is kept where ``after`` allows) and share one ``clarity/`` folder.

    Args:
        specs: The steps; built-in specs come from
            ``get_plugin_manager().step("shap").spec``.
        ctx: The context.
        budget_s: Each step's own budget and hard time limit, in seconds.
        staging: The shared ``clarity/`` folder; None makes a new temporary folder.
        strict: As for :func:`run_step`.
        step_options: Options by step name; a step not named gets ``ctx.options``.

    Returns:
        Each step's run by step name, in run order.

    Raises:
        ValueError: The steps' ``after`` names form a cycle.
    """
    folder = _staging(staging)
    runs: dict[str, StepRun] = {}
    for spec in ordered(specs):
        result = execute(
            spec,
            ctx,
            folder,
            plugin=plugin_name(spec),
            options=(step_options or {}).get(spec.name, ctx.options),
            budget_s=budget_s,
            upstream=results_of(runs),
            strict=strict,
        )
        runs[spec.name] = StepRun(result, folder)
    return runs
