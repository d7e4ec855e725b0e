"""`flowwright audit`: what CLI commands did, under the operating-system user, read back filtered
and paged, on a real SQLite data dir."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from tests.app.cli.test_workflows_cmds import run, run_json, write
from tests.engine.workflows import minimal


def test_cli_acts_are_audited_and_listed(tmp_path: Path) -> None:
    wf_id = run_json("workflows", "import", write(tmp_path, minimal()))["id"]
    run_json("workflows", "activate", wf_id)
    changed = minimal()
    changed["nodes"][1]["config"]["message"] = "changed"
    run_json("workflows", "import", write(tmp_path, changed, "v2.json"), "--into", wf_id)
    run_json("workflows", "rollback", wf_id, "1")
    run_json("workflows", "archive", wf_id)
    run_json("workflows", "delete", wf_id)
    run_json("workflows", "restore", wf_id)
    log = run_json("audit")
    user = getpass.getuser()
    assert [(e["action"], e["via"], e["user"]) for e in log["entries"]] == [
        (action, "cli", user) for action in ("workflow.restored", "workflow.deleted", "workflow.archived",
                                             "workflow.rolled_back", "workflow.changed", "workflow.activated",
                                             "workflow.created")]
    assert log["entries"][-1]["details"] == {"version": 1, "source": "import", "name": "Minimal"}
    assert log["next_cursor"] is None

    page = run_json("audit", "--action", "workflow.", "--limit", "2")
    assert [e["action"] for e in page["entries"]] == ["workflow.restored", "workflow.deleted"]
    rest = run_json("audit", "--limit", "10", "--cursor", page["next_cursor"])
    assert len(rest["entries"]) == 5
    assert run_json("audit", "--target", "wf_other")["entries"] == []
    assert run_json("audit", "-w", "elsewhere")["entries"] == []

    code, out, err = run("audit", "--limit", "1")
    assert code == 0 and "workflow.restored" in out and f"{user} (cli)" in out
    assert "more: --cursor" in err


def test_a_bad_filter_is_one_line_and_exit_2() -> None:
    code, _, err = run("audit", "--since", "last tuesday")
    assert code == 2 and "--since" in err and "ISO 8601" in err
    code, _, err = run("audit", "--limit", "0")
    assert code == 2 and "--limit" in err


def test_credentials_and_keys_from_the_cli_are_audited_without_secrets() -> None:
    code, _, err = run("api-keys", "create", "--workspace", "default", "--role", "editor", "--user", "carol")
    assert code == 0, err
    from typer.testing import CliRunner

    from app.cli.main import app

    result = CliRunner().invoke(app, ["credentials", "set", "crm", "--type", "api_key"],
                                input=json.dumps({"api_key": "s3cr3t-value"}))
    assert result.exit_code == 0, result.output
    entries = run_json("audit")["entries"]
    assert [(e["action"], e["target"]["kind"]) for e in entries] == [("credential.set", "credential"),
                                                                       ("api_key.created", "api_key")]
    assert entries[1]["details"] == {"role": "editor", "user": "carol"}
    assert "s3cr3t" not in json.dumps(entries)
