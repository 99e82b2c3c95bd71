"""Plugin discovery: built-ins, isolated entry points, blocking, provenance, the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mlflow_clarity import ClarityWarning, ExplainerSpec
from mlflow_clarity.cli import cli
from mlflow_clarity.manager import PluginConflictError, get_plugin_manager

GOOD = """
from mlflow_clarity import ExplainerSpec, MonitorSpec, StepOutput, hookimpl

def _run(ctx, ws):
    return StepOutput()

@hookimpl
def clarity_explainers():
    return [ExplainerSpec(name="acme.saliency", run=_run, description="Acme saliency")]

@hookimpl
def clarity_monitors():
    return [MonitorSpec(name="acme.watch", run=_run)]
"""


def _names(pm) -> list[str]:
    return [r.spec.name for r in pm.steps()]


def test_builtins_register_through_the_hooks() -> None:
    pm = get_plugin_manager()
    steps = {r.spec.name: r for r in pm.steps()}
    assert {"shap", "baseline"} <= set(steps)
    assert steps["shap"].spec.kind == "explainer"
    assert steps["baseline"].spec.kind == "monitor"
    assert steps["shap"].origin.distribution == "mlflow-clarity"
    # built-ins are registered plugins like any other
    assert pm.has_plugin("mlflow_clarity.explainers.shap.step")


def test_third_party_plugin_is_discovered_with_its_distribution(install_plugin) -> None:
    install_plugin("acme-clarity", "1.2.3", "acme_good", GOOD, ep_name="acme")
    pm = get_plugin_manager()
    steps = {r.spec.name: r for r in pm.steps()}
    assert steps["acme.saliency"].origin.distribution == "acme-clarity"
    assert steps["acme.saliency"].origin.version == "1.2.3"
    assert steps["acme.watch"].spec.kind == "monitor"
    assert "shap" in steps


def test_plugin_whose_import_fails_is_skipped(install_plugin, lenient: None) -> None:
    install_plugin("broken-clarity", "0.1", "acme_broken", "import no_such_dependency_xyz\n")
    install_plugin("acme-clarity", "1.0", "acme_good2", GOOD)
    with pytest.warns(ClarityWarning, match="acme_broken.*broken-clarity"):
        names = _names(get_plugin_manager())
    assert {"shap", "baseline", "acme.saliency"} <= set(names)


def test_plugin_whose_hook_raises_is_skipped(install_plugin, lenient: None) -> None:
    source = """
from mlflow_clarity import hookimpl

@hookimpl
def clarity_explainers():
    raise RuntimeError("registration exploded")
"""
    install_plugin("angry-clarity", "0.1", "acme_angry", source)
    with pytest.warns(ClarityWarning, match="acme_angry.*registration exploded"):
        names = _names(get_plugin_manager())
    assert {"shap", "baseline"} <= set(names)


def test_plugin_with_unknown_hook_argument_is_skipped(install_plugin, lenient: None) -> None:
    source = """
from mlflow_clarity import hookimpl

@hookimpl
def clarity_explainers(not_an_argument):
    return []
"""
    install_plugin("odd-clarity", "0.1", "acme_odd", source)
    with pytest.warns(ClarityWarning, match="acme_odd"):
        names = _names(get_plugin_manager())
    assert "shap" in names


def test_plugin_returning_wrong_type_is_skipped(install_plugin, lenient: None) -> None:
    source = """
from mlflow_clarity import hookimpl

@hookimpl
def clarity_explainers():
    return ["not a spec"]
"""
    install_plugin("wrong-clarity", "0.1", "acme_wrong", source)
    with pytest.warns(ClarityWarning, match="must return ExplainerSpec"):
        names = _names(get_plugin_manager())
    assert "shap" in names


def test_broken_plugin_raises_in_strict_mode(install_plugin) -> None:
    install_plugin("broken-clarity", "0.1", "acme_broken_strict", "raise ImportError('nope')\n")
    with pytest.raises(ImportError, match="nope"):
        get_plugin_manager()


def test_duplicate_step_name_keeps_the_first(install_plugin, lenient: None) -> None:
    source = """
from mlflow_clarity import ExplainerSpec, hookimpl

@hookimpl
def clarity_explainers():
    return [ExplainerSpec(name="shap", run=lambda c, w: None)]
"""
    install_plugin("copycat-clarity", "0.1", "acme_copycat", source)
    with pytest.warns(ClarityWarning, match="already registered"):
        steps = {r.spec.name: r for r in get_plugin_manager().steps()}
    assert steps["shap"].origin.distribution == "mlflow-clarity"
    assert issubclass(PluginConflictError, ValueError)


def test_disable_plugins_by_plugin_or_step_name(install_plugin, monkeypatch) -> None:
    install_plugin("acme-clarity", "1.0", "acme_good3", GOOD)
    monkeypatch.setenv("MLFLOW_CLARITY_DISABLE_PLUGINS", "acme_good3, shap")
    names = _names(get_plugin_manager())
    assert "acme.saliency" not in names and "shap" not in names
    assert "baseline" in names


def test_cli_plugins_lists_steps_with_distribution_and_version(install_plugin) -> None:
    install_plugin("acme-clarity", "1.2.3", "acme_good4", GOOD)
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["KIND", "STEP", "PLUGIN", "DISTRIBUTION", "VERSION"]
    acme = next(line for line in lines if "acme.saliency" in line)
    assert acme.split()[:5] == ["explainer", "acme.saliency", "acme_good4", "acme-clarity", "1.2.3"]
    assert any(line.split()[:2] == ["monitor", "baseline"] for line in lines)


def test_misspelled_hook_is_a_warning_naming_the_plugin(install_plugin, lenient: None) -> None:
    source = """
from mlflow_clarity import ExplainerSpec, hookimpl

@hookimpl
def clarity_explainer():
    return [ExplainerSpec(name="acme.never", run=lambda c, w: None)]

@hookimpl
def clarity_monitors():
    return []
"""
    install_plugin("typo-clarity", "0.1", "acme_typo", source)
    with pytest.warns(ClarityWarning, match="acme_typo.*clarity_explainer.*did you mean"):
        names = _names(get_plugin_manager())
    assert "acme.never" not in names and "shap" in names


def test_misspelled_hook_raises_in_strict_mode(install_plugin) -> None:
    from mlflow_clarity.manager import UnknownHookError

    install_plugin("typo-clarity", "0.1", "acme_typo2", "def clarity_monitor():\n    pass\n")
    with pytest.raises(UnknownHookError, match="clarity_monitors"):
        get_plugin_manager()


@pytest.mark.parametrize("name", ["Acme Saliency", "a/b", "", "..", "-x", "acme/../x", "é"])
def test_step_names_must_be_lower_case_words(name: str) -> None:
    with pytest.raises(ValueError, match="invalid step name"):
        ExplainerSpec(name=name, run=lambda c, w: None)


def test_after_must_name_steps() -> None:
    with pytest.raises(TypeError, match="tuple of step names"):
        ExplainerSpec(name="acme.x", run=lambda c, w: None, after="shap")
    with pytest.raises(ValueError, match="after itself"):
        ExplainerSpec(name="acme.x", run=lambda c, w: None, after=("acme.x",))


def test_report_sections_are_collected_per_plugin(install_plugin, lenient: None) -> None:
    from mlflow_clarity import ReportSection

    source = """
from mlflow_clarity import ReportSection, hookimpl

@hookimpl
def clarity_report_sections(report):
    return [ReportSection(title="Acme", paragraphs=(report.status,))]
"""
    install_plugin("acme-clarity", "1.0", "acme_sections", source)
    install_plugin(
        "bad-clarity",
        "1.0",
        "acme_bad_sections",
        "from mlflow_clarity import hookimpl\n\n@hookimpl\ndef clarity_report_sections():\n"
        "    return ['not a section']\n",
    )
    from mlflow_clarity.types import RunReport

    from helpers import context, frame

    report = RunReport("ok", "m-0", (), "now", 0.0, 0, {}, {}, {})
    with pytest.warns(ClarityWarning, match="acme_bad_sections.*ReportSection"):
        sections = get_plugin_manager().report_sections(context(frame()), report)
    assert sections == [("acme_sections", ReportSection(title="Acme", paragraphs=("ok",)))]


def test_results_of_a_step_only_when_it_succeeded() -> None:
    from mlflow_clarity.types import RunReport, StepResult

    ran = StepResult("shap", "explainer", "p", "ok", results={"global": 1})
    failed = StepResult("lime", "explainer", "p", "failed", "boom", results={"rows": 2})
    report = RunReport("ok", "m-0", (ran, failed), "now", 0.0, 0, {}, {}, {})
    assert report.results_of("shap") == {"global": 1}
    assert report.results_of("lime") == {}  # failed: its partial results are not shown
    assert report.results_of("baseline") == {}  # did not run
