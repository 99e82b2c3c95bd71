"""Tools for plugin authors: contexts, step runs and conformance checks.

Build the context a step receives, run the step the way the pipeline runs it, and check
that it keeps the plugin contract::

    from sklearn.linear_model import LogisticRegression

    from acme_clarity.plugin import clarity_explainers
    from mlflow_clarity.manager import get_plugin_manager
    from mlflow_clarity.testing import check_explainer, make_context, run_steps


    def test_saliency_keeps_the_contract():
        (spec,) = clarity_explainers()
        check_explainer(spec)  # raises ConformanceError listing every problem


    def test_saliency_after_shap(tmp_path):
        (spec,) = clarity_explainers()
        ctx = make_context(LogisticRegression().fit(X, y), X, y, options={"top_k": 3})
        shap = get_plugin_manager().step("shap").spec
        runs = run_steps([shap, spec], ctx, staging=tmp_path)  # ordered by after=
        assert runs["acme.saliency"].result.status == "ok"
        assert runs["acme.saliency"].files  # artifact path -> local file

The pytest fixtures (``install_plugin``, ``clarity_context``) are opt-in: add
``pytest_plugins = ["mlflow_clarity.testing.pytest_plugin"]`` to your top-level
``conftest.py``. Nothing here imports shap, torch, matplotlib or scikit-learn at import
time; :func:`default_context` imports scikit-learn when called.
"""

from __future__ import annotations

from mlflow_clarity.testing.checks import (
    Conformance,
    ConformanceError,
    check_explainer,
    check_monitor,
)
from mlflow_clarity.testing.context import default_context, make_context
from mlflow_clarity.testing.load import cpu_load
from mlflow_clarity.testing.running import StepRun, run_step, run_steps

__all__ = [
    "Conformance",
    "ConformanceError",
    "StepRun",
    "check_explainer",
    "check_monitor",
    "cpu_load",
    "default_context",
    "make_context",
    "run_step",
    "run_steps",
]
