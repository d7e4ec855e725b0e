"""One stream for an execution and its sub-workflow executions (``GET …/events?tree=true``).

The events of the execution come first-class (in order, resumable by ``seq``); every sub-workflow
execution it starts — seen live by its ``node.child_started`` event, or already stored when a
client reconnects — is followed too, and so are its own children, so a client watching a parent
sees the whole tree move. Every event names its ``execution_id``. Children are always replayed
from their start (their ``seq`` counts on their own execution), so a client that reconnects
dedupes on ``(execution_id, seq)``. The stream ends when every execution it follows has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from engine import events as ev
from engine.execution_store import ExecutionStore

MAX_FOLLOWED = 256  # a runaway fan-out of children does not open unbounded streams


class TreeSource(Protocol):
    """What following a tree needs (``engine.runtime.Runtime``)."""

    store: ExecutionStore

    def events(self, execution_id: str, after_seq: int = 0) -> AsyncIterator[ev.Event]: ...


async def tree_events(source: TreeSource, execution_id: str, after_seq: int = 0) -> AsyncIterator[ev.Event]:
    """The events of ``execution_id`` after ``after_seq`` and of every execution below it."""
    queue: asyncio.Queue[tuple[str, ev.Event | BaseException | None]] = asyncio.Queue()
    pumps: dict[str, asyncio.Task[None]] = {}
    ended: set[str] = set()

    async def pump(followed: str, after: int) -> None:
        try:
            async for event in source.events(followed, after):
                await queue.put((followed, event))
        except Exception as exc:  # handed to the reader: the root's error is the stream's
            queue.put_nowait((followed, exc))
        else:
            queue.put_nowait((followed, None))

    async def follow(followed: str, after: int = 0) -> None:
        if followed in pumps or len(pumps) >= MAX_FOLLOWED:
            return
        pumps[followed] = asyncio.create_task(pump(followed, after))
        # children started before we saw them (a reconnect, a late subscriber)
        for child in await asyncio.to_thread(source.store.children, followed):
            await follow(child.id)

    try:
        await follow(execution_id, after_seq)
        while set(pumps) - ended:
            followed, item = await queue.get()
            if item is None or isinstance(item, BaseException):
                ended.add(followed)
                if isinstance(item, BaseException) and followed == execution_id:
                    raise item
                continue  # a child's stream that broke off ends its part of the tree only
            yield item
            child = item.data.get("child_execution_id") if item.type == ev.NODE_CHILD_STARTED else None
            if isinstance(child, str):
                await follow(child)
    finally:
        for task in pumps.values():
            task.cancel()
        for task in pumps.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


__all__ = ["MAX_FOLLOWED", "TreeSource", "tree_events"]
