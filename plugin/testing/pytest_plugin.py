"""pytest fixtures for plugin authors: install a plugin for real, get a ready context.

Opt in from your top-level ``conftest.py``::

    pytest_plugins = ["mlflow_clarity.testing.pytest_plugin"]

(or ``pytest -p mlflow_clarity.testing.pytest_plugin``).

Why opt-in, and no ``pytest11`` entry point: pytest loads every ``pytest11`` entry point
of every installed distribution into every test session. mlflow-clarity is installed
wherever MLflow models are logged, so such an entry point would add these fixtures, and
the import of this package, to the test sessions of projects that never asked for them,
and a fixture named ``install_plugin`` there could clash with one of theirs. The plugin
has no hooks and no autouse fixtures, so opting in changes nothing until a test asks for
a fixture by name.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlflow_clarity.manager import ENTRY_POINT_GROUP, reset_plugin_manager
from mlflow_clarity.testing.context import default_context
from mlflow_clarity.types import ModelContext


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., None]]:
    """Install a third-party plugin distribution for real, for the test's duration.

    Returns a function ``install(dist, version, module, source, ep_name="")`` that writes
    ``source`` (dedented) as ``<module>.py`` and a ``<dist>-<version>.dist-info`` folder
    whose ``entry_points.txt`` registers ``<ep_name or module> = <module>`` in the
    ``mlflow_clarity`` group, in a temporary site folder put first on ``sys.path``;
    then it resets the plugin manager, so the next ``get_plugin_manager()`` discovers the
    plugin through ``importlib.metadata`` exactly as for an installed package. The
    plugin manager is reset again when the test ends.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist: str, version: str, module: str, source: str, ep_name: str = "") -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{ep_name or module} = {module}\n"
        )
        reset_plugin_manager()

    yield install
    reset_plugin_manager()


@pytest.fixture
def clarity_context() -> ModelContext:
    """A fresh :func:`~mlflow_clarity.testing.default_context` (needs scikit-learn)."""
    return default_context()
