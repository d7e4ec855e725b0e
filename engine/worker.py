"""A worker: claims executions from the durable queue and drives them on a local runtime.

One :class:`Worker` per process. It registers in the ``workers`` table and heartbeats; every
half interval it also reaps workers silent for 1.5 intervals (their executions go back to the
queue), so a dead worker's executions are adopted within two heartbeat intervals of its last
heartbeat. A worker that learns it was declared dead (it was frozen, not killed) abandons its
executions without writing and stops: the process exits and its supervisor starts a new one.

With ``capacity=0`` it claims nothing and only keeps the executions this process started
itself alive in the queue (``flowwright run``): if the process dies, a live worker adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from engine.errors import FlowwrightError
from engine.execution_state import TERMINAL
from engine.queue import ExecutionQueue
from engine.runtime import Runtime

log = logging.getLogger(__name__)

STOPPED_DRIVING = TERMINAL | {"paused", "waiting"}


class Fenced(Exception):
    """Another worker declared this one dead and adopted its executions."""


class Worker:
    """Claims and drives executions; see the module docstring.

    Args:
        runtime: a local runtime (``remote=False``) on the queue's database.
        queue: the durable queue.
        capacity: executions driven at once (0: claim nothing).
        heartbeat_s: the heartbeat interval.
        poll_s: the longest pause between two looks at an empty queue.
        kind: ``worker`` or ``cli`` (shown in ``flowwright workers``).
    """

    def __init__(
        self, runtime: Runtime, queue: ExecutionQueue, *, capacity: int = 16, heartbeat_s: float = 2.0,
        poll_s: float = 0.1, kind: str = "worker",
    ) -> None:
        self.runtime = runtime
        self.queue = queue
        self.id = runtime.owner
        self.capacity = capacity
        self.heartbeat_s = heartbeat_s
        self.dead_after_s = heartbeat_s * 1.5
        self.poll_s = poll_s
        self.kind = kind
        self.fenced = False
        self._active: dict[str, asyncio.Task[None]] = {}
        self._handled: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._releasing: set[asyncio.Task[None]] = set()
        runtime.on_stop.append(self._on_stop)

    # -- running --

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and drive executions until ``stop`` is set (or this worker is fenced)."""
        await asyncio.to_thread(self.queue.register, self.id, kind=self.kind, capacity=self.capacity)
        beat = asyncio.create_task(self._heartbeats(stop), name="worker heartbeat")
        try:
            await self._claim_loop(stop)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Fenced):
                await beat
            await self._shutdown()

    @contextlib.asynccontextmanager
    async def attached(self) -> AsyncIterator[Worker]:
        """Heartbeat (and follow control requests) while the body drives its own executions."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name="worker")
        try:
            yield self
        finally:
            stop.set()
            with contextlib.suppress(Fenced):
                await task

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set() and not self.fenced:
            free = self.capacity - len(self._active)
            claimed: list[str] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(self.queue.claim, self.id, free)
                except Exception:  # the database is busy or gone: try again later
                    log.warning("claiming from the queue failed; retrying", exc_info=True)
            for execution_id in claimed:
                self._active[execution_id] = asyncio.create_task(self._drive(execution_id),
                                                                 name=f"worker drive {execution_id}")
            await self._follow_controls()
            delay = 0.0 if len(claimed) == free and free > 0 else min(self.poll_s, max(0.005, delay * 2))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_any(stop), delay or 0.001)

    async def _wait_any(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _drive(self, execution_id: str) -> None:
        try:
            if await self.runtime.drive(execution_id) is None:  # not runnable (ended, gone): drop its row
                await asyncio.to_thread(self.queue.release, execution_id, self.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("driving execution %s failed; handing it back to the queue", execution_id)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.queue.requeue, execution_id, self.id, delay_s=self.heartbeat_s)
        finally:
            self._active.pop(execution_id, None)
            self._wake.set()

    def _on_stop(self, execution_id: str, status: str | None) -> None:
        """The runtime stopped driving an execution: release it once it no longer needs a worker."""
        if self.fenced or status is None or status not in STOPPED_DRIVING:
            return  # shutdown or fencing: it stays claimed until reaped or unregistered
        task = asyncio.get_running_loop().create_task(self._release(execution_id, status))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release(self, execution_id: str, status: str) -> None:
        try:
            control = await asyncio.to_thread(self.queue.release, execution_id, self.id)
        except Exception:
            log.exception("releasing execution %s failed", execution_id)
            return
        self._handled = {h for h in self._handled if h[0] != execution_id}
        if control is None or status in TERMINAL:
            return
        # A request arrived while the run was stopping: act on it now that nobody drives it.
        try:
            if control == "decide" and status == "waiting":
                await self.runtime.relaunch_waiting(execution_id)
            elif control == "cancel":
                await self.runtime.cancel(execution_id)
        except FlowwrightError as exc:
            log.info("request %s on execution %s: %s", control, execution_id, exc.message)

    async def _follow_controls(self) -> None:
        if not self.runtime.driving():
            return
        try:
            requests = await asyncio.to_thread(self.queue.controls, self.id)
        except Exception:
            return
        for execution_id, control in requests:
            if (execution_id, control) in self._handled and control != "decide":
                continue
            self._handled.add((execution_id, control))
            try:
                if control == "pause":
                    await self.runtime.pause(execution_id)
                elif control == "cancel":
                    await self.runtime.cancel(execution_id)
                elif control == "decide":
                    await self.runtime.reload_decisions(execution_id)
            except FlowwrightError as exc:
                log.info("request %s on execution %s: %s", control, execution_id, exc.message)

    # -- heartbeats and adoption --

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        tick = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.heartbeat_s / 2)
            if stop.is_set():
                return
            tick += 1
            try:
                if tick % 2 == 0 and not await asyncio.to_thread(self.queue.heartbeat, self.id):
                    await self._fence()
                    return
                adopted = await asyncio.to_thread(self.queue.reap, self.dead_after_s, reaper=self.id)
                if tick % 20 == 0:
                    adopted += await asyncio.to_thread(self.queue.enqueue_orphans, self.dead_after_s * 4)
            except Exception:  # a busy database delays a heartbeat; it does not stop the worker
                log.warning("heartbeat failed; retrying", exc_info=True)
                continue
            if adopted:
                log.info("worker %s put back %d execution(s) of dead workers: %s", self.id, len(adopted),
                         ", ".join(adopted))
                self._wake.set()

    async def _fence(self) -> None:
        log.error("worker %s was declared dead by another worker; abandoning its executions", self.id)
        self.fenced = True
        for execution_id in self.runtime.driving():
            await self.runtime.abandon(execution_id)
        self._wake.set()

    async def _shutdown(self) -> None:
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        tasks = list(self._active.values())
        for execution_id in self.runtime.driving():
            await self.runtime.abandon(execution_id)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.runtime.store.flush()
        if not self.fenced:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.queue.unregister, self.id)

    def stats(self) -> dict[str, Any]:
        """What this worker drives now."""
        return {"id": self.id, "capacity": self.capacity, "driving": sorted(self._active)}
