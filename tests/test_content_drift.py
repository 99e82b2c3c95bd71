"""Image and text drift: the ``content`` baseline at log time and its checks.

Images: a small CNN trained here on pictures whose class is where a bright square sits;
batches made darker, blurred, or of one class only. Texts: filler-word documents;
batches with new words and longer documents. The multivariate statistic is also tested
alone on synthetic embeddings, for its false-alarm rate at three batch sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("PIL")

from mlflow_clarity.monitors.check.drift_check import check_batch  # noqa: E402
from mlflow_clarity.monitors.check.drift_report import render  # noqa: E402
from mlflow_clarity.monitors.check.multivariate import (  # noqa: E402
    MultivariateOptions,
    multivariate_drift,
)
from mlflow_clarity.monitors.check.multivariate_content import (  # noqa: E402
    ContentReader,
    items_baseline,
)
from mlflow_clarity.monitors.content import step as content_step  # noqa: E402
from mlflow_clarity.monitors.content.baseline import ContentBaseline  # noqa: E402
from mlflow_clarity.monitors.content.batch_items import ContentInputError  # noqa: E402
from mlflow_clarity.monitors.estimation import step as estimation_step  # noqa: E402
from mlflow_clarity.monitors.estimation.batch import BatchEstimation  # noqa: E402
from mlflow_clarity.monitors.estimation.card import EstimatorCard, fit_card  # noqa: E402
from mlflow_clarity.testing import check_monitor, make_context, run_step  # noqa: E402
from mlflow_clarity.types import ModelContext, RunReport  # noqa: E402

SIDE = 24
SQUARE = 5
FOLDER = "monitoring/content"
FAST = MultivariateOptions(permutations=39)
FILLER = [f"word{i}" for i in range(80)]


def _images(n: int, seed: int, ones: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 3, SIDE, SIDE)`` float32 images; class 1 (share ``ones``) has its bright
    square in the top-left quadrant, class 0 in another one."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.4, size=(n, 3, SIDE, SIDE)).astype(np.float32)
    y = (rng.random(n) < ones).astype(int)
    half = SIDE // 2
    for i in range(n):
        quadrant = 0 if y[i] == 1 else rng.integers(1, 4)
        top = (quadrant // 2) * half + rng.integers(0, half - SQUARE + 1)
        left = (quadrant % 2) * half + rng.integers(0, half - SQUARE + 1)
        x[i, :, top : top + SQUARE, left : left + SQUARE] = 1.0
    return x, y


class SquareNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveMaxPool2d(2),
            torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(32, 2)

    def forward(self, x: Any) -> Any:
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def cnn() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _images(256, seed=0)
    torch.manual_seed(0)
    net = SquareNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(30):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.as_tensor(x)), torch.as_tensor(y))
        loss.backward()
        optimiser.step()
    net.eval()
    return net, x, y


@pytest.fixture(scope="module")
def image_baseline(cnn, tmp_path_factory) -> tuple[ContentBaseline, ModelContext, Any]:
    net, x, y = cnn
    ctx = make_context(net, x, y, flavor="pytorch")
    run = run_step(content_step.clarity_monitors()[0], ctx, staging=tmp_path_factory.mktemp("c"))
    assert run.result.status == "ok", run.result.reason
    return ContentBaseline.read(run.folder / FOLDER), ctx, run


def _check(content: ContentBaseline, ctx: ModelContext | None, batch: Any) -> Any:
    reader = ContentReader(content, ctx, FAST)
    return check_batch(
        items_baseline(content), reader.chunks(batch), attribution=False, content=reader
    )


def _kinds(result: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for v in result.violations:
        found.setdefault(v["constraint_check_type"], set()).add(v["feature_name"])
    return found


def _blurred(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    return sum(
        padded[:, :, dy : dy + SIDE, dx : dx + SIDE] for dy in range(3) for dx in range(3)
    ) / np.float32(9)


# --- images -----------------------------------------------------------------------------


def test_image_baseline_files_and_report_section(image_baseline) -> None:
    content, _, run = image_baseline
    assert {f"{FOLDER}/{n}" for n in ("content.json", "profile.json", "pca.json")} <= set(
        run.result.artifacts
    )
    assert f"{FOLDER}/embeddings.parquet" in run.result.artifacts
    embedding = content.manifest["embedding"]
    assert embedding["kind"] == "penultimate_layer" and embedding["dimensions"] == 32
    assert content.embeddings.shape == (embedding["reference_rows"], embedding["components"])
    assert {"brightness", "sharpness", "contrast_rms", "colourfulness", "mean_red"} <= set(
        content.profile.columns
    )
    report = RunReport(
        status="ok",
        model_id="m-test",
        steps=(run.result,),
        started_at="2026-01-01T00:00:00Z",
        duration_s=1.0,
        seed=0,
        config={},
        versions={},
        reference={},
    )
    (section,) = content_step.clarity_report_sections(None, report)
    assert "brightness" in {row[0] for row in section.rows}
    assert any("PCA components" in p for p in section.paragraphs)


def test_unchanged_images_raise_nothing(image_baseline) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(200, seed=1)
    result = _check(content, ctx, x)
    assert result.violations == [], result.violations
    assert result.drift["multivariate"]["status"] == "ok"


@pytest.mark.parametrize(
    ("change", "property_name"),
    [(lambda x: x * np.float32(0.6), "brightness"), (_blurred, "sharpness")],
    ids=["darker", "blurred"],
)
def test_photometric_changes_are_property_drift(image_baseline, change, property_name) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(200, seed=2)
    result = _check(content, ctx, change(x))
    assert property_name in _kinds(result).get("baseline_drift_check", set())


def test_class_mix_is_embedding_drift(image_baseline) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(200, seed=3, ones=0.9)
    result = _check(content, ctx, x)
    multivariate = result.drift["multivariate"]
    assert multivariate["status"] == "drift", multivariate
    assert "multivariate_drift_check" in _kinds(result)


def test_model_that_is_not_a_torch_module_gets_a_random_projection(cnn, tmp_path) -> None:
    _, x, y = cnn

    class Brightness:  # a black-box model: bright images are class 1
        def predict(self, images: np.ndarray) -> np.ndarray:
            return (images.mean(axis=(1, 2, 3)) > 0.3).astype(int)

    ctx = make_context(Brightness(), x, y)
    run = run_step(content_step.clarity_monitors()[0], ctx, staging=tmp_path)
    content = ContentBaseline.read(run.folder / FOLDER)
    assert content.manifest["embedding"]["kind"] == "random_projection"
    same = _check(content, None, _images(200, seed=4)[0])
    # ~170 stored reference images: the false-alarm rate is alpha over reference samples,
    # not for each one, so only the statistic's size is asserted here
    assert same.drift["multivariate"]["domain_classifier"]["auc"] < 0.6
    assert "baseline_drift_check" not in _kinds(same)
    darker = _check(content, None, _images(200, seed=4)[0] * np.float32(0.5))
    assert darker.drift["multivariate"]["status"] == "drift"


# --- outputs of image models: prediction drift, quality and estimates without labels -------


@pytest.fixture(scope="module")
def image_card(cnn, tmp_path_factory) -> EstimatorCard:
    net, _, _ = cnn
    x, y = _images(256, seed=10)  # held-out labelled images: an honest calibration
    ctx = make_context(net, x, _mislabelled(y, seed=10), flavor="pytorch")
    step = estimation_step.clarity_monitors()[0]
    run = run_step(step, ctx, staging=tmp_path_factory.mktemp("e"))
    assert run.result.status == "ok", run.result.reason
    return EstimatorCard.read(run.folder / "monitoring/estimation")


def _mislabelled(y: np.ndarray, seed: int) -> np.ndarray:
    """Labels with 15 % flipped: the CNN is right on every picture, so its accuracy
    against these labels (~0.85) is what its confident scores cannot tell alone."""
    flip = np.random.default_rng(seed).random(len(y)) < 0.15
    return np.where(flip, 1 - y, y)


def _check_outputs(
    content: ContentBaseline, ctx: ModelContext, card: EstimatorCard, batch: Any, labels: Any = None
) -> Any:
    reader = ContentReader(content, ctx, FAST)
    return check_batch(
        items_baseline(content, card),
        reader.chunks(batch, labels),
        ctx=ctx,
        attribution=False,
        content=reader,
        estimation=BatchEstimation(card),
    )


def _accuracy(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((net(torch.as_tensor(x)).argmax(dim=1).numpy() == y).mean())


def test_image_card_holds_the_classes_and_the_outputs_profile(image_card) -> None:
    facts = image_card.facts
    assert facts["method"] == "CBPE" and facts["classes"] == ["0", "1"]
    assert {"proba_0", "proba_1", "predicted_label"} <= set(
        facts["reference"]["outputs_profile"]["columns"]
    )
    assert facts["data"]["rows"] == 256


def test_unlabelled_image_batch_gets_estimated_accuracy(cnn, image_baseline, image_card) -> None:
    net, _, _ = cnn
    content, ctx, _ = image_baseline
    x, y = _images(300, seed=11)
    y = _mislabelled(y, seed=11)
    result = _check_outputs(content, ctx, image_card, x)
    estimated = result.drift["estimated"]
    assert estimated["status"] == "ok" and estimated["method"] == "CBPE", estimated
    accuracy = estimated["metrics"]["accuracy"]
    assert accuracy["lower"] <= accuracy["value"] <= accuracy["upper"]
    assert accuracy["reliability"] in ("ok", "caution") and "reasons" in accuracy
    assert _accuracy(net, x, y) < 0.92  # the raw scores (~1.0) would say otherwise
    assert abs(accuracy["value"] - _accuracy(net, x, y)) <= 0.06
    assert result.drift["predictions"]["status"] == "ok", result.drift["predictions"]
    assert result.drift["quality"]["status"] == "skipped"
    labelled = _check_outputs(content, ctx, image_card, x, labels=y)
    realised = labelled.drift["quality"]["metrics"]["accuracy"]
    assert realised == pytest.approx(_accuracy(net, x, y))
    assert labelled.drift["estimated"]["metrics"]["accuracy"]["realised"] == realised
    labelled.drift["estimated"]["metrics"]["<b>"] = {"value": 1.0, "reasons": ["<i>"]}
    page = render(labelled.drift, labelled.violations)
    assert "<h2>Multivariate drift</h2>" in page and "domain classifier ROC AUC" in page
    assert "<h2>Performance without labels</h2>" in page and "&lt;b&gt;" in page
    assert "<b>" not in page and "<i>" not in page


def test_class_mix_is_prediction_drift(image_baseline, image_card) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(300, seed=12, ones=0.9)
    result = _check_outputs(content, ctx, image_card, x)
    predictions = result.drift["predictions"]
    assert predictions["status"] == "drift" and "predicted_label" in predictions["drifted"]
    codes = [r["code"] for r in result.drift["estimated"]["reasons"]]
    assert "predicted_rate_moved" in codes


def test_rotated_images_are_embedding_and_prediction_drift(image_baseline, image_card) -> None:
    """Rotation keeps every property of a square image (brightness, contrast, sharpness,
    colours, size): only the embeddings and the model's outputs see it."""
    content, ctx, _ = image_baseline
    x, _ = _images(200, seed=40)
    rotated = np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3)))
    result = _check_outputs(content, ctx, image_card, rotated)
    assert "baseline_drift_check" not in _kinds(result)
    assert result.drift["multivariate"]["status"] == "drift", result.drift["multivariate"]
    assert result.drift["predictions"]["status"] == "drift"


def test_latest_embedding_drift_sits_next_to_the_property_histograms() -> None:
    from mlflow_clarity.monitors.content.report import with_latest_check

    sections = [{"title": t} for t in ("A", "Monitoring: image and text content", "B")]
    check = {
        "checked_at": "2026-01-01T00:00:00+00:00",
        "run_id": "r1",
        "columns": {"brightness": {"distribution": {"status": "drift"}}},
        "multivariate": multivariate_drift(
            np.zeros((100, 2)), np.ones((100, 2)), MultivariateOptions(permutations=19)
        ),
    }
    titles = [s["title"] for s in with_latest_check(sections, check)]
    assert titles[2] == "Monitoring: embedding drift (latest check)" and titles[-1] == "B"
    added = with_latest_check(sections, check)[2]
    assert added["rows"][0][0] == "domain classifier ROC AUC"
    assert any("brightness" in p for p in added["paragraphs"])
    assert with_latest_check(sections, {"columns": {}}) == sections


def test_image_regressor_gets_dle_estimates(tmp_path) -> None:
    x, _ = _images(300, seed=15)
    target = x.mean(axis=(1, 2, 3)) * 10
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 1),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(60):
        optimiser.zero_grad()
        loss = ((net(torch.as_tensor(x))[:, 0] - torch.as_tensor(target)) ** 2).mean()
        loss.backward()
        optimiser.step()
    noise = np.random.default_rng(0).normal(0, 0.1, size=600)
    ctx = make_context(net, x, target + noise[:300], flavor="pytorch")
    run = run_step(estimation_step.clarity_monitors()[0], ctx, staging=tmp_path / "e")
    assert run.result.status == "ok", run.result.reason
    card = EstimatorCard.read(run.folder / "monitoring/estimation")
    content = run_step(content_step.clarity_monitors()[0], ctx, staging=tmp_path / "c").folder
    content = ContentBaseline.read(content / FOLDER)
    assert card.method == "DLE" and card.facts["inputs"]["columns"] == []
    batch, _ = _images(300, seed=16)
    truth = batch.mean(axis=(1, 2, 3)) * 10 + noise[300:]
    result = _check_outputs(content, ctx, card, batch, labels=truth)
    mae = result.drift["estimated"]["metrics"]["mae"]
    assert abs(mae["error"]) <= 0.15 * mae["realised"], mae
    assert result.drift["predictions"]["status"] == "ok"


def test_without_a_card_outputs_are_not_compared(image_baseline) -> None:
    content, ctx, _ = image_baseline
    x, y = _images(100, seed=14)
    reader = ContentReader(content, ctx, FAST)
    result = check_batch(
        items_baseline(content),
        reader.chunks(x, y, compare_outputs=False),
        ctx=ctx,
        attribution=False,
        content=reader,
    )
    assert "without labelled reference items" in result.drift["predictions"]["reason"]
    assert result.drift["quality"]["status"] == "skipped"
    assert result.drift["multivariate"]["status"] == "ok"


def test_labels_must_match_the_items(image_baseline, image_card) -> None:
    content, ctx, _ = image_baseline
    x, y = _images(50, seed=13)
    with pytest.raises(ContentInputError, match="40 labels for at least 50 items"):
        _check_outputs(content, ctx, image_card, x, labels=y[:40])


# --- bad input --------------------------------------------------------------------------


def _png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.rint(image.transpose(1, 2, 0) * 255).astype(np.uint8)).save(path)


def test_folder_with_other_files_and_unreadable_images(image_baseline, tmp_path) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(120, seed=5)
    for i, image in enumerate(x):
        _png(tmp_path / f"img_{i:03d}.png", image)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "labels.csv").write_text("a,b\n1,2\n")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = _check(content, ctx, tmp_path)
    read = result.drift["batch"]["content"]
    assert read["skipped_non_image_files"] == 2 and read["unreadable_images"] == 1
    assert read["unreadable_examples"][0]["file"] == "broken.png"
    assert result.drift["batch"]["rows"] == 120
    # PNG files (uint8) check against the float reference arrays of the same pictures
    assert result.violations == [], result.violations


def test_a_batch_of_one_image_is_insufficient_data(image_baseline, tmp_path) -> None:
    content, ctx, _ = image_baseline
    x, _ = _images(1, seed=6)
    np.save(tmp_path / "one.npy", x[0])  # one image, without its batch axis
    result = _check(content, ctx, tmp_path / "one.npy")
    assert result.violations == []
    assert result.drift["multivariate"]["status"] == "insufficient_data"
    assert {c["distribution"]["status"] for c in result.drift["columns"].values()} == {
        "insufficient_data"
    }


def test_images_of_another_shape_are_a_clear_error(image_baseline, tmp_path) -> None:
    content, ctx, _ = image_baseline
    with pytest.raises(ContentInputError, match="shaped"):
        _check(content, ctx, np.zeros((5, 3, 10, 10), dtype=np.float32))
    (tmp_path / "batch.txt").write_text("x")
    with pytest.raises(ContentInputError, match="folder of PNG/JPEG"):
        _check(content, ctx, tmp_path / "batch.txt")


# --- text -------------------------------------------------------------------------------


def _documents(n: int, seed: int, extra: list[str] | None = None, longer: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = FILLER + (extra or [])
    return [
        " ".join(rng.choice(words, size=int(rng.integers(6, 16)) + longer)) + "." for _ in range(n)
    ]


@pytest.fixture(scope="module")
def text_baseline(tmp_path_factory) -> ContentBaseline:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs = _documents(400, seed=0)
    labels = np.arange(400) % 2
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, labels)
    ctx = make_context(model, docs, labels)
    run = run_step(content_step.clarity_monitors()[0], ctx, staging=tmp_path_factory.mktemp("t"))
    assert run.result.status == "ok", run.result.reason
    return ContentBaseline.read(run.folder / FOLDER)


def test_unchanged_text_raises_nothing(text_baseline, tmp_path) -> None:
    path = tmp_path / "batch.csv"
    pd.DataFrame({"text": _documents(300, seed=1), "id": range(300)}).to_csv(path, index=False)
    result = _check(text_baseline, None, path)
    assert result.violations == [], result.violations
    assert result.drift["columns"]["oov_share"]["distribution"]["status"] == "ok"


def test_new_vocabulary_and_longer_documents_are_flagged(text_baseline) -> None:
    new_words = [f"novel{i}" for i in range(60)]
    docs = _documents(300, seed=2, extra=new_words, longer=10)
    result = _check(text_baseline, None, docs)
    drifted = _kinds(result).get("baseline_drift_check", set())
    assert {"oov_share", "units", "characters"} <= drifted
    assert "unit_frequency" in drifted | _kinds(result).get("categorical_values_check", set())
    assert result.drift["multivariate"]["status"] == "drift"


def test_text_model_outputs_and_estimates(text_baseline, tmp_path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def labelled(n: int, seed: int, good: float = 0.5) -> tuple[list[str], np.ndarray]:
        docs = _documents(n, seed=seed)
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < good).astype(int)
        said = np.where(rng.random(n) < 0.85, y, 1 - y)  # the word says the label 85 % of times
        words = np.where(said == 1, " good.", " bad.")
        return [d.replace(".", w) for d, w in zip(docs, words, strict=True)], y

    docs, y = labelled(400, seed=30)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, y)
    held_docs, held_y = labelled(300, seed=31)
    ctx = make_context(model, held_docs, held_y)
    run = run_step(estimation_step.clarity_monitors()[0], ctx, staging=tmp_path)
    assert run.result.status == "ok", run.result.reason
    card = EstimatorCard.read(run.folder / "monitoring/estimation")
    assert card.facts["classes"] == ["0", "1"]
    hurried = fit_card(ctx, deadline=0.0)  # a slow model: what it answered in time
    assert hurried.facts["data"]["rows"] == 256
    assert hurried.facts["notes"][0].startswith("time budget: calibrated on the first 256")
    batch_docs, batch_y = labelled(300, seed=32)
    path = tmp_path / "batch.csv"
    pd.DataFrame({"text": batch_docs, "label": batch_y}).to_csv(path, index=False)
    result = _check_outputs(text_baseline, ctx, card, path, labels="label")
    realised = result.drift["quality"]["metrics"]["accuracy"]
    assert realised == pytest.approx(float((model.predict(batch_docs) == batch_y).mean()))
    accuracy = result.drift["estimated"]["metrics"]["accuracy"]
    assert 0.75 < realised < 0.95
    assert accuracy["realised"] == realised and abs(accuracy["error"]) <= 0.06
    assert "label" not in result.drift["columns"]
    mixed = _check_outputs(text_baseline, ctx, card, labelled(300, seed=33, good=0.95)[0])
    assert mixed.drift["predictions"]["status"] == "drift"


def test_text_batch_without_the_column_is_a_clear_error(text_baseline) -> None:
    frame = pd.DataFrame({"a": ["x"] * 3, "b": ["y"] * 3})
    with pytest.raises(ContentInputError, match="text column"):
        _check(text_baseline, None, frame)


def test_keeps_the_monitor_contract(cnn) -> None:
    net, x, y = cnn
    ctx = make_context(net, x[:120], y[:120], flavor="pytorch")
    check_monitor(content_step.clarity_monitors()[0], ctx, ignore=("content.json",))


def test_tables_get_the_multivariate_baseline_only_when_asked() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    frame["kind"] = "x"
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(frame[list("abcd")], frame["a"])
    assert not content_step.supports_content(make_context(model, frame[list("abcd")]))
    ctx = make_context(model, frame[list("abcd")], options={"tabular": True})
    run = run_step(content_step.clarity_monitors()[0], ctx)
    content = ContentBaseline.read(run.folder / FOLDER)
    assert content.manifest["embedding"]["columns"] == list("abcd")
    shifted = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    shifted["b"] += shifted["a"]  # the same margins, a new correlation
    for batch, expected in ((frame[list("abcd")].iloc[:200], "ok"), (shifted, "drift")):
        reader = ContentReader(content, None, FAST)
        reader_chunks = reader.tap(iter([(batch, None)]))
        for _ in reader_chunks:
            pass
        drift: dict[str, Any] = {}
        reader.add_to(drift)
        assert drift["multivariate"]["status"] == expected, drift["multivariate"]


# --- the multivariate statistic alone -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("n", [200, 1000, 10_000])
def test_false_alarm_rate_is_at_most_five_percent(n: int) -> None:
    options = dict(permutations=39, folds=3, max_rows=500, mmd_rows=300)
    alarms = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        reference, batch = rng.normal(size=(1000, 8)), rng.normal(size=(n, 8))
        found = multivariate_drift(reference, batch, MultivariateOptions(seed=seed, **options))
        alarms.append(found["status"] == "drift")
    assert np.mean(alarms) <= 0.05
    shifted = np.random.default_rng(99).normal(size=(n, 8)) + np.r_[0.4, np.zeros(7)]
    found = multivariate_drift(reference, shifted, MultivariateOptions(**options))
    assert found["status"] == "drift", found


def test_statistic_reports_its_calibration() -> None:
    rng = np.random.default_rng(0)
    found = multivariate_drift(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), FAST)
    assert found["permutations"] == 39 and found["per_test_alpha"] == 0.025
    assert found["domain_classifier"]["threshold"] >= found["domain_classifier"]["null_mean"]
    json.dumps(found)  # JSON-ready
    few = multivariate_drift(rng.normal(size=(5, 4)), rng.normal(size=(300, 4)), FAST)
    assert few["status"] == "insufficient_data"
    cut = multivariate_drift(
        rng.normal(size=(300, 4)),
        rng.normal(size=(300, 4)),
        MultivariateOptions(permutations=39, budget_s=0.0),
    )
    assert cut["permutations"] == 0 and "truncated" in cut and "cannot flag" in cut["note"]


# --- end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_logged_cnn_checked_on_a_folder_of_png_files(tracking, cnn, tmp_path) -> None:
    import mlflow
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    import mlflow_clarity
    from mlflow_clarity.cli import cli

    from helpers import clarity_file, steps_by_name

    net, _, _ = cnn
    x, y = _images(256, seed=20)  # held-out labelled images
    mlflow_clarity.autolog(steps=["content", "estimation"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        info = mlflow.pytorch.log_model(net, name="cnn", input_example=x[:2])
    step = steps_by_name(info.model_id)["content"]
    assert step["status"] == "ok", step
    assert steps_by_name(info.model_id)["estimation"]["status"] == "ok"
    assert step["summary"]["embedding"]["kind"] == "penultimate_layer"
    assert "Monitoring: image and text content" in json.dumps(
        clarity_file(info.model_id, "report_sections.json")
    )
    folder = tmp_path / "batch"
    folder.mkdir()
    darker, _ = _images(150, seed=7)
    for i, image in enumerate(darker * np.float32(0.6)):
        _png(folder / f"{i}.png", image)
    (folder / "README.md").write_text("batch of the day")
    result = mlflow_clarity.check(info.model_uri, folder, attribution=False)
    assert "brightness" in _kinds(result).get("baseline_drift_check", set())
    assert result.drift["batch"]["content"]["skipped_non_image_files"] == 1
    assert result.drift["multivariate"]["status"] in ("ok", "drift"), result.drift["multivariate"]
    metrics = MlflowClient().get_run(result.run_id).data.metrics
    assert "drift.multivariate.auc" in metrics and "drift.brightness.score" in metrics
    assert "estimated.accuracy" in metrics and "estimated.reliability" in metrics
    page = clarity_file(info.model_id, "report.html").read_text()  # re-rendered by the check
    histograms = page.index("Monitoring: image and text content")
    assert page.index("Monitoring: embedding drift (latest check)") > histograms
    assert "domain classifier ROC AUC" in page
    same, truth = tmp_path / "same.npy", tmp_path / "truth.npy"
    images, labels = _images(150, seed=8)
    np.save(same, images)
    np.save(truth, labels)
    args = ["check", info.model_uri, "--data", str(same), "--labels", str(truth), "--no-log"]
    cli = CliRunner().invoke(cli, args)
    assert cli.exit_code == 0, cli.output
    # the model loaded back (a torch.fx graph) gives the outputs the module gave
    checked = mlflow_clarity.check(info.model_uri, same, labels=truth, attribution=False)
    assert checked.drift["quality"]["metrics"]["accuracy"] == pytest.approx(
        _accuracy(net, images, labels)
    )
    assert checked.drift["predictions"]["status"] == "ok", checked.drift["predictions"]


def test_multivariate_options_come_with_the_thresholds() -> None:
    from mlflow_clarity.monitors.check.multivariate_content import (
        column_thresholds,
        multivariate_options,
    )

    given = {"multivariate": {"permutations": 199.0, "alpha": 0.01}, "min_rows": 50}
    options = multivariate_options(given)  # the command line gives floats
    assert options.permutations == 199 and options.alpha == 0.01
    assert column_thresholds(given) == {"min_rows": 50}
    with pytest.raises(ValueError, match="unknown multivariate option"):
        multivariate_options({"multivariate": {"permutation": 9}})
