"""Baselines: file names, what is kept, and what counts as a regression."""

from __future__ import annotations

from evals.baseline import baseline_data, baseline_path, compare, model_slug
from evals.metrics import CaseResult, TurnResult
from evals.runner import EvalResult, summarise


def _result(split: str, passed: list[bool]) -> EvalResult:
    cases = [
        CaseResult(f"case-{i}", "x", False, [TurnResult("m", False, False, True, True, failures=[] if ok else ["no"])])
        for i, ok in enumerate(passed)
    ]
    return summarise(EvalResult("all", split, "local/flowwright-planner", 1, cases))


def test_names_and_slugs() -> None:
    assert model_slug("openai/gpt-4o-mini") == "openai-gpt-4o-mini"
    assert baseline_path("all", "dev", "local/flowwright-planner").name == "all-dev-local-flowwright-planner.json"


def test_a_drop_beyond_the_tolerance_is_a_regression() -> None:
    baseline = baseline_data(_result("dev", [True, True, True, True]))
    regressed, lines = compare(_result("dev", [True, True, True, False]), baseline, tolerance=0.02)
    assert regressed and any("pass_rate: 0.7500 (baseline 1.0000, -0.2500) REGRESSION" in line for line in lines)
    assert "newly failing (1): case-3" in lines
    assert compare(_result("dev", [True, True, True, False]), baseline, tolerance=0.3)[0] is False
    assert compare(_result("dev", [True] * 4), baseline)[0] is False


def test_held_out_baselines_keep_no_case_ids() -> None:
    baseline = baseline_data(_result("heldout", [True, False]))
    assert "passed_cases" not in baseline and baseline["pass_rate"] == 0.5
    regressed, lines = compare(_result("heldout", [True, True]), baseline)
    assert not regressed and not any("newly" in line for line in lines)
