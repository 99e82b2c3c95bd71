"""Speed of the images step: against captum directly, and against Clarify's KernelSHAP.

1. A small CNN on 200 synthetic 3x32x32 images (a bright square in the top-left quadrant
   is class 1): the step's explanation phase (Integrated Gradients, 50 Gauss-Legendre
   steps, on the images it explains) against ``captum.attr.IntegratedGradients`` called
   directly on the same images with the same baseline and targets (best of 3 on both
   sides; goal: at most 1.2x); then the whole step within the default 120 s budget
   (images explained, deletion AUC against a random order).
2. A ResNet-18-sized network (plain ``torch.nn``, random weights, 3x224x224): seconds per
   image of the step's default against KernelSHAP over 20 SLIC segments with Clarify's
   ``nsamples = 2 * 20 + 2048``, extrapolated from the time of a few batches of
   perturbed images (goal: the default at least 50x faster); and IG with 50 steps forced.

Run: ``.venv/bin/python bench/image_speed.py [--load N]`` (about 2-4 minutes).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients
from load import bench_parser, load_header, ratios

from mlflow_clarity.explainers.images import step as images_step
from mlflow_clarity.explainers.images.arrays import channel_mean
from mlflow_clarity.explainers.images.attribution import CHUNK_ELEMENTS
from mlflow_clarity.testing import cpu_load, make_context, run_step

REPEATS = 3
DEFAULT_BUDGET_S = 120.0
RESNET_BUDGET_S = 60.0
CLARIFY_EVALUATIONS = 2 * 20 + 2048
KERNEL_PROBE_BATCHES = 3


def synthetic_images(n: int, side: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB images of noise with a bright square; class 1 when it is in the top left."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.4, size=(n, 3, side, side)).astype(np.float32)
    y = np.arange(n) % 2
    half, square = side // 2, side // 6
    for i in range(n):
        quadrant = 0 if y[i] == 1 else rng.integers(1, 4)
        top = (quadrant // 2) * half + rng.integers(0, half - square + 1)
        left = (quadrant % 2) * half + rng.integers(0, half - square + 1)
        x[i, :, top : top + square, left : left + square] = 1.0
    return x, y


def small_cnn(x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    """Two convolutions, max-pooled per quadrant, and a linear layer, trained briefly."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 2),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.as_tensor(x)), torch.as_tensor(y))
        loss.backward()
        optimiser.step()
    return net.eval()


class _Block(torch.nn.Module):
    """ResNet's basic block: two 3x3 convolutions and a shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
            torch.nn.BatchNorm2d(outputs),
            torch.nn.ReLU(),
            torch.nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
            torch.nn.BatchNorm2d(outputs),
        )
        self.shortcut = torch.nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = torch.nn.Sequential(
                torch.nn.Conv2d(inputs, outputs, 1, stride, bias=False),
                torch.nn.BatchNorm2d(outputs),
            )
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet18(classes: int = 1000) -> torch.nn.Module:
    """ResNet-18 (11.7 M parameters) in plain torch.nn, random weights, eval mode."""
    layers: list[torch.nn.Module] = [
        torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, 2, 1),
    ]
    width = 64
    for outputs, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(width, outputs, stride), _Block(outputs, outputs, 1)]
        width = outputs
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(512, classes)]
    torch.manual_seed(0)
    return torch.nn.Sequential(*layers).eval()


def _spec() -> Any:
    (spec,) = images_step.clarity_explainers()
    return spec


def _step(net: torch.nn.Module, x: np.ndarray, y: Any, budget_s: float, **options: Any) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(net, x, y, flavor="pytorch", options=options)
        run = run_step(_spec(), ctx, budget_s=budget_s, staging=Path(tmp) / "clarity")
    assert run.result.status == "ok", run.result.reason
    return run.result


def _direct_ig(net: torch.nn.Module, x: np.ndarray, reference: np.ndarray) -> float:
    """captum IG on the same images, baseline (channel mean) and targets as the step."""
    baselines = torch.as_tensor(channel_mean(reference, "NCHW", x))
    inputs = torch.as_tensor(x)
    with torch.no_grad():
        targets = net(inputs).argmax(1).tolist()
    started = time.perf_counter()
    IntegratedGradients(net).attribute(
        inputs,
        baselines=baselines,
        target=targets,
        n_steps=50,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    return time.perf_counter() - started


def small_cnn_figures() -> None:
    x, y = synthetic_images(200)
    net = small_cnn(x, y)
    quick = {"quality_images": 0, "sanity_images": 0, "lime_images": 0, "plots": False}
    steps = [_step(net, x, y, DEFAULT_BUDGET_S, **quick) for _ in range(REPEATS)]
    ours = min(s.summary["seconds"]["explain_s"] for s in steps)
    explained = steps[0].summary["rows_explained"]
    direct = min(_direct_ig(net, x[:explained], x) for _ in range(REPEATS))
    print(f"small CNN, 3x32x32, {explained} images, IG 50 Gauss-Legendre steps (best of 3)")
    print(f"  step explanation phase: {ours:.3f}s; captum directly: {direct:.3f}s")
    print(f"  {ratios(ours, direct, 'step', 'captum')} (goal: step/captum <= 1.2x)")
    full = _step(net, x, y, DEFAULT_BUDGET_S)
    curves = full.metrics
    print(
        f"  whole step, default options, {DEFAULT_BUDGET_S:g}s budget: "
        f"{full.summary['seconds']['total_s']:.1f}s, explained "
        f"{full.summary['rows_explained']} of the 32 wanted (max_images) from 200 reference "
        f"images; truncated: {full.truncated}"
    )
    print(
        "  deletion AUC / random (zero): "
        f"{curves.get('clarity.images.deletion_ratio', float('nan')):.3f}; "
        f"(blur): {curves.get('clarity.images.deletion_ratio_blur', float('nan')):.3f}; "
        f"completeness error {curves['clarity.images.completeness_delta']:.2e}"
    )


def _kernel_seconds_per_evaluation(net: torch.nn.Module, x: np.ndarray) -> float:
    """Seconds per perturbed image, from forward passes on batches like KernelShap's."""
    per_eval = max(1, CHUNK_ELEMENTS // int(np.prod(x.shape[1:])))
    batch = torch.as_tensor(np.repeat(x[:1], per_eval, axis=0))
    with torch.no_grad():
        net(batch[:1])  # warm-up
        started = time.perf_counter()
        for _ in range(KERNEL_PROBE_BATCHES):
            net(batch)
    return (time.perf_counter() - started) / (KERNEL_PROBE_BATCHES * per_eval)


def resnet_figures() -> None:
    net = resnet18()
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 3, 224, 224)).astype(np.float32)
    quick = {"quality_images": 0, "sanity_images": 0, "lime_images": 0, "plots": False}
    result = _step(net, x, None, RESNET_BUDGET_S, max_images=8, **quick)
    per_image = result.summary["seconds"]["explain_s"] / result.summary["rows_explained"]
    per_eval = _kernel_seconds_per_evaluation(net, x)
    kernel = per_eval * CLARIFY_EVALUATIONS
    print(f"ResNet-18-sized (random weights), 3x224x224, {RESNET_BUDGET_S:g}s budget")
    print(
        f"  step default: {result.summary['explainer']} "
        f"({'; '.join(result.summary['notes']) or 'default settings'}), "
        f"{result.summary['rows_explained']} images, {per_image:.2f}s per image"
    )
    print(
        f"  KernelSHAP, 20 segments, nsamples {CLARIFY_EVALUATIONS}: {per_eval * 1000:.0f} ms "
        f"per evaluation (measured on {KERNEL_PROBE_BATCHES} batches) -> about {kernel:.0f}s "
        "per image (extrapolated)"
    )
    print(f"  {ratios(kernel, per_image, 'kernel', 'step')} (goal: kernel/step >= 50x)")
    forced = _step(net, x[:2], None, RESNET_BUDGET_S, n_steps=50, **quick)
    per_image_50 = forced.summary["seconds"]["explain_s"] / forced.summary["rows_explained"]
    print(f"  IG with 50 steps forced (n_steps=50): {per_image_50:.2f}s per image")
    print(f"  {ratios(kernel, per_image_50, 'kernel', 'IG-50')}")


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    print(load_header(args.load))
    print(f"torch threads: {torch.get_num_threads()}")
    with cpu_load(args.load):
        small_cnn_figures()
        resnet_figures()


if __name__ == "__main__":
    main()
