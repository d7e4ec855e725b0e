from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.datastore import (
    CONNECTOR,
    DeleteInput,
    InsertInput,
    QueryInput,
    UpsertInput,
    matches,
    validate_where,
)
from connectors.errors import ConnectorError, PermanentError
from connectors.services import ConnectorServices
from connectors.table_store import Datastore
from engine.db import make_engine
from tests.connectors.conftest import Ctx

ops = {op.name: op for op in CONNECTOR.operations}


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    yield engine
    engine.dispose()


def ctx(engine, ws: str = "ws1") -> Ctx:
    return Ctx(services=ConnectorServices(datastore=Datastore(engine)), workspace_id=ws)


async def run(name: str, c: Ctx, **config):
    op = ops[name]
    return await op.run(op.input_model.model_validate(config), c)


async def test_insert_query_with_filters(engine) -> None:
    rows = [{"id": 1, "region": "EMEA", "total": 120, "seen": "2026-01-01T00:00:00Z"},
            {"id": 2, "region": "APAC", "total": 80},
            {"id": 3, "region": "EMEA", "total": 12.5},
            {"id": 4, "region": "AMER", "total": "n/a"}]
    out = await run("insert", ctx(engine), table="orders", rows=rows, key_field="id")
    assert out.keys == ["1", "2", "3", "4"]
    q = await run("query", ctx(engine), table="orders", where={"region": "EMEA"}, order_by="total")
    assert [r["id"] for r in q.rows] == [3, 1] and q.total == 2
    q = await run("query", ctx(engine), table="orders", where={"total": {"gte": 80, "lt": 200}})
    assert sorted(r["id"] for r in q.rows) == [1, 2]  # "n/a" is not compared with numbers
    q = await run("query", ctx(engine), table="orders", where={"region": {"in": ["APAC", "AMER"]}, "total": {"ne": 80}})
    assert [r["id"] for r in q.rows] == [4]
    q = await run("query", ctx(engine), table="orders", where={"seen": {"older_than_days": 1}})
    assert [r["id"] for r in q.rows] == [1]
    q = await run("query", ctx(engine), table="orders", order_by="total", descending=True, limit=2, offset=1)
    assert [r["id"] for r in q.rows] == [1, 2] and q.total == 4  # "n/a" sorts after numbers, so first here
    assert q.rows[1]["_key"] == "2" and "_created_at" in q.rows[0]
    # other workspaces see nothing
    assert (await run("query", ctx(engine, "ws2"), table="orders")).total == 0
    with pytest.raises(PermanentError, match="already exists"):
        await run("insert", ctx(engine), table="orders", rows=[{"id": 1}], key_field="id")


async def test_generated_keys_and_upsert_merge(engine) -> None:
    out = await run("insert", ctx(engine), table="notes", rows=[{"t": "a"}, {"t": "b"}])
    assert len(set(out.keys)) == 2
    up = await run("upsert", ctx(engine), table="seen", key_field="email",
                   rows=[{"email": "a@example.com", "n": 1}, {"email": "b@example.com", "n": 1}])
    assert (up.inserted, up.updated) == (2, 0)
    up = await run("upsert", ctx(engine), table="seen", key_field="email", merge=True,
                   rows=[{"email": "a@example.com", "extra": True}])
    assert (up.inserted, up.updated) == (0, 1)
    up = await run("upsert", ctx(engine), table="seen", key_field="email", rows=[{"email": "b@example.com"}])
    rows = {r["email"]: r for r in (await run("query", ctx(engine), table="seen")).rows}
    assert rows["a@example.com"]["n"] == 1 and rows["a@example.com"]["extra"] is True
    assert "n" not in rows["b@example.com"]  # replaced, not merged
    with pytest.raises(PermanentError, match="key_field or a _key"):
        await run("upsert", ctx(engine), table="seen", rows=[{"x": 1}])


async def test_delete_with_older_than_days(engine) -> None:
    await run("insert", ctx(engine), table="events", rows=[{"_key": "old"}, {"_key": "new"}])
    past = (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text("UPDATE datastore_rows SET created_at = :p WHERE key = 'old'"), {"p": past})
    cutoff = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    q = await run("query", ctx(engine), table="events", where={"_created_at": {"lt": cutoff}})
    assert [r["_key"] for r in q.rows] == ["old"]
    q = await run("query", ctx(engine), table="events", order_by="_created_at", descending=True)
    assert [r["_key"] for r in q.rows] == ["new", "old"]
    out = await run("delete", ctx(engine), table="events", where={"older_than_days": 30})
    assert out.deleted == 1
    assert [r["_key"] for r in (await run("query", ctx(engine), table="events")).rows] == ["new"]
    out = await run("delete", ctx(engine), table="events", all=True)
    assert out.deleted == 1


def test_delete_needs_filter_or_all() -> None:
    with pytest.raises(ValueError, match="every row"):
        DeleteInput(table="t")


@pytest.mark.parametrize("where", [{"x": {"between": [1, 2]}}, {"x": {"in": 3}}, {"x": {"older_than_days": "soon"}}])
def test_bad_filters_are_rejected(where) -> None:
    with pytest.raises(ValueError):
        QueryInput(table="t", where=where)


def test_matches_semantics() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    row = {"a": 1, "b": "x", "c": None, "flag": True, "ts": 1_700_000_000}
    assert matches(row, validate_where({"a": 1, "b": "x"}), now)
    assert not matches(row, validate_where({"a": "1"}), now)
    assert not matches(row, validate_where({"flag": 1}), now)  # True is not 1 here
    assert matches(row, validate_where({"missing": {"exists": False}, "c": {"exists": True}}), now)
    assert matches(row, validate_where({"missing": {"ne": 3}, "a": {"nin": [2, 3]}}), now)
    assert matches(row, validate_where({"ts": {"older_than_days": 30}}), now)
    assert not matches(row, validate_where({"ts": {"newer_than_days": 30}}), now)


def test_table_name_and_sizes_checked() -> None:
    with pytest.raises(ValueError):
        InsertInput(table="Bad Name", rows=[{}])
    with pytest.raises(ValueError):
        UpsertInput(table="t", rows=[])


async def test_needs_the_database_service() -> None:
    with pytest.raises(ConnectorError, match="needs Flowwright.s database"):
        await run("query", Ctx(), table="t")


def test_flags() -> None:
    assert all(not op.external for op in CONNECTOR.operations)
    assert [op.name for op in CONNECTOR.operations if op.destructive] == ["delete"]


async def test_odd_field_names_and_typed_equality(engine) -> None:
    rows = [{"k": "1", 'we"ird.name': "x", "n": 5, "s": "5", "flag": True},
            {"k": "2", 'we"ird.name': "y", "n": "5", "s": 5, "flag": 1}]
    await run("insert", ctx(engine), table="odd", rows=rows, key_field="k")
    q = await run("query", ctx(engine), table="odd", where={'we"ird.name': "y"})
    assert [r["k"] for r in q.rows] == ["2"]
    assert [r["k"] for r in (await run("query", ctx(engine), table="odd", where={"s": "5"})).rows] == ["1"]
    assert [r["k"] for r in (await run("query", ctx(engine), table="odd", where={"n": "5"})).rows] == ["2"]
    assert [r["k"] for r in (await run("query", ctx(engine), table="odd", where={"n": 5})).rows] == ["1"]
    assert [r["k"] for r in (await run("query", ctx(engine), table="odd", where={"flag": True})).rows] == ["1"]
    q = await run("query", ctx(engine), table="odd", where={"_key": {"in": ["2", "3"]}, "s": {"in": [5]}})
    assert [r["k"] for r in q.rows] == ["2"]


@pytest.mark.postgres
@pytest.mark.slow
async def test_datastore_on_postgres(postgres_url: str) -> None:
    from sqlalchemy import create_engine

    pg = create_engine(postgres_url)
    try:
        with pg.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS datastore_rows"))
        c = ctx(pg)
        await run("insert", c, table="seen", rows=[{"email": "a@example.com", "n": 1}, {"email": "b@example.com", "n": "1"},
                                                   {"email": "c@example.com", "n": 2}], key_field="email")
        q = await run("query", c, table="seen", where={"email": {"in": ["a@example.com", "c@example.com"]}, "n": {"gte": 1}},
                      order_by="n", descending=True)
        assert [r["email"] for r in q.rows] == ["c@example.com", "a@example.com"]
        assert (await run("query", c, table="seen", where={"n": "1"})).rows[0]["email"] == "b@example.com"
        up = await run("upsert", c, table="seen", key_field="email", merge=True, rows=[{"email": "a@example.com", "x": 1}])
        assert (up.inserted, up.updated) == (0, 1)
        assert (await run("delete", c, table="seen", where={"email": "b@example.com"})).deleted == 1
        assert (await run("query", c, table="seen")).total == 2
    finally:
        pg.dispose()
