"""CBPE on 10 chunks of 5,000 rows: our estimates' error, and NannyML's CBPE on the same data.

A simulation with a known truth: 5 standard-normal features, P(y=1 | x) logistic in
three of them (so a logistic regression is well calibrated), trained on 10,000 rows and
calibrated on 20,000 held-out labelled rows. Ten analysis chunks of 5,000 rows shift
x0 by -1.5 ... +1.5 and x1 by +0.5 ... -0.5 (covariate shift, no concept shift), so the
realised metrics move. For accuracy, precision, recall, F1 and ROC AUC: the mean
absolute error of the estimates over the chunks, the coverage of our 95 % intervals, and
the error of a naive estimate (the reference metric). NannyML's CBPE (0.13) runs on the
same reference and chunks in a side environment when one is given; times are fitting plus
estimating, each side measured in its own process.

Run: ``.venv/bin/python bench/cbpe.py [--nannyml-python /tmp/nmvenv/bin/python] [--load N]``.
A NannyML environment: ``python3 -m venv /tmp/nmvenv && /tmp/nmvenv/bin/pip install
nannyml statsmodels``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header, ratios

from mlflow_clarity.monitors.baseline.model_quality import new_quality
from mlflow_clarity.monitors.estimation.card import fit_card
from mlflow_clarity.testing import make_context

WEIGHTS = np.array([1.5, -1.0, 0.5, 0.0, 0.0])
CHUNKS, CHUNK = 10, 5000
METRICS = ("accuracy", "precision", "recall", "f1", "auc")
NANNYML_NAMES = {"roc_auc": "auc", "f1": "f1", "precision": "precision", "recall": "recall"}
NANNYML_SCRIPT = """
import json, sys, time
import pandas as pd
import nannyml as nml
reference = pd.read_parquet(sys.argv[1]); analysis = pd.read_parquet(sys.argv[2])
started = time.perf_counter()
estimator = nml.CBPE(y_pred_proba="proba", y_pred="predicted", y_true="label",
    problem_type="classification_binary", chunk_size=5000,
    metrics=["roc_auc", "f1", "precision", "recall", "accuracy"])
estimator.fit(reference)
result = estimator.estimate(analysis).filter(period="analysis").to_df()
seconds = time.perf_counter() - started
found = {m: result[(m, "value")].tolist() for m in
    ["roc_auc", "f1", "precision", "recall", "accuracy"]}
print(json.dumps({"seconds": seconds, "version": nml.__version__, "estimates": found}))
"""


def simulate(rows: int, seed: int, shift0: float = 0.0, shift1: float = 0.0):
    """Features and labels drawn from the logistic truth, x0 and x1 shifted."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(WEIGHTS)))
    x[:, 0] += shift0
    x[:, 1] += shift1
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x @ WEIGHTS - 0.3)))).astype(int)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])]), pd.Series(y)


def realised(probabilities: np.ndarray, labels: pd.Series) -> dict[str, float]:
    quality = new_quality(("0", "1"), 2)
    quality.update(probabilities, labels.astype(str))
    return quality.metrics()


def ours(model, reference, chunks) -> tuple[float, list[dict]]:
    """Fit the card (the model called on the reference rows) and estimate every chunk."""
    ctx = make_context(model, *reference)  # data preparation, done once per log_model
    started = time.perf_counter()
    card = fit_card(ctx)
    found = []
    for probabilities in chunks:
        estimator = card.estimator()
        estimator.update(probabilities)
        found.append(estimator.estimates())
    return time.perf_counter() - started, found


def nannyml(python: str, model, reference, chunks, folder: Path) -> dict | str:
    """NannyML's CBPE in its own process, or why it did not run."""

    def frame(probabilities: np.ndarray, labels) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "proba": probabilities[:, 1],
                "predicted": probabilities.argmax(axis=1),
                "label": labels,
            }
        )

    frame(model.predict_proba(reference[0]), reference[1]).to_parquet(folder / "reference.parquet")
    analysis = pd.concat([frame(p, None) for p in chunks], ignore_index=True)
    analysis.to_parquet(folder / "analysis.parquet")
    try:
        done = subprocess.run(
            [
                python,
                "-c",
                NANNYML_SCRIPT,
                str(folder / "reference.parquet"),
                str(folder / "analysis.parquet"),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{exc!r}"
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
    return json.loads(done.stdout.strip().splitlines()[-1])


def mae(estimates: list[float], truths: list[float]) -> float:
    return float(np.mean(np.abs(np.asarray(estimates) - np.asarray(truths))))


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = bench_parser(__doc__)
    parser.add_argument("--nannyml-python", default=None, help="a Python with nannyml")
    args = parser.parse_args()
    print(load_header(args.load))
    model = LogisticRegression().fit(*simulate(10_000, seed=0))
    reference = simulate(20_000, seed=1)
    shifts = zip(np.linspace(-1.5, 1.5, CHUNKS), np.linspace(0.5, -0.5, CHUNKS), strict=True)
    batches = [simulate(CHUNK, 100 + i, s0, s1) for i, (s0, s1) in enumerate(shifts)]
    chunks = [model.predict_proba(x) for x, _ in batches]
    truths = [realised(p, y) for p, (_, y) in zip(chunks, batches, strict=True)]
    with cpu_load(args.load), tempfile.TemporaryDirectory() as tmp:
        our_s, found = ours(model, reference, chunks)
        theirs = (
            nannyml(args.nannyml_python, model, reference, chunks, Path(tmp))
            if args.nannyml_python
            else "no --nannyml-python given"
        )
    reference_metrics = realised(model.predict_proba(reference[0]), reference[1])
    print(f"{CHUNKS} chunks x {CHUNK:,} rows; reference 20,000 held-out rows; covariate shift")
    head = ("metric", "realised range", "ours MAE", "95% cover", "naive MAE", "NannyML MAE")
    print(f"{head[0]:<10} {head[1]:<16} " + " ".join(f"{h:>11}" for h in head[2:]))
    for name in METRICS:
        truth = [t[name] for t in truths]
        estimate = [f[name]["value"] for f in found]
        covered = np.mean(
            [f[name]["lower"] <= t <= f[name]["upper"] for f, t in zip(found, truth, strict=True)]
        )
        naive = mae([reference_metrics[name]] * CHUNKS, truth)
        nml = "-"
        if isinstance(theirs, dict):
            key = next(k for k, v in {**NANNYML_NAMES, "accuracy": "accuracy"}.items() if v == name)
            nml = f"{mae(theirs['estimates'][key], truth):.4f}"
        span = f"{min(truth):.3f}-{max(truth):.3f}"
        ours_mae = mae(estimate, truth)
        print(f"{name:<10} {span:<16} {ours_mae:>11.4f} {covered:>11.0%} {naive:>11.4f} {nml:>11}")
    print(f"ours: fit (model on the reference, calibration, 20 refits) + estimate {our_s:.3f} s")
    if isinstance(theirs, dict):
        print(f"NannyML {theirs['version']}: fit + estimate {theirs['seconds']:.3f} s")
        print(ratios(our_s, theirs["seconds"], "ours", "nannyml"))
    else:
        print(f"NannyML CBPE: not run ({theirs})")


if __name__ == "__main__":
    sys.exit(main())
