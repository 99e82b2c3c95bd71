"""Faults never break log_model: failing, hanging and broken steps, failed uploads, bad data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_clarity
from mlflow_clarity import ClarityWarning, ExplainerSpec, hookimpl
from mlflow_clarity.manager import get_plugin_manager

from helpers import model_tags, status, steps_by_name
from models import classification_data, logistic


@pytest.fixture(autouse=True)
def _small(tracking: str) -> None:
    mlflow_clarity.autolog(sample_rows=100, budget_s=60)


def _register(name: str, run, needs_data: bool = True) -> None:
    class Plugin:
        @hookimpl
        def clarity_explainers(self):
            return [ExplainerSpec(name=name, run=run, needs_data=needs_data)]

    get_plugin_manager().register(Plugin(), name=f"test-{name}")


def _log(x: pd.DataFrame | None = None, **kwargs):
    x_train, y = classification_data()
    model = logistic(x_train, y)
    data = x_train if x is None else x
    with mlflow.start_run(), mlflow_clarity.reference_data(data):
        return mlflow.sklearn.log_model(model, name="m", **kwargs), x_train


def _loads(info, x: pd.DataFrame) -> None:
    assert len(mlflow.pyfunc.load_model(info.model_uri).predict(x.head(2))) == 2


def test_failing_step(lenient: None) -> None:
    def boom(ctx, ws):
        raise RuntimeError("kaboom")

    _register("boom", boom)
    with pytest.warns(ClarityWarning, match="'boom'.*kaboom"):
        info, x = _log(registered_model_name="faulty")
    assert isinstance(info, mlflow.models.model.ModelInfo)
    steps = steps_by_name(info.model_id)
    assert steps["boom"]["status"] == "failed" and "kaboom" in steps["boom"]["reason"]
    assert steps["shap"]["status"] == "ok" and steps["baseline"]["status"] == "ok"
    assert model_tags(info.model_id)["clarity.status"] == "partial"
    assert (
        mlflow.MlflowClient().get_model_version("faulty", "1").tags["clarity.status"] == "partial"
    )
    _loads(info, x)


def test_failing_step_raises_in_strict_mode() -> None:
    def boom(ctx, ws):
        raise RuntimeError("kaboom")

    _register("boom", boom)
    with pytest.raises(RuntimeError, match="kaboom"):
        _log()


def test_hanging_step_does_not_hang_log_model(lenient: None) -> None:
    mlflow_clarity.autolog(sample_rows=100, budget_s=2)
    release, finished = threading.Event(), threading.Event()

    def hang(ctx, ws):
        release.wait(60)
        finished.set()

    _register("hang", hang)
    with pytest.warns(ClarityWarning, match="'hang'.*time budget"):
        info, x = _log()
    assert not finished.is_set()  # log_model returned while the step still hung
    release.set()
    steps = steps_by_name(info.model_id)
    assert steps["hang"]["status"] == "timed_out"
    assert steps["baseline"]["status"] == "ok"
    assert model_tags(info.model_id)["clarity.status"] == "partial"
    _loads(info, x)


def test_failed_upload_leaves_the_model_intact(lenient: None) -> None:
    def block_upload(ctx, ws):
        # A plain file where the clarity/ folder must go makes the real upload fail.
        location = Path(mlflow.MlflowClient().get_logged_model(ctx.model_id).artifact_location)
        (location / "clarity").write_text("in the way")

    _register("blocker", block_upload, needs_data=False)
    with pytest.warns(ClarityWarning, match="uploading clarity/"):
        info, x = _log()
    assert model_tags(info.model_id)["clarity.status"] == "failed"
    _loads(info, x)


def test_broken_third_party_plugin_leaves_builtins_running(install_plugin, lenient) -> None:
    install_plugin("broken-clarity", "0.1", "acme_broken_log", "raise ImportError('nope')\n")
    with pytest.warns(ClarityWarning, match="acme_broken_log"):
        info, _ = _log()
    assert status(info.model_id)["status"] == "ok"


def _numeric(rows: int = 100) -> pd.DataFrame:
    return classification_data(rows=rows)[0]


BAD_INPUTS = {
    "nan": lambda: _numeric().mask(np.eye(100, 6, dtype=bool)),
    "inf": lambda: _numeric().replace({_numeric().iloc[0, 0]: np.inf}),
    "strings": lambda: _numeric().assign(x3=["a", "b"] * 50),
    "categorical": lambda: _numeric().assign(x4=pd.Categorical(["u", "v"] * 50)),
    "zero-rows": lambda: _numeric().head(0),
    "one-row": lambda: _numeric().head(1),
    "mismatched-columns": lambda: _numeric().rename(columns={"x0": "other"}),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_reference_data_never_breaks_log_model(case: str, lenient: None) -> None:
    info, x = _log(BAD_INPUTS[case]())
    report = status(info.model_id)
    assert report["status"] in ("ok", "partial", "skipped", "failed")
    for step in report["steps"]:
        assert step["status"] == "ok" or step["reason"], step
    if case in ("zero-rows", "mismatched-columns"):
        assert report["status"] == "skipped"
        reason = report["steps"][0]["reason"]
        assert ("no rows" if case == "zero-rows" else "'x0'") in reason
    else:
        steps = steps_by_name(info.model_id)
        assert steps["baseline"]["status"] == "ok"
        expected_shap = "skipped" if case in ("strings", "categorical") else "ok"
        assert steps["shap"]["status"] == expected_shap
    _loads(info, x)


@pytest.mark.slow
def test_background_mode_tags_running_then_finishes() -> None:
    mlflow_clarity.autolog(sample_rows=100, background=True)
    gate = threading.Event()

    def gated(ctx, ws):
        gate.wait(30)

    _register("gated", gated, needs_data=False)
    info, _ = _log()
    assert model_tags(info.model_id)["clarity.status"] == "running"
    gate.set()
    (report,) = mlflow_clarity.wait(timeout=60)
    assert report.status == "ok"
    assert model_tags(info.model_id)["clarity.status"] == "ok"


@pytest.mark.slow
def test_background_results_are_not_lost_when_the_script_ends(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import time, mlflow, mlflow_clarity
            from mlflow_clarity import ExplainerSpec, hookimpl
            from mlflow_clarity.manager import get_plugin_manager
            from sklearn.linear_model import LinearRegression

            class Slow:
                @hookimpl
                def clarity_explainers(self):
                    return [ExplainerSpec(name="slow", run=lambda c, w: time.sleep(2),
                                          needs_data=False)]

            get_plugin_manager().register(Slow())
            mlflow.set_tracking_uri("sqlite:///exit.db")
            mlflow_clarity.autolog(background=True, steps=["slow"])
            info = mlflow.sklearn.log_model(LinearRegression().fit([[0], [1]], [0, 1]), name="m")
            print(info.model_id)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    model_id = done.stdout.strip().splitlines()[-1]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'exit.db'}")
    assert model_tags(model_id)["clarity.status"] == "ok"
