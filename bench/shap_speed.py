"""Speed of the shap step against the obvious alternatives, on one synthetic task.

On ``make_classification(10,000 x 20)``, in one run:

1. xgboost (200 trees, depth 6), explaining all 10,000 rows: the whole ``shap`` step
   (explanation, quality, parquet/CSV files and plots) against calling
   ``shap.TreeExplainer(model).shap_values`` directly on the same rows, and against
   the time ``mlflow.models.evaluate`` adds for its default explainability.
2. sklearn MLP: rows explained by Permutation SHAP within a 60 s step budget, and the
   reported standard error.

Run: ``make bench`` or ``.venv/bin/python bench/shap_speed.py [--load N]``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import shap
import xgboost as xgb
from load import bench_parser, cpu_load, load_header, ratios
from sklearn.neural_network import MLPClassifier
from tasks import classification_task, run_steps

import mlflow_clarity


def _run_step(
    model, flavor: str, x: pd.DataFrame, y: pd.Series, budget_s: float, staging: Path, **options
):
    started = time.perf_counter()
    run_steps(model, flavor, x, y, ("shap",), staging, budget_s=budget_s, options={"shap": options})
    elapsed = time.perf_counter() - started
    folder = staging / "explanations/shap"
    card = json.loads((folder / "card.json").read_text())
    quality = json.loads((folder / "quality.json").read_text())
    return elapsed, card, quality


def _evaluate_seconds(model_uri: str, frame: pd.DataFrame, explain: bool) -> float:
    started = time.perf_counter()
    with mlflow.start_run():
        mlflow.models.evaluate(
            model_uri,
            frame,
            targets="label",
            model_type="classifier",
            evaluator_config={"log_model_explainability": explain},
        )
    return time.perf_counter() - started


def _xgboost(x: pd.DataFrame, y: pd.Series, root: Path) -> None:
    """The shap step against TreeExplainer directly and against mlflow.models.evaluate."""
    model = xgb.XGBClassifier(n_estimators=200, max_depth=6, tree_method="hist").fit(x, y)

    started = time.perf_counter()
    shap.TreeExplainer(model).shap_values(x)
    direct = time.perf_counter() - started
    ours, card, quality = _run_step(model, "xgboost", x, y, 120.0, root / "xgb")
    ours_2k, _, _ = _run_step(model, "xgboost", x, y, 120.0, root / "xgb2k", max_rows=2000)

    mlflow.set_tracking_uri(f"sqlite:///{root / 'bench.db'}")
    mlflow_clarity.autolog(disable=True)
    with mlflow.start_run():
        uri = mlflow.xgboost.log_model(model, name="xgb").model_uri
    frame = x.assign(label=y)
    plain = _evaluate_seconds(uri, frame, explain=False)
    with_shap = _evaluate_seconds(uri, frame, explain=True)
    added = with_shap - plain

    print("xgboost, 200 trees, 10,000 x 20")
    print(
        f"  shap step ({card['explainer']}, {card['rows_explained']} rows, files and plots):"
        f" {ours:.2f} s"
    )
    print(
        f"  shap.TreeExplainer directly, same rows: {direct:.2f} s"
        f"  -> {ratios(ours, direct, 'step', 'direct')} (goal: step/direct <= 1.3)"
    )
    print(
        f"  mlflow.models.evaluate: {plain:.2f} s without SHAP, {with_shap:.2f} s with"
        f" -> its explainability adds {added:.2f} s for 2,000 rows"
    )
    print(
        f"  same 2,000 rows as evaluate's default: ours {ours_2k:.2f} s ->"
        f" {ratios(added, ours_2k, 'evaluate', 'ours')} (goal: evaluate/ours >= 5);"
        f" all 10,000 rows: {ratios(added, ours, 'evaluate', 'ours')}"
    )
    print(f"  additivity max residual: {quality['additivity']['max']:.2e}")


def _mlp(x: pd.DataFrame, y: pd.Series, root: Path) -> None:
    """Rows Permutation SHAP explains for an MLP within a 60 s budget, and its error."""
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=200, random_state=0).fit(x, y)
    seconds, card, quality = _run_step(mlp, "sklearn", x, y, 60.0, root / "mlp")
    error = quality["sampling_error"]
    print("sklearn MLP (64, 64), 60 s step budget")
    print(
        f"  {card['explainer']}: {card['rows_explained']} rows explained in {seconds:.1f} s,"
        f" {card['model_rows_per_explained_row']:,} model rows per explained row"
    )
    print(
        f"  standard error: mean {error['mean']:.2e}, relative {error['mean_relative']:.1%};"
        f" background agreement {quality['background_agreement']}"
    )


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    x, y = classification_task()
    print(load_header(args.load))
    with tempfile.TemporaryDirectory() as tmp, cpu_load(args.load):
        _xgboost(x, y, Path(tmp))
        _mlp(x, y, Path(tmp))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
