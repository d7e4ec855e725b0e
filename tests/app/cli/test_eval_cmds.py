"""`flowwright eval`, in-process (typer's runner) on a small dataset, with the reference as the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app

GOOD = {
    "id": "good", "version": 1, "category": "slack", "prompt": "Post 'hi' to #general when I run it.",
    "reference": {"schema_version": "1", "name": "Hi", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "say_hi", "type": "action", "connector": "slack", "operation": "post_message",
         "config": {"channel": "#general", "text": "hi"}}], "edges": [{"source": "start", "target": "say_hi"}]},
    "expect": {"trigger": {"kind": "manual"}, "operations": ["slack.post_message"], "values": ["#general"]},
}
ASK = {"id": "ask", "version": 1, "category": "questions", "prompt": "Email me sometimes.", "reference": None,
       "expect": {"question": True}}
# Its reference misses its own expectation, so the reference "model" scores 2 of 3.
MISS = {**GOOD, "id": "miss", "category": "email", "expect": {"operations": ["email.send"]}}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in (GOOD, ASK, MISS)) + "\n", encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(app, ["eval", *args])


def test_json_summary_and_baseline_round_trip(dataset: Path, tmp_path: Path) -> None:
    base = tmp_path / "baselines"
    common = ["--dataset", str(dataset), "--model", "reference", "--baseline-dir", str(base), "--no-dry-run"]
    first = run(*common, "--json", "--update-baseline")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert {"pass_rate", "valid_rate", "node_f1", "edge_f1", "cases", "by_category"} <= set(data)
    assert data["cases"] == 3 and data["pass_rate"] == pytest.approx(2 / 3)
    assert data["by_category"]["questions"]["question_recall"] == 1.0
    assert data["by_category"]["email"]["pass_rate"] == 0.0
    saved = base / "tiny-dev-reference.json"
    baseline = json.loads(saved.read_text())
    assert baseline["passed_cases"] == ["ask", "good"]

    same = run(*common)
    assert same.exit_code == 0, same.output
    assert "pass_rate: 0.6667 (baseline 0.6667, +0.0000) ok" in same.stdout

    baseline["pass_rate"] = 0.9  # a better past: this run is a regression beyond the 2-point tolerance
    saved.write_text(json.dumps(baseline))
    worse = run(*common)
    assert worse.exit_code == 1
    assert "REGRESSION" in worse.stdout
    assert run(*common, "--tolerance", "0.25").exit_code == 0


def test_markdown_and_json_reports(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "eval.md"
    result = run("--dataset", str(dataset), "--model", "reference", "--baseline-dir", str(tmp_path), "-o", str(out), "-v")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| **overall** |" in text and "| slack |" in text
    assert "miss [email]: missing node: email.send" in text
    assert json.loads(out.with_suffix(".json").read_text())["case_results"][0]["id"] == "good"
    assert "miss [email]" in result.stdout  # -v lists failing cases, brackets and all
    assert "100.0%" in text  # the dry run ran (default) and the reference workflows completed


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    missing = run("--dataset", "no_such_dataset", "--model", "reference")
    assert missing.exit_code == 1
    assert "eval_dataset_invalid" in missing.output and "Traceback" not in missing.output
    assert run("--split", "test", "--model", "reference").exit_code == 1
    assert run("--tolerance", "2", "--model", "reference").exit_code == 1
