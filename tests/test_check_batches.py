"""Checks an operator can run every hour: which rule fired, real batches, kept outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_clarity.monitors import Baseline, build_baseline
from mlflow_clarity.monitors.check.drift_check import check_batch

OFF = 1e9  # a threshold no statistic reaches: turns a rule off


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 20_000
    return pd.DataFrame(
        {
            "income": rng.normal(50.0, 10.0, rows),
            "city": rng.choice(["paris", "lyon", "nice", "brest"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def baseline(reference: pd.DataFrame) -> Baseline:
    return build_baseline(reference)


def _drift_violation(baseline: Baseline, batch: pd.DataFrame, thresholds: dict) -> dict:
    result = check_batch(baseline, [(batch, None)], thresholds=thresholds)
    found = [v for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"]
    assert len(found) == 1, result.violations
    return found[0]


def _shifted(reference: pd.DataFrame) -> pd.DataFrame:
    return reference.head(5000).assign(income=lambda f: f["income"] + 4.0)


def _widened(reference: pd.DataFrame) -> pd.DataFrame:
    return reference.head(5000).assign(income=lambda f: 50.0 + (f["income"] - 50.0) * 1.3)


def _recity(reference: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cities = rng.choice(["paris", "lyon", "nice", "brest"], 5000, p=[0.6, 0.2, 0.1, 0.1])
    return reference.head(5000).assign(city=cities)


RULE_CASES = {
    "linf": (_shifted, {"numeric": {"psi_warn": OFF, "tail_share_warn": OFF}}, "L-infinity"),
    "psi": (_shifted, {"numeric": {"linf_robust_warn": OFF, "tail_share_warn": OFF}}, "PSI"),
    "tail_share": (
        _widened,
        {"numeric": {"linf_robust_warn": OFF, "psi_warn": OFF}},
        "change of the share beyond the outer deciles",
    ),
    "share_change": (
        _recity,
        {"categorical": {"psi_warn": OFF}},
        "largest change of a value's share",
    ),
    "categorical psi": (_recity, {"categorical": {"linf_robust_warn": OFF}}, "PSI"),
}


@pytest.mark.parametrize("case", sorted(RULE_CASES))
def test_a_violation_names_the_rule_that_fired_first(
    reference: pd.DataFrame, baseline: Baseline, case: str
) -> None:
    make, thresholds, label = RULE_CASES[case]
    rule = case.split()[-1]
    violation = _drift_violation(baseline, make(reference), thresholds)
    description = violation["description"]
    fired = description.split("Other rules:")[0]
    assert fired.startswith(f"Value: {label} ")
    assert f"(rule {rule};" in fired and ">= threshold" in fired
    assert "Method:" in description and "n=5000 vs baseline n=20000" in description


def test_drift_json_names_the_rule_and_ok_columns_carry_no_level(
    reference: pd.DataFrame, baseline: Baseline
) -> None:
    result = check_batch(baseline, [(_widened(reference), None)])
    income = result.drift["columns"]["income"]["distribution"]
    city = result.drift["columns"]["city"]["distribution"]
    assert income["status"] == "drift" and income["level"] in ("warn", "alert")
    assert income["rule"]["name"] == "tail_share"
    assert income["rule"]["value"] >= income["rule"]["threshold"] == 0.04
    assert {r["name"] for r in income["rules"]} == {"linf", "psi", "tail_share"}
    assert city["status"] == "ok" and "level" not in city
    assert {r["name"] for r in city["rules"]} == {"share_change", "psi"}
