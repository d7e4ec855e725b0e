"""The audit log: who created, changed, activated, ran, approved or deleted what, and when.

One row per act a person (or a program holding a key) did to a workspace: the actor (the key's
user and key id, or the operating-system user of a CLI command), the channel (``api``, ``cli``),
the action (``workflow.activated``, ``execution.started``, ``approval.approved``,
``credential.set``, ...), what it was done to (kind and id) and a few details (a version number,
a role) — never a secret, an input or an output. Rows are only ever added; admins read them
newest first, filtered, a keyset page at a time. Every read and write is scoped to a workspace.

Runs a trigger started (schedules, webhooks, polls) are not acts of a person: the execution
history records them with their trigger.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Column, Index, Text, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from engine.errors import QueryInvalidError
from engine.execution_store import dumps, loads

Via = Literal["api", "cli"]
MAX_LIMIT = 500


class AuditRow(SQLModel, table=True):
    """One audited act (append-only)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ws_id", "workspace_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str
    at: datetime
    user: str
    key_id: str | None = None
    via: str
    action: str
    target_kind: str
    target_id: str
    details: str | None = Field(default=None, sa_column=Column(Text))


_AUDIT = AuditRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Actor:
    """Who did something: a key's user (``key_id`` set, ``via="api"``) or a CLI user."""

    user: str
    via: Via
    key_id: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One audited act as it is read back."""

    id: int
    workspace_id: str
    at: datetime
    user: str
    key_id: str | None
    via: str
    action: str
    target_kind: str
    target_id: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON data (``at`` in ISO 8601, UTC)."""
        return {"id": self.id, "at": self.at.isoformat(), "user": self.user, "key_id": self.key_id, "via": self.via,
                "action": self.action, "target": {"kind": self.target_kind, "id": self.target_id},
                "details": self.details}


@dataclass(frozen=True)
class AuditPage:
    """A page of entries, newest first, and the cursor of the next one (``None``: the last page)."""

    entries: builtins.list[AuditEntry]
    next_cursor: str | None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class AuditLog:
    """The workspace-scoped, append-only record of who did what (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        SQLModel.metadata.create_all(engine, tables=[_AUDIT])

    def record(self, workspace_id: str, actor: Actor, action: str, target_kind: str, target_id: str,
               **details: Any) -> None:
        """Add one entry (``details``: small non-secret facts such as a version number)."""
        values = {"workspace_id": workspace_id, "at": _utc(datetime.now(UTC)), "user": actor.user,
                  "key_id": actor.key_id, "via": actor.via, "action": action, "target_kind": target_kind,
                  "target_id": target_id,
                  "details": dumps({k: v for k, v in details.items() if v is not None}) if details else None}
        with self._engine.begin() as conn:
            conn.execute(insert(_AUDIT).values(**values))

    def list(self, workspace_id: str, *, since: datetime | None = None, until: datetime | None = None,
             action: str | None = None, user: str | None = None, target: str | None = None, limit: int = 50,
             cursor: str | None = None) -> AuditPage:
        """Entries newest first. ``action`` matches exactly or, ending in ``.``, every action of
        that kind (``workflow.``); ``target`` is the id of what was acted on; ``cursor`` is the
        ``next_cursor`` of the page before. A bad value is a ``QueryInvalidError`` naming it."""
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryInvalidError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", field="limit")
        if since is not None and until is not None and since >= until:
            raise QueryInvalidError("since must be before until", field="since")
        stmt = select(_AUDIT).where(_AUDIT.c.workspace_id == workspace_id)
        if cursor is not None:
            if not cursor.isdigit():
                raise QueryInvalidError(f"cursor {cursor!r} is not one this list gave out", field="cursor")
            stmt = stmt.where(_AUDIT.c.id < int(cursor))
        if since is not None:
            stmt = stmt.where(_AUDIT.c.at >= _utc(since))
        if until is not None:
            stmt = stmt.where(_AUDIT.c.at < _utc(until))
        if action:
            stmt = stmt.where(_AUDIT.c.action.startswith(action, autoescape=True) if action.endswith(".")
                              else _AUDIT.c.action == action)
        if user:
            stmt = stmt.where(_AUDIT.c.user == user)
        if target:
            stmt = stmt.where(_AUDIT.c.target_id == target)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(_AUDIT.c.id.desc()).limit(limit + 1)).mappings().all()
        entries = [AuditEntry(id=r["id"], workspace_id=r["workspace_id"], at=_utc(r["at"]),
                              user=r["user"], key_id=r["key_id"], via=r["via"], action=r["action"],
                              target_kind=r["target_kind"], target_id=r["target_id"],
                              details=loads(r["details"]) or {}) for r in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(entries, str(entries[-1].id) if more and entries else None)


@dataclass(frozen=True)
class AuditTrail:
    """An :class:`AuditLog` bound to one workspace and actor: what a route or a command records to."""

    log: AuditLog
    workspace_id: str
    actor: Actor

    def __call__(self, action: str, target_kind: str, target_id: str, **details: Any) -> None:
        """Record that this actor did ``action`` to ``target_kind`` ``target_id``."""
        self.log.record(self.workspace_id, self.actor, action, target_kind, target_id, **details)
