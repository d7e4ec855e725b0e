"""Execution events and the in-process bus.

Every state change of an execution is an :class:`Event` with a per-execution sequence number
that increases by one per event. The runtime persists each event and publishes it here; a
listener replays from any sequence number (store + the bus's memory of live executions) and
then follows live — the SSE endpoint sits on :meth:`engine.runtime.Runtime.events`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Event types (a public contract: SSE clients branch on them).
EXECUTION_STARTED = "execution.started"
EXECUTION_RESUMED = "execution.resumed"
EXECUTION_PAUSED = "execution.paused"
EXECUTION_WAITING = "execution.waiting"
EXECUTION_COMPLETED = "execution.completed"
EXECUTION_FAILED = "execution.failed"
EXECUTION_CANCELLED = "execution.cancelled"
EXECUTION_TIMED_OUT = "execution.timed_out"
NODE_STARTED = "node.started"
NODE_RETRYING = "node.retrying"
NODE_COMPLETED = "node.completed"
NODE_FAILED = "node.failed"
NODE_SKIPPED = "node.skipped"
NODE_SUSPENDED = "node.suspended"
NODE_WAITING = "node.waiting"
NODE_CHILD_STARTED = "node.child_started"  # a core.run_workflow step started a sub-workflow execution
CIRCUIT_OPEN = "circuit.open"  # a connector host's breaker opened (calls fail fast with circuit_open)
CIRCUIT_HALF_OPEN = "circuit.half_open"  # this node makes the breaker's one trial call
CIRCUIT_CLOSED = "circuit.closed"
LOG = "log"

TERMINAL_EVENTS = frozenset({EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_CANCELLED, EXECUTION_TIMED_OUT})


@dataclass(frozen=True, slots=True)
class Event:
    """One event of an execution's stream."""

    execution_id: str
    seq: int
    type: str
    at: datetime
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload (SSE ``data:``; ``seq`` doubles as the SSE ``id``)."""
        return {
            "execution_id": self.execution_id, "seq": self.seq, "type": self.type,
            "node_id": self.node_id, "at": self.at.isoformat(), "data": self.data,
        }

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


class EventBus:
    """Publish/subscribe per execution, with a memory of the events of live executions.

    The memory closes the gap between "persisted" and "published": an event queued for the
    store but not yet committed is still replayed to a listener that subscribes late.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self._history: dict[str, list[Event]] = {}

    def open(self, execution_id: str) -> None:
        """Start remembering an execution's events (it is live in this process)."""
        self._history.setdefault(execution_id, [])

    def close(self, execution_id: str) -> None:
        """Forget a finished execution's events (they are committed by then)."""
        self._history.pop(execution_id, None)

    def is_open(self, execution_id: str) -> bool:
        return execution_id in self._history

    def history(self, execution_id: str) -> list[Event]:
        return list(self._history.get(execution_id, ()))

    def publish(self, event: Event) -> None:
        history = self._history.get(event.execution_id)
        if history is not None:
            history.append(event)
        for q in self._subscribers.get(event.execution_id, ()):
            q.put_nowait(event)

    def subscribe(self, execution_id: str) -> asyncio.Queue[Event | None]:
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.setdefault(execution_id, set()).add(q)
        return q

    def unsubscribe(self, execution_id: str, q: asyncio.Queue[Event | None]) -> None:
        subs = self._subscribers.get(execution_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._subscribers[execution_id]

    def wake(self, execution_id: str) -> None:
        """Tell followers to re-check the execution (it stopped without a terminal event)."""
        for q in list(self._subscribers.get(execution_id, ())):
            q.put_nowait(None)
