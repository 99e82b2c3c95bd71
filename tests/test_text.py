"""The ``text`` explainer on real text models trained here with planted cue words."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pytest

import mlflow_clarity
from mlflow_clarity.explainers.text import step as text_step
from mlflow_clarity.explainers.text.units import rebuild, split
from mlflow_clarity.layout import TEXT_FILES as FILES
from mlflow_clarity.manager import get_plugin_manager
from mlflow_clarity.testing import check_explainer, default_context, make_context, run_step
from mlflow_clarity.types import ModelContext

from helpers import clarity_file, steps_by_name

FOLDER = "explanations/text"
FILLER = [f"word{i}" for i in range(120)]
CUES = {1: "excellent", 0: "awful"}


def cue_texts(rows: int = 240, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Sentences of neutral filler words; the one cue word decides the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, size=rng.integers(6, 16)))
        words.insert(int(rng.integers(0, len(words) + 1)), CUES[int(label)])
        texts.append(" ".join(words) + ".")
    return texts, labels


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], np.ndarray]:
    return cue_texts()


@pytest.fixture(scope="module")
def sklearn_model(texts):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10)).fit(*texts)


VOCAB = {w: i + 2 for i, w in enumerate([*FILLER, *CUES.values()])}  # 0 pad, 1 unknown
LENGTH = 24


def encode(batch: list[str]) -> np.ndarray:
    """Token ids, padded with 0 to LENGTH; unknown words are 1."""
    ids = np.zeros((len(batch), LENGTH), dtype=np.int64)
    for row, text in enumerate(batch):
        tokens = [VOCAB.get(w, 1) for w in re.findall(r"\w+", text.lower())][:LENGTH]
        ids[row, : len(tokens)] = tokens
    return ids


def bag_model(mode: str = "sum"):
    import torch

    class Bag(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.EmbeddingBag(len(VOCAB) + 2, 16, mode=mode, padding_idx=0)
            self.out = torch.nn.Linear(16, 2)

        def forward(self, ids):
            return self.out(self.embedding(ids))

    torch.manual_seed(0)
    return Bag()


@pytest.fixture(scope="module")
def torch_model(texts):
    import torch

    net = bag_model()
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05, weight_decay=1e-3)
    ids, labels = torch.as_tensor(encode(texts[0])), torch.as_tensor(texts[1])
    for _ in range(30):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(ids), labels).backward()
        optimiser.step()
    return net.eval()


def pyfunc_model(net):
    """The torch model behind a pyfunc that tokenises strings itself."""

    class Tokenising(mlflow.pyfunc.PythonModel):
        def __init__(self, net) -> None:
            self.net = net

        def predict(self, context, model_input, params=None):
            import torch

            with torch.no_grad():
                logits = self.net(torch.as_tensor(encode(model_input["text"].tolist())))
            return torch.softmax(logits, dim=1).numpy()

    return Tokenising(net)


def run(ctx: ModelContext, tmp_path: Path, **kwargs):
    (spec,) = text_step.clarity_explainers()
    result = run_step(spec, ctx, staging=tmp_path, strict=True, **kwargs)
    assert result.result.status == "ok", result.result.reason
    return result


def cue_recovery(docs, unit_text=lambda u: u.text) -> float:
    """Share of documents explained as positive whose top unit is the positive cue."""
    positive = [d for d in docs if d.output_index == 1]
    assert len(positive) >= 5
    return float(
        np.mean([unit_text(d.units[int(np.argmax(d.values))]) == CUES[1] for d in positive])
    )


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "ul", "li"}
PAGE_TAGS |= {"section", "span"}


def markup(page: str) -> tuple[set[str], set[str]]:
    """The tags and attribute names of an HTML page."""
    from html.parser import HTMLParser

    found: tuple[set[str], set[str]] = (set(), set())

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs) -> None:
            found[0].add(tag)
            found[1].update(name for name, _ in attrs)

    Collect().feed(page)
    return found


def read(run_, name: str):
    path = run_.files[f"{FOLDER}/{FILES[name]}"]
    return json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()


# --- units ----------------------------------------------------------------------------


def test_units_keep_their_offsets_and_rebuild_the_text() -> None:
    text = "Good film, really!  Awful end.\nNew line"
    tokens = split(text, "token")
    assert [u.text for u in tokens][:4] == ["Good", "film", ",", "really"]
    assert all(text[u.start : u.end] == u.text for u in tokens)
    assert [u.text for u in split(text, "sentence")] == [
        "Good film, really!",
        "Awful end.",
        "New line",
    ]
    keep = [u.text != "Awful" for u in tokens]
    assert rebuild(text, tokens, keep, "...") == "Good film, really!  ... end.\nNew line"
    assert len(split(text, "token", max_units=3)) == 3


# --- models that take strings: SHAP partition -----------------------------------------


def test_sklearn_pipeline_cue_word_is_the_top_unit(texts, sklearn_model, tmp_path) -> None:
    ctx = make_context(sklearn_model, *texts, options={"documents": 40})
    done = run(ctx, tmp_path)
    assert cue_recovery(done.result.results["documents"]) >= 0.9
    summary = read(done, "summary")
    assert summary["explainer"] == "shap.PartitionExplainer" and summary["unit"] == "token"
    assert summary["settings"]["mask_token"] == "..."
    curves = summary["quality"]["curves"]
    assert curves["mask"]["deletion_ratio"] < 1 < curves["mask"]["insertion_ratio"]
    assert summary["quality"]["lime"]["top_k_overlap_mean"] >= 0.5
    metrics = done.result.metrics
    assert list(metrics)[:5] == [
        f"clarity.text.{m}"
        for m in (
            "documents_explained",
            "deletion_ratio",
            "insertion_ratio",
            "lime_agreement",
            "completeness_delta",
        )
    ]
    terms = read(done, "terms")
    assert terms["terms"][0]["term"] in CUES.values()
    assert terms["per_class"]["1"][0]["term"] == CUES[1]
    tokens = read(done, "tokens")["documents"][0]
    assert {"position", "explained_class", "model_output", "units"} <= set(tokens)
    assert [u for u, _ in tokens["units"]] == [
        u.text for u in split(texts[0][tokens["position"]], "token")
    ]
    assert done.files[f"{FOLDER}/{FILES['terms_plot']}"].read_bytes()[:4] == b"\x89PNG"


def test_sentence_units(sklearn_model, tmp_path) -> None:
    docs = ["Filler word1 word2. It was excellent! More word3 here."] * 12
    docs += ["Filler word1 word2. It was awful! More word3 here."] * 12
    ctx = make_context(sklearn_model, docs, [1] * 12 + [0] * 12, options={"unit": "sentence"})
    done = run(ctx, tmp_path)
    doc = done.result.results["documents"][0]
    assert [u.text for u in doc.units][1] in ("It was excellent!", "It was awful!")
    assert int(np.argmax(np.abs(doc.values))) == 1


def test_pyfunc_on_strings_recovers_the_cue(texts, torch_model, tmp_path) -> None:
    ctx = make_context(
        pyfunc_model(torch_model), *texts, flavor="pyfunc", options={"documents": 30}
    )
    done = run(ctx, tmp_path)
    assert cue_recovery(done.result.results["documents"]) >= 0.9
    assert read(done, "summary")["settings"]["model_call"] == "python_model.predict in memory"


# --- torch models on token ids: layer integrated gradients ----------------------------


def test_token_ids_layer_integrated_gradients(texts, torch_model, tmp_path) -> None:
    ctx = make_context(torch_model, encode(texts[0]), texts[1], flavor="pytorch")
    assert ctx.modality.kind == "token_ids"
    done = run(ctx, tmp_path)
    words = {str(i): w for w, i in VOCAB.items()}
    assert cue_recovery(done.result.results["documents"], lambda u: words[u.text]) >= 0.9
    summary = read(done, "summary")
    assert summary["explainer"] == "captum.LayerIntegratedGradients"
    assert summary["settings"] | {"pad_id": 0, "unk_id": 1, "n_steps": 50} == summary["settings"]
    assert summary["settings"]["layer"] == "embedding"
    assert summary["quality"]["completeness"]["delta_mean"] < 0.02
    assert summary["quality"]["sanity"]["rho_mean"] < 0.7
    assert done.result.metrics["clarity.text.completeness_delta"] < 0.02
    tokens = read(done, "tokens")["documents"][0]
    assert len(tokens["units"]) == int((encode(texts[0])[tokens["position"]] != 0).sum())


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_embedding_bag_pooling_is_reproduced_per_token(mode, texts, tmp_path) -> None:
    ctx = make_context(bag_model(mode), encode(texts[0][:20]), flavor="pytorch")
    done = run(ctx, tmp_path, budget_s=20)
    assert done.result.metrics["clarity.text.completeness_delta"] < 0.02


# --- bad input --------------------------------------------------------------------------


def test_empty_long_html_and_odd_unicode_documents(texts, sklearn_model, tmp_path) -> None:
    docs = [
        *texts[0][:20],
        "",
        "   ",
        " ".join(["excellent"] * 20_000),
        "<script>alert(1)</script> <b>excellent</b> & 'quoted'",
        "na\u00efve caf\u00e9 \U0001f600 \u202eexcellent \u0000 word1",
    ]
    ctx = make_context(sklearn_model, docs, [1] * len(docs), options={"max_units": 512})
    # the data layer refuses lone surrogates; the step must not choke on them either
    items = tuple(t + " \udc80bad\ud800" if "word1" in t else t for t in ctx.reference.items)
    ctx = dataclasses.replace(ctx, reference=dataclasses.replace(ctx.reference, items=items))
    done = run(ctx, tmp_path)
    summary = read(done, "summary")
    assert summary["documents"]["skipped_empty"] == 2
    (cut,) = summary["documents"]["truncated"]
    assert cut == {"position": 22, "units": 20_000, "kept": 512}
    assert "1 document(s) cut to their first 512 units" in done.result.truncated
    assert any("empty document(s) were skipped" in r for r in summary["reasons"])
    page = read(done, "page")
    tags, attributes = markup(page)
    assert tags <= PAGE_TAGS and attributes <= {"charset", "style", "title", "class"}
    assert "http" not in page
    assert html.escape("<") in page and html.escape("&") in page and "\ufffd" in page
    long_doc = next(d for d in done.result.results["documents"] if d.position == 22)
    assert len(long_doc.units) == 512


def test_unknown_unit_is_an_error(sklearn_model, texts) -> None:
    ctx = make_context(sklearn_model, *texts, options={"unit": "paragraph"})
    (spec,) = text_step.clarity_explainers()
    with pytest.raises(ValueError, match="unknown text unit 'paragraph'"):
        run_step(spec, ctx, strict=True)


def test_tables_are_not_supported() -> None:
    (spec,) = text_step.clarity_explainers()
    assert spec.supports(default_context(rows=60)) is False


def test_keeps_the_plugin_contract(texts, sklearn_model) -> None:
    ctx = make_context(
        sklearn_model,
        texts[0][:30],
        texts[1][:30],
        options={"documents": 8, "lime_documents": 2},
    )
    (spec,) = text_step.clarity_explainers()
    check_explainer(spec, ctx)


# --- end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_logged_sklearn_pipeline_stores_the_files(tracking, texts, sklearn_model) -> None:
    assert get_plugin_manager().has_plugin("mlflow_clarity.explainers.text.step")  # built in
    docs = [*texts[0][:40], "<img src=x onerror=alert(1)> excellent"]
    labels = [*texts[1][:40], 1]
    with mlflow.start_run(), mlflow_clarity.reference_data(docs, labels):
        info = mlflow.sklearn.log_model(sklearn_model, name="m", serialization_format="cloudpickle")
    step = steps_by_name(info.model_id)["text"]
    assert step["status"] == "ok", step["reason"]
    assert {f"{FOLDER}/{name}" for name in FILES.values()} <= set(step["artifacts"])
    page = clarity_file(info.model_id, f"{FOLDER}/{FILES['page']}").read_text()
    tags, attributes = markup(page)
    assert tags <= PAGE_TAGS and "onerror" not in attributes and "&lt;" in page
    assert clarity_file(info.model_id, f"{FOLDER}/{FILES['summary']}")["unit"] == "token"
    sections = clarity_file(info.model_id, "report_sections.json")
    text = json.dumps(sections)
    assert "Text explanations" in text and CUES[1] in text
