"""What the default steps add to log_model for a typical tabular model, and what a check costs.

The model is a 7-feature sklearn pipeline (ColumnTransformer: StandardScaler on 5 numeric
columns, OneHotEncoder on 2 categorical ones; then a GradientBoosting or RandomForest
classifier) fitted on 50,000 seeded synthetic rows, which are also the reference data.
In one process on one sqlite store, ``mlflow.sklearn.log_model`` is timed with
mlflow-clarity disabled (``MLFLOW_CLARITY_DISABLE=1``) and with its defaults; the added
seconds are printed with each step's seconds, rows and rows/s from ``clarity/status.json``.
Then ``mlflow_clarity.check`` of a 5,000-row batch is timed with and without attribution
drift, with the rows SHAP explained on the batch and why fewer.

Goals (issue 16): log_model adds at most 15 s, a check with attribution takes at most
20 s, on 2 cores with default settings.

Run: ``.venv/bin/python bench/log_model_overhead.py [--model gb|rf] [--repeats N]
[--load N] [--budget S] [--check-budget S]``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header

import mlflow_clarity

REFERENCE_ROWS = 50_000
BATCH_ROWS = 5_000
NUMERIC = [f"num{i}" for i in range(5)]
CATEGORICAL = {"colour": ["red", "green", "blue", "grey", "black"], "size": ["S", "M", "L"]}
# MLflow's requirement inference (a subprocess) is noise in a difference; skops refuses trees
LOG_OPTIONS = {"pip_requirements": ["scikit-learn"], "serialization_format": "cloudpickle"}


def make_data(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Seeded rows of 5 numeric and 2 categorical columns, and a binary label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(NUMERIC))), columns=NUMERIC)
    for name, levels in CATEGORICAL.items():
        frame[name] = rng.choice(levels, size=rows)
    logit = (
        1.5 * frame["num0"]
        - frame["num1"]
        + 0.5 * frame["num2"] * frame["num3"]
        + (frame["colour"] == "red") * 1.0
        - (frame["size"] == "L") * 0.7
    )
    labels = pd.Series(rng.random(rows) < 1 / (1 + np.exp(-logit)), name="label").astype(int)
    return frame, labels


def make_model(kind: str, x: pd.DataFrame, y: pd.Series) -> Any:
    """The pipeline, fitted; ``kind`` is ``gb`` (GradientBoosting) or ``rf`` (RandomForest)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
        ]
    )
    classifier = (
        GradientBoostingClassifier(random_state=0)
        if kind == "gb"
        else RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    )
    return Pipeline([("columns", columns), ("classifier", classifier)]).fit(x, y)


@contextmanager
def clarity_disabled(disabled: bool):
    """``MLFLOW_CLARITY_DISABLE=1`` inside the block when ``disabled``."""
    before = os.environ.get("MLFLOW_CLARITY_DISABLE")
    if disabled:
        os.environ["MLFLOW_CLARITY_DISABLE"] = "1"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_CLARITY_DISABLE", None)
        if before is not None:
            os.environ["MLFLOW_CLARITY_DISABLE"] = before


def time_log_model(model: Any, x: pd.DataFrame, y: pd.Series, *, clarity: bool) -> tuple:
    """Seconds of one ``log_model`` call and the logged model's id."""
    with clarity_disabled(not clarity), mlflow.start_run(), mlflow_clarity.reference_data(x, y):
        started = time.perf_counter()
        info = mlflow.sklearn.log_model(model, name="model", **LOG_OPTIONS)
        return time.perf_counter() - started, info.model_id


def status_of(model_id: str) -> dict[str, Any]:
    """The logged model's ``clarity/status.json``."""
    location = mlflow.MlflowClient().get_logged_model(model_id).artifact_location
    local = mlflow.artifacts.download_artifacts(f"{location}/clarity/status.json")
    return json.loads(Path(local).read_text())


def _rows(step: dict[str, Any]) -> float | None:
    """The rows a step worked on, from its metrics or summary."""
    metrics, summary = step.get("metrics", {}), step.get("summary", {})
    name = step["name"]
    for key in (f"clarity.{name}.rows_explained", f"clarity.{name}.rows"):
        if key in metrics:
            return metrics[key]
    for key in ("rows_compared", "rows"):
        if isinstance(summary.get(key), int | float):
            return summary[key]
    return None


def print_steps(status: dict[str, Any]) -> None:
    """One line per step: status, seconds, rows, rows/s and why it stopped early."""
    print(f"  {'step':<12}{'status':<10}{'seconds':>9}{'rows':>9}{'rows/s':>10}  note")
    for step in status["steps"]:
        rows, seconds = _rows(step), step.get("duration_s", 0.0)
        rate = f"{rows / seconds:>10,.0f}" if rows and seconds else f"{'':>10}"
        shown = f"{rows:>9,.0f}" if rows is not None else f"{'':>9}"
        note = step.get("truncated") or step.get("reason") or ""
        print(f"  {step['name']:<12}{step['status']:<10}{seconds:>9.2f}{shown}{rate}  {note}")
    steps_s = sum(s.get("duration_s", 0.0) for s in status["steps"])
    print(f"  steps {steps_s:.2f}s of a {status['duration_s']:.2f}s run (steps, report)")


def time_check(model_id: str, batch: pd.DataFrame, out: Path, **kwargs: Any) -> tuple:
    """Seconds of one check (nothing logged) and its ``drift.json``."""
    started = time.perf_counter()
    result = mlflow_clarity.check(
        f"models:/{model_id}", batch, experiment=None, output_dir=out, **kwargs
    )
    return time.perf_counter() - started, result.drift


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--model", choices=("gb", "rf"), default="gb")
    parser.add_argument("--repeats", type=int, default=1, help="timed pairs of log_model calls")
    parser.add_argument("--budget", type=float, default=None, help="MLFLOW_CLARITY_BUDGET_S")
    parser.add_argument("--check-budget", type=float, default=None, help="check's budget_s")
    args = parser.parse_args()
    if args.budget is not None:
        os.environ["MLFLOW_CLARITY_BUDGET_S"] = str(args.budget)
    x, y = make_data(REFERENCE_ROWS, seed=0)
    batch, _ = make_data(BATCH_ROWS, seed=1)
    started = time.perf_counter()
    model = make_model(args.model, x, y)
    fit_s = time.perf_counter() - started
    print(f"log_model overhead: 7-feature pipeline ({args.model}), {REFERENCE_ROWS:,} rows")
    print(load_header(args.load))
    print(f"fit: {fit_s:.1f}s; clarity budget: {mlflow_clarity.current_config().budget_s:g}s")
    with tempfile.TemporaryDirectory() as tmp, cpu_load(args.load):
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'bench.db'}")
        mlflow.set_experiment("log-model-overhead")
        time_log_model(model, x, y, clarity=False)  # warm-up: MLflow's imports, the store
        plain, ours, model_id = [], [], ""
        for _ in range(args.repeats):
            plain.append(time_log_model(model, x, y, clarity=False)[0])
            seconds, model_id = time_log_model(model, x, y, clarity=True)
            ours.append(seconds)
            print(f"log_model: plain {plain[-1]:.2f}s, with clarity {seconds:.2f}s")
            print_steps(status_of(model_id))
        added = statistics.median(ours) - statistics.median(plain)
        print(f"log_model added seconds (median of {args.repeats}): {added:.2f} (goal <= 15)")
        check_kwargs = {} if args.check_budget is None else {"budget_s": args.check_budget}
        bare, _ = time_check(model_id, batch, Path(tmp) / "bare", attribution=False)
        full, drift = time_check(model_id, batch, Path(tmp) / "full", **check_kwargs)
        attribution = drift["attribution"]
        print(f"check of {BATCH_ROWS:,} rows: {bare:.2f}s without attribution, {full:.2f}s with")
        explained = attribution.get("rows")
        seconds = attribution.get("duration_s")
        rate = f", {explained / seconds:,.0f} rows/s" if explained and seconds else ""
        print(
            f"  attribution: {attribution.get('status')} {attribution.get('explainer')}, "
            f"{explained} of {attribution.get('rows_sampled')} rows in "
            f"{seconds or 0:.2f}s{rate} (budget {attribution.get('budget_s')}s); "
            f"fewer because: {attribution.get('fewer_rows_reason') or attribution.get('reason')}"
        )
        print(f"check with attribution: {full:.2f}s (goal <= 20)")


if __name__ == "__main__":
    main()
