"""Small builders shared by tests (real objects, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mlflow_clarity.config import ClarityConfig
from mlflow_clarity.data.reference import RawReference, prepare_reference
from mlflow_clarity.manager import PluginOrigin, RegisteredStep
from mlflow_clarity.types import ExplainerSpec, ModelContext, StepSpec


def frame(rows: int = 200, cols: int = 4, seed: int = 0) -> pd.DataFrame:
    """A numeric frame with columns a, b, c, ..."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, cols)), columns=[chr(97 + i) for i in range(cols)])


def context(data: Any = None, labels: Any = None, **kwargs: Any) -> ModelContext:
    """A context with reference data prepared the way the pipeline prepares it."""
    reference = None
    if data is not None:
        rows = kwargs.pop("sample_rows", 2000)
        reference = prepare_reference(RawReference(data, labels), None, sample_rows=rows, seed=0)
    defaults = {"flavor": "sklearn", "model": None, "model_id": "m-0", "model_uri": "models:/m-0"}
    return ModelContext(**{**defaults, **kwargs}, reference=reference)


def registered(spec: StepSpec, plugin: str = "test-plugin") -> RegisteredStep:
    """Wrap a spec as if a plugin had registered it."""
    return RegisteredStep(spec, PluginOrigin(plugin, "tests", "0"))


def explainer(name: str, run: Any, **kwargs: Any) -> RegisteredStep:
    """A registered explainer step."""
    return registered(ExplainerSpec(name=name, run=run, **kwargs))


def config(**kwargs: Any) -> ClarityConfig:
    """A configuration with test-friendly defaults."""
    return ClarityConfig(**{"budget_s": 30.0, **kwargs})


def clarity_file(model_id: str, path: str) -> Any:
    """Download ``clarity/<path>`` of a logged model; parse JSON files."""
    location = mlflow.MlflowClient().get_logged_model(model_id).artifact_location
    local = mlflow.artifacts.download_artifacts(f"{location}/clarity/{path}")
    return json.loads(Path(local).read_text()) if path.endswith(".json") else Path(local)


def status(model_id: str) -> dict[str, Any]:
    """The model's ``clarity/status.json``."""
    return clarity_file(model_id, "status.json")


def steps_by_name(model_id: str) -> dict[str, dict[str, Any]]:
    """The steps of the model's ``status.json``, by name."""
    return {s["name"]: s for s in status(model_id)["steps"]}


def model_tags(model_id: str) -> dict[str, str]:
    """The LoggedModel's tags."""
    return mlflow.MlflowClient().get_logged_model(model_id).tags
