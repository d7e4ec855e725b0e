import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connectors.database import CONNECTOR, ExecuteInput, QueryInput
from connectors.errors import ConnectorError, CredentialError, PermanentError
from connectors.services import ConnectorServices, DatabasePolicy
from connectors.ssrf import HttpClients
from tests.connectors.conftest import LOOPBACK, Ctx

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


def files(path: Path) -> ConnectorServices:
    """The services a deployment with FLOWWRIGHT_DATABASE_FILES=<path's folder> hands the connector."""
    return ConnectorServices(databases=DatabasePolicy.of(str(path.parent)))


def ro(path: Path) -> Ctx:
    return Ctx(credential={"url": f"sqlite:///{path}"}, services=files(path))


def rw(path: Path) -> Ctx:
    return Ctx(credential={"url": f"sqlite:///{path}", "allow_writes": True}, services=files(path))


def pg_services(url: str, **more: Any) -> ConnectorServices:
    """The throw-away server listens on a unix socket: allow-list exactly that directory."""
    from sqlalchemy.engine import make_url

    return ConnectorServices(http=HttpClients.allowing(str(make_url(url).query["host"])), **more)


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
    with pytest.raises(PermanentError, match="pragmas that change settings") as refused:
        await query.run(QueryInput(sql="PRAGMA foreign_keys = ON"), ro(shop))
    assert refused.value.code == "database_refused"
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
    rw_ctx = Ctx(credential={"url": postgres_url, "allow_writes": True}, services=pg_services(postgres_url))
    ro_ctx = Ctx(credential={"url": postgres_url}, services=pg_services(postgres_url))
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


# --- the credential cannot escape the workspace (issue 11's findings) ----------------------------


async def test_the_services_own_database_and_data_dir_are_refused(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own = data_dir / "flowwright.db"
    sqlite3.connect(own).execute("CREATE TABLE workflow (id TEXT)").connection.commit()
    services = ConnectorServices(databases=DatabasePolicy.of(
        str(tmp_path), refused=[data_dir], own=create_engine(f"sqlite:///{own}").url))
    link = tmp_path / "innocent.db"
    link.symlink_to(own)
    for url in (f"sqlite:///{own}", f"sqlite:///{link}", f"sqlite:///file:{own}?mode=ro&uri=true",
                f"sqlite:///{data_dir}/other.db"):
        with pytest.raises(CredentialError) as err:
            await query.run(QueryInput(sql="SELECT * FROM workflow"), Ctx(credential={"url": url}, services=services))
        assert err.value.code == "database_refused", url


async def test_sqlite_files_only_under_the_listed_directories(shop: Path, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="none is listed"):
        await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": f"sqlite:///{shop}"}))
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(CredentialError, match="FLOWWRIGHT_DATABASE_FILES"):
        await query.run(QueryInput(sql="SELECT 1"),
                        Ctx(credential={"url": f"sqlite:///{shop}"}, services=ConnectorServices(databases=DatabasePolicy.of([other]))))
    with pytest.raises(CredentialError, match="absolute path"):
        await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": "sqlite:///shop.db"}, services=files(shop)))
    # writes never create a file either
    with pytest.raises(ConnectorError):
        await execute.run(ExecuteInput(sql="CREATE TABLE t (x)"), rw(tmp_path / "new.db"))
    assert not (tmp_path / "new.db").exists()


@pytest.mark.parametrize("sql", [
    "ATTACH DATABASE '{target}' AS other",
    "VACUUM INTO '{target}'",
    "VACUUM",
    "SELECT load_extension('/tmp/evil')",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = DELETE",
])
async def test_the_authorizer_refuses_files_extensions_and_writing_pragmas(shop: Path, tmp_path: Path,
                                                                          sql: str) -> None:
    target = tmp_path / "copy.db"
    for ctx, op, model in ((ro(shop), query, QueryInput), (rw(shop), execute, ExecuteInput)):
        with pytest.raises(PermanentError) as err:
            await op.run(model(sql=sql.format(target=target)), ctx)
        assert err.value.code in ("database_refused", "database_read_only", "database_not_a_query"), err.value
        assert not target.exists()
    # reading pragmas still works
    out = await query.run(QueryInput(sql="PRAGMA table_info(orders)"), ro(shop))
    assert [r["name"] for r in out.rows] == ["id", "region", "total", "placed"]


async def test_postgres_hosts_go_through_the_host_policy_and_errors_carry_no_banner(tmp_path: Path) -> None:
    import socket
    import threading

    # a non-PostgreSQL service on loopback that greets with a banner
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.6 secret-banner\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"postgresql://u:p@127.0.0.1:{port}/db"
    try:
        with pytest.raises(ConnectorError) as err:  # loopback: refused before any connection
            await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": url}))
        assert err.value.code == "ssrf_blocked"
        for bad in ("postgresql://u@/db?host=/var/run/postgresql", "postgresql://u@h1,h2/db",
                    "postgresql://u@db.example.com/db?service=evil", "postgresql://u@db.example.com/db?passfile=/x"):
            with pytest.raises(CredentialError) as refused:
                await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": bad}))
            assert refused.value.code == "database_refused", bad
        allowed = Ctx(credential={"url": url, "allow_writes": True}, services=LOOPBACK)
        with pytest.raises(ConnectorError) as err:
            await query.run(QueryInput(sql="SELECT 1", timeout_s=5), allowed)
        assert f"127.0.0.1:{port}" in str(err.value)
        assert "SSH" not in str(err.value) and "banner" not in str(err.value)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
        closed.close()
        with pytest.raises(ConnectorError, match="connection refused"):
            await query.run(QueryInput(sql="SELECT 1", timeout_s=5),
                            Ctx(credential={"url": f"postgresql://u@127.0.0.1:{free}/db"},
                                services=LOOPBACK))
    finally:
        server.close()


@pytest.mark.postgres
@pytest.mark.slow
async def test_postgres_refuses_the_services_own_database(postgres_url: str) -> None:
    from sqlalchemy import create_engine

    services = pg_services(postgres_url, databases=DatabasePolicy.of(None, own=create_engine(postgres_url).url))
    with pytest.raises(CredentialError, match="own database"):
        await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": postgres_url}, services=services))
    with pytest.raises(CredentialError, match="unix socket"):
        await query.run(QueryInput(sql="SELECT 1"), Ctx(credential={"url": postgres_url}))
