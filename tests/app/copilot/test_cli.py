"""`flowwright generate` and `flowwright chat` end to end: CLI → copilot → real gateway → the local
model (``local/flowwright-planner``) → passes → store. No scripted model here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from connectors.registry import default_registry
from engine.validation import validate_workflow

WEEKLY = "Every Monday at 9am Berlin time, fetch https://api.example.com/sales and email the total to alice@example.com"
TRIAGE = "When a support ticket arrives by webhook, summarize it and post the summary to #support"


def invoke(*args: str, stdin: str | None = None) -> object:
    return CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)


def test_generate_json_prints_a_valid_guarded_workflow() -> None:
    result = invoke("generate", TRIAGE, "--json")
    assert result.exit_code == 0, result.output
    workflow = json.loads(result.stdout)
    assert validate_workflow(workflow, default_registry()).ok
    guards = {n.get("kind") for n in workflow["nodes"] if n.get("origin") == "guardrail"}
    assert {"schema", "pii_redaction", "content_filter"} <= guards
    trigger = next(n for n in workflow["nodes"] if n["type"] == "trigger")
    assert trigger["kind"] == "webhook"


def test_generate_human_output_and_question_exit_code() -> None:
    result = invoke("generate", WEEKLY)
    assert result.exit_code == 0, result.output
    assert "version 1" in result.stdout and "valid" in result.stdout and '"cron": "0 9 * * 1"' in result.stdout
    asked = invoke("generate", "Send a weekly report every Friday", "--json")
    assert asked.exit_code == 2
    assert json.loads(asked.stdout)["question"]


def test_generate_usage_errors_are_one_line() -> None:
    result = invoke("generate")
    assert result.exit_code == 1 and "describe the workflow" in result.output and "Traceback" not in result.output
    both = invoke("generate", "x", "--batch", "nope.jsonl")
    assert both.exit_code == 1 and "not both" in both.output


def test_chat_refines_shows_and_undoes() -> None:
    script = "\n".join([WEEKLY, "/show", "send it to bob@example.com too", "/undo", "/json", "/run --dry-run",
                        "/nonsense", "/quit"]) + "\n"
    result = invoke("chat", stdin=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "version 1" in out and "version 2 (from 1)" in out
    assert "Back to version 1" in out
    assert "report_failure" in out  # /show lists the inserted error path
    assert '"bob@example.com"' not in out.split("Back to version 1", 1)[1]  # /json shows version 1 again
    assert "● completed" in out  # /run --dry-run through the runtime
    assert "unknown command /nonsense" in out


@pytest.mark.slow
def test_batch_one_process_with_cache_hits(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join([
        json.dumps({"id": "a", "prompt": WEEKLY}),
        json.dumps({"id": "b", "prompt": "Send a weekly report every Friday"}),
        "not json",
        json.dumps({"id": "c", "prompt": WEEKLY}),
        json.dumps({"id": 4}),
    ]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "generate", "--batch", str(batch)],
                          capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line.get("id") for line in lines] == ["a", "b", None, "c", 4]
    a, b, bad, c, missing = lines
    assert "workflow" in a and a["cache"] == "miss" and a["usage"]["total_tokens"] > 0 and a["latency_ms"] > 0
    assert "question" in b
    assert bad["error"]["code"] == "bad_input" and missing["error"]["code"] == "bad_input"
    assert c["cache"] == "hit" and c["workflow"]["nodes"] == a["workflow"]["nodes"]
    for line in lines:
        assert {"cache", "usage", "latency_ms"} <= set(line)


def test_chat_run_wraps_webhook_input_in_the_request_envelope() -> None:
    script = "\n".join([TRIAGE, '/run --dry-run {"message": "Printer is on fire, call me at +44 20 7946 0958"}',
                        "/quit"]) + "\n"
    result = invoke("chat", stdin=script)
    assert result.exit_code == 0, result.output
    assert "● completed" in result.stdout
    assert "✓ check_input" in result.stdout and "✓ redact_pii" in result.stdout
