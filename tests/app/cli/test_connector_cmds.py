"""`flowwright connectors|credentials|keys`: in-process (typer's runner, stdin piped) for speed, and
once as a real subprocess with the secret on a real stdin pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FLOWWRIGHT = [sys.executable, "-m", "app.cli.main"]
SECRET = "sk-live-CliSecretValue-42"


def run_subprocess(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWWRIGHT, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          check=False, env=dict(os.environ))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
    from typer.testing import CliRunner

    from app.cli.main import app
    from app.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def test_connectors_catalog_and_show() -> None:
    result = run("connectors", "--json")
    assert result.returncode == 0, result.stderr
    catalog = {c["name"]: c for c in json.loads(result.stdout)}
    assert {"core", "http", "email", "slack", "database", "datastore", "llm"} <= set(catalog)
    ops = {op["name"]: op for op in catalog["database"]["operations"]}
    assert ops["execute"]["destructive"] and not ops["query"]["destructive"]
    assert "sql" in ops["query"]["input_schema"]["properties"]
    result = run("connectors", "show", "http")
    assert result.returncode == 0 and "http.request" in result.stdout and '"url"' in result.stdout
    result = run("connectors", "show", "htp")
    assert result.returncode == 1 and "did you mean 'http'" in result.stderr and "Traceback" not in result.stderr


def test_credentials_set_list_delete_and_secret_never_in_clear(_isolated_data_dir: Path) -> None:
    result = run_subprocess("credentials", "set", "openai", "--type", "api_key", stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    result = run("credentials", "set", "db", "--type", "url", stdin=json.dumps({"url": "sqlite:///x.db",
                                                                                "allow_writes": True}))
    assert result.returncode == 0, result.stderr
    listed = run_subprocess("credentials", "list", "--json")
    assert [(c["name"], c["type"]) for c in json.loads(listed.stdout)] == [("db", "url"), ("openai", "api_key")]
    assert SECRET not in listed.stdout
    # the secret is nowhere in the data dir (database, WAL, key files) in clear text
    for f in _isolated_data_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
    from connectors.vault import KeySource, Vault
    from engine.db import make_engine

    engine = make_engine(f"sqlite:///{_isolated_data_dir / 'flowwright.db'}")
    source = KeySource((_isolated_data_dir / "secret.key").read_text().strip(), data_dir=_isolated_data_dir,
                       file_managed=True)
    assert Vault(engine, source).resolve("default", "openai") == {"api_key": SECRET}
    engine.dispose()
    assert run("credentials", "delete", "openai").returncode == 0
    gone = run("credentials", "delete", "openai")
    assert gone.returncode == 1 and "no credential named 'openai'" in gone.stderr


def test_bad_secrets_are_one_line_errors() -> None:
    result = run("credentials", "set", "b", "--type", "basic", stdin='{"username": "u"}')
    assert result.returncode == 1 and "password" in result.stderr and "Traceback" not in result.stderr
    result = run("credentials", "set", "b", "--type", "basic", stdin='{"username": ')
    assert result.returncode == 1 and "stdin:1:" in result.stderr
    result = run("credentials", "set", "b", "--type", "magic", stdin="x")
    assert result.returncode == 1 and "unknown credential type" in result.stderr
    result = run("credentials", "set", "b", "--type", "api_key", stdin="")
    assert result.returncode == 1 and "no secret on stdin" in result.stderr


def test_keys_rotate_file_managed(_isolated_data_dir: Path) -> None:
    assert run("credentials", "set", "a", "--type", "api_key", stdin="one").returncode == 0
    assert run("credentials", "set", "b", "--type", "api_key", "-w", "other", stdin="two").returncode == 0
    old_ids = {c["key_id"] for c in json.loads(run("credentials", "list", "--json").stdout)}
    old_key = (_isolated_data_dir / "secret.key").read_text()
    result = run("keys", "rotate", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["resealed"] == 2 and out["key_id"] not in old_ids
    assert (_isolated_data_dir / "secret.key").read_text() != old_key
    assert not (_isolated_data_dir / "keys.json").exists()
    listed = json.loads(run("credentials", "list", "-w", "other", "--json").stdout)
    assert listed[0]["key_id"] == out["key_id"]


def test_keys_rotate_env_managed_needs_previous_key() -> None:
    from connectors.vault import new_master_key

    old, new = new_master_key(), new_master_key()
    assert run("credentials", "set", "a", "--type", "api_key", stdin="one",
               env={"FLOWWRIGHT_SECRET_KEY": old}).returncode == 0
    result = run("keys", "rotate", env={"FLOWWRIGHT_SECRET_KEY": old})
    assert result.returncode == 1 and "FLOWWRIGHT_PREVIOUS_SECRET_KEYS" in result.stderr
    result = run("keys", "rotate", "--json", env={"FLOWWRIGHT_SECRET_KEY": new, "FLOWWRIGHT_PREVIOUS_SECRET_KEYS": old})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resealed"] == 1
    listed = run("credentials", "list", "--json", env={"FLOWWRIGHT_SECRET_KEY": new})
    assert listed.returncode == 0


def test_interactive_prompt_hides_the_secret(_isolated_data_dir: Path) -> None:
    """On a terminal, `credentials set` prompts; the password is read without echo."""
    import pty
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: a real CLI with the pty as its controlling terminal
        os.execv(sys.executable, [*FLOWWRIGHT, "credentials", "set", "login", "--type", "basic"])
    out = b""

    def read_until(token: bytes) -> None:
        nonlocal out
        deadline = time.monotonic() + 30
        while token not in out and time.monotonic() < deadline:
            try:
                out += os.read(fd, 1024)
            except OSError:
                return

    read_until(b"username")
    os.write(fd, b"alice\n")
    read_until(b"password")
    time.sleep(0.2)
    os.write(fd, b"hunter2-Secret\n")
    read_until(b"saved")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"alice" in out and b"hunter2" not in out  # the username echoes, the password does not
    from connectors.vault import KeySource, Vault
    from engine.db import make_engine

    engine = make_engine(f"sqlite:///{_isolated_data_dir / 'flowwright.db'}")
    source = KeySource((_isolated_data_dir / "secret.key").read_text().strip(), data_dir=_isolated_data_dir,
                       file_managed=True)
    assert Vault(engine, source).resolve("default", "login") == {"username": "alice", "password": "hunter2-Secret"}
    engine.dispose()


# --- imported (OpenAPI) connectors -------------------------------------------------------------

PETSTORE = Path(__file__).parents[2] / "data" / "openapi" / "petstore.yaml"


def test_import_then_run_a_workflow_against_a_loopback_server(tmp_path: Path) -> None:
    from tests.connectors.conftest import LoopbackServer

    server = LoopbackServer().start()
    try:
        server.routes["/api/v3/pet/7"] = lambda r: (
            (200, {}, {"id": 7, "name": "Rex", "photoUrls": [], "status": "sold"})
            if r.headers.get("api_key") == SECRET else (401, {}, {"message": "bad key"}))
        imported = run("connectors", "import", str(PETSTORE), "--name", "pets", "--base-url",
                       f"{server.url}/api/v3", "--json")
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["operations"][2] == "get_pet_by_id"
        assert run("credentials", "set", "petkey", "--type", "api_key", stdin=SECRET).returncode == 0
        shown = run("connectors", "show", "pets")
        assert shown.returncode == 0 and "pets.get_pet_by_id" in shown.stdout
        listed = json.loads(run("connectors", "--json").stdout)
        assert "pets" in {c["name"] for c in listed}
        assert "pets" not in {c["name"] for c in json.loads(run("connectors", "--json", "-w", "other").stdout)}

        wf = {"schema_version": "1", "name": "pet lookup", "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual"},
            {"id": "fetch", "type": "action", "connector": "pets", "operation": "get_pet_by_id",
             "credential": "petkey", "config": {"petId": "{{ trigger.pet }}"}},
            {"id": "say", "type": "action", "connector": "core", "operation": "log",
             "config": {"message": "{{ nodes.fetch.body.name & ' is ' & nodes.fetch.body.status }}"}}],
            "edges": [{"source": "start", "target": "fetch"}, {"source": "fetch", "target": "say"}]}
        path = tmp_path / "wf.json"
        path.write_text(json.dumps(wf))
        assert run("validate", str(path)).returncode == 0
        assert run("validate", str(path), "-w", "other").returncode == 1  # not imported there
        result = run("run", str(path), "--input", '{"pet": 7}', "--json",
                     env={"FLOWWRIGHT_HTTP_ALLOW_HOSTS": "127.0.0.1"})
        assert result.returncode == 0, result.stdout + result.stderr
        outcome = json.loads(result.stdout)
        fetch = next(s for s in outcome["steps"] if s["node_id"] == "fetch")
        assert fetch["output"]["body"]["name"] == "Rex" and fetch["output"]["status"] == 200
        assert SECRET not in result.stdout
        assert server.requests[-1].path == "/api/v3/pet/7"
    finally:
        server.stop()


def test_import_refusals_name_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\ninfo: {title: Bad}\nservers: [{url: 'https://x.example'}]\n"
                   "paths:\n  /a/{id}:\n    get: {operationId: a, responses: {}}\n")
    result = run("connectors", "import", str(bad))
    assert result.returncode == 1
    assert "$.paths['/a/{id}'].get.parameters: path parameter(s) id not declared" in result.stderr
    assert "Traceback" not in result.stderr
    assert run("connectors", "import", str(tmp_path / "missing.yaml")).returncode == 1
    assert run("connectors", "delete", "nothing").returncode == 1
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "paths": {}}')
    refused = run("connectors", "import", str(swagger), "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "openapi_invalid"
