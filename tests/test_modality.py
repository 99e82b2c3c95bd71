"""Modality detection and non-tabular reference data: images, texts, token ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.data.modality import detect, image_layout
from mlflow_clarity.data.reference import RawReference, ReferenceDataError, prepare_reference


def _prepare(features, labels=None, **kwargs):
    return prepare_reference(
        RawReference(features, labels), None, sample_rows=kwargs.pop("rows", 50), seed=0, **kwargs
    )


@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((10, 3, 32, 32), "NCHW"),
        ((10, 32, 32, 3), "NHWC"),
        ((10, 1, 28, 28), "NCHW"),
        ((10, 28, 28), "NHW"),
        ((10, 5), None),
        ((10, 3, 2, 2), None),
    ],
)
def test_image_layout_from_shape(shape, layout) -> None:
    assert image_layout(shape) == layout


def test_images_keep_their_layout_and_are_sampled_with_labels() -> None:
    images = np.random.default_rng(0).random((300, 3, 16, 16), dtype=np.float32)
    labels = np.arange(300) % 2
    reference = _prepare(images, labels, rows=400)
    assert reference.modality.kind == "image" and reference.modality.layout == "NCHW"
    assert "shaped (300, 3, 16, 16)" in reference.modality.reason
    assert reference.items.shape == (256, 3, 16, 16)  # images are capped
    positions = reference.sample["position"].to_numpy()
    np.testing.assert_array_equal(reference.items, images[positions])
    np.testing.assert_array_equal(reference.sample_labels.to_numpy(), labels[positions])
    assert reference.describe()["modality"]["kind"] == "image"


def test_pil_images_of_mixed_sizes_are_a_clear_error() -> None:
    from PIL import Image

    same = [Image.new("RGB", (20, 20)) for _ in range(3)]
    assert _prepare(same).items.shape == (3, 20, 20, 3)
    with pytest.raises(ReferenceDataError, match="different sizes"):
        _prepare([Image.new("RGB", (20, 20)), Image.new("RGB", (24, 20))])


@pytest.mark.parametrize(
    ("texts", "column"),
    [
        (["good film", "bad film"] * 30, "text"),
        (pd.Series(["good", "bad"] * 30, name="review"), "review"),
        (pd.DataFrame({"review": ["good", "bad"] * 30}), "review"),
    ],
)
def test_texts_in_any_container(texts, column) -> None:
    reference = _prepare(texts)
    assert reference.modality.kind == "text" and reference.modality.column == column
    assert list(reference.sample.columns) == [column]
    assert reference.items == tuple(reference.sample[column])


def test_texts_with_missing_values_are_a_clear_error() -> None:
    with pytest.raises(ReferenceDataError, match="not strings"):
        _prepare(["fine", None, "text"], signature=_string_signature())


def _string_signature():
    from mlflow.models import infer_signature

    return infer_signature(pd.DataFrame({"review": ["a", "b"]}))


def test_signature_decides_when_the_data_does_not() -> None:
    assert detect(None, _string_signature()).kind == "text"
    assert detect(pd.DataFrame({"x": [1.0, 2.0]}), None).kind == "tabular"


def test_token_ids_need_a_model_with_an_embedding() -> None:
    import torch

    ids = np.random.default_rng(0).integers(0, 50, size=(40, 12))
    model = torch.nn.Sequential(
        torch.nn.Embedding(50, 8), torch.nn.Flatten(), torch.nn.Linear(96, 2)
    )
    assert _prepare(ids, model=model).modality.kind == "token_ids"
    assert _prepare(ids).modality.kind == "tabular"  # without the model: just integers


def test_image_model_gets_no_tabular_steps_and_says_why(tracking: str) -> None:
    import mlflow
    import torch

    import mlflow_clarity

    from helpers import status, steps_by_name

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    images = np.random.default_rng(0).random((60, 3, 16, 16), dtype=np.float32)
    net(torch.as_tensor(images[:2]))
    mlflow.set_experiment("images")
    with mlflow.start_run(), mlflow_clarity.reference_data(images):
        info = mlflow.pytorch.log_model(net, name="cnn", input_example=images[:2])
    steps = steps_by_name(info.model_id)
    for name in ("shap", "lime", "baseline"):
        assert steps[name]["status"] == "skipped"
        assert "image input" in steps[name]["reason"]
    assert status(info.model_id)["reference"]["modality"]["layout"] == "NCHW"


def test_texts_with_lone_surrogates_are_kept_as_given() -> None:
    reference = _prepare(["bad \udc80 byte", "fine"] * 30)
    assert reference.items[0] == "bad \udc80 byte"
    assert reference.sample.iloc[:, 0].dtype == object
