"""Run a dataset through a generator and score every turn.

Each turn is scored on its own: the answer must be a question exactly when one is expected; a
workflow must validate (``engine.validation`` with the connector registry) and meet every
expectation; refinement turns must also leave untouched nodes as they were in the previous
workflow. Graph metrics compare with the turn's reference; executability runs the engine's dry
run on every valid workflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evals.dataset import Case, Dataset
from evals.expectations import check, check_unchanged
from evals.generators import Generator
from evals.metrics import CaseResult, TurnResult, aggregate, guardrail_hits, score_workflow

DryRun = Callable[[dict[str, Any]], bool]


@dataclass
class EvalResult:
    """Every case's result and the summary, overall and by category."""

    dataset: str
    split: str
    model: str
    dataset_version: int
    cases: list[CaseResult]
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document: summary figures at the top level, then categories and cases."""
        return {
            **self.summary,
            "dataset": self.dataset,
            "split": self.split,
            "model": self.model,
            "dataset_version": self.dataset_version,
            "seconds": round(self.seconds, 2),
            "by_category": self.by_category,
            "case_results": [c.to_dict() for c in self.cases],
        }


def _catalog() -> Any:
    from connectors.registry import default_registry

    return default_registry()


def score_turn(
    turn_spec: Any,
    answer: Any,
    previous: dict[str, Any] | None,
    *,
    catalog: Any,
    guardrail_case: bool,
    dry_run: DryRun | None,
) -> TurnResult:
    """Score one answer against its turn's expectations and reference."""
    from engine.validation import validate_workflow

    expect = turn_spec.expect
    result = TurnResult(
        message=turn_spec.message,
        expected_question=expect.question,
        asked_question=answer.workflow is None and bool(answer.question),
        produced_workflow=answer.workflow is not None,
        valid=None,
        error=answer.error,
        cost_usd=answer.cost_usd,
        tokens=answer.tokens,
        latency_ms=answer.latency_ms,
        cache_hit=answer.cache_hit,
        workflow=answer.workflow,
        question=answer.question,
    )
    if answer.error:
        result.failures.append(f"error: {answer.error}")
    if answer.workflow is not None:
        validation = validate_workflow(answer.workflow, catalog)
        result.valid = validation.ok
        result.problems = [f"{p.path}: {p.code}: {p.message}" for p in validation.problems]
        if not validation.ok:
            result.failures.append(f"invalid workflow ({len(validation.problems)} problem(s))")
        elif dry_run is not None:
            result.executable = dry_run(answer.workflow)
    if not answer.error:
        result.failures += check(answer.workflow, answer.question, expect)
        if expect.unchanged is not None and not expect.question:
            result.failures += check_unchanged(previous, answer.workflow, expect.unchanged)
    if turn_spec.reference is not None:
        result.score = score_workflow(answer.workflow or {}, turn_spec.reference, guardrail_case=guardrail_case)
    if expect.guardrails:
        result.guardrails_expected = len(set(expect.guardrails))
        result.guardrails_found = guardrail_hits(answer.workflow or {}, expect.guardrails)
    return result


def run_case(case: Case, generator: Generator, *, catalog: Any, dry_run: DryRun | None) -> CaseResult:
    conversation = generator.conversation(case)
    previous: dict[str, Any] | None = None
    turns = []
    for spec in case.all_turns():
        answer = conversation.send(spec.message)
        turns.append(score_turn(spec, answer, previous, catalog=catalog, guardrail_case=case.about_guardrails,
                                dry_run=dry_run))
        if answer.workflow is not None:
            previous = answer.workflow
    return CaseResult(case.id, case.category, case.multi_turn, turns)


def run_eval(
    dataset: Dataset,
    generator: Generator,
    *,
    catalog: Any = None,
    dry_run: DryRun | None = None,
    progress: Callable[[CaseResult], None] | None = None,
) -> EvalResult:
    """Run every case of ``dataset`` (one process, in order) and aggregate."""
    catalog = catalog if catalog is not None else _catalog()
    start = time.perf_counter()
    results = []
    for case in dataset.cases:
        result = run_case(case, generator, catalog=catalog, dry_run=dry_run)
        results.append(result)
        if progress is not None:
            progress(result)
    return summarise(
        EvalResult(dataset.name, dataset.split, generator.name, dataset.version, results, time.perf_counter() - start)
    )


def summarise(result: EvalResult) -> EvalResult:
    """Fill ``summary`` and ``by_category`` (categories, then ``multi_turn`` for refinement cases)."""
    result.summary = aggregate(result.cases)
    groups: dict[str, list[CaseResult]] = {}
    for case in result.cases:
        groups.setdefault(case.category, []).append(case)
    result.by_category = {name: aggregate(cases) for name, cases in sorted(groups.items())}
    return result
