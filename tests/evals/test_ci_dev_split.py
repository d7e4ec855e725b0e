"""The CI gate: the dev split with the built-in local model must hold the committed baseline.

One process, a fresh data dir (the suite's autouse fixture), the semantic cache off, so every case
is generated afresh. Fails when a guarded figure (pass rate, valid rate, node/edge F1) drops more
than the tolerance below ``evals/baselines/all-dev-local-flowwright-planner.json``.
"""

from __future__ import annotations

import pytest

from evals.baseline import DEFAULT_TOLERANCE, baseline_path, compare, load_baseline
from evals.dataset import load_dataset
from evals.executability import DryRunner
from evals.generators import CopilotGenerator
from evals.runner import run_eval

LOCAL_MODEL = "local/flowwright-planner"


@pytest.mark.slow
@pytest.mark.timeout(900)  # 219 cases since dataset v3 (~2-3 min on 2 cores)
def test_dev_split_with_the_local_model_holds_the_baseline() -> None:
    path = baseline_path("all", "dev", LOCAL_MODEL)
    baseline = load_baseline(path)
    assert baseline is not None, f"no baseline at {path}: run `flowwright eval --update-baseline`"
    dry_run = DryRunner()
    try:
        result = run_eval(load_dataset("all", "dev"), CopilotGenerator(LOCAL_MODEL, cache=False), dry_run=dry_run)
    finally:
        dry_run.close()
    regressed, lines = compare(result, baseline, DEFAULT_TOLERANCE)
    assert not regressed, "\n".join(lines)
    assert result.summary["pass_rate"] >= baseline["pass_rate"] - DEFAULT_TOLERANCE
    assert result.summary["cache_hits"] == 0  # the cache is off: every case was generated
