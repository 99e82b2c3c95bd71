"""Hook specifications: the whole contract between mlflow-clarity and its plugins.

A plugin is any object or module with functions named after these hooks and marked with
:data:`hookimpl`. Third-party packages expose one through the ``mlflow_clarity``
entry-point group::

    [project.entry-points.mlflow_clarity]
    acme = "acme_clarity.plugin"

Registration hooks return cheap, frozen spec objects; the pipeline calls each spec's
``run`` itself, one at a time, inside its own error guard and time budget. Hooks never
compute: pluggy stops calling implementations at the first one that raises, so work done
inside a hook could let one plugin silence every other.

Hooks are called with keyword arguments; an implementation may accept fewer arguments
than its specification names.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from mlflow_clarity.types import (
    ExplainerSpec,
    ModelContext,
    MonitorSpec,
    ReportSection,
    RunReport,
)

PROJECT_NAME = "mlflow_clarity"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@hookimpl def clarity_explainers(): ...``."""


@hookspec
def clarity_explainers() -> Iterable[ExplainerSpec]:
    """Register explainers.

    Called once per plugin manager, before any model is explained. Each implementation
    is called on its own, so one that raises drops only its own explainers.

    Returns:
        ExplainerSpec objects. Registration must be cheap: no model calls, no I/O and no
        heavy imports (import ``shap`` inside ``run``, not at module level).

    Example::

        @hookimpl
        def clarity_explainers():
            return [ExplainerSpec(name="acme.saliency", run=_run, requires=("acme",))]
    """
    return ()


@hookspec
def clarity_monitors() -> Iterable[MonitorSpec]:
    """Register monitors: steps that profile reference data for later checks.

    Same rules as :func:`clarity_explainers`. A monitor that profiles data should stream
    all reference rows with ``ctx.reference.iter_chunks()`` rather than use the sample.

    Returns:
        MonitorSpec objects.
    """
    return ()


@hookspec
def clarity_results_stored(context: ModelContext, report: RunReport) -> None:
    """Observe a finished run after its results were stored with the model.

    Called once per logged (or explicitly explained) model, after ``clarity/`` was
    uploaded and the ``clarity.status`` tag set. Each implementation is called on its
    own inside an error guard. Use it to notify, index or export; it cannot change the
    report.

    Args:
        context: The context the steps ran with (without step options).
        report: The outcome, as written to ``clarity/status.json``.
    """


@hookspec
def clarity_report_sections(context: ModelContext, report: RunReport) -> Iterable[ReportSection]:
    """Add sections to the model's ``report.html`` and ``model_card.md``.

    Called once per pipeline run (at ``log_model`` and by ``mlflow-clarity explain``),
    after every step ran and before the report is written. Each implementation is called
    on its own inside an error guard. The sections are kept in
    ``clarity/report_sections.json``, so reports written later (after a check, or by
    ``mlflow-clarity report``) show them too.

    Args:
        context: The context the steps ran with (without step options).
        report: The run's outcome; ``report.results_of(name)`` holds a step's
            in-memory values (its :attr:`StepOutput.results`) when it succeeded.

    Returns:
        ReportSection objects; plain text only, escaped for HTML and markdown.

    Example::

        @hookimpl
        def clarity_report_sections(context, report):
            shap = report.results_of("shap")
            if not shap:
                return []
            return [ReportSection(title="Acme", paragraphs=("...",))]
    """
    return ()
