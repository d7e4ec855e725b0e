"""The ``datastore`` connector: small tables of JSON rows kept inside Flowwright's own database.

Every row belongs to a workspace and a table and has a key (given, taken from ``key_field``, or
generated). Nothing leaves Flowwright (``external=False``), so these steps also run in dry runs.

Filter language (``where``), all conditions must hold:

* ``{"status": "open"}`` — field equals the value;
* ``{"total": {"gt": 100, "lte": 500}}`` — comparisons ``eq``, ``ne``, ``gt``, ``gte``, ``lt``,
  ``lte``; ``{"region": {"in": ["EMEA", "APAC"]}}`` and ``nin``; ``{"email": {"exists": true}}``;
* ``{"seen_at": {"older_than_days": 30}}`` / ``newer_than_days`` — the field holds an ISO date-time
  (or a Unix timestamp) older / newer than that many days;
* ``{"older_than_days": 30}`` at the top level is short for ``{"_created_at": {"older_than_days": 30}}``.

Built-in fields usable in filters and ``order_by``: ``_key``, ``_created_at``, ``_updated_at``.
Comparisons between different kinds of value (a number and a string) are simply false; when
sorting, numbers come before strings and rows without the field come last.

Services read: ``ctx.services.datastore`` (a :class:`connectors.table_store.Datastore` on
Flowwright's database, built by the app's composition root).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext
from connectors.errors import ConnectorError, PermanentError
from connectors.table_store import TABLE_PATTERN, Datastore, matches, validate_where

__all__ = ["CONNECTOR", "Datastore", "DeleteInput", "InsertInput", "QueryInput", "UpsertInput", "matches",
           "validate_where"]


def _store(ctx: OperationContext) -> Datastore:
    store = ctx.services.datastore
    if store is None:
        raise ConnectorError("the datastore needs Flowwright's database (no datastore in this context's services)",
                             code="datastore_unavailable", retryable=False)
    return store


# -- operations -----------------------------------------------------------------------------------

class _TableInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(pattern=TABLE_PATTERN, description="Table name: lowercase letters, digits, '_'.")


class _RowsInput(_TableInput):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1000, description="Rows (objects) to write.")
    key_field: str | None = Field(None, description="The field whose value is each row's key.")

    def keyed(self, *, generate: bool) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, row in enumerate(self.rows):
            if self.key_field:
                if row.get(self.key_field) in (None, ""):
                    raise PermanentError(f"rows[{i}] has no {self.key_field!r} (the key_field)", code="datastore_no_key")
                key = str(row[self.key_field])
            elif "_key" in row:
                key = str(row["_key"])
            elif generate:
                key = uuid.uuid4().hex
            else:
                raise PermanentError(f"rows[{i}]: upsert needs key_field or a _key in each row", code="datastore_no_key")
            if key in seen:
                raise PermanentError(f"rows[{i}]: key {key!r} appears twice", code="datastore_duplicate_key")
            if len(key) > 256:
                raise PermanentError(f"rows[{i}]: key longer than 256 characters", code="datastore_bad_key")
            seen.add(key)
            out.append((key, row))
        return out


class InsertInput(_RowsInput):
    pass


class InsertOutput(BaseModel):
    inserted: int
    keys: list[str]


class UpsertInput(_RowsInput):
    merge: bool = Field(False, description="Merge fields into an existing row instead of replacing it.")


class UpsertOutput(BaseModel):
    inserted: int
    updated: int


class _WhereInput(_TableInput):
    where: dict[str, Any] = Field(default_factory=dict, description="Filter (see the connector description).")

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, Any]) -> dict[str, Any]:
        return validate_where(value)


class QueryInput(_WhereInput):
    order_by: str | None = Field(None, description="Field to sort by (also _created_at, _updated_at, _key).")
    descending: bool = False
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


class QueryOutput(BaseModel):
    rows: list[dict[str, Any]] = Field(description="Matching rows, each with _key, _created_at, _updated_at.")
    count: int = Field(description="Rows returned.")
    total: int = Field(description="Rows matching before limit/offset.")


class DeleteInput(_WhereInput):
    all: bool = Field(False, description="Must be true to delete with an empty filter (the whole table).")

    @model_validator(mode="after")
    def _guard(self) -> DeleteInput:
        if not self.where and not self.all:
            raise ValueError("an empty 'where' would delete every row; give a filter, or all: true")
        return self


class DeleteOutput(BaseModel):
    deleted: int


async def _insert(inp: InsertInput, ctx: OperationContext) -> InsertOutput:
    rows = inp.keyed(generate=True)
    keys = await asyncio.to_thread(_store(ctx).insert, ctx.workspace_id, inp.table, rows)
    return InsertOutput(inserted=len(keys), keys=keys)


async def _upsert(inp: UpsertInput, ctx: OperationContext) -> UpsertOutput:
    rows = inp.keyed(generate=False)
    inserted, updated = await asyncio.to_thread(_store(ctx).upsert, ctx.workspace_id, inp.table, rows, merge=inp.merge)
    return UpsertOutput(inserted=inserted, updated=updated)


async def _query(inp: QueryInput, ctx: OperationContext) -> QueryOutput:
    rows, total = await asyncio.to_thread(
        _store(ctx).query, ctx.workspace_id, inp.table, inp.where, order_by=inp.order_by,
        descending=inp.descending, limit=inp.limit, offset=inp.offset)
    return QueryOutput(rows=rows, count=len(rows), total=total)


async def _delete(inp: DeleteInput, ctx: OperationContext) -> DeleteOutput:
    deleted = await asyncio.to_thread(_store(ctx).delete, ctx.workspace_id, inp.table, inp.where)
    return DeleteOutput(deleted=deleted)


def _ops() -> Iterable[Operation]:
    yield Operation("insert", "Add rows to a datastore table; a row whose key exists is an error. Keys come from "
                    "`key_field`, a `_key` field, or are generated.", InsertInput, InsertOutput, _insert,
                    idempotent=False, external=False)
    yield Operation("upsert", "Insert rows or replace (or with merge=true, update) those whose key exists; keys "
                    "come from `key_field` or `_key`.", UpsertInput, UpsertOutput, _upsert,
                    idempotent=True, external=False)
    yield Operation("query", "Read rows matching `where` (field equals, gt/gte/lt/lte/ne, in, older_than_days), "
                    "sorted by `order_by`, at most `limit`.", QueryInput, QueryOutput, _query,
                    idempotent=True, external=False)
    yield Operation("delete", "Delete rows matching `where` (all: true with no filter empties the table).",
                    DeleteInput, DeleteOutput, _delete, idempotent=True, external=False, destructive=True)


CONNECTOR = Connector(
    name="datastore",
    title="Datastore",
    description="Small tables of JSON rows kept inside Flowwright, per workspace: remember what a workflow saw, "
    "deduplicate, keep state between runs.",
    category="data",
    icon="🗃️",
    auth=AuthType.NONE,
    operations=tuple(_ops()),
)
