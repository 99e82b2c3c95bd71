"""Demo: train and log three models; mlflow-clarity stores its results inside each.

Then it checks a drifted production batch against the stored baseline (a run of the
``clarity-monitoring`` experiment) and reviews the registered version against the
default policy (tags and a section in the version's description).

Nothing in the training code refers to mlflow-clarity except the optional
``reference_data`` block, which tells it what data to explain and profile. Runs on the
embedded default: a sqlite tracking store (``mlflow.db``) in the working directory.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import mlflow
import numpy as np
import torch
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlflow_clarity

TRACKING_URI = "sqlite:///mlflow.db"


def _train_torch(x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
    )
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(net(xt), yt).backward()
        optimiser.step()
    return net.eval()


def _row(info: mlflow.models.model.ModelInfo) -> str:
    """One line of the summary table, from the model's ``clarity/status.json``."""
    location = mlflow.MlflowClient().get_logged_model(info.model_id).artifact_location
    report = json.loads(
        Path(mlflow.artifacts.download_artifacts(f"{location}/clarity/status.json")).read_text()
    )
    steps = {s["name"]: s for s in report["steps"]}
    shap = steps["shap"]["summary"].get("explainer", steps["shap"]["status"])
    shap_rows = int(steps["shap"]["metrics"].get("clarity.shap.rows_explained", 0))
    baseline_rows = int(steps["baseline"]["metrics"].get("clarity.baseline.rows", 0))
    return (
        f"{info.name:<14}{report['status']:<8}{shap:<13}{shap_rows:>8}"
        f"{baseline_rows:>10}{report['duration_s']:>9.1f}"
    )


def _quiet_mlflow() -> None:
    """Keep the demo's output to what it did: MLflow's own notices about the demo's
    training code (schema hints, pip requirement details) are not the point here."""
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")


def main() -> None:
    _quiet_mlflow()
    mlflow.set_tracking_uri(TRACKING_URI)
    mlflow.set_experiment("mlflow-clarity-demo")
    # Optional: a shorter time budget than the default 120 s keeps the demo quick.
    mlflow_clarity.autolog(budget_s=30)
    cancer = load_breast_cancer(as_frame=True)
    diabetes = load_diabetes(as_frame=True)
    logged = []

    with mlflow.start_run(run_name="sklearn-pipeline"):
        x, y = cancer.data, cancer.target
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
        with mlflow_clarity.reference_data(x, y):
            logged.append(
                mlflow.sklearn.log_model(
                    model,
                    name="cancer-lr",
                    input_example=x.head(3),
                    registered_model_name="demo-cancer",
                )
            )

    with mlflow.start_run(run_name="xgboost"):
        x, y = cancer.data, cancer.target
        model = xgb.XGBClassifier(n_estimators=100, max_depth=3).fit(x, y)
        # A dataset logged with mlflow.log_input is used as reference data automatically.
        mlflow.log_input(
            mlflow.data.from_pandas(x.assign(target=y), targets="target", name="cancer"),
            context="training",
        )
        logged.append(mlflow.xgboost.log_model(model, name="cancer-xgb", input_example=x.head(3)))

    with mlflow.start_run(run_name="torch"):
        x = diabetes.data.to_numpy(dtype=np.float32)
        y = diabetes.target.to_numpy(dtype=np.float32) / 100.0
        net = _train_torch(x, y)
        with mlflow_clarity.reference_data(diabetes.data.astype("float32")):
            logged.append(mlflow.pytorch.log_model(net, name="diabetes-mlp", input_example=x[:3]))

    print("\nLogged models and what mlflow-clarity stored with them:")
    print(f"{'model':<14}{'status':<8}{'explainer':<13}{'rows':>8}{'profiled':>10}{'seconds':>9}")
    for info in logged:
        print(_row(info))

    # Production data where "mean radius" moved by one standard deviation.
    batch = cancer.data.sample(300, random_state=1)
    batch["mean radius"] += cancer.data["mean radius"].std()
    check = mlflow_clarity.check("models:/demo-cancer/1", batch, cancer.target.loc[batch.index])
    print(f"\nDrift check of demo-cancer/1: {check.drift['status']}, run {check.run_id}")
    for violation in check.violations[:5]:
        print(f"  {violation['constraint_check_type']} {violation.get('feature_name') or ''}")
    review = mlflow_clarity.review("models:/demo-cancer/1")
    print(
        f"Review of demo-cancer/1: {'passed' if review.passed else 'failed'}; top features: "
        f"{', '.join(review.top_features[:3])}"
    )
    print(
        "\nOpen them in the MLflow UI (Models tab -> a model -> Artifacts -> "
        "clarity/report.html):\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {TRACKING_URI} --host 127.0.0.1 --port 5000\n"
        "List the registered explainers and monitors:\n"
        "  .venv/bin/mlflow-clarity plugins"
    )


if __name__ == "__main__":
    main()
