"""The tables behind the ``datastore`` connector: JSON rows per (workspace, table, key) in
Flowwright's own database, and the filter language (``where``) the operations accept.

See :mod:`connectors.datastore` for the filter language and the operations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, cast, insert, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col, delete, select

from connectors.errors import ConnectorError, PermanentError

TABLE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_SAFE_FIELD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ -]{0,127}$")  # names a JSON path can carry verbatim
MAX_ROW_BYTES = 256 * 1024
BUILTIN_FIELDS = ("_key", "_created_at", "_updated_at")
OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists", "older_than_days", "newer_than_days"}


def _now() -> datetime:
    return datetime.now(UTC)


class DatastoreRow(SQLModel, table=True):
    __tablename__ = "datastore_rows"
    __table_args__ = (UniqueConstraint("workspace_id", "table_name", "key", name="uq_datastore_key"),)

    id: int | None = SQLField(default=None, primary_key=True)
    workspace_id: str = SQLField(index=True)
    table_name: str = SQLField(index=True)
    key: str
    data: str = SQLField(sa_column=Column(Text, nullable=False))
    created_at: datetime = SQLField(default_factory=_now, index=True)
    updated_at: datetime = SQLField(default_factory=_now)


# -- the filter language --------------------------------------------------------------------------

def validate_where(where: dict[str, Any]) -> dict[str, Any]:
    """Check a filter's shape (unknown operators, wrong operand types) before running it."""
    out: dict[str, Any] = {}
    for field, cond in where.items():
        if field == "older_than_days" and not isinstance(cond, dict):
            field, cond = "_created_at", {"older_than_days": cond}
        if isinstance(cond, dict):
            unknown = set(cond) - OPERATORS
            if unknown:
                raise ValueError(f"where.{field}: unknown operator(s) {sorted(unknown)}; use {sorted(OPERATORS)}")
            for op, operand in cond.items():
                if op in ("in", "nin") and not isinstance(operand, list):
                    raise ValueError(f"where.{field}.{op}: needs a list")
                if op in ("older_than_days", "newer_than_days") and (
                        isinstance(operand, bool) or not isinstance(operand, int | float) or operand < 0):
                    raise ValueError(f"where.{field}.{op}: needs a number of days >= 0")
        out[field] = cond
    return out


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _comparable(a: Any, b: Any) -> bool:
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, numeric) and isinstance(b, numeric)) or type(a) is type(b)


def _test(value: Any, present: bool, op: str, operand: Any, now: datetime) -> bool:
    if isinstance(value, datetime) and op not in ("exists", "older_than_days", "newer_than_days"):
        # built-in date fields compare with ISO strings (or timestamps) as dates
        operand = [_as_datetime(o) for o in operand] if op in ("in", "nin") else _as_datetime(operand)
    if op == "exists":
        return present == bool(operand)
    if op == "eq":
        return present and value == operand and _comparable(value, operand)
    if op == "ne":
        return not (present and value == operand and _comparable(value, operand))
    if op == "in":
        return present and any(value == o and _comparable(value, o) for o in operand)
    if op == "nin":
        return not (present and any(value == o and _comparable(value, o) for o in operand))
    if op in ("older_than_days", "newer_than_days"):
        when = _as_datetime(value) if present else None
        if when is None:
            return False
        cutoff = now - timedelta(days=float(operand))
        return when < cutoff if op == "older_than_days" else when >= cutoff
    if not present or value is None or not _comparable(value, operand):
        return False
    try:
        return bool({"gt": value > operand, "gte": value >= operand,
                     "lt": value < operand, "lte": value <= operand}[op])
    except TypeError:
        return False


def matches(row: dict[str, Any], where: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether a row (with its built-in fields) satisfies a validated filter."""
    now = now or _now()
    for field, cond in where.items():
        present = field in row
        value = row.get(field)
        if isinstance(cond, dict):
            if not all(_test(value, present, op, operand, now) for op, operand in cond.items()):
                return False
        elif not _test(value, present, "eq", cond, now):
            return False
    return True


# -- the store ------------------------------------------------------------------------------------

def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _candidate(row: Any) -> dict[str, Any]:
    """A stored row as filters see it: its data plus the built-in fields (dates as datetimes)."""
    return {**json.loads(row.data), "_key": row.key, "_created_at": _aware(row.created_at),
            "_updated_at": _aware(row.updated_at)}


def _public(candidate: dict[str, Any]) -> dict[str, Any]:
    """A row as operations return it (built-in dates as ISO strings)."""
    return {**candidate, "_created_at": candidate["_created_at"].isoformat(),
            "_updated_at": candidate["_updated_at"].isoformat()}


def _dump(data: dict[str, Any]) -> str:
    clean = {k: v for k, v in data.items() if k not in BUILTIN_FIELDS}
    text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text.encode()) > MAX_ROW_BYTES:
        raise PermanentError(f"a datastore row is larger than {MAX_ROW_BYTES} bytes", code="datastore_row_too_large")
    return text


class Datastore:
    """JSON rows per (workspace, table, key) in Flowwright's database. Blocking; call in a thread."""

    TABLES = (DatastoreRow.__table__,)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self._clock = clock
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))

    def insert(self, workspace_id: str, table: str, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
        stamp = self._clock()
        values = [{"workspace_id": workspace_id, "table_name": table, "key": key, "data": _dump(data),
                   "created_at": stamp, "updated_at": stamp} for key, data in rows]
        try:
            with self.engine.begin() as conn:  # one executemany, not one ORM object per row
                conn.execute(insert(DatastoreRow.__table__), values)  # type: ignore[attr-defined]
        except IntegrityError:
            raise PermanentError(f"datastore.insert: a row with one of these keys already exists in {table!r}; "
                                 "use upsert to replace it", code="datastore_conflict") from None
        return [k for k, _ in rows]

    def upsert(self, workspace_id: str, table: str, rows: list[tuple[str, dict[str, Any]]],
               *, merge: bool) -> tuple[int, int]:
        for attempt in range(2):  # a concurrent insert of the same key: go again, now as an update
            try:
                return self._upsert_once(workspace_id, table, rows, merge=merge)
            except IntegrityError:
                if attempt:
                    raise ConnectorError("datastore.upsert: concurrent writes to the same key",
                                         code="datastore_conflict") from None
        raise AssertionError("unreachable")

    def _upsert_once(self, workspace_id: str, table: str, rows: list[tuple[str, dict[str, Any]]],
                     *, merge: bool) -> tuple[int, int]:
        inserted = updated = 0
        with Session(self.engine) as session:
            keys = [k for k, _ in rows]
            existing = {r.key: r for r in session.exec(select(DatastoreRow).where(
                DatastoreRow.workspace_id == workspace_id, DatastoreRow.table_name == table,
                col(DatastoreRow.key).in_(keys)))}
            for key, data in rows:
                row = existing.get(key)
                if row is None:
                    row = DatastoreRow(workspace_id=workspace_id, table_name=table, key=key, data=_dump(data))
                    existing[key] = row
                    inserted += 1
                else:
                    row.data = _dump({**json.loads(row.data), **data} if merge else data)
                    row.updated_at = self._clock()
                    updated += 1
                session.add(row)
            session.commit()
        return inserted, updated

    def _pushdown(self, where: dict[str, Any]) -> list[Any]:
        """SQL conditions that keep a superset of the matching rows (string equality and ``in`` on
        data fields and ``_key``), so lookups such as deduplication do not parse every row in
        Python; :func:`matches` still decides on what they keep."""
        conditions: list[Any] = []
        data = DatastoreRow.__table__.c.data  # type: ignore[attr-defined]
        postgres = self.engine.dialect.name == "postgresql"
        for field, cond in where.items():
            for op, operand in (cond.items() if isinstance(cond, dict) else [("eq", cond)]):
                strings = [operand] if op == "eq" else operand if op == "in" else None
                if (not isinstance(strings, list) or not strings or len(strings) > 500
                        or not all(isinstance(o, str) for o in strings)):
                    continue
                if field == "_key":
                    conditions.append(col(DatastoreRow.key).in_(strings))
                elif field not in BUILTIN_FIELDS and _SAFE_FIELD.match(field):
                    value = (cast(data, JSONB)[field].astext if postgres
                             else type_coerce(data, JSON)[field].as_string())
                    conditions.append(value.in_(strings))
        return conditions

    def _scan(self, session: Session, workspace_id: str, table: str, where: dict[str, Any]) -> Iterator[Any]:
        # Plain column tuples, not ORM objects: a scan is the hot path of query and delete.
        t = DatastoreRow
        stmt = select(t.id, t.key, t.data, t.created_at, t.updated_at).where(  # type: ignore[call-overload]
            t.workspace_id == workspace_id, t.table_name == table, *self._pushdown(where)).order_by(col(t.id))
        yield from session.exec(stmt.execution_options(yield_per=1000))

    def query(self, workspace_id: str, table: str, where: dict[str, Any], *, order_by: str | None,
              descending: bool, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        now = self._clock()
        with Session(self.engine) as session:
            found = [c for c in (_candidate(r) for r in self._scan(session, workspace_id, table, where))
                     if matches(c, where, now)]
        if order_by:
            present = [r for r in found if r.get(order_by) is not None]
            missing = [r for r in found if r.get(order_by) is None]
            try:
                present.sort(key=lambda r: (isinstance(r[order_by], str), r[order_by]), reverse=descending)
            except TypeError:
                present.sort(key=lambda r: str(r[order_by]), reverse=descending)
            found = present + missing
        return [_public(c) for c in found[offset:offset + limit]], len(found)

    def delete(self, workspace_id: str, table: str, where: dict[str, Any]) -> int:
        now = self._clock()
        with Session(self.engine) as session:
            ids = [r.id for r in self._scan(session, workspace_id, table, where) if matches(_candidate(r), where, now)]
            for start in range(0, len(ids), 500):
                session.exec(delete(DatastoreRow).where(col(DatastoreRow.id).in_(ids[start:start + 500])))
            session.commit()
        return len(ids)

    def tables(self, workspace_id: str) -> list[str]:
        with Session(self.engine) as session:
            names = session.exec(select(DatastoreRow.table_name).where(
                DatastoreRow.workspace_id == workspace_id).distinct()).all()
        return sorted(names)
