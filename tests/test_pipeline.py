"""The pipeline on its own: guards, budgets, skips and outputs of steps."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlflow_clarity import ClarityWarning, StepOutput, StepSkipped
from mlflow_clarity.pipeline import StepTimeoutError, run_pipeline
from mlflow_clarity.types import MonitorSpec, overall_status

from helpers import config, context, explainer, frame


def _ok(ctx, ws):
    (ws.out_dir / "out.json").write_text("{}")
    return StepOutput(metrics={"score": 1.5, "bad": float("nan")}, tags={"note": "hi"})


def _boom(ctx, ws):
    raise RuntimeError("kaboom")


def test_ok_step_files_metrics_and_tags(tmp_path: Path) -> None:
    (result,) = run_pipeline(context(frame()), [explainer("good", _ok)], config(), tmp_path)
    assert result.status == "ok"
    assert result.artifacts == ("explanations/good/out.json",)
    assert (tmp_path / "explanations/good/out.json").exists()
    assert dict(result.metrics) == {"clarity.good.score": 1.5}  # NaN metric dropped
    assert dict(result.tags) == {"clarity.good.note": "hi"}


def test_failing_step_is_contained_and_others_run(tmp_path: Path, lenient: None) -> None:
    steps = [explainer("boom", _boom), explainer("good", _ok)]
    with pytest.warns(ClarityWarning, match="'boom'.*kaboom"):
        results = run_pipeline(context(frame()), steps, config(), tmp_path)
    assert [r.status for r in results] == ["failed", "ok"]
    assert "RuntimeError: kaboom" in results[0].reason
    assert overall_status(results) == "partial"


def test_strict_mode_raises_the_step_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="kaboom"):
        run_pipeline(context(frame()), [explainer("boom", _boom)], config(), tmp_path)


def test_hanging_step_is_abandoned_within_budget(tmp_path: Path, lenient: None) -> None:
    release = threading.Event()

    def hang(ctx, ws):
        release.wait(30)

    steps = [explainer("hang", hang), explainer("good", _ok)]
    with pytest.warns(ClarityWarning, match="time budget"):
        results = run_pipeline(context(frame()), steps, config(budget_s=1.0), tmp_path)
    assert not release.is_set()  # the pipeline returned while the step still hung
    release.set()
    assert results[0].status == "timed_out"
    assert results[1].status == "skipped" and "budget" in results[1].reason


def test_timeout_raises_in_strict_mode(tmp_path: Path) -> None:
    with pytest.raises(StepTimeoutError):
        run_pipeline(
            context(frame()),
            [explainer("slow", lambda c, w: time.sleep(3))],
            config(budget_s=0.5),
            tmp_path,
        )


def test_each_step_gets_a_share_of_the_budget(tmp_path: Path) -> None:
    seen = []
    steps = [explainer(n, lambda c, w: seen.append(w.budget_s)) for n in ("a", "b", "c", "d")]
    run_pipeline(context(frame()), steps, config(budget_s=40.0), tmp_path)
    assert 9 < seen[0] <= 10 and 12 < seen[1] <= 13.34 and 19 < seen[2] <= 20


def test_skips_have_reasons(tmp_path: Path) -> None:
    def skip(ctx, ws):
        raise StepSkipped("not my kind of model")

    steps = [
        explainer("skipper", skip),
        explainer("needs-lib", _ok, requires=("no_such_module_xyz",)),
        explainer("picky", _ok, supports=lambda ctx: False),
        explainer("unselected", _ok),
    ]
    results = run_pipeline(
        context(frame()), steps, config(steps=("skipper", "needs-lib", "picky")), tmp_path
    )
    reasons = {r.name: (r.status, r.reason) for r in results}
    assert reasons["skipper"] == ("skipped", "not my kind of model")
    assert reasons["needs-lib"][1] == "requires no_such_module_xyz, which is not installed"
    assert "does not apply" in reasons["picky"][1]
    assert "not selected" in reasons["unselected"][1]
    assert overall_status(results) == "skipped"


def test_step_without_data_is_skipped_with_the_reason(tmp_path: Path) -> None:
    ctx = context(None, reference_missing_reason="no reference data: pass some")
    (result,) = run_pipeline(ctx, [explainer("x", _ok)], config(), tmp_path)
    assert (result.status, result.reason) == ("skipped", "no reference data: pass some")
    (result,) = run_pipeline(ctx, [explainer("y", _ok, needs_data=False)], config(), tmp_path)
    assert result.status == "ok"


def test_each_step_gets_its_own_copy_of_the_sample(tmp_path: Path) -> None:
    def vandal(ctx, ws):
        ctx.reference.sample.iloc[:, :] = 0.0

    def check(ctx, ws):
        assert ctx.reference.sample.abs().sum().sum() > 0

    ctx = context(frame())
    results = run_pipeline(ctx, [explainer("v", vandal), explainer("c", check)], config(), tmp_path)
    assert [r.status for r in results] == ["ok", "ok"]


def test_step_options_reach_only_their_step(tmp_path: Path) -> None:
    seen = {}

    def record(name):
        return lambda ctx, ws: seen.update({name: dict(ctx.options)})

    steps = [explainer(n, record(n)) for n in "ab"]
    run_pipeline(context(frame()), steps, config(step_options={"a": {"k": 1}}), tmp_path)
    assert seen == {"a": {"k": 1}, "b": {}}


def test_wrong_return_type_is_a_failure(tmp_path: Path, lenient: None) -> None:
    with pytest.warns(ClarityWarning, match="expected StepOutput"):
        (result,) = run_pipeline(
            context(frame()), [explainer("odd", lambda c, w: {"a": 1})], config(), tmp_path
        )
    assert result.status == "failed"


def test_two_steps_writing_one_folder_conflict(tmp_path: Path, lenient: None) -> None:
    from helpers import registered

    steps = [registered(MonitorSpec(name=n, run=_ok, folder="monitoring")) for n in ("m1", "m2")]
    with pytest.warns(ClarityWarning, match="already wrote clarity/monitoring/out.json"):
        results = run_pipeline(context(frame()), steps, config(), tmp_path)
    assert [r.status for r in results] == ["ok", "failed"]


def test_overall_status() -> None:
    from mlflow_clarity.types import StepResult

    def r(status):
        return StepResult(name="s", kind="explainer", plugin="p", status=status)

    assert overall_status(()) == "skipped"
    assert overall_status((r("ok"), r("skipped"))) == "ok"
    assert overall_status((r("ok"), r("timed_out"))) == "partial"
    assert overall_status((r("failed"), r("skipped"))) == "failed"


def test_spec_rejects_bad_names_and_folders() -> None:
    from mlflow_clarity import ExplainerSpec

    with pytest.raises(ValueError, match="invalid step name"):
        ExplainerSpec(name="", run=_ok)
    with pytest.raises(ValueError, match="relative path"):
        ExplainerSpec(name="x", run=_ok, folder="../escape")


def test_steps_run_after_the_steps_they_name_and_get_their_results(tmp_path: Path) -> None:
    seen = {}

    def first(ctx, ws):
        return StepOutput(results={"values": [1, 2, 3]})

    def second(ctx, ws):
        seen.update(ws.upstream)
        return StepOutput(metrics={"total": sum(ws.upstream["first"].results["values"])})

    steps = [
        explainer("second", second, after=("first", "not-registered")),
        explainer("first", first),
    ]
    results = run_pipeline(context(frame()), steps, config(), tmp_path)
    assert [r.name for r in results] == ["first", "second"]
    assert list(seen) == ["first"] and seen["first"].status == "ok"
    assert results[1].metrics["clarity.second.total"] == 6.0
    assert "results" not in results[0].to_dict()  # in memory only


def test_dependency_cycle_skips_those_steps_only(tmp_path: Path, lenient: None) -> None:
    steps = [
        explainer("a", _ok, after=("b",)),
        explainer("b", _ok, after=("a",)),
        explainer("good", _ok),
    ]
    with pytest.warns(ClarityWarning, match="cycle"):
        results = run_pipeline(context(frame()), steps, config(), tmp_path)
    by_name = {r.name: r for r in results}
    assert by_name["good"].status == "ok"
    assert by_name["a"].status == by_name["b"].status == "skipped"
    assert "cycle" in by_name["a"].reason


def test_a_step_that_failed_is_still_upstream_with_its_status(
    tmp_path: Path, lenient: None
) -> None:
    seen = {}

    def later(ctx, ws):
        seen.update(ws.upstream)

    steps = [explainer("boom", _boom), explainer("later", later, after=("boom",))]
    with pytest.warns(ClarityWarning):
        run_pipeline(context(frame()), steps, config(), tmp_path)
    assert seen["boom"].status == "failed" and "kaboom" in seen["boom"].reason


def test_work_until_leaves_a_margin_before_the_deadline(tmp_path: Path) -> None:
    stops = []

    def measure(ctx, ws):
        stops.append((ws.work_until() - time.monotonic(), ws.deadline - time.monotonic()))

    run_pipeline(context(frame()), [explainer("m", measure)], config(budget_s=10.0), tmp_path)
    ((until, left),) = stops
    assert 0 < until < left and until <= 0.9 * left + 0.01


def test_supports_sees_its_own_copy_of_the_sample(tmp_path: Path) -> None:
    def vandal(ctx):
        ctx.reference.sample.iloc[:, :] = 0.0
        return True

    def check(ctx, ws):
        assert ctx.reference.sample.abs().sum().sum() > 0

    steps = [explainer("v", _ok, supports=vandal), explainer("c", check)]
    results = run_pipeline(context(frame()), steps, config(), tmp_path)
    assert [r.status for r in results] == ["ok", "ok"]


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_steps_run_with_one_blas_thread_and_the_limit_is_lifted(tmp_path: Path) -> None:
    import numpy  # noqa: F401  # loads the BLAS library

    before, seen = _blas_threads(), []
    steps = [explainer("count", lambda c, w: seen.append(_blas_threads()))]
    run_pipeline(context(frame()), steps, config(), tmp_path)
    assert seen == [{1}]
    assert _blas_threads() == before
