"""Speed of the lime step against calling ``lime`` directly on the same rows.

On ``make_classification(10,000 x 20)``, for an xgboost model and a sklearn MLP: the
lime step with one seed (the explanations alone) against ``LimeTabularExplainer`` with
the same settings (5,000 samples, discretised, all 20 features) on the same 10 rows, as
a ratio (best of 3 on both sides), and ``lime`` again with one BLAS thread, as the
pipeline runs every step (so the share of the ratio that is owed to that is visible);
then the full step (three seeds for stability) and the agreement step.

Run: ``make bench`` or ``.venv/bin/python bench/lime_speed.py [--load N]``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from lime.lime_tabular import LimeTabularExplainer
from load import bench_parser, cpu_load, load_header, ratios
from sklearn.neural_network import MLPClassifier
from tasks import classification_task, run_steps

from mlflow_clarity.data.reference import RawReference, prepare_reference

REPEATS = 3  # best of, for both sides: the times are short


def _timed_steps(model, flavor, x, y, root: Path, seeds: int) -> dict[str, Any]:
    options = {"shap": {"plots": False}, "lime": {"stability_seeds": seeds}}
    names = ("shap", "lime", "agreement")
    return run_steps(model, flavor, x, y, names, root, budget_s=300, options=options)


def _explain_seconds(model, flavor, x, y, root: Path) -> float:
    """Seconds the lime step spent on the explanations themselves (first seed)."""
    return _timed_steps(model, flavor, x, y, root, seeds=1)["lime"].summary["seconds"]["explain_s"]


def _direct(model, x: pd.DataFrame, root: Path) -> float:
    rows = [
        r["reference_row"]
        for r in json.loads((root / "explanations/lime/explanations.json").read_text())["rows"]
    ]
    reference = prepare_reference(RawReference(x), None, sample_rows=2000, seed=0)
    explainer = LimeTabularExplainer(
        reference.sample.to_numpy(),
        mode="classification",
        feature_names=list(x.columns),
        discretize_continuous=True,
        random_state=0,
    )

    def predict(matrix: np.ndarray) -> np.ndarray:
        return model.predict_proba(pd.DataFrame(matrix, columns=x.columns))

    started = time.perf_counter()
    for row in rows:
        explainer.explain_instance(
            x.to_numpy()[row], predict, labels=(1,), num_features=20, num_samples=5000
        )
    return time.perf_counter() - started


def _direct_one_blas_thread(model, x: pd.DataFrame, root: Path) -> float:
    """``_direct`` under the BLAS limit the pipeline puts around each step."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _direct(model, x, root)


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    x, y = classification_task()
    models = {
        "xgboost (200 trees)": (
            xgb.XGBClassifier(n_estimators=200, max_depth=6, tree_method="hist").fit(x, y),
            "xgboost",
        ),
        "sklearn MLP (64, 64)": (
            MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=200, random_state=0).fit(x, y),
            "sklearn",
        ),
    }
    print(load_header(args.load))
    with tempfile.TemporaryDirectory() as tmp, cpu_load(args.load):
        for name, (model, flavor) in models.items():
            one = Path(tmp) / f"{flavor}-1"
            step = _timed_steps(model, flavor, x, y, one, seeds=1)
            direct = min(_direct(model, x, one) for _ in range(REPEATS))
            direct_1 = min(_direct_one_blas_thread(model, x, one) for _ in range(REPEATS))
            best = min(
                _explain_seconds(model, flavor, x, y, Path(tmp) / f"{flavor}-r{i}")
                for i in range(REPEATS)
            )
            full = _timed_steps(model, flavor, x, y, Path(tmp) / f"{flavor}-3", seeds=3)
            quality = json.loads((one / "explanations/lime/quality.json").read_text())
            agreement = json.loads((one / "explanations/agreement.json").read_text())["overall"]
            rows = quality["rows_explained"]
            alone = min(best, step["lime"].summary["seconds"]["explain_s"])
            print(f"{name}, 20 features, {rows} rows, 5,000 samples each")
            print(
                f"  explanations alone: {alone:.2f} s ({alone / rows * 1e3:.0f} ms/row);"
                f" lime directly: {direct:.2f} s ({direct / rows * 1e3:.0f} ms/row)"
                f" -> {ratios(alone, direct, 'step', 'lime')} (goal: step/lime <= 1.2)"
            )
            print(
                f"  lime directly with one BLAS thread, as the step runs: {direct_1:.2f} s"
                f" -> {ratios(alone, direct_1, 'step', 'lime-1-thread')}"
            )
            print(
                f"  whole lime step with 1 seed: {step['lime'].duration_s:.2f} s"
                " (row choice included);"
                f" with 3-seed stability: {full['lime'].duration_s:.2f} s; agreement step:"
                f" {full['agreement'].duration_s * 1e3:.0f} ms"
            )
            print(
                f"  R2 mean {quality['r2_mean']:.2f}; SHAP-LIME top-5 agreement"
                f" {agreement['feature_agreement@5']:.2f}, rank correlation"
                f" {agreement['rank_correlation']:.2f}"
            )


if __name__ == "__main__":
    main()
