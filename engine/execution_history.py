"""Execution history: the filters, the order and the cursor of a list of runs.

A page is one keyset query: ``created_at`` (or ``duration_ms``, a run without one counting as -1)
and then the id break ties, in the asked direction, so a cursor names the last row seen and the
next page starts right after it — rows written meanwhile neither repeat nor shift the page, as
they do with ``offset``. The cursor is opaque to clients (base64url JSON) and tied to its order:
a cursor made for one order is refused for another.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, and_, func, literal, or_, select
from sqlalchemy.engine import Engine

from engine.errors import QueryInvalidError
from engine.execution_store import ExecutionRow

_EX = ExecutionRow.__table__  # type: ignore[attr-defined]

OrderBy = Literal["created_at", "duration_ms"]
Direction = Literal["desc", "asc"]
ORDERS: tuple[str, ...] = ("created_at", "duration_ms")
DIRECTIONS: tuple[str, ...] = ("desc", "asc")
MAX_LIMIT = 500
_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class HistoryQuery:
    """What to list. Every filter is optional; ``text`` matches (case-insensitively, as a plain
    substring) the workflow's name, the execution id or its error."""

    workspace_id: str | None = None
    statuses: tuple[str, ...] = ()
    workflow_id: str | None = None
    trigger: str | None = None
    user_id: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    text: str | None = None
    order_by: OrderBy = "created_at"
    direction: Direction = "desc"
    limit: int = 50
    offset: int = 0
    cursor: str | None = None


@dataclass
class HistoryPage:
    """One page of executions and the cursor of the next one (None on the last page)."""

    rows: list[ExecutionRow] = field(default_factory=list)
    next_cursor: str | None = None


def parse_moment(value: str, name: str, *, clock: datetime | None = None) -> datetime:
    """An ISO 8601 date or date-time (UTC when it names no offset), or a span back from now:
    ``90s``, ``15m``, ``24h``, ``7d``, ``2w``. ``QueryInvalidError`` naming ``name`` otherwise."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        span = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return (clock or datetime.now(UTC)) - span
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise QueryInvalidError(f"{name} must be an ISO 8601 date or time (2026-01-31, 2026-01-31T09:00:00Z) "
                                f"or a span back from now (24h, 7d), got {value!r}", field=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def page(engine: Engine, query: HistoryQuery) -> HistoryPage:
    """Run the query: at most ``limit`` rows after the cursor (or ``offset``), and the next cursor."""
    _check(query)
    sqlite = engine.dialect.name == "sqlite"
    key = _key(query.order_by)
    stmt = select(_EX).where(*_filters(query, sqlite))
    if query.cursor is not None:
        value, last_id = _decode_cursor(query)
        if isinstance(value, datetime):
            value = _moment(value, sqlite)
        after = key < value if query.direction == "desc" else key > value
        tie = _EX.c.id < last_id if query.direction == "desc" else _EX.c.id > last_id
        stmt = stmt.where(or_(after, and_(key == value, tie)))
    order = (key.desc(), _EX.c.id.desc()) if query.direction == "desc" else (key.asc(), _EX.c.id.asc())
    stmt = stmt.order_by(*order).limit(query.limit + 1).offset(query.offset)
    with engine.connect() as conn:
        rows = [ExecutionRow(**r) for r in conn.execute(stmt).mappings()]
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return HistoryPage(rows, _encode_cursor(query, rows[-1]) if more and rows else None)


def _check(query: HistoryQuery) -> None:
    if query.order_by not in ORDERS:
        raise QueryInvalidError(f"order_by must be one of {', '.join(ORDERS)}, got {query.order_by!r}",
                                field="order_by")
    if query.direction not in DIRECTIONS:
        raise QueryInvalidError(f"direction must be desc or asc, got {query.direction!r}", field="direction")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise QueryInvalidError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}", field="limit")
    if query.offset < 0:
        raise QueryInvalidError(f"offset must not be negative, got {query.offset}", field="offset")
    if query.cursor is not None and query.offset:
        raise QueryInvalidError("give either cursor or offset, not both", field="cursor")
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise QueryInvalidError("since must be before until", field="since")


def _key(order_by: str) -> ColumnElement[Any]:
    if order_by == "duration_ms":
        return func.coalesce(_EX.c.duration_ms, -1)
    column: ColumnElement[Any] = _EX.c.created_at
    return column


def _filters(query: HistoryQuery, sqlite: bool) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.workspace_id is not None:
        where.append(_EX.c.workspace_id == query.workspace_id)
    if query.statuses:
        where.append(_EX.c.status.in_(list(query.statuses)))
    for column, value in ((_EX.c.workflow_id, query.workflow_id), (_EX.c.trigger, query.trigger),
                          (_EX.c.user_id, query.user_id)):
        if value is not None:
            where.append(column == value)
    if query.since is not None:
        where.append(_EX.c.created_at >= _moment(query.since, sqlite))
    if query.until is not None:
        where.append(_EX.c.created_at < _moment(query.until, sqlite))
    if query.text:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", query.text.lower()) + "%"
        where.append(or_(*(func.lower(column).like(pattern, escape="\\")
                           for column in (_EX.c.workflow_name, _EX.c.id, _EX.c.error))))
    return where


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def moment_param(moment: datetime, sqlite: bool) -> Any:
    """A time to compare with ``executions.created_at``. On SQLite the column holds text the way
    the group-commit writer's driver writes it (``2026-03-02 09:01:00.250000+00:00``, no fraction
    when it is zero), which sorts by time; a datetime bound through SQLAlchemy would be written
    another way (``…09:01:00.000000``) and compare as text wrongly at whole seconds, so the bound
    value is that same text."""
    if sqlite:
        return literal(_utc(moment).isoformat(" "), String)
    return _utc(moment)


_moment = moment_param


def _cursor_value(query: HistoryQuery, row: ExecutionRow) -> Any:
    if query.order_by == "duration_ms":
        return -1 if row.duration_ms is None else int(row.duration_ms)
    return _utc(row.created_at).isoformat()


def _encode_cursor(query: HistoryQuery, row: ExecutionRow) -> str:
    payload = {"o": query.order_by, "d": query.direction, "v": _cursor_value(query, row), "id": row.id}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(query: HistoryQuery) -> tuple[Any, str]:
    assert query.cursor is not None
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        payload = json.loads(raw)
        value, last_id = payload["v"], payload["id"]
        if not isinstance(last_id, str) or (payload["o"], payload["d"]) != (query.order_by, query.direction):
            raise ValueError("another order")
        if query.order_by == "created_at":
            value = _utc(datetime.fromisoformat(value))
        elif not isinstance(value, int):
            raise ValueError("not a duration")
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise QueryInvalidError("cursor is not one this list gave out for this order_by and direction "
                                "(take next_cursor from the previous page, same order)", field="cursor") from None
    return value, last_id


def statuses_from(values: Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    """Statuses from repeated and/or comma-separated values, each checked against ``known``."""
    found: list[str] = []
    for value in values or ():
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in known:
                raise QueryInvalidError(f"unknown status {name!r}; one of {', '.join(known)}", field="status")
            found.append(name)
    return tuple(dict.fromkeys(found))
