"""Contexts for testing a step: the model and reference data as the pipeline sees them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mlflow_clarity.config import ClarityConfig
from mlflow_clarity.data.reference import RawReference
from mlflow_clarity.processing import with_reference
from mlflow_clarity.types import ModelContext

DEFAULT_ROWS = 300
"""Rows of the default context's data (sklearn's breast-cancer data set, standardised)."""


def make_context(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    flavor: str = "sklearn",
    sample_rows: int = 2000,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    signature: Any = None,
    model_id: str = "m-test",
) -> ModelContext:
    """Build the context a step receives for ``model`` logged with reference data ``X, y``.

    The reference data is prepared exactly as the pipeline prepares it at ``log_model``:
    converted, aligned by name with the columns the signature (else the model's
    ``feature_names_in_``) expects, and sampled with ``seed``. Data the pipeline could not
    use gives a context without reference data and with ``reference_missing_reason`` set,
    as it would at ``log_model``.

    Args:
        model: The in-memory model, as passed to ``log_model``.
        X: Reference features: a DataFrame, an array, a dict of columns or a tensor.
        y: Labels aligned with ``X``, or None.
        flavor: The MLflow flavor's short name.
        sample_rows: Maximum rows in ``ctx.reference.sample``.
        seed: The seed every random choice of a step must derive from.
        options: The step's own options (``ctx.options``), as given with
            ``autolog(step_options={name: {...}})``.
        signature: The model's ``mlflow.models.ModelSignature``, or None.
        model_id: The LoggedModel id; ``model_uri`` is ``models:/<model_id>``.

    Returns:
        The context.
    """
    base = ModelContext(
        flavor=flavor,
        model=model,
        model_id=model_id,
        model_uri=f"models:/{model_id}",
        signature=signature,
        options=MappingProxyType(dict(options or {})),
    )
    config = ClarityConfig(sample_rows=sample_rows, seed=seed)
    return with_reference(base, RawReference(X, y, "explicit"), config)


def default_context(*, rows: int = DEFAULT_ROWS, seed: int = 0) -> ModelContext:
    """A small real context: a logistic regression on sklearn's breast-cancer data.

    The 30 features are standardised (so the model converges quickly) and keep their
    names, which contain spaces. Needs scikit-learn (imported here, not at import time).

    Args:
        rows: Rows of the data set to use (at most 569).
        seed: The context's seed.

    Returns:
        A context whose reference data are the first ``rows`` rows and their labels.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer(as_frame=True)
    features = data.data.iloc[:rows]
    features = (features - features.mean()) / features.std()
    labels = data.target.iloc[:rows]
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    return make_context(model, features, labels, seed=seed)
