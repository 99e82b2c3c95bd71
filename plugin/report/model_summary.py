"""What a model is made of, for the model card: JSON-ready, with no heavy imports.

torch modules: the module tree and parameter counts; xgboost and lightgbm boosters and
sklearn tree ensembles: number of trees and depth; sklearn pipelines: each step; other
sklearn estimators: the class and its parameters; anything else: its class.
"""

from __future__ import annotations

import sys
from typing import Any

MAX_PARAMS = 40
MAX_MODULE_LINES = 60


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)[:120]


def _torch(module: Any) -> dict[str, Any]:
    parameters = list(module.parameters())
    lines = repr(module).splitlines()
    return {
        "kind": "torch module",
        "class": _class_name(module),
        "parameters": int(sum(p.numel() for p in parameters)),
        "trainable_parameters": int(sum(p.numel() for p in parameters if p.requires_grad)),
        "module_tree": lines[:MAX_MODULE_LINES]
        + (["..."] if len(lines) > MAX_MODULE_LINES else []),
    }


def _booster_trees(model: Any) -> dict[str, Any] | None:
    """Trees and depth of xgboost and lightgbm models (sklearn wrappers included)."""
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if hasattr(booster, "get_dump") and hasattr(booster, "get_score"):  # xgboost
        dumps = booster.get_dump()
        # each line of a tree's dump is indented by one tab per level
        depth = max((line.count("\t") for tree in dumps for line in tree.splitlines()), default=0)
        return {"trees": len(dumps), "max_depth": depth}
    booster = getattr(model, "booster_", model)
    if hasattr(booster, "dump_model"):  # lightgbm
        info = booster.dump_model()["tree_info"]
        return {
            "trees": len(info),
            "max_depth": max((_lightgbm_depth(t["tree_structure"]) for t in info), default=0),
        }
    return None


def _lightgbm_depth(node: dict[str, Any]) -> int:
    children = [node[k] for k in ("left_child", "right_child") if k in node]
    return 1 + max((_lightgbm_depth(c) for c in children), default=-1) if children else 0


def _sklearn(model: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {"kind": "scikit-learn estimator", "class": _class_name(model)}
    if hasattr(model, "steps"):  # a Pipeline
        summary["kind"] = "scikit-learn pipeline"
        summary["steps"] = [{"name": name, **describe_model(step)} for name, step in model.steps]
        return summary
    params = model.get_params(deep=False)
    summary["parameters"] = {k: _plain(v) for k, v in list(sorted(params.items()))[:MAX_PARAMS]}
    if hasattr(model, "estimators_") and hasattr(model, "n_estimators"):
        depths = [e.get_depth() for e in _flat(model.estimators_) if hasattr(e, "get_depth")]
        summary["trees"] = len(depths) or None
        summary["max_depth"] = max(depths, default=None)
    elif hasattr(model, "get_depth"):
        summary["trees"], summary["max_depth"] = 1, int(model.get_depth())
    if hasattr(model, "n_features_in_"):
        summary["features_in"] = int(model.n_features_in_)
    return summary


def _flat(estimators: Any) -> list[Any]:
    flat = []
    for item in estimators:
        flat.extend(
            _flat(item) if hasattr(item, "__len__") and not hasattr(item, "fit") else [item]
        )
    return flat


def describe_model(model: Any) -> dict[str, Any]:
    """Describe ``model`` (the in-memory object given to ``log_model``, or a loaded one).

    Returns:
        ``kind`` and ``class``, plus what fits the model: ``parameters``, ``trees`` and
        ``max_depth``, ``steps``, ``module_tree`` and parameter counts.
    """
    if model is None:
        return {"kind": "unknown", "class": None}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return _torch(model)
    trees = _booster_trees(model)
    if hasattr(model, "get_params") and hasattr(model, "fit"):
        summary = _sklearn(model)
        if trees:
            summary.update(trees)
        return summary
    if trees:
        return {"kind": "gradient-boosted trees", "class": _class_name(model), **trees}
    return {"kind": "python model", "class": _class_name(model)}
