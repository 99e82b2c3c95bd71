"""What the explanation benchmarks share: the synthetic task and a way to run steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import make_classification

from mlflow_clarity.config import ClarityConfig
from mlflow_clarity.data.reference import RawReference, prepare_reference
from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.pipeline import run_pipeline
from mlflow_clarity.types import ModelContext, StepResult


def classification_task() -> tuple[pd.DataFrame, pd.Series]:
    """The reference notes' task: make_classification, 10,000 x 20, 10 informative."""
    x, y = make_classification(
        n_samples=10_000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        class_sep=0.8,
        random_state=0,
    )
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]), pd.Series(y, name="label")


def run_steps(
    model: Any,
    flavor: str,
    x: pd.DataFrame,
    y: pd.Series,
    names: tuple[str, ...],
    staging: Path,
    *,
    budget_s: float,
    options: dict[str, dict[str, Any]],
) -> dict[str, StepResult]:
    """Run the named built-in steps as log_model would; fail loudly unless all are ok."""
    reference = prepare_reference(RawReference(x, y), None, sample_rows=2000, seed=0)
    ctx = ModelContext(
        flavor=flavor,
        model=model,
        model_id="m-bench",
        model_uri="models:/m-bench",
        reference=reference,
    )
    steps = [s for s in get_plugin_manager().steps() if s.spec.name in names]
    config = ClarityConfig(budget_s=budget_s, step_options=options)
    results = run_pipeline(ctx, steps, config, staging)
    assert all(r.status == "ok" for r in results), [(r.name, r.reason) for r in results]
    return {r.name: r for r in results}
