"""Cost and size of the report page and the model card for a model with 50 features.

Logs an xgboost classifier on make_classification (5,000 x 50) to a local sqlite store
with every step (SHAP, LIME, agreement, baseline), then times, in the same run, the
rendering of report.html and model_card.md from the stored files (what happens at the
end of log_model and after each check) next to plain json.load of the same files,
and prints the report's size.

Run: ``make bench`` or ``.venv/bin/python bench/report_speed.py [--load N]``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
import xgboost
from load import bench_parser, cpu_load, load_header, ratios
from sklearn.datasets import make_classification

import mlflow_clarity
from mlflow_clarity.report.files import run_facts, write_report_files
from mlflow_clarity.store import download_clarity


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    print(load_header(args.load))
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    folder = Path(tempfile.mkdtemp(prefix="clarity-report-bench-"))
    os.chdir(folder)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    x, y = make_classification(n_samples=5000, n_features=50, n_informative=12, random_state=0)
    frame = pd.DataFrame(x, columns=[f"feature_{i}" for i in range(50)])
    model = xgboost.XGBClassifier(n_estimators=100, max_depth=4).fit(frame, y)
    with mlflow.start_run(), mlflow_clarity.reference_data(frame, pd.Series(y)):
        info = mlflow.xgboost.log_model(model, name="m")
    tags = mlflow.MlflowClient().get_logged_model(info.model_id).tags
    assert tags["clarity.status"] == "ok", tags
    clarity = download_clarity(info.model_id, folder / "download")
    run = run_facts(mlflow.MlflowClient().get_logged_model(info.model_id).source_run_id)
    render, parse = [], []
    with cpu_load(args.load):
        for _ in range(5):
            started = time.perf_counter()
            paths = write_report_files(clarity, run)
            render.append(time.perf_counter() - started)
            started = time.perf_counter()
            for path in clarity.rglob("*.json"):
                json.loads(path.read_text())
            parse.append(time.perf_counter() - started)
    size = paths["report"].stat().st_size
    render_s, parse_s = statistics.median(render), statistics.median(parse)
    print(
        f"report + card for 50 features, all steps: {render_s:.3f} s "
        f"(median of 5; goal < 2 s); json.load of the same stored files alone "
        f"{parse_s:.3f} s -> {ratios(render_s, parse_s, 'render', 'json.load')}"
    )
    print(
        f"report.html {size / 1e6:.2f} MB (goal well under 5 MB); "
        f"model_card.md {paths['card'].stat().st_size / 1e3:.1f} kB"
    )


if __name__ == "__main__":
    main()
