"""The execution state machine. An illegal transition raises ``ConflictError`` (HTTP 409).

``pending → running → completed | failed | cancelled | timed_out``; ``running ⇄ paused``;
``running ⇄ waiting`` (a guardrail waits for a person); a manual retry takes ``failed`` or
``timed_out`` back to ``running``.
"""

from __future__ import annotations

from typing import Literal

from engine.errors import ConflictError

ExecutionStatus = Literal["pending", "running", "paused", "waiting", "completed", "failed", "cancelled", "timed_out"]

STATUSES: tuple[str, ...] = ("pending", "running", "paused", "waiting", "completed", "failed", "cancelled", "timed_out")
TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"completed", "failed", "cancelled", "timed_out", "paused", "waiting"}),
    "paused": frozenset({"running", "cancelled"}),
    "waiting": frozenset({"running", "cancelled", "timed_out"}),
    "failed": frozenset({"running"}),
    "timed_out": frozenset({"running"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: str, new: str, execution_id: str | None = None) -> None:
    """Raise ``ConflictError`` (code ``illegal_transition``) unless ``current → new`` is allowed."""
    if not can_transition(current, new):
        raise ConflictError(
            f"execution {execution_id or ''} cannot go from {current} to {new}".replace("  ", " "),
            code="illegal_transition", execution_id=execution_id, current=current, requested=new,
        )
