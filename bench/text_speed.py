"""Speed and cue-word recovery of the text step against shap's partition explainer.

On 1,200 synthetic sentences whose class is decided by one cue word ("excellent" or
"awful" among 200 neutral filler words), a TF-IDF + logistic-regression pipeline: the
text step's explanation phase against ``shap.PartitionExplainer`` with ``maskers.Text``
called directly on the same documents with the same settings (500 evaluations, batches
of 500, the predicted class), as a ratio (best of 3 interleaved runs on both sides,
after a warm-up that pays shap's numba compilation); documents per second of the step; the
share of positive documents whose top unit is the cue word. Then a torch EmbeddingBag
model on token ids (layer integrated gradients): documents per second and recovery.

Run: ``.venv/bin/python bench/text_speed.py [--load N]`` (about a minute on 2 cores).
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import shap
import torch
from load import bench_parser, load_header, ratios
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlflow_clarity.explainers.text import step as text_step
from mlflow_clarity.explainers.text.units import UNIT_PATTERNS
from mlflow_clarity.testing import cpu_load, make_context, run_step

DOCUMENTS = 60
REPEATS = 3
MAX_EVALS = 500
FILLER = [f"word{i}" for i in range(200)]
CUES = ("awful", "excellent")
VOCAB = {w: i + 2 for i, w in enumerate([*FILLER, *CUES])}
LENGTH = 32


def cue_texts(rows: int = 1200) -> tuple[list[str], np.ndarray]:
    """Filler sentences with one cue word each; the cue decides the label."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, rows)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, size=rng.integers(8, 24)))
        words.insert(int(rng.integers(0, len(words) + 1)), CUES[label])
        texts.append(" ".join(words) + ".")
    return texts, labels


def encode(texts: list[str]) -> np.ndarray:
    ids = np.zeros((len(texts), LENGTH), dtype=np.int64)
    for row, text in enumerate(texts):
        tokens = [VOCAB.get(w, 1) for w in re.findall(r"\w+", text)][:LENGTH]
        ids[row, : len(tokens)] = tokens
    return ids


def bag_model(texts: list[str], labels: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.EmbeddingBag(len(VOCAB) + 2, 16, mode="sum", padding_idx=0),
        torch.nn.Linear(16, 2),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05, weight_decay=1e-3)
    ids, target = torch.as_tensor(encode(texts)), torch.as_tensor(labels)
    for _ in range(30):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(ids), target).backward()
        optimiser.step()
    return net.eval()


def recovery(docs: list[Any], word: Any = lambda unit: unit.text) -> float:
    positive = [d for d in docs if d.output_index == 1]
    return float(np.mean([word(d.units[int(np.argmax(d.values))]) == CUES[1] for d in positive]))


def _step(model: Any, x: Any, y: Any, flavor: str) -> Any:
    (spec,) = text_step.clarity_explainers()
    ctx = make_context(model, x, y, flavor=flavor, options={"documents": DOCUMENTS})
    result = run_step(spec, ctx, budget_s=600, strict=True).result
    assert result.status == "ok" and result.truncated is None, result
    return result


class _Tokens:
    """The unit regex in the tokenizer API of ``maskers.Text``, as a user would write it."""

    def __call__(self, text: str, return_offsets_mapping: bool = True) -> dict[str, Any]:
        found = list(re.finditer(UNIT_PATTERNS["token"], text))
        return {
            "input_ids": [m.group() for m in found],
            "offset_mapping": [m.span() for m in found],
        }


def _direct(model: Any, texts: list[str]) -> float:
    """Seconds for shap's partition explainer on ``texts``, each toward its predicted class."""
    masker = shap.maskers.Text(_Tokens(), mask_token="...", collapse_mask_token=True)
    started = time.perf_counter()
    predicted = model.predict_proba(texts).argmax(axis=1)
    for k in (0, 1):
        chosen = [t for t, p in zip(texts, predicted, strict=True) if p == k]
        explainer = shap.PartitionExplainer(
            lambda b, k=k: model.predict_proba(list(b))[:, [k]], masker
        )
        explainer(chosen, max_evals=MAX_EVALS, batch_size=MAX_EVALS, silent=True)
    return time.perf_counter() - started


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    texts, labels = cue_texts()
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10)).fit(texts, labels)
    net = bag_model(texts, labels)
    print(load_header(args.load))
    with cpu_load(args.load):
        _step(pipeline, texts, labels, "sklearn")  # warm-up: numba compilation, imports
        runs, direct = [], float("inf")
        for _ in range(REPEATS):  # interleaved, so both sides see the same machine
            runs.append(_step(pipeline, texts, labels, "sklearn"))
            explained = [d.text for d in runs[-1].results["documents"]]
            direct = min(direct, _direct(pipeline, explained))
        docs = runs[0].results["documents"]
        alone = min(r.summary["seconds"]["explain"] for r in runs)
        whole = min(r.duration_s for r in runs)
        print(f"TF-IDF + logistic regression, {len(docs)} documents, {MAX_EVALS} evaluations")
        print(
            f"  explanation phase: {alone:.2f} s; shap directly: {direct:.2f} s"
            f" -> {ratios(alone, direct, 'step', 'shap')} (goal: step/shap <= 1.2)"
        )
        print(
            f"  whole step (LIME, curves, files): {whole:.2f} s, {len(docs) / whole:.1f} docs/s;"
            f" explanation alone {len(docs) / alone:.1f} docs/s;"
            f" cue word on top: {recovery(docs):.0%} of positive documents"
        )
        _step(net, encode(texts), labels, "pytorch")  # warm-up
        ig = min(
            (_step(net, encode(texts), labels, "pytorch") for _ in range(REPEATS)),
            key=lambda r: r.duration_s,
        )
        words = {str(i): w for w, i in VOCAB.items()}
        ig_docs = ig.results["documents"]
        ig_alone = ig.summary["seconds"]["explain"]
        print(f"EmbeddingBag on token ids (LayerIG, 50 steps), {len(ig_docs)} documents")
        print(
            f"  whole step: {ig.duration_s:.2f} s, {len(ig_docs) / ig.duration_s:.1f} docs/s;"
            f" explanation alone {len(ig_docs) / ig_alone:.1f} docs/s;"
            f" cue word on top: {recovery(ig_docs, lambda u: words[u.text]):.0%};"
            f" completeness delta {ig.metrics['clarity.text.completeness_delta']:.2e}"
        )


if __name__ == "__main__":
    main()
