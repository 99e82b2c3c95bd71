"""Shared fixtures: strict mode, a real sqlite tracking store, clean plugin state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

import mlflow_clarity
from mlflow_clarity import config
from mlflow_clarity.hooks.patches import log_model as interceptor
from mlflow_clarity.manager import reset_plugin_manager

# The kit's fixtures (install_plugin, clarity_context), as plugin authors opt in to them.
pytest_plugins = ["mlflow_clarity.testing.pytest_plugin"]

_ENV = (
    "MLFLOW_CLARITY_DISABLE",
    "MLFLOW_CLARITY_BUDGET_S",
    "MLFLOW_CLARITY_STORE_TIMEOUT_S",
    "MLFLOW_CLARITY_SAMPLE_ROWS",
    "MLFLOW_CLARITY_SEED",
    "MLFLOW_CLARITY_BACKGROUND",
    "MLFLOW_CLARITY_STEPS",
    "MLFLOW_CLARITY_DISABLE_PLUGINS",
)


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strict mode on (errors raise), no leftover options, reference data or plugins."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_CLARITY_STRICT", "1")
    # MLflow infers a model's pip requirements by loading it in a subprocess (seconds per
    # log_model); none of the tests is about requirements, so give up on it after 1 s.
    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
    config.set_code_options({}, disable=False)
    mlflow_clarity.set_reference_data(None)
    reset_plugin_manager()
    interceptor.install()
    yield
    mlflow_clarity.wait(timeout=60)
    config.set_code_options({}, disable=False)
    mlflow_clarity.set_reference_data(None)
    reset_plugin_manager()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A real ``mlflow server`` on 127.0.0.1 for the module (its ``SERVER_ENV`` added)."""
    from tracking_server import Server

    srv = Server(tmp_path_factory.mktemp("server"), getattr(request.module, "SERVER_ENV", None))
    yield srv
    srv.stop()


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn strict mode off: failures are warned about and recorded, as for users."""
    monkeypatch.setenv("MLFLOW_CLARITY_STRICT", "0")


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real sqlite tracking store in a temporary folder (artifacts beside it)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # an experiment made active by an earlier test does not exist in this new store
    mlflow.set_experiment(experiment_id="0")
    yield uri
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that starts a real ``mlflow server`` is marked ``server``."""
    for item in items:
        if "server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)
