"""`flowwright run|executions|recover|approvals|approve|reject`: the CLI contract.

One test runs the real ``flowwright`` process (exit codes, the id on stderr); the others call
the same Typer app in-process, which is much faster and exercises the same code.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

FLOWWRIGHT = [sys.executable, "-m", "app.cli.main"]
STEP_KEYS = {"node_id", "status", "attempt", "input", "output", "error", "started_at", "completed_at", "duration_ms"}


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args: str) -> _Result:
    """The CLI in-process (same Typer app as the ``flowwright`` command)."""
    from app.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return _Result(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWWRIGHT, *args], capture_output=True, text=True, timeout=90, check=False,
                          env=dict(os.environ))


def _write(tmp_path: Path, data: dict[str, Any], name: str = "wf.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def workflow(**extra: Any) -> dict[str, Any]:
    nodes = [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "double", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "trigger.x * 2"}},
        {"id": "big", "type": "condition", "config": {"expression": "nodes.double.value > 10"}},
        {"id": "say", "type": "action", "connector": "core", "operation": "log",
         "config": {"message": "value is {{ nodes.double.value }}"}},
    ]
    edges = [{"source": "start", "target": "double"}, {"source": "double", "target": "big"},
             {"source": "big", "target": "say", "branch": "true"}]
    return {"name": "cli demo", "nodes": nodes, "edges": edges, **extra}


@pytest.mark.slow
def test_run_json_contract_and_id_on_stderr(tmp_path: Path) -> None:
    path = _write(tmp_path, workflow())
    done = run_process("run", path, "--input", '{"x": 21}', "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"id", "status", "failed_steps", "outcome", "output", "error", "duration_ms", "steps"}
    assert result["status"] == "completed" and result["output"] == {"message": "value is 42", "level": "info"}
    assert result["id"] in done.stderr
    assert all(set(step) == STEP_KEYS for step in result["steps"])
    small = json.loads(run("run", path, "--input", '{"x": 1}', "--json").stdout)
    assert {s["node_id"]: s["status"] for s in small["steps"]}["say"] == "skipped"
    # executions list/show read the same data dir
    listed = json.loads(run("executions", "list", "--json").stdout)
    assert {e["id"] for e in listed} == {result["id"], small["id"]}
    assert json.loads(run("executions", "list", "--status", "failed", "--json").stdout) == []
    shown = json.loads(run("executions", "show", result["id"], "--json").stdout)
    assert shown == result
    human = run("executions", "show", result["id"])
    assert human.returncode == 0 and "double" in human.stdout
    missing = run("executions", "show", "ex_nope")
    assert missing.returncode == 1 and "not found" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_run_exit_codes(tmp_path: Path) -> None:
    invalid = workflow()
    invalid["edges"].append({"source": "ghost", "target": "say"})
    bad = run_process("run", _write(tmp_path, invalid, "bad.json"))
    assert bad.returncode == 2 and "$.edges[3].source" in bad.stderr and "Traceback" not in bad.stderr
    failing = workflow()
    failing["nodes"][1]["config"]["expression"] = "$error('broken on purpose')"
    failed = run("run", _write(tmp_path, failing, "fail.json"), "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"]["message"].endswith("broken on purpose")
    not_json = run("run", _write(tmp_path, workflow()), "--input", "{x")
    assert not_json.returncode == 2 and "not valid JSON" in not_json.stderr


def test_completed_with_errors_exits_3(tmp_path: Path) -> None:
    handled = workflow()
    handled["nodes"][1].update(on_error="route", config={"expression": "$error('refund API down')"})
    handled["nodes"].append({"id": "report_failure", "type": "action", "connector": "core", "operation": "log",
                             "config": {"message": "refund failed"}})
    handled["edges"].append({"source": "double", "target": "report_failure", "branch": "error"})
    path = _write(tmp_path, handled)
    result = run("run", path, "--input", '{"x": 21}', "--json")
    assert result.returncode == 3, result.stderr
    outcome = json.loads(result.stdout)
    assert (outcome["status"], outcome["failed_steps"], outcome["outcome"]) == ("completed", 1, "completed with errors")
    human = run("run", path, "--input", '{"x": 21}')
    assert human.returncode == 3 and "completed with errors (1 failed step(s))" in human.stdout
    listed = json.loads(run("executions", "list", "--json").stdout)
    assert [(e["outcome"], e["failed_steps"]) for e in listed] == [("completed with errors", 1)] * 2
    fine = run("run", _write(tmp_path, workflow(), "fine.json"), "--input", '{"x": 21}')
    assert fine.returncode == 0 and "completed with errors" not in fine.stdout


def test_run_live_view_and_dry_run(tmp_path: Path) -> None:
    wf = workflow()
    wf["nodes"].append({"id": "notify", "type": "action", "connector": "slack", "operation": "post_message",
                        "config": {"channel": "#x", "text": "hi {{ nodes.double.value }}"}})
    wf["edges"].append({"source": "say", "target": "notify"})
    live = run("run", _write(tmp_path, workflow()), "--input", '{"x": 21}')
    assert live.returncode == 0, live.stderr
    assert "double" in live.stdout and "completed" in live.stdout
    dry = run("run", _write(tmp_path, wf, "dry.json"), "--input", '{"x": 21}', "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    result = json.loads(dry.stdout)
    assert {s["node_id"]: s["status"] for s in result["steps"]}["notify"] == "completed"


def test_approvals_from_the_cli(tmp_path: Path) -> None:
    wf = workflow()
    wf["nodes"].insert(2, {"id": "ask", "type": "guardrail", "kind": "approval", "config": {"message": "go on?"}})
    wf["edges"] = [{"source": "start", "target": "double"}, {"source": "double", "target": "ask"},
                   {"source": "ask", "target": "big"}, {"source": "big", "target": "say", "branch": "true"}]
    waiting = run("run", _write(tmp_path, wf), "--input", '{"x": 21}', "--json")
    assert waiting.returncode == 1
    execution_id = json.loads(waiting.stdout)["id"]
    assert json.loads(waiting.stdout)["status"] == "waiting"
    pending = json.loads(run("approvals", "list", "--json").stdout)
    assert [(a["execution_id"], a["node_id"]) for a in pending] == [(execution_id, "ask")]
    approved = run("approve", execution_id, "ask", "--by", "ada", "--json")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "completed"
    again = run("approve", execution_id, "ask")
    assert again.returncode == 1 and "no pending approval" in again.stderr


def test_recover_with_nothing_to_do() -> None:
    done = run("recover", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"resumed": []}


def test_recover_resumes_an_execution_whose_process_died() -> None:
    import asyncio
    import socket
    from datetime import UTC, datetime

    from app.settings import get_settings
    from app.wiring import Container

    services = Container.open(get_settings(), vault=False)
    now = datetime.now(UTC)

    async def orphan() -> None:  # what a killed `flowwright run` leaves behind
        await services.execution_store.insert_execution({
            "id": "ex_orphan", "workspace_id": "default", "workflow_name": "cli demo",
            "definition": json.dumps(workflow()), "status": "running", "input": '{"x": 21}',
            "owner": f"{socket.gethostname()}:999999999", "created_at": now, "started_at": now, "updated_at": now,
        })

    asyncio.run(orphan())
    services.close()
    done = run("recover", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"resumed": [{"id": "ex_orphan", "status": "completed"}]}
    shown = json.loads(run("executions", "show", "ex_orphan", "--json").stdout)
    assert shown["output"] == {"message": "value is 42", "level": "info"}


def test_executions_list_filters_and_pages_with_a_cursor(tmp_path: Path) -> None:
    path = _write(tmp_path, workflow())
    failing = workflow(name="refund runner")
    failing["nodes"][1]["config"]["expression"] = "$error('card processor said 402')"
    bad = _write(tmp_path, failing, "bad.json")
    ok_ids = [json.loads(run("run", path, "--input", '{"x": 1}', "--json").stdout)["id"] for _ in range(3)]
    bad_ids = [json.loads(run("run", bad, "--input", '{"x": 1}', "--json").stdout)["id"] for _ in range(2)]
    newest_first = list(reversed(ok_ids + bad_ids))

    def ids(*args: str) -> list[str]:
        result = run("executions", "list", *args, "--json")
        assert result.returncode == 0, result.stderr
        return [e["id"] for e in json.loads(result.stdout)]

    assert ids("--status", "failed") == newest_first[:2]
    assert ids("--status", "failed,completed") == newest_first
    assert ids("-q", "402") == newest_first[:2] == ids("--search", "REFUND")
    assert ids("--trigger", "schedule") == [] and ids("--since", "1h", "--trigger", "manual") == newest_first
    assert ids("--asc", "--limit", "1") == ok_ids[:1]
    assert ids("--offset", "3") == newest_first[3:]
    first = run("executions", "list", "--limit", "3", "--json")
    assert [e["id"] for e in json.loads(first.stdout)] == newest_first[:3]
    cursor = first.stderr.strip().removeprefix("more: --cursor ")
    rest = run("executions", "list", "--limit", "3", "--cursor", cursor, "--json")
    assert [e["id"] for e in json.loads(rest.stdout)] == newest_first[3:] and "more:" not in rest.stderr
    for args, name in ((("--status", "broken"), "--status"), (("--since", "yesterday"), "--since"),
                       (("--cursor", "x"), "--cursor"), (("--order-by", "name"), "--order-by")):
        refused = run("executions", "list", *args)
        assert refused.returncode == 2 and refused.stderr.strip().endswith(f"({name})"), (args, refused.stderr)
        assert "Traceback" not in refused.stderr


def test_executions_prune_applies_the_retention_policy(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from app.cli.container import container

    path = _write(tmp_path, workflow())
    ids = [json.loads(run("run", path, "--input", '{"x": 1}', "--json").stdout)["id"] for _ in range(4)]
    services = container(vault=False)
    try:
        with services.db.begin() as conn:
            for days, execution_id in zip((90, 20, 2, 1), ids, strict=True):
                conn.exec_driver_sql("UPDATE executions SET created_at = ? WHERE id = ?",
                                     (datetime.now(UTC) - timedelta(days=days), execution_id))
    finally:
        services.close()
    assert json.loads(run("executions", "prune", "--json").stdout)["by_age"] == 1  # the default: 30 days
    pruned = run("executions", "prune", "--max-age-days", "10", "--max-per-workflow", "1")
    assert pruned.returncode == 0 and "deleted 2 finished execution(s): 1 past the maximum age, 1 beyond 1" in pruned.stdout
    assert [e["id"] for e in json.loads(run("executions", "list", "--json").stdout)] == ids[3:]
    off = run("executions", "prune", "--max-age-days", "0", "--max-per-workflow", "0")
    assert off.returncode == 0 and "retention is off" in off.stdout
    refused = run("executions", "prune", "--max-age-days", "-1")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_executions_stats(tmp_path: Path) -> None:
    from app.cli.container import container
    from engine.validation import parse_workflow

    services = container(vault=False)
    row, _ = services.workflow_store.create("default", parse_workflow(workflow(), services.registry), source="api")
    assert json.loads(run("executions", "stats", row.id, "--json").stdout)["total"] == 0

    async def go() -> list[dict[str, Any]]:
        try:
            return [await services.runtime.run(workflow(), {"x": x}, workflow_id=row.id) for x in (1, 21)]
        finally:
            await services.aclose()

    results = asyncio.run(go())
    stats = json.loads(run("executions", "stats", "cli demo", "--json").stdout)  # by name
    assert (stats["total"], stats["success_rate"]) == (2, 1.0)
    assert stats["duration_ms"]["max"] == max(r["duration_ms"] for r in results)
    human = run("executions", "stats", row.id, "--since", "7d")
    assert human.returncode == 0 and "2 run(s): 2 completed; success rate 100.0%" in human.stdout
    missing = run("executions", "stats", "wf_nope")
    assert missing.returncode == 1 and "no workflow 'wf_nope'" in missing.stderr
    bad = run("executions", "stats", row.id, "--since", "soon")
    assert bad.returncode == 2 and bad.stderr.strip().endswith("(--since)")


def test_executions_rerun_from_a_node(tmp_path: Path) -> None:
    from app.cli.container import container
    from engine.validation import parse_workflow

    broken = workflow()
    broken["nodes"][3]["config"]["message"] = "{{ $error('typo in the message') }}"
    services = container(vault=False)
    row, _ = services.workflow_store.create("default", parse_workflow(broken, services.registry), source="api")
    services.workflow_store.add_version("default", row.id, parse_workflow(workflow(), services.registry), source="api")

    async def go() -> dict[str, Any]:
        try:
            return await services.runtime.run(broken, {"x": 21}, workflow_id=row.id, workflow_version=1)
        finally:
            await services.aclose()

    first = asyncio.run(go())
    assert first["status"] == "failed"
    again = run("executions", "rerun", first["id"], "--from", "say", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["output"] == {"message": "value is 42", "level": "info"}
    steps = {s["node_id"]: s for s in result["steps"]}
    assert steps["double"]["started_at"] == next(s for s in first["steps"] if s["node_id"] == "double")["started_at"]
    assert f"re-run of {first['id']} from say" in again.stderr
    old = run("executions", "rerun", first["id"], "--version", "1")
    assert old.returncode == 1 and "typo in the message" in old.stdout
    ghost = run("executions", "rerun", first["id"], "--from", "ghost")
    assert ghost.returncode == 1 and "'ghost'" in ghost.stderr and "Traceback" not in ghost.stderr
    assert run("executions", "rerun", "ex_nope").returncode == 1


def test_a_sub_workflow_shows_in_the_live_view_and_in_executions_show(tmp_path: Path) -> None:
    child = run("workflows", "import", _write(tmp_path, workflow(name="child flow"), "child.json"), "--json")
    assert child.returncode == 0, child.stderr
    child_id = json.loads(child.stdout)["id"]
    parent = {"name": "parent", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": child_id, "input": {"x": 21}}}], "edges": [{"source": "start", "target": "sub"}]}
    live = run("run", _write(tmp_path, parent, "parent.json"))
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    started = next(i for i, line in enumerate(lines) if "sub-workflow" in line and child_id in line)
    assert any(line.startswith("    ✓ double") for line in lines[started:]), live.stdout  # the child, indented
    done = json.loads(run("executions", "list", "--json").stdout)
    parent_run = next(e for e in done if e["workflow_name"] == "parent")
    shown = run("executions", "show", parent_run["id"])
    assert shown.returncode == 0, shown.stderr
    assert "sub-workflows:" in shown.stdout and "↳ sub → child flow v1 completed" in shown.stdout
