"""Executability: does a generated workflow run to its end in the engine's dry run?

The dry run (``engine.runtime.Runtime.start(..., dry_run=True)``, the same path as ``flowwright
run FILE --dry-run``) replaces every external connector with a recorder that returns a schema-valid
sample output, so nothing is sent anywhere; internal steps (core, datastore) run for real against
a throw-away SQLite database. The trigger gets a sample input built from its ``input_schema`` and
from the ``schema`` guardrails that check it — given both as the payload and as a webhook
envelope's ``body``, so either way of reading it works.
A workflow is executable when its execution ends ``completed``, or reaches an approval gate
(``waiting``): a dry run cannot approve on a person's behalf, and everything before the gate ran.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXECUTABLE_STATUSES = ("completed", "waiting")
TIMEOUT_S = 20.0


def sample_input(workflow: dict[str, Any]) -> dict[str, Any]:
    """A trigger input that satisfies the trigger's ``input_schema`` and the schemas of the
    ``schema`` guardrails checking it (plus ``body`` for webhooks)."""
    from engine.dry_run import sample_from_schema

    nodes = [n for n in workflow.get("nodes") or [] if isinstance(n, dict)]
    trigger = next((n for n in nodes if n.get("type") == "trigger"), {})
    config = trigger.get("config")
    schemas = [config.get("input_schema") if isinstance(config, dict) else None]
    schemas += [(n.get("config") or {}).get("schema") for n in nodes
                if n.get("type") == "guardrail" and n.get("kind") == "schema" and isinstance(n.get("config"), dict)]
    payload: dict[str, Any] = {}
    for schema in schemas:
        sample = sample_from_schema(schema) if isinstance(schema, dict) else None
        if isinstance(sample, dict):
            payload.update(sample)
    if trigger.get("kind") == "webhook" and "body" not in payload:
        return {**payload, "body": dict(payload), "headers": {}, "query": {}}
    return payload


class DryRunner:
    """One engine runtime on a private event loop (in its own thread) and a throw-away database."""

    def __init__(self) -> None:
        from connectors.registry import default_registry
        from connectors.services import ConnectorServices
        from connectors.table_store import Datastore
        from engine.db import make_engine
        from engine.execution_store import ExecutionStore
        from engine.runtime import Runtime

        self._dir = tempfile.TemporaryDirectory(prefix="flowwright-eval-dryrun-")
        self._db = make_engine(f"sqlite:///{Path(self._dir.name) / 'dryrun.db'}")
        self._store = ExecutionStore(self._db)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="eval-dry-run", daemon=True)
        self._thread.start()
        services = ConnectorServices(datastore=Datastore(self._db))
        self._runtime = self._call(self._build(Runtime, default_registry(), services))

    async def _build(self, runtime_cls: Any, registry: Any, services: Any) -> Any:
        return runtime_cls(self._store, registry, services=services)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(TIMEOUT_S + 5)

    async def _run(self, workflow: dict[str, Any]) -> dict[str, Any]:
        execution_id = await self._runtime.start(workflow, sample_input(workflow), workspace_id="evals",
                                                 dry_run=True, trigger="manual")
        outcome: dict[str, Any] = await self._runtime.wait(execution_id, timeout=TIMEOUT_S)
        return outcome

    def run(self, workflow: dict[str, Any]) -> dict[str, Any]:
        """The dry-run execution as ``run --json`` describes it (``status``, ``error``, ``steps``)."""
        outcome: dict[str, Any] = self._call(self._run(workflow))
        return outcome

    def __call__(self, workflow: dict[str, Any]) -> bool:
        try:
            return self.run(workflow).get("status") in EXECUTABLE_STATUSES
        except Exception:  # an input or runtime error means the workflow cannot run
            return False

    def close(self) -> None:
        try:
            self._call(self._runtime.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._store.close()
            self._db.dispose()
            self._dir.cleanup()


def dry_run_checker() -> Callable[[dict[str, Any]], bool]:
    """A callable telling whether a valid workflow completes in a dry run (call ``close`` when done)."""
    return DryRunner()
