"""An execution's event stream: a listener replays from a sequence number, then follows live.

The replay reads the store once (plus the bus's memory of an execution driven here). Live events
of an execution this process drives come from the in-process bus; those of an execution another
process drives (a worker) are read from the store, at most once a second per listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from engine import events as ev
from engine.execution_state import TERMINAL
from engine.execution_store import EVENT_INSERT, ExecutionStore, dumps, now
from engine.execution_views import event_from_row

FOLLOW_POLL_S = 1.0


async def follow_events(
    store: ExecutionStore, bus: ev.EventBus, execution_id: str, after_seq: int, *,
    driven_here: Callable[[str], bool],
) -> AsyncIterator[ev.Event]:
    """Every event of ``execution_id`` after ``after_seq``, then the live ones, until it ends.

    Args:
        store: where events are persisted.
        bus: the in-process bus the local runtime publishes to.
        execution_id: the execution to follow.
        after_seq: the last sequence number the listener has (``0``: from the start).
        driven_here: whether this process drives the execution right now.
    """
    queue = bus.subscribe(execution_id)
    try:
        rows = await asyncio.to_thread(store.events, execution_id, after_seq)
        replay = {r.seq: event_from_row(r) for r in rows}
        for event in bus.history(execution_id):
            if event.seq > after_seq:
                replay[event.seq] = event
        last = after_seq
        for seq in sorted(replay):
            last = seq
            yield replay[seq]
            if replay[seq].terminal:
                return
        while True:
            if not driven_here(execution_id):
                await store.flush()
                row = await asyncio.to_thread(store.get, execution_id)
                later = await asyncio.to_thread(store.events, execution_id, last)
                for r in later:
                    last = r.seq
                    event = event_from_row(r)
                    yield event
                    if event.terminal:
                        return
                if row.status in TERMINAL:
                    return
            try:
                item = await asyncio.wait_for(queue.get(), timeout=FOLLOW_POLL_S)
            except TimeoutError:
                continue
            if item is None or item.seq <= last:
                continue
            last = item.seq
            yield item
            if item.terminal:
                return
    finally:
        bus.unsubscribe(execution_id, queue)


async def publish_offline(store: ExecutionStore, bus: ev.EventBus, execution_id: str, type_: str, **data: Any) -> None:
    """Persist and publish an event of an execution nobody drives (paused or cancelled while idle)."""
    seq = await asyncio.to_thread(store.max_seq, execution_id) + 1
    at = now()
    await store.write(EVENT_INSERT, {"execution_id": execution_id, "seq": seq, "type": type_, "node_id": None,
                                     "data": dumps(data) if data else None, "created_at": at}, durable=True)
    bus.publish(ev.Event(execution_id, seq, type_, at, None, data))
    bus.wake(execution_id)
