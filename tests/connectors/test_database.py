import sqlite3
from pathlib import Path

import pytest

from connectors.database import CONNECTOR, ExecuteInput, QueryInput
from connectors.errors import ConnectorError, CredentialError, PermanentError
from tests.connectors.conftest import Ctx

query = CONNECTOR.operation("query")
execute = CONNECTOR.operation("execute")
assert query is not None and execute is not None


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, total REAL, placed TEXT)")
        conn.executemany("INSERT INTO orders (region, total, placed) VALUES (?, ?, ?)",
                         [("EMEA", 120.5, "2026-01-01"), ("APAC", 80.0, "2026-01-02"), ("EMEA", 12.0, "2026-01-03")])
    return path


def ro(path: Path) -> Ctx:
    return Ctx(credential={"url": f"sqlite:///{path}"})


def rw(path: Path) -> Ctx:
    return Ctx(credential={"url": f"sqlite:///{path}", "allow_writes": True})


async def test_query_with_bound_params_and_row_cap(shop: Path) -> None:
    out = await query.run(QueryInput(sql="SELECT region, total FROM orders WHERE region = :r ORDER BY id",
                                     params={"r": "EMEA"}), ro(shop))
    assert out.columns == ["region", "total"]
    assert out.rows == [{"region": "EMEA", "total": 120.5}, {"region": "EMEA", "total": 12.0}]
    assert not out.truncated
    out = await query.run(QueryInput(sql="SELECT id FROM orders ORDER BY id", max_rows=2), ro(shop))
    assert (out.row_count, out.truncated) == (2, True)


async def test_injection_attempt_stays_a_value(shop: Path) -> None:
    evil = "EMEA' OR '1'='1"
    out = await query.run(QueryInput(sql="SELECT id FROM orders WHERE region = :r", params={"r": evil}), ro(shop))
    assert out.rows == []


async def test_query_is_read_only_even_with_allow_writes(shop: Path) -> None:
    for ctx in (ro(shop), rw(shop)):
        with pytest.raises(PermanentError) as err:
            await query.run(QueryInput(sql="DELETE FROM orders RETURNING id"), ctx)
        assert err.value.code == "database_read_only"
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 3


async def test_execute_needs_allow_writes(shop: Path) -> None:
    with pytest.raises(PermanentError, match="allow_writes"):
        await execute.run(ExecuteInput(sql="DELETE FROM orders"), ro(shop))
    out = await execute.run(ExecuteInput(sql="UPDATE orders SET total = total * 2 WHERE region = :r",
                                         params={"r": "EMEA"}), rw(shop))
    assert out.rows_affected == 2
    out = await execute.run(ExecuteInput(sql="INSERT INTO orders (region, total, placed) VALUES (:r, :t, :p)",
                                         params=[{"r": "AMER", "t": 1, "p": "x"}, {"r": "AMER", "t": 2, "p": "y"}]),
                            rw(shop))
    assert out.rows_affected == 2
    out = await execute.run(ExecuteInput(sql="DELETE FROM orders WHERE region = :r RETURNING id", params={"r": "AMER"}),
                            rw(shop))
    assert out.rows_affected == 2 and len(out.rows) == 2
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT sum(total) FROM orders").fetchone()[0] == 120.5 * 2 + 80 + 24


async def test_one_statement_only(shop: Path) -> None:
    with pytest.raises(PermanentError):
        await execute.run(ExecuteInput(sql="DELETE FROM orders; DROP TABLE orders"), rw(shop))
    with sqlite3.connect(shop) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 3


async def test_errors(shop: Path, tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no such table"):
        await query.run(QueryInput(sql="SELECT * FROM nope"), ro(shop))
    with pytest.raises(PermanentError, match="returns no rows"):
        await query.run(QueryInput(sql="PRAGMA foreign_keys = ON"), ro(shop))
    with pytest.raises(CredentialError):
        await query.run(QueryInput(sql="SELECT 1"), Ctx())
    with pytest.raises(CredentialError, match="not supported"):
        await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": "mysql://u@h/db"}))
    with pytest.raises(ConnectorError):
        await query.run(QueryInput(sql="SELECT 1"), ro(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()  # read-only never creates a file


async def test_timeout_interrupts_a_runaway_query(shop: Path) -> None:
    sql = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
           "SELECT count(*) FROM c")
    with pytest.raises(ConnectorError) as err:
        await query.run(QueryInput(sql=sql, timeout_s=0.3), ro(shop))
    assert err.value.code == "database_timeout" and err.value.retryable


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_read_only_and_writes(postgres_url: str) -> None:
    rw_ctx = Ctx(credential={"url": postgres_url, "allow_writes": True})
    ro_ctx = Ctx(credential={"url": postgres_url})
    await execute.run(ExecuteInput(sql="DROP TABLE IF EXISTS fw_items"), rw_ctx)
    await execute.run(ExecuteInput(sql="CREATE TABLE fw_items (id serial PRIMARY KEY, name text, price numeric)"),
                      rw_ctx)
    out = await execute.run(ExecuteInput(sql="INSERT INTO fw_items (name, price) VALUES (:n, :p) RETURNING id",
                                         params={"n": "pen", "p": 1.5}), rw_ctx)
    assert out.rows_affected == 1 and out.rows == [{"id": 1}]
    got = await query.run(QueryInput(sql="SELECT name, price FROM fw_items WHERE name = :n", params={"n": "pen"}),
                          ro_ctx)
    assert got.rows == [{"name": "pen", "price": 1.5}]
    # query is read-only on the server side, whatever the statement tries
    for sql in ("DELETE FROM fw_items RETURNING id", "WITH d AS (DELETE FROM fw_items RETURNING id) SELECT * FROM d"):
        with pytest.raises(PermanentError) as err:
            await query.run(QueryInput(sql=sql), rw_ctx)
        assert err.value.code == "database_read_only"
    with pytest.raises(PermanentError):
        await query.run(QueryInput(sql="SELECT 1; COMMIT; DELETE FROM fw_items"), rw_ctx)
    with pytest.raises(PermanentError):  # several statements never run, so no way out of read-only
        await query.run(QueryInput(sql="COMMIT; BEGIN READ WRITE; DELETE FROM fw_items; COMMIT; SELECT 1"), rw_ctx)
    assert (await query.run(QueryInput(sql="SELECT count(*) AS n FROM fw_items"), ro_ctx)).rows == [{"n": 1}]
    with pytest.raises(ConnectorError) as err:
        await query.run(QueryInput(sql="SELECT pg_sleep(5)", timeout_s=0.3), ro_ctx)
    assert err.value.code == "database_timeout"
