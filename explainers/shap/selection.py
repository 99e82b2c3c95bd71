"""Which SHAP algorithm explains a model: by flavor first, model class second.

The result is a chain: the exact or fastest faithful algorithm first, then fallbacks.
The pipeline tries them in order and records why each one it passed over failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_clarity.data.encoding import TableEncoding
from mlflow_clarity.explainers.shap.algorithms import ALGORITHMS, EXACT_MAX_FEATURES
from mlflow_clarity.model_access import torch_module
from mlflow_clarity.spark_models import EXPLAINER_REASON as SPARK_EXPLAINER_REASON
from mlflow_clarity.types import ModelContext

_BOOSTER_FLAVORS = ("xgboost", "lightgbm")
SKLEARN_TREE_CLASSES = frozenset(
    {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "IsolationForest",
    }
)


@dataclass(frozen=True)
class Choice:
    """An algorithm to try and why it was chosen."""

    algorithm: str
    reason: str


def _pipeline_end(model: Any) -> tuple[str, str] | None:
    """The algorithm for the model an sklearn Pipeline ends in and that model's class:
    ``pipeline_tree`` for a tree model, ``pipeline_linear`` for a linear one; else None."""
    steps = getattr(model, "steps", None)
    if type(model).__name__ != "Pipeline" or not isinstance(steps, list) or len(steps) < 2:
        return None
    last = steps[-1][1]
    cls, module = type(last).__name__, type(last).__module__
    sklearn_tree = module.startswith("sklearn.") and cls in SKLEARN_TREE_CLASSES
    if sklearn_tree or module.startswith(_BOOSTER_FLAVORS):
        return "pipeline_tree", cls
    if module.startswith("sklearn.linear_model") and hasattr(last, "coef_"):
        return "pipeline_linear", cls
    return None


def _model_agnostic(ctx: ModelContext, n_features: int, why: str) -> Choice:
    if n_features <= EXACT_MAX_FEATURES:
        return Choice("exact", f"{why}; {n_features} features <= 10: exact enumeration")
    return Choice("permutation", f"{why}; {n_features} features: Permutation SHAP")


def explainer_chain(ctx: ModelContext, encoding: TableEncoding) -> list[Choice]:
    """Return the algorithms to try, best first.

    Args:
        ctx: The model's context; ``ctx.options["explainer"]`` forces one algorithm.
        encoding: The encoding of the data (mixed types rule out model-specific paths).

    Returns:
        The chain of choices.

    Raises:
        ValueError: An unknown forced explainer.
    """
    forced = ctx.options.get("explainer")
    if forced is not None:
        if forced not in ALGORITHMS:
            raise ValueError(f"unknown explainer {forced!r}; choose one of {sorted(ALGORITHMS)}")
        return [Choice(str(forced), "forced by step_options")]
    model = ctx.model
    cls = type(model).__name__
    module = type(model).__module__
    n_features = len(encoding.columns)
    numeric = encoding.all_numeric
    chain: list[Choice] = []
    end = _pipeline_end(model)
    if end is not None:
        algorithm, final = end
        method = "TreeSHAP" if algorithm == "pipeline_tree" else "linear SHAP"
        chain.append(
            Choice(
                algorithm,
                f"sklearn Pipeline ending in {final}: exact {method} on the transformed "
                "columns, summed per input column",
            )
        )
    if not numeric:
        why = f"{cls} on mixed-type columns: model-agnostic on the raw columns"
    elif ctx.flavor in _BOOSTER_FLAVORS or module.startswith(_BOOSTER_FLAVORS):
        chain.append(Choice("native_tree", f"{cls}: exact TreeSHAP from the booster itself"))
        chain.append(Choice("tree", f"{cls}: exact TreeSHAP with shap's TreeExplainer"))
        why = "fallback"
    elif module.startswith("sklearn.") and cls in SKLEARN_TREE_CLASSES:
        chain.append(Choice("tree", f"sklearn tree model {cls}: exact TreeSHAP"))
        why = "fallback"
    elif module.startswith("sklearn.linear_model") and hasattr(model, "coef_"):
        chain.append(Choice("linear", f"sklearn linear model {cls}: exact linear SHAP"))
        why = "fallback"
    elif torch_module(model) is not None:
        chain.append(Choice("deep", "torch module: DeepLIFT-SHAP (checked for additivity)"))
        chain.append(Choice("gradient", "torch module: expected gradients"))
        why = "fallback"
    elif ctx.flavor == "spark":
        why = SPARK_EXPLAINER_REASON
    elif cls in ("Pipeline", "ColumnTransformer"):
        why = f"sklearn {cls}: model-agnostic on the raw input columns"
    else:
        why = f"{cls} ({ctx.flavor}): model-agnostic"
    chain.append(_model_agnostic(ctx, n_features, why))
    return chain
