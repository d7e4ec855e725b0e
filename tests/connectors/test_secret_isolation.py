"""A secret from the vault reaches the connector's auth and nothing else: not the step rows, logs,
events (live or stored) nor anywhere in the database file — even when the remote side echoes it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text

from connectors import core, http
from connectors.registry import Registry
from connectors.services import ConnectorServices, HttpClients
from connectors.vault import Keyring, Vault, new_master_key
from engine.db import make_engine
from engine.execution_run import RuntimeLimits
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from tests.connectors.conftest import LoopbackServer

SECRET = "sk-live-9f8e7d6c5b4a-TopSecret"


def workflow(base: str) -> dict:
    return {
        "name": "echo the key",
        "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual"},
            {"id": "call", "type": "action", "connector": "http", "operation": "request", "credential": "api",
             "config": {"url": f"{base}/echo"}},
            {"id": "copy", "type": "action", "connector": "core", "operation": "transform",
             "config": {"expression": "nodes.call.body.seen & ' / ' & nodes.call.headers.`x-echo`"}},
            {"id": "say", "type": "action", "connector": "core", "operation": "log",
             "config": {"message": "{{ 'got ' & nodes.call.body.seen }}"}},
            {"id": "fail", "type": "action", "connector": "http", "operation": "request", "credential": "api",
             "config": {"url": f"{base}/reject"}, "on_error": "continue"},
        ],
        "edges": [{"source": "start", "target": "call"}, {"source": "call", "target": "copy"},
                  {"source": "copy", "target": "say"}, {"source": "say", "target": "fail"}],
    }


async def test_secret_never_persisted_or_streamed(tmp_path: Path, http_server: LoopbackServer) -> None:
    http_server.routes["/echo"] = lambda r: (200, {"X-Echo": r.headers["x-api-key"]}, {"seen": r.headers["x-api-key"]})
    http_server.routes["/reject"] = lambda r: (400, {"Content-Type": "text/plain"}, f"bad key {r.headers['x-api-key']}")
    db_file = tmp_path / "flowwright.db"
    engine = make_engine(f"sqlite:///{db_file}")
    vault = Vault(engine, Keyring.of(new_master_key()))
    vault.set("default", "api", "api_key", {"api_key": SECRET})
    store = ExecutionStore(engine)
    runtime = Runtime(store, Registry([core.CONNECTOR, http.CONNECTOR]), credentials=vault,
                      services=ConnectorServices(http=HttpClients.allowing("127.0.0.1")), limits=RuntimeLimits())
    try:
        execution_id = await runtime.start(workflow(http_server.url))
        queue = runtime.bus.subscribe(execution_id)
        live: list[str] = []
        result = await runtime.wait(execution_id, timeout=30)
        while not queue.empty():
            event = queue.get_nowait()
            if event is not None:
                live.append(json.dumps(event.to_dict(), default=str))
        await runtime.aclose()
        store.flush_sync()
    finally:
        store.close()
    # the connector really used the secret
    assert http_server.requests[0].headers["x-api-key"] == SECRET
    assert result["status"] == "completed", result
    steps = {s["node_id"]: s for s in result["steps"]}
    assert steps["fail"]["status"] == "failed"
    # ...and no trace of it anywhere else
    assert SECRET not in json.dumps(result, default=str)
    assert steps["copy"]["output"]["value"] != " / " and "sk-live" not in str(steps["copy"]["output"])
    assert live and SECRET not in "\n".join(live)
    stored = [json.dumps(e.__dict__ if hasattr(e, "__dict__") else e, default=str) for e in store.events(execution_id)]
    assert stored and SECRET not in "\n".join(stored)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    await asyncio.sleep(0)
    for f in tmp_path.iterdir():
        if f.name.startswith("flowwright.db"):
            assert SECRET.encode() not in f.read_bytes(), f.name
