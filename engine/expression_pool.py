"""Expressions that cannot stall the event loop: an inline slice, then a supervised worker process.

jsonata-python reads its clock between evaluation steps, so a builtin that works for long inside
one step (a big ``$sum``, ``$string`` of a big value, a sort) or allocates a lot is out of its
reach, and every expression ran on the service's event loop. :class:`Evaluator` therefore:

1. evaluates inline for at most ``slice_ms`` (default 5 ms; the clock is read at every step).
   Almost every expression a workflow holds (a path, a comparison, a concatenation) finishes in
   microseconds, so it costs nothing. An expression with a range operator (``[1..n]``, whose
   cost depends on run-time values and is spent inside builtins) or a super-linear builtin
   (``$distinct``) skips this step;
2. when the slice runs out, starts over in an :class:`ExpressionPool` worker process, awaited
   without blocking the loop. The worker has an address-space limit (``RLIMIT_AS``, so a huge
   allocation is a ``MemoryError`` there, not in the service) and is killed when it overruns the
   time limit (plus a short grace for its own step clock to report first); a fresh one replaces it.

Expressions are pure (JSON in, JSON out), so starting over is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from engine.expressions import (
    DEFAULT_OUTPUT_LIMIT_BYTES,
    DEFAULT_TIME_LIMIT_MS,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    SliceExceeded,
    evaluate,
    needs_worker,
    splice,
    templates_in,
    whole_expression,
)

DEFAULT_SLICE_MS = 5.0
DEFAULT_MEMORY_LIMIT_MB = 256
KILL_GRACE_S = 0.25  # lets the worker's own step clock report first (a clearer message)
STARVED_CAP_S = 5.0  # a worker starved of CPU gets at most this much more wall time (or 10x its limit)
try:
    _CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
    _CLOCK_TICKS = 100


def _vm_size_bytes() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _worker_main(conn: Connection, memory_limit_mb: int) -> None:
    """A worker process: evaluate requests until the pipe closes (or the parent kills it)."""
    import resource

    evaluate("1 + 1", {})  # import jsonata and re2 before the memory limit is set
    base = _vm_size_bytes()
    if base is not None:
        limit = base + memory_limit_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send(("ready",))
    while True:
        try:
            source, scope, time_limit_ms, output_limit_bytes = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = evaluate(source, scope, time_limit_ms=time_limit_ms, output_limit_bytes=output_limit_bytes,
                              cpu_clock=True)
            reply: tuple[Any, ...] = ("ok", json.dumps(result, ensure_ascii=False))
        except ExpressionSyntaxError as exc:
            reply = ("syntax", str(exc))
        except ExpressionEvaluationError as exc:
            reply = ("error", str(exc), exc.code)
        except MemoryError:
            reply = ("error", f"expression used more than {memory_limit_mb} MB", "expression_limit")
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", f"expression used more than {memory_limit_mb} MB", "expression_limit"))


def worker_entry(fd: int, memory_limit_mb: int) -> None:
    """The worker process's entry point (``python -c``): serve on the inherited socket ``fd``."""
    _worker_main(Connection(fd), memory_limit_mb)


class _Worker:
    """One worker process. Started with ``python -c`` rather than multiprocessing's spawn, which
    would re-import the parent's ``__main__`` (a CLI script, a benchmark, pytest) in the child."""

    def __init__(self, memory_limit_mb: int) -> None:
        parent, child = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        code = f"from engine.expression_pool import worker_entry; worker_entry({child.fileno()}, {memory_limit_mb})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL,
            close_fds=True)
        child.close()
        self.conn = Connection(parent.detach())

    def cpu_s(self) -> float | None:
        """CPU time the process has used (user + system), or ``None`` where /proc cannot tell."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=2)


async def _readable(conn: Connection, timeout_s: float) -> bool:
    """Wait (without blocking the loop) until ``conn`` has data; False on timeout."""
    if conn.poll():
        return True
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout_s)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


class ExpressionPool:
    """Supervised worker processes for expressions that outgrew their inline slice.

    At most ``workers`` evaluate at once (others wait their turn); each worker is started on
    first need and replaced after it is killed or dies.
    """

    def __init__(self, *, workers: int = 2, memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
                 start_timeout_s: float = 30.0, grace_s: float = KILL_GRACE_S) -> None:
        self.size = max(1, workers)
        self.grace_s = grace_s
        self.memory_limit_mb = memory_limit_mb
        self.start_timeout_s = start_timeout_s
        self._idle: list[_Worker] = []
        self._busy = 0
        self._freed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.kills = 0  # workers killed for overrunning (for tests and metrics)

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._freed is None or self._loop is not loop:
            self._freed, self._loop = asyncio.Condition(), loop
        return self._freed

    async def _acquire(self) -> _Worker:
        freed = self._condition()
        async with freed:
            while not self._idle and self._busy >= self.size:
                await freed.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            # fork/exec waits for the child: off the loop, which a loaded machine would stall
            worker = await asyncio.to_thread(_Worker, self.memory_limit_mb)
            if not await _readable(worker.conn, self.start_timeout_s) or worker.conn.recv() != ("ready",):
                worker.kill()
                raise ExpressionEvaluationError("the expression worker did not start", expression="",
                                                code="expression_worker")
            return worker
        except BaseException:
            await self._release(None)
            raise

    async def _release(self, worker: _Worker | None) -> None:
        freed = self._condition()
        async with freed:
            self._busy -= 1
            if worker is not None:
                self._idle.append(worker)
            freed.notify()

    async def evaluate(self, source: str, scope: Any, *, time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
                       output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES) -> Any:
        """Evaluate in a worker process; killed (and ``expression_limit`` raised) on overrun."""
        worker = await self._acquire()
        keep: _Worker | None = None
        try:
            try:
                worker.conn.send((source, scope, time_limit_ms, output_limit_bytes))
                answered = await self._answer(worker, time_limit_ms / 1000 + self.grace_s)
                reply = worker.conn.recv() if answered else None
            except (EOFError, OSError, BrokenPipeError):
                raise ExpressionEvaluationError(
                    f"expression stopped: its worker process died (over {self.memory_limit_mb} MB?)",
                    expression=source, code="expression_limit") from None
            if reply is None:
                self.kills += 1
                raise ExpressionEvaluationError(
                    f"expression ran longer than {time_limit_ms} ms (its worker process was stopped)",
                    expression=source, code="expression_limit")
            keep = worker
        finally:
            if keep is None:
                await asyncio.to_thread(worker.kill)
            await self._release(keep)
        if reply[0] == "ok":
            return json.loads(reply[1])
        if reply[0] == "syntax":
            raise ExpressionSyntaxError(reply[1])
        raise ExpressionEvaluationError(reply[1], expression=source, code=reply[2])

    async def _answer(self, worker: _Worker, limit_s: float) -> bool:
        """Wait for the worker's reply; ``False`` once it has overrun ``limit_s`` (then it is killed).

        The limit counts the CPU time the worker spends, read from /proc: a worker that waited
        for a CPU on a loaded machine is not stuck and gets the time it lacked, up to a cap.
        """
        loop = asyncio.get_running_loop()
        started, cpu_before = loop.time(), worker.cpu_s()
        cap = max(STARVED_CAP_S, 10 * limit_s)
        wait = limit_s
        while True:
            if await _readable(worker.conn, wait):
                return True
            cpu_now = worker.cpu_s()
            if cpu_before is None or cpu_now is None:
                return False  # no CPU accounting here: wall time decides
            used = cpu_now - cpu_before
            waited = loop.time() - started
            if used >= limit_s or waited >= cap:
                return False
            wait = max(0.01, min(limit_s - used, cap - waited))

    async def aclose(self) -> None:
        """Stop every idle worker (busy ones are stopped when their evaluation ends)."""
        idle, self._idle = self._idle, []
        for worker in idle:
            await asyncio.to_thread(worker.kill)


@dataclass
class Evaluator:
    """Async expression evaluation with the execution's limits (see the module doc).

    Without a pool, evaluation stays inline (the step clock and the builtin bounds only).
    """

    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES
    pool: ExpressionPool | None = None
    slice_ms: float = DEFAULT_SLICE_MS

    async def evaluate(self, source: str, scope: Any) -> Any:
        """Evaluate a bare expression; raises the errors :func:`engine.expressions.evaluate` raises."""
        if self.pool is not None and needs_worker(source):
            return await self.pool.evaluate(source, scope, time_limit_ms=self.time_limit_ms,
                                            output_limit_bytes=self.output_limit_bytes)
        try:
            return evaluate(source, scope, time_limit_ms=self.time_limit_ms,
                            output_limit_bytes=self.output_limit_bytes,
                            slice_ms=self.slice_ms if self.pool is not None else None)
        except SliceExceeded:
            assert self.pool is not None
            return await self.pool.evaluate(source, scope, time_limit_ms=self.time_limit_ms,
                                            output_limit_bytes=self.output_limit_bytes)

    async def render(self, value: Any, scope: Any, *, skip_keys: frozenset[str] = frozenset()) -> Any:
        """Interpolate every ``{{ }}`` in a JSON value, as :func:`engine.expressions.render` does."""

        async def walk(v: Any) -> Any:
            if isinstance(v, str):
                if "{{" not in v:
                    return v
                whole = whole_expression(v)
                if whole is not None:
                    return await self.evaluate(whole, scope)
                return splice(v, [await self.evaluate(source, scope) for source in templates_in(v)])
            if isinstance(v, dict):
                return {k: await walk(item) for k, item in v.items()}
            if isinstance(v, list):
                return [await walk(item) for item in v]
            return v

        if isinstance(value, dict) and skip_keys:
            return {k: (item if k in skip_keys else await walk(item)) for k, item in value.items()}
        return await walk(value)


def default_workers() -> int:
    """Worker processes by default: one per two CPUs, between 1 and 4."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))

