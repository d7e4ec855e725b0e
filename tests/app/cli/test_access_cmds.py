"""`flowwright workspaces` and `flowwright api-keys`: a key made on the command line works against
the API with its workspace and role, is listed without its token, and stops working when revoked;
bad input is one line and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from app.api.server import create_app
from app.settings import get_settings
from tests.app.cli.test_connector_cmds import run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_cli_key_works_against_the_api_until_revoked(_isolated_data_dir: Path) -> None:
    assert run("workspaces", "create", "team-a").returncode == 0
    made = run("api-keys", "create", "--workspace", "team-a", "--role", "editor", "--name", "ci",
               "--user", "robot", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()  # the token alone on stdout, so $(...) captures it
    assert token.startswith("fw_") and "\n" not in token
    assert "shown this once" in made.stderr and "editor key" in made.stderr

    with TestClient(create_app(get_settings())) as client:
        me = client.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["workspace"] == "team-a" and me.json()["role"] == "editor" and me.json()["user"] == "robot"
        assert client.get("/v1/api-keys", headers=bearer(token)).status_code == 403  # keys need admin

        listed = run("api-keys", "list", "--json")
        assert listed.returncode == 0 and token not in listed.stdout
        (info,) = [k for k in json.loads(listed.stdout) if k["workspace"] == "team-a"]
        assert info["name"] == "ci" and info["state"] == "active" and info["expires_at"] is not None
        assert info["last_used_at"] is not None  # the request above used it
        table = run("api-keys", "list", "--workspace", "team-a")
        assert info["id"] in table.stdout and token not in table.stdout
        workspaces = json.loads(run("workspaces", "list", "--json").stdout)
        assert {"name": "team-a", "active_keys": 1} in [{k: w[k] for k in ("name", "active_keys")} for w in workspaces]

        # another workspace cannot revoke it; the token or the id revokes it
        assert "no API key" in run("api-keys", "revoke", info["id"], "--workspace", "default").stderr
        revoked = run("api-keys", "revoke", token, "--json")
        assert revoked.returncode == 0 and json.loads(revoked.stdout)["state"] == "revoked"
        refused = client.get("/v1/me", headers=bearer(token))
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
        assert run("api-keys", "list", "--active", "--json").stdout.strip() == "[]"


def test_the_default_workspace_needs_no_creating_and_bad_input_is_one_line(_isolated_data_dir: Path) -> None:
    made = run("api-keys", "create", "-w", "default", "-r", "admin", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["token"].startswith("fw_")
    for args, message in [
        (("workspaces", "create", "bad name"), "invalid workspace name 'bad name'"),
        (("workspaces", "create", "default"), "workspace default already exists"),
        (("api-keys", "create", "-w", "nowhere", "-r", "viewer"), "no workspace nowhere"),
        (("api-keys", "create", "-w", "default", "-r", "owner"), "unknown role 'owner'; one of viewer, editor, admin"),
        (("api-keys", "create", "-w", "default", "-r", "viewer", "--expires", "soon"), "--expires 'soon'"),
        (("api-keys", "create", "-w", "default", "-r", "viewer", "--expires", "2001-01-01"), "in the past"),
        (("api-keys", "revoke", "0123456789ab"), "no API key 0123456789ab"),
    ]:
        result = run(*args)
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


def test_create_as_a_real_process_prints_only_the_token(_isolated_data_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "api-keys", "create", "-w", "default", "-r", "viewer"],
                          capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("fw_")
    assert done.stdout.strip() not in (_isolated_data_dir / "flowwright.db").read_bytes().decode("latin-1")
