"""`flowwright validate|schema|version|-h|--version|serve --port` run as a real subprocess: exit codes, paths, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine.workflows import digest

FLOWWRIGHT = [sys.executable, "-m", "app.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWWRIGHT, *args], capture_output=True, text=True, timeout=60, check=False)


def test_validate_ok(tmp_path: Path) -> None:
    f = tmp_path / "wf.json"
    f.write_text(json.dumps(digest()))
    result = run("validate", str(f))
    assert result.returncode == 0, result.stderr
    assert "valid workflow" in result.stdout


def test_validate_lists_every_problem_with_paths(tmp_path: Path) -> None:
    wf = digest()
    wf["nodes"][0]["config"]["cron"] = "0 25 * * 1"
    wf["nodes"][4]["connector"] = "cor"
    wf["edges"].append({"source": "ghost", "target": "fetch_sales"})
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(wf))
    result = run("validate", str(f))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for path in ("$.nodes[0].config.cron", "$.nodes[4].connector", "$.edges[4].source"):
        assert path in result.stderr
    as_json = json.loads(run("validate", str(f), "--json").stdout)
    assert {p["code"] for p in as_json["problems"]} == {"invalid_cron", "unknown_connector", "dangling_edge"}


def test_validate_reports_json_syntax_position(tmp_path: Path) -> None:
    f = tmp_path / "broken.json"
    f.write_text('{"name": "x",\n  "nodes": [}\n')
    result = run("validate", str(f))
    assert result.returncode == 1
    assert "broken.json:2:" in result.stderr and "Traceback" not in result.stderr


def test_validate_missing_file(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.json"))
    assert result.returncode == 1 and "no such file" in result.stderr


def test_schema_and_version() -> None:
    schema = json.loads(run("schema").stdout)
    assert schema["title"] == "Workflow"
    assert run("version").stdout.startswith("flowwright ")


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; sys.argv=['flowwright','--help']\n"
        "from app.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('litellm', 'chromadb', 'instructor', 'jsonata', 'sqlmodel') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "HEAVY []" in out


def test_bad_setting_is_one_line_not_a_traceback() -> None:
    import os

    env = {**os.environ, "FLOWWRIGHT_PORT": "eighty"}
    result = subprocess.run([*FLOWWRIGHT, "serve"], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert result.returncode == 2
    assert "invalid setting FLOWWRIGHT_PORT" in result.stderr and "Traceback" not in result.stderr


def test_validate_checks_sub_workflow_calls_against_the_workspace(tmp_path: Path) -> None:
    f = tmp_path / "caller.json"
    f.write_text(json.dumps({"name": "caller", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "sub", "type": "action", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": "wf_nowhere"}}], "edges": [{"source": "start", "target": "sub"}]}))
    result = run("validate", str(f))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "$.nodes[1].config.workflow_id" in result.stderr and "subworkflow_not_found" in result.stderr
    unknown = run("validate", str(f), "--workflow", "wf_ghost")
    assert unknown.returncode == 1 and "--workflow wf_ghost: no such workflow" in unknown.stderr


def test_short_help_and_version_flags() -> None:
    version = run("version").stdout.strip()
    assert run("--version").stdout.strip() == version == run("-V").stdout.strip()
    top = run("-h")
    assert top.returncode == 0 and "Usage" in top.stdout and "executions" in top.stdout
    nested = run("executions", "list", "-h")
    assert nested.returncode == 0 and "--cursor" in nested.stdout


def test_serve_refuses_a_port_out_of_range_before_starting() -> None:
    for port in ("99999", "0", "-1"):
        result = run("serve", "--port", port)
        assert result.returncode == 2, (port, result.stdout, result.stderr)
        assert "--port" in result.stderr and "Uvicorn running" not in result.stderr + result.stdout
