"""The built-in baseline monitor: exact merges, all rows, valid JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.monitors import baseline
from mlflow_clarity.pipeline import run_pipeline

from helpers import config, context, registered
from models import regression_data


def test_profile_merges_chunks_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {
            "num": rng.normal(5, 2, size=25_000),
            "cat": rng.choice(["a", "b", "c"], size=25_000),
        }
    )
    x.loc[::1000, "num"] = np.nan
    x.loc[1, "num"] = np.inf
    rows, stats = baseline.profile_chunks(x.iloc[i : i + 999] for i in range(0, len(x), 999))
    assert rows == 25_000
    num = stats["num"].to_dict()
    finite = x["num"][np.isfinite(x["num"])]
    assert (num["count"], num["missing"], num["non_finite"]) == (len(finite), 25, 1)
    assert num["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert num["std_dev"] == pytest.approx(finite.std(ddof=0), rel=1e-10)
    assert (num["min"], num["max"]) == (finite.min(), finite.max())
    cat = stats["cat"].to_dict()
    assert cat["top"] == x["cat"].value_counts().to_dict() and cat["distinct"] == 3


def test_profile_counts_all_rows_not_the_sample(tmp_path: Path) -> None:
    x, _ = regression_data(rows=5000)
    ctx = context(x, sample_rows=100)
    (spec,) = baseline.clarity_monitors()
    (result,) = run_pipeline(ctx, [registered(spec)], config(), tmp_path)
    profile = json.loads((tmp_path / "monitoring/profile.json").read_text())
    assert profile["item_count"] == 5000 and result.metrics["clarity.baseline.rows"] == 5000


def test_profile_json_has_no_nan_literals(tmp_path: Path) -> None:
    x = pd.DataFrame({"empty": [np.nan] * 10, "s": ["x"] * 10})
    ctx = context(x)
    (spec,) = baseline.clarity_monitors()
    run_pipeline(ctx, [registered(spec)], config(), tmp_path)
    text = (tmp_path / "monitoring/profile.json").read_text()
    assert "NaN" not in text and json.loads(text)["columns"]["empty"]["std_dev"] is None
