"""OAuth 2.0 tokens kept fresh: what steps resolve, the refresh job, and ``needs_reauth``.

The tokens live encrypted in the vault (type ``oauth2``). Beside them, the ``oauth_tokens`` table
holds what may be read without decrypting anything: when the access token expires, whether the
credential can refresh, its status (``ok`` or ``needs_reauth``), the last error and a short lease
so that one process at a time refreshes a given credential (providers that rotate refresh tokens
invalidate the old one; two refreshes racing would lose the credential).

* :meth:`TokenManager.resolve` is the engine's credential resolver: an OAuth credential that
  expires within ``skew_s`` is refreshed first, and a step gets ``access_token`` and
  ``token_type`` only — never the refresh token or the client secret. Other credentials pass
  through unchanged.
* :meth:`TokenManager.refresh_due` is the background job: every refreshable credential expiring
  within ``ahead_s`` (default one hour) is refreshed, ``attempts`` times with exponential backoff;
  when the last attempt fails (or the provider refuses the grant) it is marked ``needs_reauth``,
  a warning is logged and ``on_needs_reauth`` is called (insights lists such credentials).
* :meth:`TokenManager.refresh_after_unauthorized` is what the engine calls when a step made with
  an OAuth credential got a 401: one refresh, then the engine retries the call once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import UniqueConstraint, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Field, Session, SQLModel, select

from connectors.contract import AuthType
from connectors.errors import CredentialError
from connectors.oauth import OAuthFlowError, refresh, refreshable
from connectors.ssrf import HttpClients
from connectors.vault import Vault
from engine.errors import NotFoundError

log = logging.getLogger(__name__)

LEASE_S = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


class OAuthTokenRow(SQLModel, table=True):
    __tablename__ = "oauth_tokens"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_oauth_token_name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(index=True)
    name: str
    provider: str
    expires_at: float | None = Field(default=None, index=True)  # Unix seconds; None: does not expire
    refreshable: bool = True
    status: str = Field(default="ok", index=True)  # ok | needs_reauth
    last_error: str | None = None
    failures: int = 0
    refreshed_at: datetime | None = None
    lease_until: float | None = None
    updated_at: datetime = Field(default_factory=_now)


@dataclass(frozen=True)
class TokenState:
    """What may be shown about an OAuth credential (never a token)."""

    workspace_id: str
    name: str
    provider: str
    expires_at: float | None
    refreshable: bool
    status: str
    last_error: str | None
    refreshed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id, "name": self.name, "provider": self.provider,
                "expires_at": datetime.fromtimestamp(self.expires_at, UTC).isoformat() if self.expires_at else None,
                "refreshable": self.refreshable, "status": self.status, "last_error": self.last_error,
                "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None}


def _state(row: OAuthTokenRow) -> TokenState:
    return TokenState(row.workspace_id, row.name, row.provider, row.expires_at, row.refreshable, row.status,
                      row.last_error, row.refreshed_at)


def step_view(credential: Mapping[str, Any]) -> dict[str, Any]:
    """What a step may see of an OAuth credential."""
    return {"access_token": credential["access_token"], "token_type": credential.get("token_type") or "Bearer"}


class TokenManager:
    """Resolves credentials for steps and keeps OAuth tokens fresh (see the module docstring).

    Args:
        vault: where the tokens are sealed.
        http: the client factory (host policy) token requests go through.
        skew_s: refresh on use when the token expires within this many seconds.
        ahead_s: the background job refreshes tokens expiring within this many seconds.
        attempts: tries per refresh before ``needs_reauth``; ``backoff_s`` is the first wait
            (doubled each time).
        on_needs_reauth: called with the credential's state when it needs a person again.
    """

    def __init__(self, vault: Vault, http: HttpClients, *, skew_s: float = 60.0, ahead_s: float = 3600.0,
                 attempts: int = 3, backoff_s: float = 1.0, clock: Callable[[], float] = time.time,
                 on_needs_reauth: Callable[[TokenState], None] | None = None) -> None:
        self.vault = vault
        self.http = http
        self.skew_s = skew_s
        self.ahead_s = ahead_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.clock = clock
        self.on_needs_reauth = on_needs_reauth
        self.engine: Engine = vault.engine
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        SQLModel.metadata.create_all(self.engine, tables=[OAuthTokenRow.__table__])  # type: ignore[attr-defined]

    # -- storing ---------------------------------------------------------------------------------

    def save(self, workspace_id: str, name: str, credential: Mapping[str, Any]) -> TokenState:
        """Seal a credential from an OAuth flow and record its state (``ok``)."""
        self.vault.set(workspace_id, name, AuthType.OAUTH2, dict(credential))
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name) or OAuthTokenRow(workspace_id=workspace_id, name=name,
                                                                          provider="")
            row.provider = str(credential.get("provider") or "oauth2")
            row.expires_at = credential.get("expires_at")
            row.refreshable = refreshable(credential)
            row.status, row.last_error, row.failures, row.lease_until = "ok", None, 0, None
            row.refreshed_at = row.updated_at = _now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return _state(row)

    def _row(self, session: Session, workspace_id: str, name: str) -> OAuthTokenRow | None:
        return session.exec(select(OAuthTokenRow).where(OAuthTokenRow.workspace_id == workspace_id,
                                                        OAuthTokenRow.name == name)).first()

    def state(self, workspace_id: str, name: str) -> TokenState | None:
        """The state of one OAuth credential (``None``: not an OAuth credential)."""
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
            return _state(row) if row is not None else None

    def states(self, workspace_id: str | None = None, *, status: str | None = None) -> list[TokenState]:
        """OAuth credentials' states (of one workspace, or all), optionally of one status."""
        query = select(OAuthTokenRow)
        if workspace_id is not None:
            query = query.where(OAuthTokenRow.workspace_id == workspace_id)
        if status is not None:
            query = query.where(OAuthTokenRow.status == status)
        with Session(self.engine) as session:
            return [_state(r) for r in session.exec(query.order_by(OAuthTokenRow.name)).all()]

    async def refresh_now(self, workspace_id: str, name: str) -> TokenState:
        """Refresh one credential now (a person asked); one try. A provider refusing the grant
        marks it ``needs_reauth``; a passing failure (the provider unreachable) leaves it as it was."""
        state = await asyncio.to_thread(self.state, workspace_id, name)
        if state is None:
            raise NotFoundError(f"no OAuth 2.0 credential {name!r} in workspace {workspace_id}")
        if not state.refreshable:
            raise CredentialError(f"credential {name!r} cannot be refreshed (no refresh token); connect it again",
                                  code="oauth_not_refreshable", credential=name)
        await self._refresh(workspace_id, name, reason="asked", attempts=1)
        fresh = await asyncio.to_thread(self.state, workspace_id, name)
        assert fresh is not None
        return fresh

    def forget(self, workspace_id: str, name: str) -> None:
        """Drop the state of a deleted credential."""
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
            if row is not None:
                session.delete(row)
                session.commit()

    # -- resolving (the engine's credential resolver) ---------------------------------------------

    async def resolve(self, workspace_id: str, name: str) -> dict[str, Any]:
        """A step's view of a credential; OAuth tokens about to expire are refreshed first."""
        secret = await asyncio.to_thread(self.vault.resolve, workspace_id, name)
        state = await asyncio.to_thread(self.state, workspace_id, name)
        if state is None or "access_token" not in secret:
            return secret
        if state.status == "needs_reauth":
            raise CredentialError(f"credential {name!r} needs to be connected again "
                                  f"(flowwright credentials connect {name}): {state.last_error}",
                                  code="credential_needs_reauth", credential=name)
        expires = secret.get("expires_at")
        if state.refreshable and expires is not None and float(expires) - self.clock() <= self.skew_s:
            secret = await self._refresh(workspace_id, name, reason="expiring")
        return step_view(secret)

    async def refresh_after_unauthorized(self, workspace_id: str, name: str) -> dict[str, Any] | None:
        """After a 401: one refresh; the step's new view, or ``None`` when the credential is not a
        refreshable OAuth credential (the engine then lets the 401 stand)."""
        state = await asyncio.to_thread(self.state, workspace_id, name)
        if state is None or not state.refreshable or state.status != "ok":
            return None
        return step_view(await self._refresh(workspace_id, name, reason="401", attempts=1))

    # -- refreshing ------------------------------------------------------------------------------

    async def refresh_due(self) -> list[TokenState]:
        """The background job's pass: refresh every credential expiring within ``ahead_s``."""
        horizon = self.clock() + self.ahead_s

        def due() -> list[tuple[str, str]]:
            with Session(self.engine) as session:
                table = OAuthTokenRow.__table__  # type: ignore[attr-defined]
                rows = session.execute(select(table.c.workspace_id, table.c.name).where(
                    table.c.status == "ok", table.c.refreshable.is_(True), table.c.expires_at.is_not(None),
                    table.c.expires_at <= horizon)).all()
                return [(str(r[0]), str(r[1])) for r in rows]

        done = []
        for workspace_id, name in await asyncio.to_thread(due):
            try:
                await self._refresh(workspace_id, name, reason="ahead of expiry")
            except CredentialError:
                pass  # recorded on the row (needs_reauth); the others still get their turn
            state = await asyncio.to_thread(self.state, workspace_id, name)
            if state is not None:
                done.append(state)
        return done

    async def run(self, poll_s: float) -> None:
        """Refresh due tokens every ``poll_s`` seconds until cancelled (the service runs this)."""
        while True:
            try:
                await self.refresh_due()
            except Exception:  # a broken pass must not stop the job
                log.exception("oauth: the refresh pass failed")
            await asyncio.sleep(poll_s)

    async def _refresh(self, workspace_id: str, name: str, *, reason: str, attempts: int | None = None) -> dict[str, Any]:
        lock = self._locks.setdefault((workspace_id, name), asyncio.Lock())
        async with lock:
            before = await asyncio.to_thread(self.vault.resolve, workspace_id, name)
            if not await asyncio.to_thread(self._lease, workspace_id, name):
                # another process is refreshing it: wait for its result rather than race it
                return await self._await_other(workspace_id, name, before)
            try:
                return await self._refresh_leased(workspace_id, name, before, reason, attempts or self.attempts)
            finally:
                await asyncio.to_thread(self._release, workspace_id, name)

    async def _refresh_leased(self, workspace_id: str, name: str, current: dict[str, Any], reason: str,
                              attempts: int) -> dict[str, Any]:
        error: OAuthFlowError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                fresh = await refresh(current, self.http)
            except OAuthFlowError as exc:
                error = exc
                log.warning("oauth: refreshing %s/%s (%s) failed, attempt %d of %d: %s", workspace_id, name, reason,
                            attempt + 1, attempts, exc.message)
                if exc.permanent:
                    break
                continue
            await asyncio.to_thread(self.save, workspace_id, name, fresh)
            return fresh
        assert error is not None
        if reason in ("401", "asked") and not error.permanent:
            raise error  # one quick try; the job (with its retries) decides about needs_reauth
        state = await asyncio.to_thread(self._mark_needs_reauth, workspace_id, name, error.message)
        log.warning("oauth: credential %s/%s needs to be connected again: %s", workspace_id, name, error.message)
        if self.on_needs_reauth is not None and state is not None:
            self.on_needs_reauth(state)
        raise CredentialError(f"credential {name!r} could not be refreshed and needs to be connected again: "
                              f"{error.message}", code="credential_needs_reauth", credential=name)

    async def _await_other(self, workspace_id: str, name: str, before: dict[str, Any]) -> dict[str, Any]:
        for _ in range(int(LEASE_S / 0.2)):
            await asyncio.sleep(0.2)
            current = await asyncio.to_thread(self.vault.resolve, workspace_id, name)
            if current.get("access_token") != before.get("access_token"):
                return current
            state = await asyncio.to_thread(self.state, workspace_id, name)
            if state is not None and state.status == "needs_reauth":
                raise CredentialError(f"credential {name!r} needs to be connected again: {state.last_error}",
                                      code="credential_needs_reauth", credential=name)
        raise CredentialError(f"credential {name!r}: another process is still refreshing it", code="oauth_busy",
                              retryable=True)

    def _lease(self, workspace_id: str, name: str) -> bool:
        now = self.clock()
        table = OAuthTokenRow.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as session:
            result = session.execute(update(table).where(
                table.c.workspace_id == workspace_id, table.c.name == name,
                (table.c.lease_until == None) | (table.c.lease_until < now))  # noqa: E711 - SQL NULL
                .values(lease_until=now + LEASE_S))
            session.commit()
            assert isinstance(result, CursorResult)
            return bool(result.rowcount)

    def _release(self, workspace_id: str, name: str) -> None:
        table = OAuthTokenRow.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as session:
            session.execute(update(table).where(table.c.workspace_id == workspace_id, table.c.name == name)
                            .values(lease_until=None))
            session.commit()

    def _mark_needs_reauth(self, workspace_id: str, name: str, error: str) -> TokenState | None:
        with Session(self.engine) as session:
            row = self._row(session, workspace_id, name)
            if row is None:
                return None
            row.status, row.last_error, row.failures, row.updated_at = "needs_reauth", error[:500], row.failures + 1, _now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return _state(row)


def needing_reauth(engine: Engine, workspace_id: str) -> list[TokenState]:
    """The workspace's OAuth credentials that need a person to connect them again (insights)."""
    SQLModel.metadata.create_all(engine, tables=[OAuthTokenRow.__table__])  # type: ignore[attr-defined]
    with Session(engine) as session:
        rows = session.exec(select(OAuthTokenRow).where(OAuthTokenRow.workspace_id == workspace_id,
                                                        OAuthTokenRow.status == "needs_reauth")
                            .order_by(OAuthTokenRow.name)).all()
        return [_state(r) for r in rows]


__all__ = ["OAuthTokenRow", "TokenManager", "TokenState", "needing_reauth", "step_view"]
