"""The crash matrix (DBOS style): worker processes SIGKILLed at each durable point of a run, the
survivors adopt it, and every run is checked for loss, re-runs and rows left ``running``.

One case is one execution of :func:`matrix_workflow` — a node with a side effect, a checkpoint, an
idempotent HTTP ``PUT``, an HTTP call in its retry back-off, a durable delay, an approval, a
non-idempotent HTTP ``POST`` — on a pool of real ``tests.engine.queue_worker`` processes, driven
through the queue by a remote runtime (the API's). The case's point says when the worker driving
it is killed:

``node_running``      a node's side effect happened, its step row is still ``running``
``after_checkpoint``  a node's final step row was just committed (the next node starts or not)
``mid_http``          an HTTP ``PUT`` is in flight (the receiver holds the answer)
``retry_backoff``     an HTTP call failed with 503 and waits for its retry
``mid_delay``         a ``core.delay`` sleeps (its wake-up time is in the step row)
``mid_approval``      the run waits for a person (no worker holds it)
``post_in_flight``    an HTTP ``POST`` is in flight: it must not be sent again by itself
``random``            a seeded random moment of the run

After each kill a replacement worker is started (the survivors adopt the run meanwhile). The
checks: the run ends ``completed`` (the ``POST`` case ends ``failed`` with ``outcome_unknown``
and completes once retried, as a person would); no count node is lost; no node checkpointed
before the kill ran again; every ``PUT`` of a run carries one ``Idempotency-Key``; the ``POST``
went out once before the retry; a delay resumes with its original wake-up time; no step row is
left ``running``.

``python -m tests.engine.crash_matrix --kills 200 --report docs/reliability.md`` runs the long
version (``make reliability``); the test suite runs one case per point
(``tests/engine/test_crash_matrix.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.db import make_engine
from engine.errors import FlowwrightError
from engine.execution_store import ExecutionStore, aware
from engine.queue import ExecutionQueue
from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore
from tests.connectors.conftest import LoopbackServer, Recorded
from tests.engine.queue_worker import worker_registry

ROOT = Path(__file__).resolve().parents[2]
POINTS = ("node_running", "after_checkpoint", "mid_http", "retry_backoff", "mid_delay", "mid_approval",
          "post_in_flight", "random")
COUNT_NODES = ("a", "b", "d")
HEARTBEAT_S = 2.0  # the default: shorter makes a loaded machine declare stalled (live) workers dead


def matrix_workflow(log: Path, server: str, case: int) -> dict[str, Any]:
    """The run every case kills: see the module docstring."""
    def count(node_id: str, sleep_s: float) -> dict[str, Any]:
        return {"id": node_id, "type": "action", "connector": "probe", "operation": "count",
                "config": {"file": str(log), "tag": node_id, "sleep_s": sleep_s}}

    def http(node_id: str, method: str, path: str, retry: dict[str, Any]) -> dict[str, Any]:
        return {"id": node_id, "type": "action", "connector": "http", "operation": "request",
                "config": {"method": method, "url": f"{server}/{path}?case={case}"}, "retry": retry}

    nodes = [
        {"id": "start", "type": "trigger", "kind": "manual"},
        count("a", 0.3), count("b", 0.05),
        http("put", "PUT", "put", {"max_attempts": 3, "initial_delay_s": 0.05}),
        http("flaky", "GET", "flaky", {"max_attempts": 4, "backoff": "fixed", "initial_delay_s": 0.8,
                                       "jitter": False}),
        {"id": "nap", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 0.8}},
        {"id": "ok", "type": "guardrail", "kind": "approval", "config": {"message": "go on?"}},
        http("post", "POST", "post", {"max_attempts": 3, "initial_delay_s": 0.05}),
        count("d", 0.0),
    ]
    chain = [n["id"] for n in nodes]
    return {"name": f"crash matrix {case}", "nodes": nodes,
            "edges": [{"source": s, "target": t} for s, t in zip(chain, chain[1:], strict=False)]}


class Receiver:
    """The loopback HTTP service the runs call: a ``PUT`` or ``POST`` of a case told to hold
    waits until released (the kill happens meanwhile); ``/flaky`` answers 503 once per case."""

    def __init__(self) -> None:
        self.server = LoopbackServer()
        self.hold: dict[tuple[str, str], threading.Event] = {}
        self.lock = threading.Lock()
        for path in ("put", "post"):
            self.server.routes[f"/{path}"] = self._holding(path)
        self.server.routes["/flaky"] = self._flaky

    def _holding(self, path: str) -> Callable[[Recorded], tuple[int, dict[str, str], Any]]:
        def answer(rec: Recorded) -> tuple[int, dict[str, str], Any]:
            with self.lock:
                gate = self.hold.pop((path, rec.query["case"][0]), None)
            if gate is not None:
                gate.wait(30)  # the worker is killed meanwhile; this answer goes nowhere
            return 200, {}, {"ok": True}
        return answer

    def _flaky(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        seen = sum(1 for r in self.server.requests if r.path == "/flaky" and r.query == rec.query)
        return (503, {}, {"error": "busy"}) if seen == 1 else (200, {}, {"ok": True})

    def requests(self, path: str, case: int) -> list[Recorded]:
        return [r for r in list(self.server.requests) if r.path == f"/{path}" and r.query.get("case") == [str(case)]]

    def release(self) -> None:
        with self.lock:
            gates, self.hold = list(self.hold.values()), {}
        for gate in gates:
            gate.set()


class Pool:
    """Worker processes (``tests.engine.queue_worker``); a killed one is replaced in the background."""

    def __init__(self, db: str, size: int) -> None:
        self.db = db
        self.size = size
        self.procs: dict[str, subprocess.Popen[str]] = {}  # worker id -> process, once ready
        self.starting: list[subprocess.Popen[str]] = []
        self.lock = threading.Lock()
        self.kills = 0
        self.exits = 0  # workers that exited by themselves (fenced) and were replaced

    def spawn(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen([sys.executable, "-m", "tests.engine.queue_worker", self.db, "8", str(HEARTBEAT_S)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=None if os.environ.get("FW_CRASH_DEBUG") else subprocess.DEVNULL, text=True)
        with self.lock:
            self.starting.append(proc)

        def ready() -> None:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            with self.lock:
                self.starting.remove(proc)
                if line and line[0] == "ready":
                    self.procs[line[1]] = proc
        threading.Thread(target=ready, daemon=True).start()

    def supervise(self) -> None:
        """Replace workers that exited by themselves (a worker fenced after a stall exits, and
        its supervisor starts a new one — as ``flowwright serve`` does)."""
        with self.lock:
            gone = [w for w, p in self.procs.items() if p.poll() is not None]
            for worker_id in gone:
                del self.procs[worker_id]
            missing = self.size - len(self.procs) - len(self.starting)
        self.exits += len(gone)
        for _ in range(max(0, missing)):
            self.spawn()

    def wait_ready(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.procs) < n:
            self.supervise()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.procs)} of {n} workers started")
            time.sleep(0.05)

    def kill(self, worker_id: str) -> bool:
        """SIGKILL that worker and start a replacement; ``False`` if it is not one of ours."""
        with self.lock:
            proc = self.procs.pop(worker_id, None)
        if proc is None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1
        self.spawn()
        return True

    def kill_any(self) -> bool:
        """SIGKILL some live worker (a point where no worker holds the run)."""
        with self.lock:
            ids = list(self.procs)
        return bool(ids) and self.kill(ids[0])

    def stop(self) -> None:
        with self.lock:
            procs = [*self.procs.values(), *self.starting]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@dataclass
class Outcome:
    """What one case found (the checks in the module docstring); ``problems`` empty = passed."""

    case: int
    point: str
    status: str = ""
    killed: bool = False
    lost: list[str] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)
    running_rows: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Matrix:
    """One database, one receiver, one worker pool and a remote runtime for a series of cases."""

    def __init__(self, db_url: str, folder: Path, *, workers: int = 2) -> None:
        self.db_url = db_url
        self.folder = folder
        self.store = ExecutionStore(make_engine(db_url))
        self.queue = ExecutionQueue(self.store.engine)
        self.api = Runtime(self.store, worker_registry(), queue=self.queue, remote=True)
        self.receiver = Receiver()
        self.pool = Pool(db_url, workers)
        self.cases = 0

    async def __aenter__(self) -> Matrix:
        # the schema exists before the workers start: two processes creating the tables of a
        # fresh SQLite file at once race (one fails with 'table workflows already exists')
        WorkflowStore(self.store.engine)
        self.receiver.server.start()
        for _ in range(self.pool.size):
            self.pool.spawn()
        await asyncio.to_thread(self.pool.wait_ready, self.pool.size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.receiver.release()
        self.pool.stop()
        await self.api.aclose()
        self.receiver.server.stop()
        self.store.close()
        self.store.engine.dispose()

    async def run_case(self, point: str, rng: random.Random) -> Outcome:
        """Start one run, kill its worker at ``point``, let it finish and check it."""
        self.cases += 1
        case = self.cases
        out = Outcome(case, point)
        began = time.monotonic()
        await asyncio.to_thread(self.pool.wait_ready, 1)
        log = self.folder / f"case{case}.log"
        if point in ("mid_http", "post_in_flight"):
            self.receiver.hold[("put" if point == "mid_http" else "post", str(case))] = threading.Event()
        execution_id = await self.api.start(matrix_workflow(log, self.receiver.server.url, case), {},
                                            workspace_id="crash", workflow_id=None)
        try:
            victim = await self._claimer(execution_id)
        except RuntimeError as exc:
            out.problems.append(str(exc))
            self.receiver.release()
            return out
        at = began + rng.uniform(0.2, 3.5) if point == "random" else None
        async def reached() -> bool:
            if point != "mid_approval" and (await self.api.get(execution_id)).status == "waiting":
                await self._approve(execution_id)  # the points after it
            return await asyncio.to_thread(self._reached, point, execution_id, log, case, at)

        deadline = time.monotonic() + 120
        while not await reached():
            self.pool.supervise()
            if time.monotonic() > deadline:  # a finding, not a crash of the harness
                out.status = (await self.api.get(execution_id)).status
                out.problems.append(f"the run did not reach the kill point within 120 s (it is {out.status})")
                self.receiver.release()
                out.seconds = time.monotonic() - began
                return out
            await asyncio.sleep(0.005)
        holder = self.queue.get(execution_id)
        checkpointed = self._checkpointed(execution_id)
        nap_before = next((s for s in self.store.steps(execution_id) if s.node_id == "nap"), None)
        target = holder.worker_id if holder is not None and holder.worker_id else victim
        out.killed = self.pool.kill(target) or (point == "mid_approval" and self.pool.kill_any())
        self.receiver.release()
        posts_before = len(self.receiver.requests("post", case))
        status = await self._finish(execution_id)
        if point == "post_in_flight" and status == "failed":
            error = (await self.api.describe(execution_id)).get("error") or {}
            if error.get("code") != "outcome_unknown":
                out.problems.append(f"the POST case failed with {error.get('code')}, not outcome_unknown")
            if len(self.receiver.requests("post", case)) != 1:
                out.problems.append("the POST in flight at the kill was sent again before a person retried")
            await self.api.retry(execution_id)
            status = await self._finish(execution_id)
        out.status = status
        self._check(out, execution_id, log, case, checkpointed, nap_before, posts_before)
        out.seconds = time.monotonic() - began
        return out

    # -- the kill points --

    def _reached(self, point: str, execution_id: str, log: Path, case: int, at: float | None) -> bool:
        steps = self.store.steps(execution_id) if point in ("after_checkpoint", "mid_delay") else []
        if point == "node_running":
            return "a" in _lines(log)
        if point == "after_checkpoint":
            return any(s.node_id == "a" and s.final and s.status == "completed" for s in steps)
        if point == "mid_http":
            return bool(self.receiver.requests("put", case))
        if point == "retry_backoff":
            flaky = self.receiver.requests("flaky", case)
            return bool(flaky) and time.monotonic() - _first_seen(self, "flaky", case) > 0.25
        if point == "mid_delay":
            nap = next((s for s in steps if s.node_id == "nap" and s.status == "suspended"), None)
            return nap is not None and _first_seen(self, "nap", case) + 0.2 < time.monotonic()
        if point == "mid_approval":
            return self.store.get(execution_id).status == "waiting"
        if point == "post_in_flight":
            return bool(self.receiver.requests("post", case))
        assert at is not None
        return time.monotonic() >= at or self.store.get(execution_id).status in ("waiting", "completed")

    async def _claimer(self, execution_id: str) -> str:
        holder: list[str] = []

        def claimed() -> bool:
            row = self.queue.get(execution_id)
            if row is not None and row.worker_id:
                holder.append(row.worker_id)
                return True
            return False
        await self._until(claimed, timeout=60, what="a worker to claim the run")
        return holder[0]

    async def _finish(self, execution_id: str) -> str:
        """Approve when it waits; return its end status."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.pool.supervise()
            row = await self.api.get(execution_id)
            if row.status == "waiting":
                await self._approve(execution_id)
            elif row.status in ("completed", "failed", "cancelled", "timed_out"):
                return row.status
            await asyncio.sleep(0.05)
        return (await self.api.get(execution_id)).status

    async def _approve(self, execution_id: str) -> None:
        with contextlib.suppress(FlowwrightError):  # decided a moment ago: the status lags behind
            await self.api.approve(execution_id, "ok", "crash-matrix")

    async def _until(self, check: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(check):
            self.pool.supervise()
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    # -- the checks --

    def _checkpointed(self, execution_id: str) -> set[str]:
        return {s.node_id for s in self.store.steps(execution_id) if s.final and s.status == "completed"}

    def _check(self, out: Outcome, execution_id: str, log: Path, case: int, checkpointed: set[str],
               nap_before: Any, posts_before: int) -> None:
        if out.status != "completed":
            out.problems.append(f"ended {out.status}")
        counts = Counter(_lines(log))
        out.lost = [t for t in COUNT_NODES if counts[t] == 0]
        out.rerun = sorted(t for t in checkpointed & set(COUNT_NODES) if counts[t] > 1)
        steps = self.store.steps(execution_id)
        out.running_rows = sum(1 for s in steps if s.status == "running")
        puts = self.receiver.requests("put", case)
        if len({r.headers.get("idempotency-key") for r in puts}) != 1:
            out.problems.append("the PUTs of one run carried different Idempotency-Keys")
        if "put" in checkpointed and len(puts) != 1:
            out.problems.append("a PUT checkpointed before the kill was sent again")
            out.rerun.append("put")
        posts = self.receiver.requests("post", case)
        if out.point != "post_in_flight" and len(posts) != 1:
            out.problems.append(f"the POST was sent {len(posts)} times")
        if out.point == "post_in_flight" and posts_before != 1:
            out.problems.append(f"the POST in flight was sent {posts_before} times before the retry")
        if out.point == "mid_delay" and nap_before is not None:
            naps = [s for s in steps if s.node_id == "nap"]
            if [n.id for n in naps] != [nap_before.id] or aware(naps[0].resume_at) != aware(nap_before.resume_at):
                out.problems.append("the delay started over instead of keeping its wake-up time")
        if out.lost:
            out.problems.append(f"lost {out.lost}")
        if out.rerun:
            out.problems.append(f"checkpointed nodes ran again: {out.rerun}")
        if out.running_rows:
            out.problems.append(f"{out.running_rows} step row(s) left running")
        if not out.killed:
            out.problems.append("no worker was killed")


_SEEN: dict[tuple[int, str, int], float] = {}


def _first_seen(matrix: Matrix, what: str, case: int) -> float:
    """When the harness first saw ``what`` of the case (so 'x seconds into the back-off/delay')."""
    return _SEEN.setdefault((id(matrix), what, case), time.monotonic())


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


# -- the long run and its report ------------------------------------------------------------------


async def run_matrix(db_url: str, folder: Path, *, kills: int, seed: int, workers: int = 2,
                     points: tuple[str, ...] = POINTS,
                     progress: Callable[[list[Outcome]], None] | None = None) -> list[Outcome]:
    """``kills`` cases cycling through ``points`` in a seeded order (``progress`` is told the
    outcomes so far after each case)."""
    rng = random.Random(seed)
    order = [points[i % len(points)] for i in range(kills)]
    rng.shuffle(order)
    outcomes = []
    async with Matrix(db_url, folder, workers=workers) as matrix:
        for point in order:
            outcomes.append(await matrix.run_case(point, rng))
            if progress is not None:
                progress(outcomes)
    return outcomes


def summary(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Per point: cases, kills, runs finished, nodes lost, checkpointed nodes re-run, rows left running."""
    rows = []
    for point in [p for p in POINTS if any(o.point == p for o in outcomes)]:
        mine = [o for o in outcomes if o.point == point]
        rows.append({"point": point, "cases": len(mine), "kills": sum(o.killed for o in mine),
                     "completed": sum(o.status == "completed" for o in mine), "lost": sum(len(o.lost) for o in mine),
                     "rerun": sum(len(o.rerun) for o in mine), "running_rows": sum(o.running_rows for o in mine),
                     "failed_checks": sum(bool(o.problems) for o in mine)})
    return rows


def report(sections: list[tuple[str, list[Outcome]]], *, seed: int, extra: str = "") -> str:
    """docs/reliability.md: one table per database."""
    lines = ["# Reliability: the crash matrix", "",
             "The tables are generated by `make reliability` (`python -m tests.engine.crash_matrix`).",
             f"Seed {seed}. Every case SIGKILLs the worker process driving a run at one point "
             "(`tests/engine/crash_matrix.py` says what each point is) and checks the run afterwards.", ""]
    for title, outcomes in sections:
        total = sum(o.killed for o in outcomes)
        lines += [f"## {title}: {total} SIGKILLs", "",
                  "| point | cases | kills | runs completed | nodes lost | checkpointed nodes re-run | rows left running | cases failing a check |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in summary(outcomes):
            lines.append(f"| `{row['point']}` | {row['cases']} | {row['kills']} | {row['completed']} | {row['lost']} | "
                         f"{row['rerun']} | {row['running_rows']} | {row['failed_checks']} |")
        problems = [f"- case {o.case} ({o.point}): {'; '.join(o.problems)}" for o in outcomes if o.problems]
        lines += ["", *(problems or ["Every check passed."]), ""]
    if extra:
        lines += [extra, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=200, help="cases (one SIGKILL each) per database")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-kills", type=int, default=0,
                        help="also run this many cases on a throw-away PostgreSQL (initdb/pg_ctl)")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    import tempfile

    sections: list[tuple[str, list[Outcome]]] = []

    def write(title: str, started: float) -> Callable[[list[Outcome]], None]:
        def progress(outcomes: list[Outcome]) -> None:  # the report so far, after every case
            if args.report:
                done = [*sections, (f"{title} ({time.monotonic() - started:.0f} s)", outcomes)]
                args.report.write_text(report(done, seed=args.seed))
        return progress

    with tempfile.TemporaryDirectory(prefix="fw-crash-") as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        sqlite = asyncio.run(run_matrix(f"sqlite:///{folder / 'fw.db'}", folder, kills=args.kills, seed=args.seed,
                                        workers=args.workers, progress=write("SQLite", started)))
        sections.append((f"SQLite ({time.monotonic() - started:.0f} s)", sqlite))
        if args.postgres_kills:
            from tests.postgres_server import PostgresServer

            with PostgresServer() as pg:
                started = time.monotonic()
                (folder / "pg-cases").mkdir()
                outcomes = asyncio.run(run_matrix(pg.url, folder / "pg-cases", kills=args.postgres_kills,
                                                  seed=args.seed, workers=args.workers,
                                                  progress=write("PostgreSQL", started)))
                sections.append((f"PostgreSQL ({time.monotonic() - started:.0f} s)", outcomes))
    if args.report:
        args.report.write_text(report(sections, seed=args.seed))
    print(json.dumps({title: summary(outcomes) for title, outcomes in sections}))
    return 1 if any(o.problems for _, outcomes in sections for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
