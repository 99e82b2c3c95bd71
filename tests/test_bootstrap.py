"""The installed package hooks itself in on `import mlflow`, cheaply, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys, mlflow
from mlflow.models.model import Model
func = Model.__dict__["log"].__func__
print(json.dumps({
    "wrapped": bool(getattr(func, "__clarity_wrapped__", False)),
    "heavy": sorted(
        m for m in ("shap", "torch", "matplotlib", "lime", "sklearn") if m in sys.modules
    ),
}))
"""


def _probe(**env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "MLFLOW_CLARITY_STRICT": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_mlflow_installs_the_hook_without_heavy_imports() -> None:
    assert _probe() == {"wrapped": True, "heavy": []}


def test_disable_environment_variable_leaves_mlflow_untouched() -> None:
    assert _probe(MLFLOW_CLARITY_DISABLE="1")["wrapped"] is False


def test_bootstrap_is_registered_as_an_mlflow_run_context_provider() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="mlflow.run_context_provider") if e.name == "clarity"]
    assert ep.value == "mlflow_clarity.hooks.patches.bootstrap:ClarityContextProvider"
    provider = ep.load()()
    assert provider.in_context() is False and provider.tags() == {}


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, mlflow_clarity; "
        "print(sorted(m for m in ('shap','torch','matplotlib','lime') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
