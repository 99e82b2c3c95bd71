"""Performance estimated without labels: CBPE (classifiers) and DLE (regressors).

Simulations with a known truth: a logistic P(y|x), so a logistic model is well calibrated,
and a regression whose noise grows with one input, so the loss depends on where rows fall.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

import mlflow_clarity
from mlflow_clarity.monitors.baseline.model_quality import new_quality
from mlflow_clarity.monitors.baseline.step import build
from mlflow_clarity.monitors.check.drift_check import check_batch
from mlflow_clarity.monitors.check.tracking import check_metrics
from mlflow_clarity.monitors.estimation import step as estimation_step
from mlflow_clarity.monitors.estimation.batch import NO_CARD, BatchEstimation
from mlflow_clarity.monitors.estimation.card import EstimatorCard, fit_card
from mlflow_clarity.testing import make_context, run_step
from mlflow_clarity.types import StepSkipped

from helpers import clarity_file, steps_by_name

WEIGHTS = np.array([1.5, -1.0, 0.5, 0.0])
CHUNK = 5000


def _columns(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])


def binary(rows: int, seed: int, shift: float = 0.0, weights=WEIGHTS):
    """Features N(0, 1) (x0 shifted by ``shift``); P(y=1 | x) logistic in ``weights``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(WEIGHTS)))
    x[:, 0] += shift
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ weights - 0.3)))).astype(int)
    return _columns(x), pd.Series(y, name="label")


def heteroscedastic(rows: int, seed: int, shift: float = 0.0, noise: float = 1.0):
    """y = 2 x0 - x1 + noise whose scale grows with |x2|; x2 shifted by ``shift``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    x[:, 2] += shift
    y = 2 * x[:, 0] - x[:, 1] + rng.normal(size=rows) * noise * (0.2 + np.abs(x[:, 2]))
    return _columns(x), pd.Series(y, name="target")


def realised(model, x: pd.DataFrame, y: pd.Series) -> dict:
    if hasattr(model, "predict_proba"):
        outputs, classes = model.predict_proba(x), tuple(str(c) for c in model.classes_)
    else:
        outputs, classes = model.predict(x).reshape(-1, 1), ()
    quality = new_quality(classes, outputs.shape[1])
    quality.update(outputs, y.astype(str) if classes else y)
    return quality.metrics()


def estimate(card: EstimatorCard, model, x: pd.DataFrame) -> dict:
    estimator = card.estimator()
    if card.method == "CBPE":
        estimator.update(model.predict_proba(x))
    else:
        estimator.update(x, model.predict(x).reshape(-1, 1))
    return estimator.estimates()


@pytest.fixture(scope="module")
def classifier():
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(*binary(5000, seed=0))
    x, y = binary(20_000, seed=1)  # held-out labelled rows: the calibration data
    ctx = make_context(model, x, y)
    return model, ctx, fit_card(ctx)


@pytest.fixture(scope="module")
def regressor():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(*heteroscedastic(5000, seed=0))
    x, y = heteroscedastic(20_000, seed=1)
    ctx = make_context(model, x, y)
    return model, ctx, fit_card(ctx)


def test_cbpe_tracks_accuracy_under_covariate_shift(classifier) -> None:
    model, _, card = classifier
    assert card.method == "CBPE" and card.facts["classes"] == ["0", "1"]
    for chunk, shift in enumerate(np.linspace(-1.5, 1.5, 6)):
        x, y = binary(CHUNK, seed=100 + chunk, shift=shift)
        truth, found = realised(model, x, y), estimate(card, model, x)
        assert abs(found["accuracy"]["value"] - truth["accuracy"]) < 0.02, (shift, found, truth)
        for name in ("precision", "recall", "f1", "auc"):
            entry = found[name]
            assert entry["lower"] < entry["value"] < entry["upper"]
            assert abs(entry["value"] - truth[name]) < 0.04, (shift, name, entry, truth[name])


def test_cbpe_multiclass_is_calibrated_per_class() -> None:
    from sklearn.linear_model import LogisticRegression

    def three(rows: int, seed: int, shift: float = 0.0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(rows, 3))
        x[:, 0] += shift
        logits = x @ np.array([[2.0, -1.0, 0.0], [0.0, 1.5, -1.5], [-1.0, 0.0, 1.0]])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (p.cumsum(axis=1) < rng.random((rows, 1))).sum(axis=1)
        return _columns(x), pd.Series(np.array(["a", "b", "c"])[y])

    model = LogisticRegression(max_iter=500).fit(*three(5000, 0))
    ctx = make_context(model, *three(15_000, 1))
    card = fit_card(ctx)
    assert len(card.maps) == 3  # one isotonic map per class
    for chunk, shift in enumerate((0.0, 1.0)):
        x, y = three(CHUNK, 10 + chunk, shift)
        truth, found = realised(model, x, y), estimate(card, model, x)
        assert abs(found["accuracy"]["value"] - truth["accuracy"]) < 0.02
        assert abs(found["auc"]["value"] - truth["auc"]) < 0.02


def _check(ctx, card, x, y=None, **kwargs):
    """A real check of one batch (no MLflow store): the baseline built as at log time."""
    baseline = build(ctx.reference, ctx=ctx)
    return check_batch(
        baseline,
        [(x, y)],
        ctx=ctx,
        attribution=False,
        estimation=BatchEstimation(card),
        **kwargs,
    ).drift["estimated"]


def test_concept_shift_is_flagged_when_labels_come_and_not_before(classifier) -> None:
    model, ctx, card = classifier
    turned = np.array([1.5, 1.0, 0.5, 0.0])  # x1 now pushes the other way: P(y|x) changed
    x, y = binary(CHUNK, seed=7, weights=turned)
    without = _check(ctx, card, x)
    # the inputs (and so the scores) did not move: nothing computed from them can see this
    assert without["status"] == "ok" and without["reliability"] == "ok"
    assert without["metrics"]["accuracy"]["value"] - realised(model, x, y)["accuracy"] > 0.1
    labelled = _check(ctx, card, x, y)
    accuracy = labelled["metrics"]["accuracy"]
    assert accuracy["realised"] == pytest.approx(realised(model, x, y)["accuracy"])
    assert accuracy["reliability"] == "unreliable" and "labels_disagree" in accuracy["reasons"]
    assert labelled["reliability"] == "unreliable"


def test_inputs_far_outside_the_calibration_are_flagged(classifier) -> None:
    _, ctx, card = classifier
    x, _ = binary(CHUNK, seed=8)
    moved = _check(ctx, card, x + 1.0)  # every input moved: the weighted drift score alerts
    codes = {r["code"] for r in moved["reasons"]}
    assert "input_drift" in codes and moved["metrics"]["accuracy"]["reliability"] != "ok"
    x, _ = binary(CHUNK, seed=9, shift=6.0)
    codes = {r["code"] for r in _check(ctx, card, x)["reasons"]}
    assert {"outside_calibrated_range", "predicted_rate_moved"} <= codes


def test_dle_follows_heteroscedastic_loss(regressor) -> None:
    model, _, card = regressor
    assert card.method == "DLE" and set(card.loss_models) == {"mae", "rmse"}
    reference = card.facts["reference"]["metrics"]
    for chunk, shift in enumerate((0.0, 0.5, 1.0)):
        x, y = heteroscedastic(CHUNK, seed=50 + chunk, shift=shift)
        truth, found = realised(model, x, y), estimate(card, model, x)
        assert abs(found["mae"]["value"] / truth["mae"] - 1) < 0.05, (shift, found, truth)
        # squared errors are heavy-tailed: the realised RMSE of 5,000 rows varies by ~2 %
        assert abs(found["rmse"]["value"] / truth["rmse"] - 1) < 0.08, (shift, found, truth)
    # the error grew as x2 moved: the reference MAE misses that, the loss model does not
    assert abs(reference["mae"] / truth["mae"] - 1) > 0.2


def test_dle_noise_change_is_flagged_when_labels_come(regressor) -> None:
    _, ctx, card = regressor
    x, y = heteroscedastic(CHUNK, seed=60, noise=2.0)  # same inputs, twice the noise
    labelled = _check(ctx, card, x, y)
    assert labelled["method"] == "DLE"
    assert "labels_disagree" in labelled["metrics"]["mae"]["reasons"]


def test_labels_of_classes_the_model_never_saw(classifier) -> None:
    model, ctx, card = classifier
    x, y = binary(2000, seed=3)
    with pytest.raises(StepSkipped, match="no reference label is one of the model's classes"):
        fit_card(make_context(model, x, y.map({0: "no", 1: "yes"})))
    partly = fit_card(make_context(model, x, y.where(y.index >= 100, 7)))
    assert "labels the model never predicts" in partly.facts["notes"][0]
    found = _check(ctx, card, x, y.where(y.index >= 100, 7))
    assert "unknown_label_classes" in {r["code"] for r in found["reasons"]}
    assert found["reliability"] == "unreliable"


def test_no_reference_labels_is_a_clear_skip(classifier) -> None:
    model, _, _ = classifier
    x, _ = binary(500, seed=4)
    (spec,) = estimation_step.clarity_monitors()
    unlabelled = run_step(spec, make_context(model, x))
    assert unlabelled.result.status == "skipped"
    assert "reference data has no labels" in unlabelled.result.reason


@pytest.mark.slow  # two models logged, three checks: 10-30 s
def test_logged_model_estimates_then_realises(tracking: str, classifier) -> None:
    model, _, _ = classifier
    reference, labels = binary(4000, seed=11)
    mlflow_clarity.autolog(steps=["baseline", "estimation"])
    with mlflow.start_run(), mlflow_clarity.reference_data(reference, labels):
        info = mlflow.sklearn.log_model(model, name="m", registered_model_name="loans")
    step = steps_by_name(info.model_id)["estimation"]
    assert step["status"] == "ok", step
    card = clarity_file(info.model_id, "monitoring/estimation/estimator.json")
    assert card["method"] == "CBPE" and card["calibration"]["maps"][0]["thresholds"]

    x, y = binary(3000, seed=12, shift=0.5)
    batch = x.assign(row_id=np.arange(len(x)))
    client = mlflow.MlflowClient()
    blind = mlflow_clarity.check("models:/loans/1", batch, id_column="row_id", attribution=False)
    blind_metrics = client.get_run(blind.run_id).data.metrics
    assert blind.drift["estimated"]["status"] == "ok"
    assert "estimated.accuracy" in blind_metrics and "quality.accuracy" not in blind_metrics

    labelled = batch.assign(label=y)
    seen = mlflow_clarity.check(
        "models:/loans/1", labelled, "label", id_column="row_id", attribution=False
    )
    metrics = client.get_run(seen.run_id).data.metrics
    assert metrics["estimated.accuracy"] == pytest.approx(blind_metrics["estimated.accuracy"])
    assert abs(metrics["estimated.accuracy"] - metrics["quality.accuracy"]) < 0.03
    assert metrics["estimated.accuracy.error"] == pytest.approx(
        metrics["estimated.accuracy"] - metrics["quality.accuracy"]
    )
    # the same ids: the truth is also logged to the earlier check, at its own step
    earlier = client.get_run(blind.run_id).data
    assert earlier.metrics["quality.accuracy"] == metrics["quality.accuracy"]
    assert client.get_run(seen.run_id).data.tags["clarity.check.realised_for"] == blind.run_id
    history = client.get_metric_history(blind.run_id, "quality.accuracy")
    assert [m.step for m in history] == [int(earlier.tags["clarity.check.step"])]
    report = clarity_file(info.model_id, "report.html").read_text()
    assert "Estimated performance (latest check)" in report
    assert "Performance without labels" in report  # the log-time section
    latest = clarity_file(info.model_id, "monitoring/checks/latest.json")
    assert latest["estimated"]["metrics"]["accuracy"]["realised"] == metrics["quality.accuracy"]

    # no reference labels: no calibration, and a check says so
    with mlflow.start_run(), mlflow_clarity.reference_data(reference):
        mlflow.sklearn.log_model(model, name="m", registered_model_name="bare")
    bare = mlflow_clarity.check("models:/bare/1", x, experiment=None, attribution=False)
    assert bare.drift["estimated"] == {"status": "skipped", "reason": NO_CARD}
    assert "estimated.accuracy" not in check_metrics(bare.drift)
