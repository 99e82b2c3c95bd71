"""Versions of the libraries that shape the results, recorded with every run."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

_VERSIONED = (
    "mlflow-clarity",
    "mlflow",
    "numpy",
    "pandas",
    "pluggy",
    "shap",
    "lime",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "torch",
)


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Return installed versions of the libraries that shape the results (read once)."""
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
