"""The attack table of docs/security.md: each attack of issue 11 tried against the service as it is.

Builds the service in a fresh data dir (the real app, its real database, the local model; nothing
reaches the network), tries each attack through the HTTP API, and prints a Markdown table — what
was tried, what the service answered, and whether that is a refusal. ``--write`` puts the table
into docs/security.md between its markers. Exit 1 if any attack got through.

    python bench/attack_table.py [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "security.md"
START, END = "<!-- attack-table:start -->", "<!-- attack-table:end -->"

Attack = Callable[[Any, dict[str, Any]], tuple[bool, str]]  # (refused, what the service answered)
ATTACKS: list[tuple[str, str, Attack]] = []


def attack(area: str, what: str) -> Callable[[Attack], Attack]:
    def register(fn: Attack) -> Attack:
        ATTACKS.append((area, what, fn))
        return fn
    return register


def _error(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        reason = (error.get("details") or {}).get("reason")
        return f"{response.status_code} `{error.get('code')}`" + (f" ({reason})" if reason else "")
    return f"{response.status_code}"


def _workflow(name: str, *steps: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = [trigger or {"id": "start", "type": "trigger", "kind": "manual"}, *steps]
    return {"name": name, "nodes": nodes,
            "edges": [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:], strict=False)]}


@attack("authentication", "call a /v1 route with no key, then with `Bearer garbage`")
def _no_key(client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    none = client.get("/v1/workflows", headers={"Authorization": ""})
    garbage = client.get("/v1/workflows", headers={"Authorization": "Bearer garbage"})
    return none.status_code == 401 and garbage.status_code == 401, f"{_error(none)}; {_error(garbage)}"


@attack("isolation", "read another workspace's workflow by id, and by naming the workspace")
def _other_workspace(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    theirs = client.post("/v1/workflows", json=_workflow("Theirs", {"id": "say", "type": "action", "connector": "core",
                                                                   "operation": "log", "config": {"message": "x"}}),
                         headers=ctx["other"]).json()["id"]
    by_id = client.get(f"/v1/workflows/{theirs}")
    listed = client.get("/v1/workflows", headers={"X-Workspace": "other"}).json()
    return by_id.status_code == 404 and all(w["id"] != theirs for w in listed), f"{_error(by_id)}; list without it"


@attack("roles", "run a workflow and read credentials with a viewer key")
def _viewer(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    run = client.post(f"/v1/workflows/{ctx['purge']}/run", headers=ctx["viewer"])
    creds = client.get("/v1/credentials", headers=ctx["viewer"])
    return run.status_code == 403 and creds.status_code == 403, f"{_error(run)}; {_error(creds)}"


@attack("DNS rebinding", "send `Host: evil.example`")
def _host(client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    answer = client.get("/v1/workflows", headers={"Host": "evil.example"})
    return answer.status_code == 400, _error(answer)


@attack("CSRF", "a cross-origin POST that runs a workflow (`Origin: https://evil.example`)")
def _csrf(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    answer = client.post(f"/v1/workflows/{ctx['purge']}/run", headers={"Origin": "https://evil.example"})
    return answer.status_code == 403, _error(answer)


@attack("guardrails", "a PUT that removes the approval in front of a destructive step")
def _put_without_approval(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    bare = _workflow("Purge orders", {"id": "purge", "type": "action", "connector": "datastore", "operation": "delete",
                                      "config": {"table": "orders", "all": True}})
    answer = client.put(f"/v1/workflows/{ctx['purge']}", json=bare, headers=ctx["editor"]).json()
    kinds = [c["kind"] for c in answer.get("guardrails_applied") or []]
    return kinds == ["approval"], f"200, `guardrails_applied`: {kinds}"


@attack("guardrails", "an editor key saving `\"guardrails\": \"manual\"`")
def _manual_as_editor(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    bare = _workflow("Purge orders", {"id": "purge", "type": "action", "connector": "datastore", "operation": "delete",
                                      "config": {"table": "orders", "all": True}})
    answer = client.put(f"/v1/workflows/{ctx['purge']}", json={**bare, "guardrails": "manual"}, headers=ctx["editor"])
    return answer.status_code == 403, _error(answer)


def _signed_hook(client: Any, ctx: dict[str, Any]) -> str:
    if "hook" not in ctx:
        client.put("/v1/credentials/hook-secret", json={"type": "api_key", "secret": "whsec-attack-table"})
        hook = {"id": "hook", "type": "trigger", "kind": "webhook",
                "config": {"method": "POST", "signing": {"credential": "hook-secret", "tolerance_s": 300}}}
        created = client.post("/v1/workflows", json=_workflow(
            "Signed hook", {"id": "say", "type": "action", "connector": "core", "operation": "log",
                            "config": {"message": "hi"}}, trigger=hook)).json()["id"]
        client.post(f"/v1/workflows/{created}/activate")
        ctx["hook"] = created
    return str(ctx["hook"])


@attack("webhooks", "an unsigned call, a stale signature, a forged one, and a replay of a good one")
def _webhooks(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    from app.api.webhook_signature import HEADER, sign

    hook, body, secret = _signed_hook(client, ctx), b'{"a": 1}', b"whsec-attack-table"
    headers = {"content-type": "application/json"}
    tries = {
        "unsigned": client.post(f"/v1/hooks/{hook}", content=body, headers=headers),
        "stale": client.post(f"/v1/hooks/{hook}", content=body,
                             headers={**headers, HEADER: sign(secret, body, timestamp=int(time.time()) - 3600)}),
        "forged": client.post(f"/v1/hooks/{hook}", content=body, headers={**headers, HEADER: sign(b"guess", body)}),
    }
    good = sign(secret, body)
    first = client.post(f"/v1/hooks/{hook}", content=body, headers={**headers, HEADER: good})
    tries["replay"] = client.post(f"/v1/hooks/{hook}", content=body, headers={**headers, HEADER: good})
    refused = first.status_code == 202 and all(r.status_code == 401 for r in tries.values())
    return refused, "; ".join(_error(r) for r in tries.values())


@attack("bodies", "a 2 MB API body, 60 MB chunked to a webhook, JSON nested 100,000 deep")
def _bodies(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    big = client.post("/v1/workflows", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"})
    chunked = client.post(f"/v1/hooks/{_signed_hook(client, ctx)}", content=(b"a" * 65536 for _ in range(960)),
                          headers={"content-type": "application/json"})
    deep = client.post("/v1/workflows", content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"})
    refused = big.status_code == 413 and chunked.status_code == 413 and deep.status_code == 422
    return refused, f"{_error(big)}; {_error(chunked)}; {_error(deep)}"


@attack("SSRF", "an http step to 127.0.0.1, and to the cloud metadata address")
def _ssrf(client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    outcomes = []
    for url in ("http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/"):
        wf = client.post("/v1/workflows", json=_workflow(f"Reach {url}", {
            "id": "fetch", "type": "action", "connector": "http", "operation": "request",
            "config": {"method": "GET", "url": url}, "retry": {"max_attempts": 1}})).json()["id"]
        ran = client.post(f"/v1/workflows/{wf}/run", params={"wait": "true"}).json()
        outcomes.append((ran.get("status"), (ran.get("error") or {}).get("code")))
    refused = all(status == "failed" and code for status, code in outcomes)
    return refused, "; ".join(f"run {status}, `{code}`" for status, code in outcomes)


@attack("the database connector", "a credential pointing at the service's own SQLite file, to read every "
                                  "workspace's workflows")
def _own_database(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    url = f"sqlite:///{Path(ctx['data_dir']) / 'flowwright.db'}"
    client.put("/v1/credentials/own-db", json={"type": "url", "secret": url})
    wf = client.post("/v1/workflows", json=_workflow("Read everything", {
        "id": "steal", "type": "action", "connector": "database", "operation": "query", "credential": "own-db",
        "config": {"sql": "SELECT * FROM workflows"}, "retry": {"max_attempts": 1}})).json()["id"]
    ran = client.post(f"/v1/workflows/{wf}/run", params={"wait": "true"}).json()
    code = (ran.get("error") or {}).get("code")
    return ran.get("status") == "failed" and code is not None, f"run failed, `{code}`"


@attack("webhooks", "`?wait=true` on a webhook, to read every step's input and output")
def _wait_steps(client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    hook = {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}}
    wf = client.post("/v1/workflows", json=_workflow("Open hook", {
        "id": "lookup", "type": "action", "connector": "core", "operation": "set",
        "config": {"values": {"internal": "not for callers"}}}, trigger=hook)).json()["id"]
    client.post(f"/v1/workflows/{wf}/activate")
    answer = client.post(f"/v1/hooks/{wf}?wait=true", json={}, headers={"Authorization": ""}).json()
    return "steps" not in answer, f"202 with `{', '.join(sorted(answer))}` only"


@attack("expressions", "`$sum([1..10000000])` in a step")
def _expression(client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    wf = client.post("/v1/workflows", json=_workflow("Sum a lot", {
        "id": "sum", "type": "action", "connector": "core", "operation": "transform",
        "config": {"expression": "$sum([1..10000000])"}})).json()["id"]
    started = time.perf_counter()
    ran = client.post(f"/v1/workflows/{wf}/run", params={"wait": "true"}).json()
    health = client.get("/health").status_code
    code = (ran.get("error") or {}).get("code")
    took = time.perf_counter() - started
    return ran.get("status") == "failed" and health == 200, f"run failed, `{code}`, in {took:.1f} s; /health 200"


@attack("secrets", "paste a Slack token into the chat")
def _chat_secret(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    token = "xoxb-2048901234-7712345678901-Qw3rTyUiOpAsDfGhJkLz"
    turn = client.post("/v1/conversations", json={"message": f"post 'hi' to #team on Slack, token {token}"}).json()
    stored = client.get(f"/v1/conversations/{turn['conversation_id']}").text
    database = b"".join(p.read_bytes() for p in Path(ctx["data_dir"]).rglob("*") if p.is_file())
    kept = token.encode() in database or token in stored or token in json.dumps(turn)
    offered = [s["kind"] for s in turn.get("secrets", [])]
    return not kept and offered == ["slack_token"], f"stored as `***`, nowhere in the data dir; offered: {offered}"


@attack("prompt injection", "30 payloads hidden by homoglyphs, zero-width characters, base64, hex, "
                            "percent-encoding, spaced letters, markdown, leetspeak, other languages")
def _content_filter(_client: Any, _ctx: dict[str, Any]) -> tuple[bool, str]:
    from engine.content_filter import ContentFilter
    from tests.engine.test_content_filter import ATTACKS as HIDDEN

    caught = sum(1 for text, _ in HIDDEN.values() if ContentFilter().scan(text))
    return caught == len(HIDDEN), f"{caught} of {len(HIDDEN)} blocked"


@attack("hammering", "more requests with one key than `FLOWWRIGHT_RATE_LIMIT` allows")
def _rate_limit(client: Any, ctx: dict[str, Any]) -> tuple[bool, str]:
    headers = ctx["limited"]
    answers = [client.get("/v1/me", headers=headers).status_code for _ in range(ctx["limit"] + 1)]
    return answers[-1] == 429 and answers[:-1] == [200] * ctx["limit"], f"{ctx['limit']} × 200, then 429"


def run() -> list[tuple[str, str, bool, str]]:
    """Every attack against a fresh service: (area, what was tried, refused, what it answered)."""
    data_dir = tempfile.mkdtemp(prefix="fw-attacks-")
    os.environ.update({"FLOWWRIGHT_DATA_DIR": data_dir, "FLOWWRIGHT_SCHEDULER_ENABLED": "false",
                       "FLOWWRIGHT_ALLOW_MODEL_REQUESTS": "false", "FLOWWRIGHT_COPILOT_WARM_UP": "false",
                       "FLOWWRIGHT_RATE_LIMIT": "300/minute"})
    from fastapi.testclient import TestClient

    from app.api.server import create_app
    from app.settings import get_settings
    from tests.app.keys import issue_headers

    get_settings.cache_clear()
    rows = []
    with TestClient(create_app(get_settings()), headers=issue_headers(), base_url="http://localhost") as client:
        ctx: dict[str, Any] = {"data_dir": data_dir, "other": issue_headers("other"), "viewer": issue_headers(role="viewer"),
                               "editor": issue_headers(role="editor"), "limited": issue_headers(role="viewer"),
                               "limit": 300}
        purge = _workflow("Purge orders", {"id": "purge", "type": "action", "connector": "datastore",
                                           "operation": "delete", "config": {"table": "orders", "all": True}})
        ctx["purge"] = client.post("/v1/workflows", json=purge).json()["id"]
        for area, what, fn in ATTACKS:
            try:
                refused, observed = fn(client, ctx)
            except Exception as exc:  # an attack that crashes the table is reported, not hidden
                refused, observed = False, f"error: {type(exc).__name__}: {str(exc)[:160]}"
            rows.append((area, what, refused, observed))
    return rows


def table(rows: list[tuple[str, str, bool, str]]) -> str:
    lines = ["| area | attack | the service answered | refused |", "|---|---|---|---|"]
    lines += [f"| {area} | {what} | {observed} | {'yes' if refused else '**NO**'} |" for area, what, refused, observed in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Try issue 11's attacks; print (or --write) the table.")
    parser.add_argument("--write", action="store_true", help=f"Put the table into {DOC.relative_to(ROOT)}.")
    args = parser.parse_args()
    rows = run()
    text = table(rows)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        head, _, rest = doc.partition(START)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    print(text)
    if not all(refused for _, _, refused, _ in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
