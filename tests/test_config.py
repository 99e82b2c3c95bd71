"""Configuration: defaults, environment variables, code options and their precedence."""

from __future__ import annotations

import pytest

import mlflow_clarity
from mlflow_clarity import ClarityWarning
from mlflow_clarity.config import DEFAULT_BUDGET_S, current_config


def test_defaults() -> None:
    cfg = current_config()
    assert (cfg.enabled, cfg.budget_s, cfg.sample_rows, cfg.seed, cfg.background) == (
        True,
        DEFAULT_BUDGET_S,
        2000,
        0,
        False,
    )
    assert cfg.steps is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_BUDGET_S", "7.5")
    monkeypatch.setenv("MLFLOW_CLARITY_SAMPLE_ROWS", "300")
    monkeypatch.setenv("MLFLOW_CLARITY_BACKGROUND", "yes")
    monkeypatch.setenv("MLFLOW_CLARITY_STEPS", "shap, baseline")
    monkeypatch.setenv("MLFLOW_CLARITY_DISABLE_PLUGINS", "a,b")
    cfg = current_config()
    assert (cfg.budget_s, cfg.sample_rows, cfg.background) == (7.5, 300, True)
    assert cfg.steps == ("shap", "baseline")
    assert cfg.disabled_plugins == ("a", "b")


def test_empty_steps_variable_selects_no_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_STEPS", "")
    assert current_config().steps == ()


def test_bad_environment_value_warns_and_uses_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_BUDGET_S", "lots")
    with pytest.warns(ClarityWarning, match="MLFLOW_CLARITY_BUDGET_S"):
        assert current_config().budget_s == DEFAULT_BUDGET_S
    monkeypatch.setenv("MLFLOW_CLARITY_BUDGET_S", "-1")
    with pytest.warns(ClarityWarning, match="budget_s must be positive"):
        assert current_config().budget_s == DEFAULT_BUDGET_S


def test_code_options_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_BUDGET_S", "7.5")
    mlflow_clarity.autolog(budget_s=3, steps=["shap"], step_options={"shap": {"k": 1}})
    cfg = current_config()
    assert cfg.budget_s == 3 and cfg.steps == ("shap",)
    assert dict(cfg.step_options["shap"]) == {"k": 1}
    mlflow_clarity.autolog()  # each call replaces the previous options
    assert current_config().budget_s == 7.5


def test_disable_in_code_and_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow_clarity.autolog(disable=True)
    assert not current_config().enabled
    mlflow_clarity.autolog()
    assert current_config().enabled
    monkeypatch.setenv("MLFLOW_CLARITY_DISABLE", "1")
    mlflow_clarity.autolog(disable=False)
    assert not current_config().enabled  # the environment's opt-out always wins


def test_disabled_plugins_from_env_and_code_are_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CLARITY_DISABLE_PLUGINS", "a")
    mlflow_clarity.autolog(disabled_plugins=["b", "a"])
    assert current_config().disabled_plugins == ("a", "b")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"budget": 3}, TypeError, "unknown mlflow-clarity option 'budget'"),
        ({"budget_s": "3"}, TypeError, "budget_s' must be int or float"),
        ({"background": 1}, TypeError, "background' must be bool"),
        ({"sample_rows": True}, TypeError, "sample_rows' must be int"),
        ({"budget_s": 0}, ValueError, "budget_s must be positive"),
        ({"sample_rows": 0}, ValueError, "sample_rows must be at least 1"),
    ],
)
def test_bad_code_options_are_clear_errors(options, error, match) -> None:
    with pytest.raises(error, match=match):
        mlflow_clarity.autolog(**options)
    assert current_config().budget_s == DEFAULT_BUDGET_S  # nothing half-applied
