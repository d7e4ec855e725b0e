"""`flowwright workflows ...`: import as a draft, activate (what fires), versions, diff, rollback,
export, deactivate, archive, delete and restore — each with --json, on a real SQLite data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.engine.workflows import digest, minimal


def run(*args: str) -> tuple[int, str, str]:
    """The CLI in-process (same Typer app as the ``flowwright`` command; a Flowwright error is exit
    1 with one line, as ``app.cli.main.main`` makes it)."""
    from app.cli.main import app
    from engine.errors import FlowwrightError

    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, FlowwrightError):
        return 1, result.stdout, f"error: {result.exception.message} [{result.exception.code}]"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> Any:
    code, out, err = run(*args, "--json")
    assert code == 0, (out, err)
    return json.loads(out)


def write(tmp_path: Path, data: dict[str, Any], name: str = "wf.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_import_is_a_draft_and_activate_shows_the_schedule(tmp_path: Path) -> None:
    imported = run_json("workflows", "import", write(tmp_path, digest()))
    assert (imported["status"], imported["current_version"], imported["active_version"]) == ("inactive", 1, None)
    wf_id = imported["id"]
    assert [w["id"] for w in run_json("workflows", "list")] == [wf_id]
    assert run_json("workflows", "list", "--status", "active") == []

    code, out, _ = run("workflows", "activate", "Weekly sales digest")  # by name too
    assert code == 0
    assert "is active (v1)" in out and "At 09:00, only on Monday (Europe/Berlin)" in out
    assert out.count(" 09:00 Europe/Berlin") == 5  # the next five times, in words and in UTC
    shown = run_json("workflows", "show", wf_id)
    assert (shown["status"], shown["active_version"]) == ("active", 1)
    assert len(shown["fires"]["next"]) == 5 and shown["definition"] == digest()


def test_versions_diff_rollback_and_export(tmp_path: Path) -> None:
    wf_id = run_json("workflows", "import", write(tmp_path, minimal()))["id"]
    run_json("workflows", "activate", wf_id)
    changed = minimal()
    changed["nodes"][1]["config"]["message"] = "changed"
    again = run_json("workflows", "import", write(tmp_path, changed, "v2.json"), "--into", wf_id)
    assert (again["current_version"], again["active_version"]) == (2, 1)
    marks = [(v["version"], v["current"], v["active"]) for v in run_json("workflows", "versions", wf_id)]
    assert marks == [(1, False, True), (2, True, False)]

    diff = run_json("workflows", "diff", wf_id)
    assert (diff["from"], diff["to"], diff["changed"]) == (1, 2, {"say": ["config"]})
    code, out, _ = run("workflows", "diff", wf_id, "1", "2")
    assert code == 0 and '-        "message": "hi"' in out and '+        "message": "changed"' in out

    exported = tmp_path / "out.json"
    assert run("workflows", "export", wf_id, "--version", "1", "-o", str(exported))[0] == 0
    assert json.loads(exported.read_text()) == minimal()
    code, out, _ = run("workflows", "export", wf_id)
    assert json.loads(out) == changed

    run_json("workflows", "activate", wf_id)
    back = run_json("workflows", "rollback", wf_id, "1")
    assert (back["current_version"], back["active_version"]) == (1, 1)
    assert run("workflows", "rollback", wf_id, "9")[0] == 1


def test_deactivate_archive_delete_restore(tmp_path: Path) -> None:
    wf_id = run_json("workflows", "import", write(tmp_path, minimal()))["id"]
    assert run_json("workflows", "activate", wf_id)["status"] == "active"
    assert run_json("workflows", "deactivate", wf_id)["status"] == "inactive"
    assert run_json("workflows", "archive", wf_id)["status"] == "archived"
    assert run_json("workflows", "list") == []
    assert [w["id"] for w in run_json("workflows", "list", "--status", "archived")] == [wf_id]
    assert run_json("workflows", "delete", wf_id)["deleted"] is True
    assert run_json("workflows", "list", "--status", "archived") == []
    assert [w["id"] for w in run_json("workflows", "list", "--deleted")] == [wf_id]
    code, _, err = run("workflows", "show", wf_id)
    assert code == 1 and "no workflow" in err
    restored = run_json("workflows", "restore", wf_id)
    assert (restored["deleted"], restored["status"]) == (False, "inactive")


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    bad = minimal()
    bad["nodes"][1]["operation"] = "logg"
    code, out, err = run("workflows", "import", write(tmp_path, bad), "--json")
    assert code == 2
    assert json.loads(out)["error"]["details"]["problems"][0]["path"] == "$.nodes[1].operation"
    assert "$.nodes[1].operation" in err
    assert run("workflows", "list", "--status", "sleeping")[0] == 2
    assert run("workflows", "activate", "wf_nope")[0] == 1
    # A missing version through the real command: one line on stderr, no traceback.
    wf_id = run_json("workflows", "import", write(tmp_path, minimal()))["id"]
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "workflows", "show", wf_id, "--version", "7"],
                          capture_output=True, text=True, timeout=90, check=False, env=dict(os.environ))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: workflow {wf_id} has no version 7 [not_found]"]


def calls(name: str, target: str) -> dict[str, Any]:
    return {"name": name, "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": target}}], "edges": [{"source": "start", "target": "sub"}]}


def test_import_and_activate_check_sub_workflow_calls(tmp_path: Path) -> None:
    code, _, err = run("workflows", "import", write(tmp_path, calls("caller", "wf_nowhere")))
    assert code == 2 and "$.nodes[1].config.workflow_id" in err and "subworkflow_not_found" in err
    a = run_json("workflows", "import", write(tmp_path, minimal(), "a.json"))["id"]
    b = run_json("workflows", "import", write(tmp_path, calls("B", a), "b.json"))["id"]
    code, _, err = run("workflows", "import", write(tmp_path, calls(minimal()["name"], b), "a2.json"), "--into", a)
    assert code == 2 and "subworkflow_cycle" in err and f"({a})" in err and f"({b})" in err
    assert run_json("workflows", "show", a)["current_version"] == 1  # nothing was stored
    assert run("workflows", "delete", a)[0] == 0  # B's callee is gone: B cannot be activated now
    code, _, err = run("workflows", "activate", b)
    assert code != 0 and "subworkflow_not_found" in err + _


def test_import_gets_the_guardrail_passes_unless_manual(tmp_path: Path) -> None:
    purge = {"name": "Purge orders", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "purge", "type": "action", "connector": "datastore", "operation": "delete",
         "config": {"table": "orders", "all": True}}], "edges": [{"source": "start", "target": "purge"}]}
    imported = run_json("workflows", "import", write(tmp_path, purge))
    assert [(c["pass"], c["kind"]) for c in imported["guardrails_applied"]] == [("approval", "approval")]
    shown = run_json("workflows", "show", imported["id"])
    assert [n["kind"] for n in shown["definition"]["nodes"] if n["type"] == "guardrail"] == ["approval"]
    code, out, _ = run("workflows", "import", write(tmp_path, {**purge, "name": "Purge again"}, "again.json"))
    assert code == 0 and "guardrail inserted: approve_purge (approval)" in out

    manual = run_json("workflows", "import", write(tmp_path, {**purge, "guardrails": "manual"}, "manual.json"),
                      "--into", imported["id"])
    assert manual["guardrails_applied"] == [] and manual["current_version"] == 2
    assert run_json("workflows", "show", imported["id"])["definition"] == {**purge, "guardrails": "manual"}
