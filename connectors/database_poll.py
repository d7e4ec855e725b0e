"""The ``database`` connector's polling trigger ``new_rows``: rows whose cursor column is greater
than the last one seen, in that column's order.

The cursor is the largest value of ``cursor_column`` handled so far; the column must increase
strictly with every new row (an auto-increment id, a sequence). A timestamp that two rows can
share, or a value set after the row was first written, can skip rows. The query is built from
vetted identifiers (quoted by SQLAlchemy) and the cursor goes in as a bound parameter; it runs
on the same read-only, host-policed, time-limited connection as ``database.query``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, func, literal_column, select, table
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql import column
from sqlalchemy.types import NullType

from connectors.contract import OperationContext, PolledItem, PollTrigger
from connectors.errors import CredentialError

if TYPE_CHECKING:
    from connectors.database import Target

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class NewRowsInput(BaseModel):
    """Which table to watch and by which column."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$",
                       description="The table (or schema.table) to watch.")
    cursor_column: str = Field(pattern=IDENTIFIER,
                               description="A column that increases strictly with every new row (e.g. an id).")
    columns: list[Annotated[str, Field(pattern=IDENTIFIER)]] | None = Field(
        None, min_length=1, description="Columns to return (default all).")
    timeout_s: float = Field(30.0, gt=0, le=600)


def _table(inp: NewRowsInput) -> Any:
    schema, _, name = inp.table.rpartition(".")
    names = {inp.cursor_column, *(inp.columns or [])}
    return table(name, *(column(c) for c in sorted(names)), schema=schema or None)


def _run(target: Target, inp: NewRowsInput, stmt: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    from connectors import database as db  # the connector module imports this one

    engine = db._engine(target, read_only=True, timeout_s=inp.timeout_s)
    try:
        with db._connect(engine, target, "database.new_rows") as conn:
            result = conn.execute(stmt, params)
            names = list(result.keys())
            rows = [{c: db._jsonable(v) for c, v in zip(names, row, strict=False)} for row in result.fetchall()]
            conn.rollback()
    except SQLAlchemyError as exc:
        raise db._classify(exc, "database.new_rows") from None
    finally:
        engine.dispose()
    return rows


async def _execute(inp: NewRowsInput, ctx: OperationContext, stmt: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    from connectors import database as db

    target = await db._target(db._url(ctx.credential), ctx.services, read_only=True)
    try:
        return await asyncio.to_thread(_run, target, inp, stmt, params)
    except NoSuchModuleError as exc:
        raise CredentialError(f"no driver for this database URL: {exc}", code="database_unsupported") from None


async def _arm(inp: NewRowsInput, ctx: OperationContext) -> Any:
    """The cursor of now: the column's current largest value (None for an empty table)."""
    tbl = _table(inp)
    rows = await _execute(inp, ctx, select(func.max(tbl.c[inp.cursor_column]).label("cursor")), {})
    return rows[0]["cursor"] if rows else None


async def _poll(inp: NewRowsInput, ctx: OperationContext, cursor: Any, max_items: int) -> list[PolledItem]:
    """Rows with ``cursor_column`` greater than ``cursor`` (every row when it is None), oldest first."""
    tbl = _table(inp)
    key = tbl.c[inp.cursor_column]
    chosen = [tbl.c[c] for c in inp.columns] if inp.columns else [literal_column("*")]
    stmt = select(*chosen).select_from(tbl)
    params: dict[str, Any] = {}
    if cursor is not None:
        # untyped: the driver sends the value as it is and the server compares it as the column's type
        stmt = stmt.where(key > bindparam("cursor", type_=NullType()))
        params["cursor"] = cursor
    stmt = stmt.order_by(key).limit(max_items)
    rows = await _execute(inp, ctx, stmt, params)
    items = []
    for row in rows:
        value = row.get(inp.cursor_column)
        if value is None:  # a row whose cursor is NULL cannot be ordered: it never fires
            continue
        items.append(PolledItem(key=f"{inp.cursor_column}={json.dumps(value, sort_keys=True)}", value=row, cursor=value))
    return items


NEW_ROWS = PollTrigger(
    "new_rows",
    "Start a run for every new row of a table: rows whose `cursor_column` (an id or sequence that "
    "increases with every row) is greater than the last one seen. The run's input is the row.",
    NewRowsInput, _poll, _arm,
)
