"""Reference data: conversion, alignment with the signature by name, sampling, chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature

from mlflow_clarity.data.reference import (
    RawReference,
    ReferenceDataError,
    expected_columns,
    prepare_reference,
    to_frame,
)


def _prepare(features, labels=None, signature=None, sample_rows=2000, model=None):
    return prepare_reference(
        RawReference(features, labels),
        expected_columns(signature, model),
        sample_rows=sample_rows,
        seed=0,
    )


def test_numpy_gets_signature_names_or_positional_names() -> None:
    assert list(to_frame(np.zeros((3, 2)), ["x", "y"]).columns) == ["x", "y"]
    assert list(to_frame(np.zeros((3, 2))).columns) == ["f0", "f1"]
    assert list(to_frame(np.zeros(3)).columns) == ["f0"]


def test_dict_list_and_tensor_inputs() -> None:
    import torch

    assert to_frame({"a": [1, 2], "b": ["x", "y"]}).shape == (2, 2)
    assert to_frame([[1.0, 2.0], [3.0, 4.0]])["f1"].dtype == np.float64
    assert to_frame(torch.ones(4, 3)).shape == (4, 3)


def test_dataframe_is_not_copied() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0]})
    assert to_frame(df) is df


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.zeros((2, 2, 2)), "only 2-D tabular data"),
        (object(), "unsupported reference data type"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column names"),
        (pd.DataFrame({"a": []}), "no rows"),
        (pd.DataFrame(index=range(3)), "no columns"),
    ],
)
def test_unusable_data_is_a_clear_error(data, match) -> None:
    with pytest.raises(ReferenceDataError, match=match):
        _prepare(data)


def test_columns_are_matched_by_name_not_position() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    signature = infer_signature(train)
    reordered = pd.DataFrame({"extra": [0, 0], "b": [3.0, 4.0], "a": [1.0, 2.0]})
    ref = _prepare(reordered, signature=signature)
    assert ref.columns == ("a", "b")
    assert ref.sample["a"].tolist() == [1.0, 2.0]
    assert any("dropped 1 column" in note for note in ref.notes)


def test_missing_signature_columns_are_a_clear_error() -> None:
    signature = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))
    with pytest.raises(ReferenceDataError, match=r"lacks 2 column\(s\).*signature.*'b', 'c'"):
        _prepare(pd.DataFrame({"a": [1.0]}), signature=signature)


def test_sklearn_feature_names_are_used_without_a_signature() -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0]}), [0, 1])
    ref = _prepare(pd.DataFrame({"b": [1.0], "a": [2.0]}), model=model)
    assert ref.columns == ("a", "b")
    with pytest.raises(ReferenceDataError, match="feature_names_in_ requires: 'b'"):
        _prepare(pd.DataFrame({"a": [1.0]}), model=model)


def test_labels_must_match_rows() -> None:
    with pytest.raises(ReferenceDataError, match="labels have 2 rows but the features have 3"):
        _prepare(np.zeros((3, 2)), labels=[0, 1])


def test_sample_is_seeded_bounded_and_stratified() -> None:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=10_000)})
    y = pd.Series(np.where(np.arange(10_000) < 500, "rare", "common"))
    first = _prepare(x, y, sample_rows=1000)
    second = _prepare(x, y, sample_rows=1000)
    assert len(first.sample) == 1000 and first.n_rows == 10_000
    pd.testing.assert_frame_equal(first.sample, second.sample)
    share = (first.sample_labels == "rare").mean()
    assert share == pytest.approx(0.05, abs=0.002)  # the class mix is kept
    bigger, bigger_labels = first.draw(4000)
    pd.testing.assert_frame_equal(bigger.head(1000), first.sample)  # the sample is a prefix
    assert (bigger_labels == "rare").mean() == pytest.approx(0.05, abs=0.002)
    everything, _ = first.draw(20_000)
    assert len(everything) == 10_000 and everything["a"].is_unique


def test_chunks_stream_every_row_once() -> None:
    x = pd.DataFrame({"a": np.arange(1005.0)})
    ref = _prepare(x, np.arange(1005), sample_rows=100)
    chunks = list(ref.iter_chunks(200))
    assert [len(f) for f, _ in chunks] == [200] * 5 + [5]
    assert pd.concat([f for f, _ in chunks])["a"].tolist() == x["a"].tolist()
    assert sum(len(y) for _, y in chunks) == 1005


def test_tiny_data_gets_a_note() -> None:
    ref = _prepare(pd.DataFrame({"a": [1.0]}))
    assert ref.n_rows == 1 and "only 1 reference row" in ref.notes[0]
