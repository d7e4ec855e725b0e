"""The tables of workspaces, users and API keys, and the caller a verified key stands for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_WORKSPACE = "default"


def utcnow() -> datetime:
    """Now, in UTC (stored naive-or-aware alike: compare through :func:`aware`)."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class WorkspaceRow(SQLModel, table=True):
    """A workspace. Its id is its name (the ``workspace_id`` every other table carries)."""

    __tablename__ = "workspaces"

    id: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)


class UserRow(SQLModel, table=True):
    """A person (or a program) of a workspace; an approval is recorded under the key's user."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_user_name"),)

    id: str = Field(primary_key=True)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True)
    name: str
    created_at: datetime = Field(default_factory=utcnow)


class ApiKeyRow(SQLModel, table=True):
    """An API key. Only the SHA-256 of the token is stored; the token is shown once, when issued."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True)  # the public part of the token: fw_<id>_<secret>
    workspace_id: str = Field(foreign_key="workspaces.id", index=True)
    user_id: str = Field(foreign_key="users.id", index=True)
    name: str
    role: str
    key_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the key's workspace (every query is scoped to it), role and user."""

    workspace: str
    role: Role
    user: str
    key_id: str

    def allows(self, role: Role) -> bool:
        """Whether this caller's role is ``role`` or above (viewer < editor < admin)."""
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the token, never its hash."""

    id: str
    workspace: str
    name: str
    role: str
    user: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def prefix(self) -> str:
        """How the token starts (enough to recognise it, useless to an attacker)."""
        return f"fw_{self.id}_…"

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and aware(self.expires_at) <= (now or utcnow()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /v1/api-keys`` and ``flowwright api-keys list --json``."""
        def iso(value: datetime | None) -> str | None:
            return aware(value).isoformat() if value is not None else None

        return {"id": self.id, "prefix": self.prefix, "workspace": self.workspace, "name": self.name,
                "role": self.role, "user": self.user, "state": self.state(),
                "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
                "revoked_at": iso(self.revoked_at), "last_used_at": iso(self.last_used_at)}


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued: ``token`` is the only time the secret exists outside the caller's hands."""

    token: str
    info: KeyInfo
