"""The eval datasets themselves: shape, size, coverage, valid and executable references, and a
held-out split that nothing else in the repository has seen."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from connectors.registry import default_registry
from engine.validation import validate_workflow
from evals.dataset import DATASETS_DIR, DatasetError, load_dataset
from evals.executability import DryRunner
from evals.generators import ReferenceGenerator
from evals.runner import run_eval

REPO = Path(__file__).resolve().parents[2]
REQUIRED_CATEGORIES = {
    "schedules", "webhooks", "manual", "http", "email", "slack", "database", "datastore", "core", "ai",
    "conditions", "routing", "loops", "parallel", "nested", "delays", "retries_errors", "guardrails", "questions",
    "refinement",
}


@pytest.fixture(scope="module")
def splits() -> dict:
    return {split: load_dataset("all", split) for split in ("dev", "heldout")}


def _references(dataset):
    for case in dataset.cases:
        for number, turn in enumerate(case.all_turns()):
            if turn.reference is not None:
                yield f"{case.id}#{number}", turn.reference


def test_sizes_and_split(splits) -> None:
    single = {s: sum(1 for c in d.cases if not c.multi_turn) for s, d in splits.items()}
    multi = {s: sum(1 for c in d.cases if c.multi_turn) for s, d in splits.items()}
    assert single["dev"] + single["heldout"] >= 120
    assert multi["dev"] + multi["heldout"] >= 25
    assert single["heldout"] >= 36 and multi["heldout"] >= 8
    share = (single["heldout"] + multi["heldout"]) / sum(len(d.cases) for d in splits.values())
    assert 0.3 <= share <= 0.6
    for dataset in splits.values():
        for case in dataset.cases:
            assert case.version >= 1
            if case.multi_turn:
                turns = case.all_turns()
                assert 2 <= len(turns) <= 5
                for i, turn in enumerate(turns):
                    refines = turn.reference is not None and any(t.reference is not None for t in turns[:i])
                    assert not refines or turn.expect.unchanged is not None, (case.id, i)


def test_the_corpus_is_large_and_mostly_written_blind(splits) -> None:
    """At least 400 cases, half of them blind (written from the catalog and format alone), and a
    held-out split of at least 150 blind cases (files ``heldout/blind_*.jsonl``)."""
    total = sum(len(d.cases) for d in splits.values())
    blind_heldout = sum(len(load_dataset(p.stem, "heldout").cases) for p in (DATASETS_DIR / "heldout").glob("blind_*.jsonl"))
    blind_dev = sum(len(load_dataset(p.stem, "dev").cases) for p in (DATASETS_DIR / "dev").glob("blind_*.jsonl"))
    assert total >= 400
    assert blind_heldout >= 150
    assert blind_heldout + blind_dev >= total / 2
    categories = {c.category for c in splits["heldout"].cases}
    assert {"clarification", "missing_integration"} <= categories


def test_every_category_is_covered_in_both_splits(splits) -> None:
    for split, dataset in splits.items():
        assert REQUIRED_CATEGORIES <= {c.category for c in dataset.cases}, split
    guardrails = Counter(g for d in splits.values() for c in d.cases for t in c.all_turns() for g in t.expect.guardrails)
    assert {"schema", "pii_redaction", "approval", "content_filter", "rate_limit"} <= set(guardrails)
    error_paths = [c.id for d in splits.values() for c in d.cases if c.category == "guardrails"
                   and any(t.expect.error_routes for t in c.all_turns())]
    assert error_paths


def test_case_ids_are_unique_across_splits(splits) -> None:
    ids = Counter(c.id for d in splits.values() for c in d.cases)
    assert [i for i, n in ids.items() if n > 1] == []


def test_every_reference_validates(splits) -> None:
    registry = default_registry()
    for dataset in splits.values():
        for where, reference in _references(dataset):
            result = validate_workflow(reference, registry)
            assert result.ok, (where, [p.to_dict() for p in result.problems])


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_the_references_score_one_hundred_percent(split: str, splits) -> None:
    result = run_eval(splits[split], ReferenceGenerator())
    summary = result.summary
    failing = {c.id: [t.failures for t in c.turns] for c in result.cases if not c.passed}
    assert failing == {}
    assert summary["pass_rate"] == 1.0 and summary["valid_rate"] == 1.0
    assert summary["node_f1"] == 1.0 and summary["edge_f1"] == 1.0 and summary["edit_similarity"] == 1.0
    assert summary["question_precision"] == 1.0 and summary["question_recall"] == 1.0
    assert summary["guardrail_recall"] == 1.0


def test_every_reference_runs_in_a_dry_run(splits) -> None:
    runner = DryRunner()
    try:
        stuck = {}
        for dataset in splits.values():
            for where, reference in _references(dataset):
                outcome = runner.run(reference)
                if outcome["status"] not in ("completed", "waiting"):
                    stuck[where] = [s["error"] for s in outcome["steps"] if s["status"] == "failed"][:1]
        assert stuck == {}
    finally:
        runner.close()


def test_the_held_out_split_appears_nowhere_else(splits) -> None:
    """Held-out prompts must not leak into prompts, few-shot examples, code or the dev split."""
    heldout = [t.message for c in splits["heldout"].cases for t in c.all_turns() if len(t.message) >= 30]
    haystack = []
    for folder in ("app", "engine", "connectors", "prompts", "evals", "tests", "bench"):
        for path in (REPO / folder).rglob("*"):
            if not path.is_file() or "heldout" in path.parts or path.suffix in (".pyc", ".db", ".sqlite3"):
                continue
            try:
                haystack.append(path.read_text(encoding="utf-8").lower())
            except (UnicodeDecodeError, OSError):
                continue
    text = "\n".join(haystack)
    leaked = [m for m in heldout if m.lower()[:60] in text or json.dumps(m)[1:61].lower() in text]
    assert leaked == []


def test_bad_dataset_files_fail_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "version": 1, "category": "c", "prompt": "p", "reference": null,'
                   ' "expect": {"question": false}}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        load_dataset(str(bad))
    with pytest.raises(DatasetError, match="no dataset"):
        load_dataset("nope", "dev")
    with pytest.raises(DatasetError, match="unknown split"):
        load_dataset("all", "test")
    assert (DATASETS_DIR / "README.md").is_file()


def test_sample_input_fits_the_trigger_schema_and_schema_guardrails() -> None:
    from evals.executability import sample_input

    hook = {"nodes": [
        {"id": "hook", "type": "trigger", "kind": "webhook",
         "config": {"input_schema": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}},
                                     "required": ["email"]}}},
        {"id": "check", "type": "guardrail", "kind": "schema",
         "config": {"path": "body", "schema": {"type": "object", "properties": {"total": {"type": "number"}},
                                               "required": ["total"]}}}]}
    data = sample_input(hook)
    assert data["email"] == "sample@example.com" and "total" in data
    assert data["body"]["email"] == "sample@example.com" and "total" in data["body"]
    assert sample_input({"nodes": [{"id": "go", "type": "trigger", "kind": "manual"}]}) == {}
