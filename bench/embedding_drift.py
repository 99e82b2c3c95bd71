"""Embedding drift: the multivariate check on 10,000 embeddings vs a stored baseline.

The embeddings are synthetic 64-d vectors of five classes (Gaussian clusters, as a
penultimate layer gives); the baseline is what the ``content`` step stores: a PCA
fitted on 1,000 reference vectors and the 16-d projections of 2,000 others, written and
read back as JSON and parquet. The check (domain classifier and MMD, both against
permutation nulls at the sizes compared) runs on a batch of the same mix and on one
whose class mix moved (one class 20 % -> 40 %). Evidently's embedding drift (legacy
``EmbeddingsDriftMetric``: its default domain-classifier method and MMD) runs on the same
projections when a side environment has it.

Run: ``.venv/bin/python bench/embedding_drift.py [--evidently-python PATH] [--load N]``.
An Evidently environment: ``python3 -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install
"numpy<2" "pandas<2.3" "pyarrow<19" evidently``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header, ratios

from mlflow_clarity.monitors.check.multivariate import MultivariateOptions, multivariate_drift
from mlflow_clarity.monitors.content.baseline import ContentBaseline, reduce_embeddings

DIM = 64
CLASSES = 5


def embeddings(n: int, seed: int, mix: list[float] | None = None) -> np.ndarray:
    """``n`` vectors of five Gaussian clusters (fixed centres) in the given class mix."""
    centres = np.random.default_rng(0).normal(scale=1.5, size=(CLASSES, DIM))
    rng = np.random.default_rng(seed)
    classes = rng.choice(CLASSES, size=n, p=mix or [1 / CLASSES] * CLASSES)
    return centres[classes] + rng.normal(size=(n, DIM))


EVIDENTLY = """
import sys, time, pandas as pd
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
try:
    from evidently.legacy.metrics import EmbeddingsDriftMetric
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import mmd, model
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report
except ImportError:
    from evidently import ColumnMapping
    from evidently.metrics import EmbeddingsDriftMetric
    from evidently.metrics.data_drift.embedding_drift_methods import mmd, model
    from evidently.report import Report
import evidently
mapping = ColumnMapping(embeddings={"emb": list(ref.columns)})
for name, method in (("model", model()), ("mmd", mmd())):
    started = time.perf_counter()
    report = Report(metrics=[EmbeddingsDriftMetric("emb", drift_method=method)])
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    result = report.as_dict()["metrics"][0]["result"]
    print(name, time.perf_counter() - started, result["drift_score"], result["drift_detected"])
print("version", evidently.__version__)
"""


def evidently_runs(python: str, reference: Path, current: Path) -> dict[str, tuple] | str:
    """Evidently's seconds, score and verdict per method, or why it did not run."""
    done = subprocess.run(
        [python, "-c", EVIDENTLY, str(reference), str(current)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else "failed"
    found: dict[str, tuple] = {}
    for line in done.stdout.strip().splitlines():
        parts = line.split()
        found[parts[0]] = tuple(parts[1:])
    return found


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--evidently-python", default=None)
    args = parser.parse_args()
    print(load_header(args.load))
    pca, stored, facts = reduce_embeddings(embeddings(3000, seed=1))
    assert pca is not None and stored is not None
    batches = {
        "same mix": embeddings(args.rows, seed=2),
        "class mix moved": embeddings(args.rows, seed=3, mix=[0.4, 0.15, 0.15, 0.15, 0.15]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = {"modality": {"kind": "image"}, "embedding": facts}
        ContentBaseline(manifest, None, pca=pca, embeddings=stored).write(folder)
        multivariate_drift(stored[:100], stored[:100] + 1, MultivariateOptions(permutations=3))
        with cpu_load(args.load):
            for name, raw in batches.items():
                started = time.perf_counter()
                baseline = ContentBaseline.read(folder)
                assert baseline.pca is not None and baseline.embeddings is not None
                current = baseline.pca.transform(raw)
                found = multivariate_drift(baseline.embeddings, current)
                ours = time.perf_counter() - started
                dc, mmd = found["domain_classifier"], found["mmd"]
                print(
                    f"{name}: ours {ours:.2f} s for {args.rows:,} embeddings vs "
                    f"{len(stored):,} stored ({found['permutations']} permutations): "
                    f"{found['status']}, AUC {dc['auc']:.3f} (p {dc['p_value']:.3f}, "
                    f"null mean {dc['null_mean']:.3f}), MMD^2 {mmd['mmd2']:.2g} "
                    f"(p {mmd['p_value']:.3f})"
                )
                if args.evidently_python is None:
                    continue
                columns = [f"pc_{i}" for i in range(stored.shape[1])]
                pd.DataFrame(stored, columns=columns).to_parquet(folder / "ref.parquet")
                pd.DataFrame(current, columns=columns).to_parquet(folder / "cur.parquet")
                runs = evidently_runs(
                    args.evidently_python, folder / "ref.parquet", folder / "cur.parquet"
                )
                if isinstance(runs, str):
                    print(f"  Evidently: not run ({runs})")
                    continue
                version = runs.get("version", ("?",))[0]
                for method in ("model", "mmd"):
                    seconds, score, drifted = runs[method]
                    print(
                        f"  Evidently {version} {method}: {float(seconds):.2f} s, score "
                        f"{float(score):.3g}, drift {drifted}; "
                        f"{ratios(ours, float(seconds), 'ours', 'Evidently')}"
                    )
    if args.evidently_python is None:
        print("Evidently: not run (give --evidently-python of a side environment)")


if __name__ == "__main__":
    sys.exit(main())
