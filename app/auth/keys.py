"""Workspaces, users and API keys in Flowwright's database.

A token is ``fw_<id>_<secret>``: ``id`` (12 hex characters) finds the row, and the SHA-256 of the
whole token is compared with the stored hash in constant time (``hmac.compare_digest``). The secret
has 256 bits of entropy, so a fast hash is enough (there is nothing to brute-force); the token
itself is never stored and is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Table, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from app.auth.errors import AuthInputError, UnauthenticatedError
from app.auth.models import (
    DEFAULT_WORKSPACE,
    ROLES,
    WORKSPACE_RE,
    ApiKeyRow,
    Caller,
    IssuedKey,
    KeyInfo,
    Role,
    UserRow,
    WorkspaceRow,
    aware,
    utcnow,
)
from engine.db import add_missing_columns
from engine.errors import ConflictError, NotFoundError

TOKEN_RE = re.compile(r"^fw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
ADMIN_KEY_FILE = "admin.key"
BOOTSTRAP_USER = "admin"
_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LAST_USED_EVERY = timedelta(minutes=1)
# Compared against when the key id is unknown, so an unknown id costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"fw_unknown").hexdigest()


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_workspace_name(name: str) -> str:
    """``name`` if it is a valid workspace name (letters, digits, ``_ . -``; up to 64)."""
    if not WORKSPACE_RE.match(name):
        raise AuthInputError(f"invalid workspace name {name!r}: letters, digits, '_', '.', '-' (up to 64)",
                             field="workspace")
    return name


def check_role(role: str) -> Role:
    """``role`` if it is one of viewer, editor, admin."""
    for known in ROLES:
        if role == known:
            return known
    raise AuthInputError(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")


def parse_expiry(text: str, *, now: datetime | None = None) -> datetime:
    """When a key given ``--expires TEXT`` expires: a duration (``30m``, ``12h``, ``90d``, ``2w``)
    from now, or an ISO date/datetime (a date means its midnight UTC)."""
    now = now or utcnow()
    value = text.strip()
    duration = _DURATION.match(value)
    if duration:
        amount = int(duration.group(1))
        if amount <= 0:
            raise AuthInputError(f"--expires {text!r}: the duration must be positive", field="expires")
        return now + timedelta(**{_UNITS[duration.group(2)]: amount})
    try:
        moment = aware(datetime.fromisoformat(value))
    except ValueError:
        raise AuthInputError(f"--expires {text!r}: give a duration (30m, 12h, 90d, 2w) or an ISO date "
                             "(2027-01-31 or 2027-01-31T12:00:00+00:00)", field="expires") from None
    if moment <= now:
        raise AuthInputError(f"--expires {text!r} is in the past", field="expires")
    return moment


class KeyStore:
    """Workspaces, users and keys; :meth:`authenticate` turns a bearer token into a :class:`Caller`."""

    TABLES: tuple[Table, ...] = (WorkspaceRow.__table__, UserRow.__table__, ApiKeyRow.__table__)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))
        for table in self.TABLES:
            add_missing_columns(engine, table)
        self._used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    # -- workspaces ---------------------------------------------------------------------------------

    def create_workspace(self, name: str) -> str:
        """Create a workspace (409 if it exists)."""
        check_workspace_name(name)
        with Session(self.engine) as session:
            if session.get(WorkspaceRow, name) is not None:
                raise ConflictError(f"workspace {name} already exists", field="workspace")
            session.add(WorkspaceRow(id=name))
            try:
                session.commit()
            except IntegrityError:
                raise ConflictError(f"workspace {name} already exists", field="workspace") from None
        return name

    def ensure_workspace(self, name: str) -> str:
        """The workspace, created if it does not exist yet."""
        check_workspace_name(name)
        with Session(self.engine) as session:
            if session.get(WorkspaceRow, name) is None:
                session.add(WorkspaceRow(id=name))
                try:
                    session.commit()
                except IntegrityError:  # created meanwhile by another process
                    session.rollback()
        return name

    def workspaces(self) -> list[dict[str, object]]:
        """Every workspace with its number of active keys, by name."""
        now = utcnow()
        with Session(self.engine) as session:
            rows = session.exec(select(WorkspaceRow).order_by(col(WorkspaceRow.id))).all()
            keys = session.exec(select(ApiKeyRow).where(col(ApiKeyRow.revoked_at).is_(None))).all()
        active: dict[str, int] = {}
        for key in keys:
            if key.expires_at is None or aware(key.expires_at) > now:
                active[key.workspace_id] = active.get(key.workspace_id, 0) + 1
        return [{"name": r.id, "created_at": aware(r.created_at).isoformat(), "active_keys": active.get(r.id, 0)}
                for r in rows]

    def _workspace(self, session: Session, name: str) -> WorkspaceRow:
        row = session.get(WorkspaceRow, name)
        if row is None:
            raise NotFoundError(f"no workspace {name}; create it with `flowwright workspaces create {name}`",
                                field="workspace")
        return row

    # -- keys ---------------------------------------------------------------------------------------

    def issue(self, workspace: str, role: str, *, name: str | None = None, user: str | None = None,
              expires_at: datetime | None = None) -> IssuedKey:
        """A new key of ``workspace`` (which must exist) for ``user`` (created on first use; default:
        the key's name, else its role). The returned token is the only copy."""
        role = check_role(role)
        if expires_at is not None and aware(expires_at) <= utcnow():
            raise AuthInputError("the expiry is in the past", field="expires")
        name = (name or f"{role} key").strip()
        user = (user or (name if name != f"{role} key" else role)).strip()
        if not name or len(name) > 100 or not user or len(user) > 100:
            raise AuthInputError("a key's name and user are 1 to 100 characters", field="name")
        key_id = secrets.token_hex(6)
        token = f"fw_{key_id}_{secrets.token_urlsafe(32)}"
        with Session(self.engine) as session:
            self._workspace(session, workspace)
            user_row = session.exec(select(UserRow).where(UserRow.workspace_id == workspace,
                                                          UserRow.name == user)).first()
            if user_row is None:
                user_row = UserRow(id=f"usr_{uuid.uuid4().hex[:20]}", workspace_id=workspace, name=user)
                session.add(user_row)
                session.flush()
            row = ApiKeyRow(id=key_id, workspace_id=workspace, user_id=user_row.id, name=name, role=role,
                            key_hash=hash_token(token), expires_at=expires_at)
            session.add(row)
            session.commit()
            session.refresh(row)
            return IssuedKey(token=token, info=self._info(row, user))

    def list(self, workspace: str | None = None, *, include_revoked: bool = True) -> list[KeyInfo]:
        """The keys (of ``workspace``, or of every workspace), oldest first."""
        with Session(self.engine) as session:
            query = select(ApiKeyRow, UserRow).where(ApiKeyRow.user_id == UserRow.id)
            if workspace is not None:
                query = query.where(ApiKeyRow.workspace_id == workspace)
            if not include_revoked:
                query = query.where(col(ApiKeyRow.revoked_at).is_(None))
            rows = session.exec(query.order_by(col(ApiKeyRow.created_at), col(ApiKeyRow.id))).all()
        return [self._info(key, user.name) for key, user in rows]

    def revoke(self, key_id: str, *, workspace: str | None = None) -> KeyInfo:
        """Revoke a key by its id (or its token): it stops working at once (404 outside ``workspace``)."""
        match = TOKEN_RE.match(key_id)
        key_id = match.group(1) if match else key_id.removeprefix("fw_").rstrip("_…")
        with Session(self.engine) as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or (workspace is not None and row.workspace_id != workspace):
                raise NotFoundError(f"no API key {key_id}" + (f" in workspace {workspace}" if workspace else ""),
                                    field="key")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)
                session.commit()
                session.refresh(row)
            user = session.get(UserRow, row.user_id)
            return self._info(row, user.name if user else "?")

    def count(self) -> int:
        """How many keys exist, revoked ones included."""
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(ApiKeyRow)).one())

    def authenticate(self, token: str) -> Caller:
        """The caller a bearer token stands for (401 when it is malformed, unknown, revoked or expired)."""
        match = TOKEN_RE.match(token)
        if match is None:
            raise UnauthenticatedError("the API key is malformed; it looks like fw_<12 hex>_<43 characters>")
        digest = hash_token(token)
        with Session(self.engine) as session:
            row = session.get(ApiKeyRow, match.group(1))
            if row is None or not hmac.compare_digest(digest, row.key_hash):
                hmac.compare_digest(digest, _DUMMY_HASH)
                raise UnauthenticatedError("the API key is not valid")
            now = utcnow()
            if row.revoked_at is not None:
                raise UnauthenticatedError("the API key was revoked", key=row.id)
            if row.expires_at is not None and aware(row.expires_at) <= now:
                raise UnauthenticatedError("the API key has expired", key=row.id)
            user = session.get(UserRow, row.user_id)
            if self._due(row.id, now):
                row.last_used_at = now
                session.add(row)
                session.commit()
            return Caller(workspace=row.workspace_id, role=check_role(row.role),
                          user=user.name if user else row.name, key_id=row.id)

    def _due(self, key_id: str, now: datetime) -> bool:
        # last_used_at is written at most once a minute per key, not on every request
        with self._lock:
            last = self._used.get(key_id)
            if last is not None and now - last < _LAST_USED_EVERY:
                return False
            self._used[key_id] = now
            return True

    def bootstrap(self, data_dir: Path) -> IssuedKey | None:
        """On first start (no key at all): the ``default`` workspace and an admin key, written to
        ``<data dir>/admin.key`` (0600). ``None`` when keys exist already."""
        if self.count():
            return None
        self.ensure_workspace(DEFAULT_WORKSPACE)
        issued = self.issue(DEFAULT_WORKSPACE, "admin", name="first admin key", user=BOOTSTRAP_USER)
        write_secret_file(data_dir / ADMIN_KEY_FILE, issued.token)
        return issued

    @staticmethod
    def _info(row: ApiKeyRow, user: str) -> KeyInfo:
        return KeyInfo(id=row.id, workspace=row.workspace_id, name=row.name, role=row.role, user=user,
                       created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                       last_used_at=row.last_used_at)


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600, replacing an older file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)

