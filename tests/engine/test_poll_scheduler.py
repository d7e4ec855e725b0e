"""Polling triggers end to end: real source databases (SQLite files, the session's PostgreSQL) and
a real loopback HTTP server, a real runtime over a SQLite file that is closed and opened again
(a restart), and the real credential vault."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from connectors.registry import default_registry
from connectors.services import ConnectorServices, DatabasePolicy
from connectors.ssrf import HttpClients
from connectors.vault import Keyring, Vault, new_master_key
from engine.db import make_engine
from engine.execution_run import RuntimeLimits
from engine.execution_store import ExecutionRow, ExecutionStore
from engine.poll_scheduler import PollScheduler, PollStateRow
from engine.runtime import Runtime
from engine.workflow import Workflow
from engine.workflow_store import WorkflowRow, WorkflowStore, WorkflowVersionRow
from tests.connectors.conftest import LoopbackServer
from tests.engine.runtime_helpers import runtime_at

LATER = timedelta(hours=1)  # a tick this far ahead finds every trigger due again


def database_workflow(**config: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.1", "name": "new orders",
        "nodes": [
            {"id": "new_order", "type": "trigger", "kind": "poll", "connector": "database", "operation": "new_rows",
             "credential": "shop", "config": {"interval_s": 5, "input": {"table": "orders", "cursor_column": "id"},
                                              **config}},
            {"id": "note", "type": "action", "connector": "core", "operation": "transform",
             "config": {"expression": "trigger.region & ' ' & $string(trigger.id)"}},
        ],
        "edges": [{"source": "new_order", "target": "note"}],
    }


def http_workflow(url: str, **config: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.1", "name": "new tickets",
        "nodes": [
            {"id": "new_ticket", "type": "trigger", "kind": "poll", "connector": "http", "operation": "new_items",
             "config": {"interval_s": 5, "input": {"url": url, "items": "data.tickets", "id_field": "key"},
                        **config}},
            {"id": "note", "type": "action", "connector": "core", "operation": "transform",
             "config": {"expression": "trigger.title"}},
        ],
        "edges": [{"source": "new_ticket", "target": "note"}],
    }


@dataclass
class Service:
    """One life of the service: runtime, workflow store and poll scheduler over the same file."""

    runtime: Runtime
    workflows: WorkflowStore
    poller: PollScheduler

    async def tick(self, now: datetime | None = None) -> list[str]:
        started = await self.poller.tick(now)
        for execution_id in started:
            await self.runtime.wait(execution_id, timeout=30)
        return started

    def runs(self) -> list[tuple[Any, Any]]:
        """(input, output) of every polled run, in the order they were created."""
        with self.runtime.store.engine.connect() as conn:
            table = ExecutionRow.__table__  # type: ignore[attr-defined]
            rows = conn.execute(table.select().where(table.c.trigger == "poll")
                                .order_by(table.c.created_at, table.c.input)).all()
        return [(json.loads(r.input), json.loads(r.output) if r.output else None) for r in rows]


@contextlib.asynccontextmanager
async def service(db: Path | str, services: ConnectorServices, master: str,
                  secrets: dict[str, dict[str, Any]] | None = None) -> AsyncIterator[Service]:
    """One life of the service over ``db`` (a SQLite file, or a PostgreSQL URL)."""
    registry = default_registry(plugins=False)
    if isinstance(db, str):
        store = ExecutionStore(make_engine(db))
        runtime = Runtime(store, registry, services=services, limits=RuntimeLimits())
        try:
            async with _service(runtime, registry, services, master, secrets) as svc:
                yield svc
        finally:
            await runtime.aclose()
            store.close()
            store.engine.dispose()
        return
    async with runtime_at(db, registry=registry, services=services) as runtime, \
            _service(runtime, registry, services, master, secrets) as svc:
        yield svc


@contextlib.asynccontextmanager
async def _service(runtime: Runtime, registry: Any, services: ConnectorServices, master: str,
                   secrets: dict[str, dict[str, Any]] | None) -> AsyncIterator[Service]:
    workflows = WorkflowStore(runtime.store.engine)
    vault = Vault(runtime.store.engine, Keyring.of(master))
    for name, secret in (secrets or {}).items():
        vault.set("default", name, "url", secret)

    async def start(row: WorkflowRow, version: WorkflowVersionRow, payload: Any, execution_id: str,
                    writes: Sequence[tuple[Any, dict[str, Any]]]) -> str:
        return await runtime.start(version.definition_dict(), payload, workspace_id=row.workspace_id,
                                   workflow_id=row.id, workflow_version=version.version, trigger="poll",
                                   execution_id=execution_id, writes=writes)

    yield Service(runtime, workflows, PollScheduler(workflows, runtime.store.engine, registry.get, start,
                                                    credentials=vault, services=services))


def activate(svc: Service, definition: dict[str, Any]) -> str:
    row, _version = svc.workflows.create("default", Workflow.model_validate(definition))
    svc.workflows.activate("default", row.id)
    return row.id


# -- the database trigger -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def flowwright_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Flowwright's own database: a SQLite file, or a database of its own on the session's PostgreSQL."""
    if request.param == "sqlite":
        yield tmp_path / "flowwright.db"
        return
    from sqlalchemy.engine import make_url

    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"polling_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Source:
    """The watched database: a SQLite file or a table on the session's PostgreSQL."""

    url: str
    services: ConnectorServices
    insert: Callable[[str], None]
    table: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Source]:
    if request.param == "sqlite":
        folder = tmp_path / "shop"
        folder.mkdir()
        path = folder / "shop.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT NOT NULL)")

        def insert_sqlite(region: str) -> None:
            with sqlite3.connect(path) as conn:
                conn.execute("INSERT INTO orders (region) VALUES (?)", (region,))

        yield Source(f"sqlite:///{path}", ConnectorServices(databases=DatabasePolicy.of(str(folder))),
                     insert_sqlite, "orders")
        return
    from sqlalchemy.engine import make_url

    url = request.getfixturevalue("postgres_url")
    table = f"orders_{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, region TEXT NOT NULL)"))

    def insert_pg(region: str) -> None:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} (region) VALUES (:r)"), {"r": region})

    socket_dir = str(make_url(url).query["host"])
    yield Source(url, ConnectorServices(http=HttpClients.allowing(socket_dir)), insert_pg, table)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


async def test_new_rows_start_one_run_each_and_survive_a_restart(flowwright_db: Path | str, source: Source) -> None:
    db, master = flowwright_db, new_master_key()
    definition = database_workflow()
    definition["nodes"][0]["config"]["input"]["table"] = source.table
    source.insert("EMEA")  # there before activation: never fires (start: new)
    async with service(db, source.services, master, {"shop": {"url": source.url}}) as svc:
        workflow_id = activate(svc, definition)
        assert await svc.tick() == []  # the first poll arms the trigger at the current largest id
        source.insert("APAC")
        source.insert("AMER")
        assert await svc.tick() == []  # not due yet: the interval has not passed
        started = await svc.tick(datetime.now(UTC) + LATER)
        assert len(started) == 2
        assert svc.runs() == [({"id": 2, "region": "APAC"}, {"value": "APAC 2"}),
                              ({"id": 3, "region": "AMER"}, {"value": "AMER 3"})]
    # the service is down while two more rows arrive
    source.insert("EMEA")
    source.insert("APAC")
    async with service(db, source.services, master) as svc:
        started = await svc.tick(datetime.now(UTC) + 2 * LATER)
        assert len(started) == 2
        assert [i for i, _o in svc.runs()] == [{"id": 2, "region": "APAC"}, {"id": 3, "region": "AMER"},
                                               {"id": 4, "region": "EMEA"}, {"id": 5, "region": "APAC"}]
        assert await svc.tick(datetime.now(UTC) + 3 * LATER) == []  # nothing is new: nothing runs again
        state = svc.poller.state(workflow_id)
        assert state is not None and json.loads(state.cursor or "null") == 5
        assert (state.items_started, state.executions_started, state.failures) == (4, 4, 0)


async def test_a_cursor_that_did_not_move_starts_nothing_twice(flowwright_db: Path | str, source: Source) -> None:
    """Two service processes, or a cursor restored from a backup: the item's execution id is
    derived from the item, so what already ran only moves the cursor."""
    definition = database_workflow(start="all")
    definition["nodes"][0]["config"]["input"]["table"] = source.table
    for region in ("EMEA", "APAC", "AMER"):
        source.insert(region)
    async with service(flowwright_db, source.services, new_master_key(), {"shop": {"url": source.url}}) as svc:
        workflow_id = activate(svc, definition)
        assert len(await svc.tick()) == 3  # start: all fires for what is there already
        with svc.runtime.store.engine.begin() as conn:  # the cursor goes back to before the second row
            conn.execute(update(PollStateRow.__table__).where(  # type: ignore[attr-defined]
                PollStateRow.__table__.c.workflow_id == workflow_id).values(cursor="1"))  # type: ignore[attr-defined]
        source.insert("EMEA")
        started = await svc.tick(datetime.now(UTC) + LATER)
        assert len(started) == 1
        assert [i["id"] for i, _o in svc.runs()] == [1, 2, 3, 4]
        state = svc.poller.state(workflow_id)
        assert state is not None and state.cursor == "4"


async def test_batches_and_a_full_poll_polls_again_at_once(tmp_path: Path, source: Source) -> None:
    definition = database_workflow(per="batch", max_items=2, start="all")
    definition["nodes"][0]["config"]["input"]["table"] = source.table
    definition["nodes"][1]["config"]["expression"] = "$count(trigger.items)"
    for region in ("EMEA", "APAC", "AMER"):
        source.insert(region)
    async with service(tmp_path / "fw.db", source.services, new_master_key(), {"shop": {"url": source.url}}) as svc:
        activate(svc, definition)
        assert len(await svc.tick()) == 1  # rows 1 and 2
        assert len(await svc.tick()) == 1  # a full batch: the next tick polls again, without waiting
        assert await svc.tick() == []  # row 3 was the last: now the interval applies
        runs = svc.runs()
        assert [([r["id"] for r in i["items"]], i["count"], o) for i, o in runs] == [
            ([1, 2], 2, {"value": 2}), ([3], 1, {"value": 1})]


async def test_a_batch_polled_again_from_a_cursor_that_did_not_move(tmp_path: Path, source: Source) -> None:
    """The batch that exists covered rows 1-2; polled again from before it, rows 1-3 are new: only
    row 3 starts a run (the batch is named by its first row and knows its count)."""
    definition = database_workflow(per="batch", start="all")
    definition["nodes"][0]["config"]["input"]["table"] = source.table
    source.insert("EMEA")
    source.insert("APAC")
    async with service(tmp_path / "fw.db", source.services, new_master_key(), {"shop": {"url": source.url}}) as svc:
        workflow_id = activate(svc, definition)
        assert len(await svc.tick()) == 1
        with svc.runtime.store.engine.begin() as conn:
            conn.execute(update(PollStateRow.__table__).where(  # type: ignore[attr-defined]
                PollStateRow.__table__.c.workflow_id == workflow_id).values(cursor=None))  # type: ignore[attr-defined]
        source.insert("AMER")
        assert await svc.tick(datetime.now(UTC) + LATER) == []  # the batch of rows 1-2 exists: the cursor moves to 2
        assert len(await svc.tick(datetime.now(UTC) + LATER)) == 1  # at once, not after the interval: row 3
        assert [[r["id"] for r in i["items"]] for i, _o in svc.runs()] == [[1, 2], [3]]


async def test_a_failing_poll_is_recorded_and_retried(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    services = ConnectorServices(databases=DatabasePolicy.of(str(folder)))
    missing = f"sqlite:///{folder / 'nothing.db'}"
    async with service(tmp_path / "fw.db", services, new_master_key(), {"shop": {"url": missing}}) as svc:
        workflow_id = activate(svc, database_workflow(start="all"))
        assert await svc.tick() == []
        state = svc.poller.state(workflow_id)
        assert state is not None and state.failures == 1
        assert state.last_error is not None and state.last_error.startswith("database_")
        with sqlite3.connect(folder / "nothing.db") as conn:
            conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT)")
            conn.execute("INSERT INTO orders (region) VALUES ('EMEA')")
        assert len(await svc.tick(datetime.now(UTC) + LATER)) == 1
        state = svc.poller.state(workflow_id)
        assert state is not None and (state.failures, state.last_error) == (0, None)


# -- the http trigger -----------------------------------------------------------------------------


@pytest.fixture
def tickets() -> Iterator[tuple[LoopbackServer, list[dict[str, Any]]]]:
    listed: list[dict[str, Any]] = []
    server = LoopbackServer()
    server.routes["/tickets"] = lambda rec: (200, {}, {"data": {"tickets": list(reversed(listed))}})
    server.start()
    yield server, listed
    server.stop()


async def test_new_items_by_id_across_a_restart(tmp_path: Path, tickets: tuple[LoopbackServer, list[dict[str, Any]]]) -> None:
    server, listed = tickets
    services = ConnectorServices(http=HttpClients.allowing("127.0.0.1"))
    db, master = tmp_path / "fw.db", new_master_key()
    listed.append({"key": "T-1", "title": "old"})
    definition = http_workflow(f"{server.url}/tickets", input={
        "url": f"{server.url}/tickets", "items": "data.tickets", "id_field": "key", "newest_first": True})
    async with service(db, services, master) as svc:
        workflow_id = activate(svc, definition)
        assert await svc.tick() == []  # armed: T-1 was there already
        listed.extend([{"key": "T-2", "title": "printer"}, {"key": "T-3", "title": "vpn"}])
        assert len(await svc.tick(datetime.now(UTC) + LATER)) == 2
    listed.append({"key": "T-4", "title": "laptop"})  # while the service is down
    listed.append({"title": "no key"})  # left out (and logged), not fatal
    async with service(db, services, master) as svc:
        assert len(await svc.tick(datetime.now(UTC) + 2 * LATER)) == 1
        assert await svc.tick(datetime.now(UTC) + 3 * LATER) == []
        assert svc.runs() == [({"key": "T-2", "title": "printer"}, {"value": "printer"}),
                              ({"key": "T-3", "title": "vpn"}, {"value": "vpn"}),
                              ({"key": "T-4", "title": "laptop"}, {"value": "laptop"})]
        state = svc.poller.state(workflow_id)
        assert state is not None and json.loads(state.cursor or "{}")["seen"] == ['"T-1"', '"T-2"', '"T-3"', '"T-4"']
    assert all(r.method == "GET" and r.path == "/tickets" for r in server.requests)


async def test_http_trigger_goes_through_the_host_policy(tmp_path: Path, tickets: tuple[LoopbackServer, list[dict[str, Any]]]) -> None:
    server, _listed = tickets
    async with service(tmp_path / "fw.db", ConnectorServices(), new_master_key()) as svc:  # loopback not allowed
        workflow_id = activate(svc, http_workflow(f"{server.url}/tickets"))
        assert await svc.tick() == []
        state = svc.poller.state(workflow_id)
        assert state is not None and state.failures == 1 and not state.armed
        assert "127.0.0.1" in (state.last_error or "")
    assert server.requests == []


async def test_changing_the_trigger_arms_it_anew(tmp_path: Path, tickets: tuple[LoopbackServer, list[dict[str, Any]]]) -> None:
    server, listed = tickets
    services = ConnectorServices(http=HttpClients.allowing("127.0.0.1"))
    async with service(tmp_path / "fw.db", services, new_master_key()) as svc:
        workflow_id = activate(svc, http_workflow(f"{server.url}/tickets"))
        listed.append({"key": "A", "title": "a"})
        assert await svc.tick() == []
        listed.append({"key": "B", "title": "b"})
        changed = http_workflow(f"{server.url}/tickets?x=1")
        svc.workflows.add_version("default", workflow_id, Workflow.model_validate(changed))
        svc.workflows.activate("default", workflow_id)
        assert await svc.tick(datetime.now(UTC) + LATER) == []  # a new stream: armed at A and B
        listed.append({"key": "C", "title": "c"})
        assert len(await svc.tick(datetime.now(UTC) + 2 * LATER)) == 1
        assert [i["key"] for i, _o in svc.runs()] == ["C"]


async def test_a_401_with_an_oauth_credential_refreshes_once_and_polls_again(tmp_path: Path) -> None:
    """The poll's own request gets what a step gets: one refresh and one retry after a 401."""
    import time as clock

    from tests.connectors.oauth_server import OAuthServer
    from tests.connectors.test_oauth_tokens import connect, manager

    server = OAuthServer().start()
    try:
        tokens = manager(tmp_path)
        await connect(server, tokens)  # the credential "api" of workspace "ws"
        for token in server.state.tokens:
            token.expires_at = clock.time() - 1  # the provider ended it early: the API answers 401
        services = ConnectorServices(http=HttpClients.allowing("127.0.0.1"))
        registry = default_registry(plugins=False)
        definition = http_workflow(f"{server.url}/api/me", start="all",
                                   input={"url": f"{server.url}/api/me", "items": "repos"})
        definition["nodes"][0]["credential"] = "api"
        definition["nodes"][1]["config"]["expression"] = "trigger.name"
        async with runtime_at(tmp_path / "ex.db", registry=registry, services=services) as runtime:
            workflows = WorkflowStore(runtime.store.engine)
            row, _v = workflows.create("ws", Workflow.model_validate(definition))
            workflows.activate("ws", row.id)

            async def start(row: WorkflowRow, version: WorkflowVersionRow, payload: Any, execution_id: str,
                            writes: Sequence[tuple[Any, dict[str, Any]]]) -> str:
                return await runtime.start(version.definition_dict(), payload, workspace_id=row.workspace_id,
                                           workflow_id=row.id, trigger="poll", execution_id=execution_id, writes=writes)

            poller = PollScheduler(workflows, runtime.store.engine, registry.get, start, credentials=tokens,
                                   services=services)
            [started] = await poller.tick()
            done = await runtime.wait(started, timeout=30)
        assert done["status"] == "completed" and done["output"] == {"value": "flowwright"}
        calls = server.state.api_calls
        assert len(calls) == 2 and calls[0] != calls[1]  # the old token, then the refreshed one
        assert server.grant_types() == ["authorization_code", "refresh_token"]
    finally:
        server.stop()
