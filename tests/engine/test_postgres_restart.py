"""PostgreSQL stopped and started again (``pg_ctl stop -m fast`` / ``start``) under running worker
processes: the runs in flight wait and then finish; none is lost, no node checkpointed before the
stop runs again, and no step row is left ``running``. A real server of the test's own (initdb),
since the session's shared one cannot be restarted under the other tests.

It runs under ``make reliability`` (``FLOWWRIGHT_RELIABILITY=1``), not in the normal suite: today
it FAILS — after the restart the runs stay ``running`` with no progress although the worker is
alive and heartbeating (seen with one worker for 80 s and two for 180 s). The cause is not found
yet; see docs/reliability.md."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.queue import ExecutionQueue
from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore
from tests.engine.crash_matrix import Pool
from tests.engine.queue_worker import worker_registry
from tests.postgres_server import PostgresServer, PostgresUnavailable

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(400),
              pytest.mark.skipif(os.environ.get("FLOWWRIGHT_RELIABILITY") != "1",
                                 reason="make reliability runs it (it fails today: see the module docstring)")]
RUNS = 4
NODES = 12


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    try:
        with PostgresServer(port=5497) as pg:
            yield pg
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def chain(log: Path) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger", "kind": "manual"}]
    nodes += [{"id": f"n{i}", "type": "action", "connector": "probe", "operation": "count",
               "config": {"file": str(log), "tag": f"{{{{ execution.id }}}}.n{i}", "sleep_s": 0.25}}
              for i in range(NODES)]
    ids = [n["id"] for n in nodes]
    return {"name": "through a restart", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}


async def test_runs_finish_across_a_postgres_restart(server: PostgresServer, tmp_path: Path) -> None:
    store = ExecutionStore(make_engine(server.url))
    WorkflowStore(store.engine)  # the schema, before two workers race to create it
    api = Runtime(store, worker_registry(), queue=ExecutionQueue(store.engine), remote=True)
    pool = Pool(server.url, 2)  # supervised: a worker that exits is replaced, as under flowwright serve
    log = tmp_path / "count.log"
    try:
        for _ in range(2):
            pool.spawn()
        await asyncio.to_thread(pool.wait_ready, 2)
        ids = [await api.start(chain(log), {}) for _ in range(RUNS)]
        await _until(lambda: all(_done(store, i) >= 3 for i in ids), timeout=120, pool=pool)
        before = {json.loads(s.output)["tag"] for i in ids for s in store.steps(i)
                  if s.final and s.status == "completed" and s.output and "tag" in s.output}
        stopped = time.monotonic()
        server.stop("fast")  # every connection is cut, as a restart by an operator does
        await asyncio.sleep(2)
        server.start()
        outage = time.monotonic() - stopped
        deadline = time.monotonic() + 180
        finals: dict[str, str] = {}
        while len(finals) < RUNS:
            assert time.monotonic() < deadline, f"not finished: {set(ids) - set(finals)}"
            pool.supervise()
            for execution_id in ids:
                try:
                    status = store.get(execution_id).status
                except Exception:  # the pool's connections come back one by one
                    continue
                if status in ("completed", "failed", "cancelled", "timed_out"):
                    finals[execution_id] = status
            await asyncio.sleep(0.1)
        assert finals == dict.fromkeys(ids, "completed"), [store.get(i).error for i in ids]
        counts = Counter(log.read_text().split())
        assert all(counts[f"{i}.n{k}"] >= 1 for i in ids for k in range(NODES))  # nothing lost
        assert {t: counts[t] for t in before} == dict.fromkeys(before, 1)  # no checkpointed node re-ran
        twice = {t: n for t, n in counts.items() if n > 1}
        assert len(twice) <= RUNS, twice  # at most the node each run had in flight at the stop
        assert not [s for i in ids for s in store.steps(i) if s.status == "running"]
        assert outage >= 2
    finally:
        pool.stop()
        await api.aclose()
        store.close()
        store.engine.dispose()


def _done(store: ExecutionStore, execution_id: str) -> int:
    return sum(1 for s in store.steps(execution_id) if s.final and s.status == "completed")


async def _until(check: Any, timeout: float, pool: Pool) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        pool.supervise()
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
