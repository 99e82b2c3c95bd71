"""The plugin manager: built-ins, isolated entry-point loading, and typed access to specs."""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from mlflow_clarity.config import current_config
from mlflow_clarity.errors import logger, report_failure
from mlflow_clarity.hooks import specs
from mlflow_clarity.types import (
    ExplainerSpec,
    ModelContext,
    MonitorSpec,
    ReportSection,
    RunReport,
    StepSpec,
)

ENTRY_POINT_GROUP = specs.PROJECT_NAME
BUILTIN_PLUGINS: tuple[str, ...] = (  # each step orders itself with after=
    "mlflow_clarity.explainers.shap.step",
    "mlflow_clarity.explainers.lime.step",
    "mlflow_clarity.explainers.agreement",
    "mlflow_clarity.explainers.images.step",
    "mlflow_clarity.explainers.text.step",
    "mlflow_clarity.monitors.baseline.step",
    "mlflow_clarity.monitors.content.step",
    "mlflow_clarity.monitors.estimation.step",
)
_SELF_DIST = "mlflow-clarity"


class PluginConflictError(ValueError):
    """Two plugins registered steps with the same name."""


class UnknownHookError(ValueError):
    """A plugin defines a ``clarity_*`` function that is not one of the hooks."""


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name in vars(specs) if name.startswith("clarity_") and callable(getattr(specs, name))
)
"""The names of every hook a plugin may implement."""


def unknown_hooks(plugin: object) -> list[str]:
    """Messages for a plugin's ``clarity_*`` attributes that name no hook (typos).

    pluggy registers a misspelled hook silently, and it is then never called.

    Args:
        plugin: A plugin module or object.

    Returns:
        One message per unknown name, with the closest hook name when there is one.
    """
    messages = []
    for name in dir(plugin):
        if not name.startswith("clarity_") or name in HOOK_NAMES:
            continue
        if not callable(getattr(plugin, name, None)):
            continue
        close = difflib.get_close_matches(name, HOOK_NAMES, n=1)
        hint = (
            f"; did you mean {close[0]}?" if close else f"; the hooks are {', '.join(HOOK_NAMES)}"
        )
        messages.append(f"{name} is not a hook, so it is never called; {hint}")
    return messages


@dataclass(frozen=True)
class PluginOrigin:
    """Where a plugin came from.

    Attributes:
        plugin: The name it is registered under.
        distribution: The installed distribution that provides it.
        version: That distribution's version.
        entry_point: ``module:attr`` for entry-point plugins, else None.
    """

    plugin: str
    distribution: str
    version: str
    entry_point: str | None = None


@dataclass(frozen=True)
class RegisteredStep:
    """A spec together with the plugin that registered it."""

    spec: StepSpec
    origin: PluginOrigin


def _self_version() -> str:
    try:
        return importlib.metadata.version(_SELF_DIST)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class ClarityPluginManager(pluggy.PluginManager):
    """A pluggy manager whose loading and hook calls isolate each plugin."""

    def __init__(self) -> None:
        super().__init__(specs.PROJECT_NAME)
        self.add_hookspecs(specs)
        self.origins: dict[str, PluginOrigin] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin as pluggy does, then warn about ``clarity_*`` typos in it.

        pluggy already rejects an implementation whose arguments are not those of its
        hook (``PluginValidationError``); the callers report that and skip the plugin.
        """
        registered = super().register(plugin, name)
        for message in unknown_hooks(plugin):
            report_failure(
                f"plugin {registered or name!r}",
                UnknownHookError(message),
                consequence="Its other hooks still run.",
            )
        return registered

    def load_builtins(self) -> None:
        """Register the built-in plugins through the same hooks third parties use."""
        version = _self_version()
        for module_name in BUILTIN_PLUGINS:
            if self.is_blocked(module_name):
                continue
            try:
                self.register(importlib.import_module(module_name), name=module_name)
            except Exception as exc:
                report_failure(f"built-in plugin {module_name!r}", exc)
                continue
            self.origins[module_name] = PluginOrigin(module_name, _SELF_DIST, version)

    def load_entrypoints(self, group: str = ENTRY_POINT_GROUP) -> int:
        """Load third-party plugins, one guard per entry point.

        Unlike ``pluggy.PluginManager.load_setuptools_entrypoints``, a plugin whose import
        fails or whose hooks do not match the specifications is warned about and skipped;
        the other plugins still load.

        Args:
            group: The entry-point group.

        Returns:
            The number of plugins loaded.
        """
        loaded = 0
        for ep in importlib.metadata.entry_points(group=group):
            if self.is_blocked(ep.name) or self.has_plugin(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            origin = PluginOrigin(
                plugin=ep.name,
                distribution=getattr(dist, "name", None) or "unknown",
                version=getattr(dist, "version", None) or "unknown",
                entry_point=ep.value,
            )
            try:
                self.register(ep.load(), name=ep.name)
            except Exception as exc:
                report_failure(
                    f"loading plugin {ep.name!r} ({ep.value}, from {origin.distribution})",
                    exc,
                    consequence="The plugin was skipped; the others still run.",
                )
                continue
            self.origins[ep.name] = origin
            loaded += 1
        return loaded

    def origin_of(self, plugin_name: str) -> PluginOrigin:
        """Return where a registered plugin came from."""
        return self.origins.get(plugin_name) or PluginOrigin(plugin_name, "unknown", "unknown")

    def _collect(self, hook_name: str, spec_type: type[StepSpec]) -> list[RegisteredStep]:
        blocked = set(current_config().disabled_plugins)
        steps: dict[str, RegisteredStep] = {}
        hook = getattr(self.hook, hook_name)
        # Registration order: built-ins first, so a plugin cannot shadow a built-in step.
        for impl in hook.get_hookimpls():
            origin = self.origin_of(impl.plugin_name)
            try:
                produced = list(impl.function() or ())
                wrong = [p for p in produced if not isinstance(p, spec_type)]
                if wrong:
                    raise TypeError(
                        f"{hook_name} must return {spec_type.__name__} objects, "
                        f"got {type(wrong[0]).__name__}"
                    )
            except Exception as exc:
                report_failure(
                    f"plugin {impl.plugin_name!r} hook {hook_name}",
                    exc,
                    consequence="Its steps were skipped; the others still run.",
                )
                continue
            for spec in produced:
                if spec.name in blocked:
                    logger.info("step %r is disabled by configuration", spec.name)
                    continue
                if spec.name in steps:
                    report_failure(
                        f"plugin {impl.plugin_name!r}",
                        PluginConflictError(
                            f"step {spec.name!r} is already registered by "
                            f"{steps[spec.name].origin.plugin!r}; keeping the first"
                        ),
                    )
                    continue
                steps[spec.name] = RegisteredStep(spec, origin)
        return list(steps.values())

    def explainers(self) -> list[RegisteredStep]:
        """Return every registered explainer, minus disabled ones."""
        return self._collect("clarity_explainers", ExplainerSpec)

    def monitors(self) -> list[RegisteredStep]:
        """Return every registered monitor, minus disabled ones."""
        return self._collect("clarity_monitors", MonitorSpec)

    def steps(self) -> list[RegisteredStep]:
        """Return all steps in registration order: monitors (cheap, bounded) first, then
        explainers; the pipeline then moves each step after those its ``after`` names."""
        return self.monitors() + self.explainers()

    def step(self, name: str) -> RegisteredStep:
        """Return the registered step called ``name``.

        Raises:
            KeyError: No enabled step has that name.
        """
        for registered in self.steps():
            if registered.spec.name == name:
                return registered
        raise KeyError(f"no step named {name!r} is registered")

    def report_sections(
        self, context: ModelContext, report: RunReport
    ) -> list[tuple[str, ReportSection]]:
        """Collect every ``clarity_report_sections`` implementation's sections.

        Each implementation runs in its own guard; one that raises or returns something
        other than ReportSection objects is reported and adds nothing.

        Returns:
            ``(plugin name, section)`` pairs, built-ins first.
        """
        kwargs: dict[str, Any] = {"context": context, "report": report}
        sections: list[tuple[str, ReportSection]] = []
        for impl in self.hook.clarity_report_sections.get_hookimpls():
            try:
                produced = list(impl.function(*[kwargs[n] for n in impl.argnames]) or ())
                wrong = [p for p in produced if not isinstance(p, ReportSection)]
                if wrong:
                    raise TypeError(
                        "clarity_report_sections must return ReportSection objects, "
                        f"got {type(wrong[0]).__name__}"
                    )
            except Exception as exc:
                report_failure(f"plugin {impl.plugin_name!r} hook clarity_report_sections", exc)
                continue
            sections.extend((impl.plugin_name, section) for section in produced)
        return sections

    def notify_results_stored(self, context: ModelContext, report: RunReport) -> None:
        """Call every ``clarity_results_stored`` implementation, each in its own guard."""
        kwargs: dict[str, Any] = {"context": context, "report": report}
        for impl in self.hook.clarity_results_stored.get_hookimpls():
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as exc:
                report_failure(f"plugin {impl.plugin_name!r} hook clarity_results_stored", exc)


def _block(pm: ClarityPluginManager, names: Iterable[str]) -> None:
    for name in names:
        pm.set_blocked(name)


@functools.lru_cache(maxsize=8)
def _build(disabled: tuple[str, ...]) -> ClarityPluginManager:
    pm = ClarityPluginManager()
    _block(pm, disabled)
    pm.load_builtins()
    pm.load_entrypoints()
    return pm


def get_plugin_manager() -> ClarityPluginManager:
    """Return the plugin manager for the current configuration (built once, then cached).

    Plugins named in ``MLFLOW_CLARITY_DISABLE_PLUGINS`` (or ``autolog(disabled_plugins=)``)
    are blocked; the names match plugin names and step names.
    """
    return _build(current_config().disabled_plugins)


def reset_plugin_manager() -> None:
    """Forget cached managers, so newly installed plugins are discovered."""
    _build.cache_clear()
