"""The ``images`` explainer on small CNNs trained here on images with a known cue.

Class 1 images have a bright square in the top-left quadrant, class 0 images one in
another quadrant: a faithful map puts its mass in the top-left quadrant of class 1
images.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")
pytest.importorskip("skimage")

from mlflow_clarity.explainers.images import step as images_step  # noqa: E402
from mlflow_clarity.manager import get_plugin_manager  # noqa: E402
from mlflow_clarity.testing import check_explainer, make_context, run_step  # noqa: E402
from mlflow_clarity.types import RunReport  # noqa: E402

SIDE = 24
SQUARE = 5
FOLDER = "explanations/images"


def _images(n: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, channels, SIDE, SIDE)`` float32 images and their labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.4, size=(n, channels, SIDE, SIDE)).astype(np.float32)
    y = np.arange(n) % 2
    half = SIDE // 2
    for i in range(n):
        quadrant = 0 if y[i] == 1 else rng.integers(1, 4)
        top = (quadrant // 2) * half + rng.integers(0, half - SQUARE + 1)
        left = (quadrant % 2) * half + rng.integers(0, half - SQUARE + 1)
        x[i, :, top : top + SQUARE, left : left + SQUARE] = 1.0
    return x, y


class QuadrantNet(torch.nn.Module):
    """Conv features max-pooled per quadrant, then a linear layer; ``channels_last``
    modules take NHWC batches and permute inside."""

    def __init__(self, channels: int, channels_last: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(channels, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveMaxPool2d(2),
            torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(32, 2)

    def forward(self, x: Any) -> Any:
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        elif x.ndim == 3:  # grayscale without a channel axis
            x = x[:, None]
        return self.head(self.features(x))


def _train(channels: int, x: np.ndarray, y: np.ndarray, channels_last: bool = False) -> Any:
    torch.manual_seed(0)
    net = QuadrantNet(channels, channels_last)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.03)
    inputs, targets = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), targets)
        loss.backward()
        optimiser.step()
    net.eval()
    return net


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One torch thread: small convolutions gain nothing from two, and lose much when
    other processes keep the cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rgb() -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = _images(128, 3)
    net = _train(3, x, y)
    with torch.no_grad():
        accuracy = (net(torch.as_tensor(x)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.95
    return net, x, y


def _spec() -> Any:
    (spec,) = images_step.clarity_explainers()
    return spec


def _summary(run: Any) -> dict[str, Any]:
    return json.loads(run.files[f"{FOLDER}/summary.json"].read_text())


def _pointing_game(run: Any, layout_side: int = SIDE) -> float:
    """Share of class-1 explained images whose largest attribution is in the top left."""
    summary = _summary(run)
    half = layout_side // 2
    hits = []
    for item in summary["items"]:
        if item["class_index"] != 1:
            continue
        attribution = np.load(run.folder / FOLDER / item["map"], allow_pickle=False)
        assert attribution.shape == (layout_side, layout_side)
        assert attribution.dtype == np.float32
        row, col = np.unravel_index(np.argmax(attribution), attribution.shape)
        hits.append(row < half and col < half)
    assert len(hits) >= 4
    return float(np.mean(hits))


def test_rgb_cnn_integrated_gradients_point_at_the_cue(rgb) -> None:
    net, x, y = rgb
    run = run_step(_spec(), make_context(net, x, y, flavor="pytorch"))
    assert run.result.status == "ok", run.result.reason
    summary = _summary(run)
    assert summary["explainer"] == "integrated_gradients"
    assert summary["rows_explained"] == 32 and run.result.truncated is None
    assert _pointing_game(run) >= 0.8
    q = summary["quality"]
    assert q["completeness"]["relative"] < 0.01
    assert q["deletion_insertion"]["zero"]["deletion_ratio"] < 0.7  # well under random
    assert q["sanity"]["status"] == "ok" and q["sanity"]["rho"] is not None
    assert q["lime_agreement"]["images"] == 4
    assert summary["settings"]["method"] == "gausslegendre"
    item = summary["items"][0]
    assert {"position", "class", "output", "map"} <= set(item)
    assert item["position"] == int(run.result.results["positions"][0])
    assert {f"{FOLDER}/plots/class_0.png", f"{FOLDER}/plots/most_confident.png"} <= set(run.files)
    metrics = list(run.result.metrics)
    assert metrics[:5] == [
        f"clarity.images.{m}"
        for m in ("rows_explained", "completeness_delta", "deletion_ratio", "insertion_ratio")
    ] + ["clarity.images.sanity_rho"]


def test_grayscale_without_channel_axis() -> None:
    x, y = _images(128, 1, seed=1)
    net = _train(1, x, y)
    gray = x[:, 0]  # NHW
    ctx = make_context(net, gray, y, flavor="pytorch", options={"max_images": 16})
    run = run_step(_spec(), ctx)
    assert run.result.status == "ok", run.result.reason
    assert _summary(run)["layout"] == "NHW"
    assert _pointing_game(run) >= 0.8


def test_nhwc_module_that_permutes_inside() -> None:
    x, y = _images(128, 3, seed=2)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    net = _train(3, nhwc, y, channels_last=True)
    ctx = make_context(net, nhwc, y, flavor="pytorch", options={"max_images": 16})
    run = run_step(_spec(), ctx)
    assert run.result.status == "ok", run.result.reason
    assert _summary(run)["layout"] == "NHWC"
    assert _pointing_game(run) >= 0.8


class _BlackBox:
    """A model callable only through ``predict`` on numpy images (like a pyfunc)."""

    def __init__(self, net: Any) -> None:
        self.net = net

    def predict(self, images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = self.net(torch.as_tensor(images, dtype=torch.float32))
        return torch.softmax(logits, dim=1).numpy()


def test_black_box_gets_slic_kernel_shap(rgb) -> None:
    net, x, y = rgb
    ctx = make_context(_BlackBox(net), x, y, flavor="custom", options={"max_images": 8})
    run = run_step(_spec(), ctx)
    assert run.result.status == "ok", run.result.reason
    summary = _summary(run)
    assert summary["explainer"] == "kernel_shap" and "not a torch module" in summary["reason"]
    assert summary["score_space"] == "probability"
    assert summary["quality"]["sanity"]["status"].startswith("not applicable")
    assert summary["quality"]["lime_agreement"]["top_k_overlap"] is not None
    assert _pointing_game(run) >= 0.8


def test_single_image_is_explained_and_called_rough(rgb) -> None:
    net, x, y = rgb
    run = run_step(_spec(), make_context(net, x[1:2], y[1:2], flavor="pytorch"))
    assert run.result.status == "ok", run.result.reason
    assert any("rough" in note for note in _summary(run)["notes"])


def test_images_of_mixed_sizes_skip_with_the_reason(rgb) -> None:
    from PIL import Image

    images = [Image.new("RGB", (20, 20)), Image.new("RGB", (24, 20))]
    net, _, _ = rgb
    run = run_step(_spec(), make_context(net, images, flavor="pytorch"))
    assert run.result.status == "skipped"
    assert "different sizes" in run.result.reason


def test_tight_budget_stops_and_says_so(rgb) -> None:
    net, x, y = rgb
    ctx = make_context(net, x, y, flavor="pytorch", options={"explainer": "kernel_shap"})
    run = run_step(_spec(), ctx, budget_s=1.0)
    assert run.result.status == "ok", run.result.reason
    assert run.result.truncated.startswith("time budget: explained")


def test_report_section(rgb) -> None:
    net, x, y = rgb
    ctx = make_context(net, x[:40], y[:40], flavor="pytorch", options={"max_images": 8})
    run = run_step(_spec(), ctx)
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
    (section,) = images_step.clarity_report_sections(None, report)
    assert section.title == "Image explanations"
    assert "integrated_gradients" in section.paragraphs[0]
    assert any(row[0] == "deletion ratio (zero)" for row in section.rows)


def test_keeps_the_plugin_contract(rgb) -> None:
    net, x, y = rgb
    ctx = make_context(net, x[:40], y[:40], flavor="pytorch", options={"max_images": 8})
    conformance = check_explainer(_spec(), ctx)
    assert conformance.ran


@pytest.mark.slow
def test_logged_torch_model_stores_its_explanations(tracking: str, rgb) -> None:
    import mlflow

    import mlflow_clarity

    from helpers import clarity_file, steps_by_name

    net, x, y = rgb
    mlflow_clarity.autolog(steps=["images"], step_options={"images": {"max_images": 8}})
    assert get_plugin_manager().has_plugin("mlflow_clarity.explainers.images.step")  # built in
    mlflow.set_experiment("images")
    with mlflow.start_run(), mlflow_clarity.reference_data(x[:64], y[:64]):
        info = mlflow.pytorch.log_model(net, name="cnn", input_example=x[:2])
    step = steps_by_name(info.model_id)["images"]
    assert step["status"] == "ok", step
    summary = clarity_file(info.model_id, f"{FOLDER}/summary.json")
    assert summary["explainer"] == "integrated_gradients"
    first = summary["items"][0]["map"]
    attribution = np.load(clarity_file(info.model_id, f"{FOLDER}/{first}"), allow_pickle=False)
    assert attribution.shape == (SIDE, SIDE)
    assert f"{FOLDER}/plots/class_1.png" in step["artifacts"]
    sections = json.dumps(clarity_file(info.model_id, "report_sections.json"))
    assert "Image explanations" in sections
