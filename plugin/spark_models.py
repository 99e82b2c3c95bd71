"""``pyspark.ml`` models called on pandas frames, so every step can explain them.

A ``PipelineModel`` (or a single fitted ``pyspark.ml`` model) is called on the driver:
the pandas rows become a local Spark DataFrame, the model transforms it and the output
columns come back. Each call is a Spark job (0.3-1 s on ``local[2]``, whatever the row
count), far too slow for the thousands of calls explainers make. So a pipeline of one
``VectorAssembler`` and a logistic or linear regression, or a decision tree, random
forest or GBT (up to 3,000 nodes, read once through shap's converter), is evaluated on
the driver with numpy, once the first call has shown it gives Spark's own outputs
(within 1e-9); any other model, or a mismatch, stays on Spark jobs. A probabilistic classifier
exposes ``predict_proba`` and ``classes_`` (its class indices), so explainers and quality
metrics work on probabilities rather than on the predicted label, which is all
``mlflow.pyfunc`` returns for Spark models.

SHAP explains these models model-agnostically on a seeded driver-side sample. shap's
``TreeExplainer`` can read classic ``pyspark.ml`` tree models, but node by node over
Py4J (about 3 ms per node), path-dependent only, on the assembled feature vector rather
than on the pipeline's input columns, and not at all for Spark Connect models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LOCAL_TOLERANCE = 1e-9
VERIFY_ROWS = 64
TREE_MAX_NODES = 3_000
TREE_MODELS = frozenset(
    f"{kind}{task}Model"
    for kind in ("DecisionTree", "RandomForest", "GBT")
    for task in ("Classification", "Regression")
)

EXPLAINER_REASON = (
    "pyspark.ml model: model-agnostic on a seeded driver-side sample (shap's TreeExplainer "
    "reads Spark trees node by node over Py4J, path-dependent only, on the assembled "
    "vector instead of the pipeline's input columns)"
)


def is_spark_ml_model(model: Any) -> bool:
    """Whether ``model`` is a fitted classic ``pyspark.ml`` model (never imports pyspark)."""
    module = type(model).__module__
    return module.startswith("pyspark.ml") and hasattr(model, "transform")


def _final_stage(model: Any) -> Any:
    stages = getattr(model, "stages", None)
    return stages[-1] if stages else model


def _session() -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()


def _assembled(model: Any) -> list[str] | None:
    """The input columns of a pipeline that is one VectorAssembler and a model, else None."""
    stages = list(getattr(model, "stages", None) or [])
    if len(stages) != 2 or type(stages[0]).__name__ != "VectorAssembler":
        return None
    return list(stages[0].getInputCols())


def _leaf_values(trees: list[Any], matrix: Any) -> Any:
    """Sum over trees (converted by shap) of each row's leaf value (Spark's ``x <= t``
    goes left), one column per value of a leaf."""
    import numpy as np

    rows = np.arange(len(matrix))
    total = 0.0
    for tree in trees:
        node = np.zeros(len(matrix), dtype=np.int64)
        while True:
            left = tree.children_left[node]
            inner = left >= 0
            if not inner.any():
                break
            feature = np.where(inner, tree.features[node], 0)
            goes_left = matrix[rows, feature] <= tree.thresholds[node]
            node = np.where(inner, np.where(goes_left, left, tree.children_right[node]), node)
        total = total + np.asarray(tree.values, dtype=float)[node]
    return total


def _tree_function(final: Any, columns: list[str]) -> Callable[[Any], Any] | None:
    """Spark tree models evaluated from their trees, read once with shap's converter
    (over Py4J, about 3 ms per node: models of more than ``TREE_MAX_NODES`` nodes stay
    on Spark jobs)."""
    import numpy as np
    from scipy.special import expit

    name = type(final).__name__
    trees = getattr(final, "trees", None) or [final]
    if sum(int(t.numNodes) for t in trees) > TREE_MAX_NODES:
        return None
    import shap

    converted = shap.TreeExplainer(final).model.trees

    def outputs(frame: Any) -> Any:
        total = _leaf_values(converted, frame[columns].to_numpy(dtype=float))
        if name == "GBTClassificationModel":  # logistic loss on a margin of 2 * sum
            margin = 2.0 * total[:, 0]
            return np.column_stack([expit(-margin), expit(margin)])
        if "Classification" in name:  # normalised class frequencies, averaged
            return total / total.sum(axis=1, keepdims=True)
        return total[:, 0]

    return outputs


def _local_function(model: Any) -> Callable[[Any], Any] | None:
    """Spark's output computed on the driver (probabilities, or predictions for
    regressions) for VectorAssembler + logistic or linear regression or tree model
    pipelines; None for others."""
    import numpy as np
    from scipy.special import expit, softmax

    columns = _assembled(model)
    if columns is None:
        return None
    final = model.stages[-1]
    name = type(final).__name__
    if name in TREE_MODELS:
        return _tree_function(final, columns)
    if name == "LogisticRegressionModel":
        weights = final.coefficientMatrix.toArray()
        intercepts = final.interceptVector.toArray()

        def probabilities(frame: Any) -> Any:
            margins = frame[columns].to_numpy(dtype=float) @ weights.T + intercepts
            if weights.shape[0] == 1:  # binomial: one margin, the positive class
                positive = expit(margins[:, 0])
                return np.column_stack([1.0 - positive, positive])
            return softmax(margins, axis=1)

        return probabilities
    if name == "LinearRegressionModel":
        coefficients = final.coefficients.toArray()
        intercept = float(final.intercept)
        return lambda frame: frame[columns].to_numpy(dtype=float) @ coefficients + intercept
    return None


class SparkMLModel:
    """A ``pyspark.ml`` model as a function of pandas frames (``predict``).

    Args:
        model: The fitted ``pyspark.ml`` model or ``PipelineModel``.
    """

    def __init__(self, model: Any) -> None:
        self.spark_model = model
        stage = _final_stage(model)
        getter = getattr(stage, "getPredictionCol", None)
        self.prediction_col = getter() if getter else "prediction"
        self._local: Callable[[Any], Any] | None = None
        self._tried = self._verified = False

    @property
    def evaluation(self) -> str:
        """How the model is called: ``driver`` (numpy, verified against Spark) or
        ``spark jobs``."""
        return "driver" if self._local is not None and self._verified else "spark jobs"

    def _outputs(self, frame: Any, spark_outputs: Callable[[Any], Any]) -> Any:
        """The model's outputs on ``frame``: from numpy once it matched Spark, else Spark."""
        import numpy as np

        if not self._tried:  # built on first use: reading trees takes time
            from py4j.protocol import Py4JError

            self._tried = True
            try:
                self._local = _local_function(self.spark_model)
            except (NotImplementedError, AttributeError, TypeError, ValueError, Py4JError):
                self._local = None  # categorical splits, unknown models: Spark jobs
        if self._local is None:
            return spark_outputs(frame)
        if not self._verified:
            head = frame.iloc[:VERIFY_ROWS]
            expected = spark_outputs(head)
            try:
                matches = np.allclose(self._local(head), expected, rtol=0, atol=LOCAL_TOLERANCE)
            except (KeyError, TypeError, ValueError):  # columns or types numpy cannot take
                matches = False
            if not matches:
                self._local = None
                return spark_outputs(frame)
            self._verified = True
        return self._local(frame)

    def _transform(self, frame: Any, column: str, vector: bool = False) -> Any:
        """The model's output column ``column`` on ``frame`` as a pandas Series."""
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as F

        output = self.spark_model.transform(_session().createDataFrame(frame))
        value = vector_to_array(column) if vector else F.col(column)
        return output.select(value.alias("v")).toPandas()["v"]

    def predict(self, frame: Any) -> Any:
        """The model's prediction column for each row of ``frame`` (a numpy array)."""
        return self._outputs(frame, self._spark_predictions)

    def _spark_predictions(self, frame: Any) -> Any:
        return self._transform(frame, self.prediction_col).to_numpy(dtype=float)


class SparkMLClassifier(SparkMLModel):
    """A probabilistic ``pyspark.ml`` classifier: ``predict_proba`` and ``classes_``."""

    def __init__(self, model: Any) -> None:
        import numpy as np

        super().__init__(model)
        stage = _final_stage(model)
        self.probability_col = stage.getProbabilityCol()
        self.classes_ = np.arange(int(stage.numClasses))

    def predict(self, frame: Any) -> Any:
        """The most probable class index for each row of ``frame``."""
        return self.predict_proba(frame).argmax(axis=1).astype(float)

    def predict_proba(self, frame: Any) -> Any:
        """One probability per class index for each row of ``frame``."""
        return self._outputs(frame, self._spark_probabilities)

    def _spark_probabilities(self, frame: Any) -> Any:
        import numpy as np

        column = self._transform(frame, self.probability_col, vector=True)
        return np.stack(column.to_numpy()).astype(float)


def callable_spark_model(model: Any) -> SparkMLModel | None:
    """Wrap a fitted ``pyspark.ml`` model for the steps, or None when it is not one.

    Probabilistic classifiers get ``predict_proba``; other models ``predict``.
    """
    if not is_spark_ml_model(model):
        return None
    stage = _final_stage(model)
    if hasattr(stage, "numClasses") and hasattr(stage, "getProbabilityCol"):
        return SparkMLClassifier(model)
    return SparkMLModel(model)
