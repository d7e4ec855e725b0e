"""engine/db.py: an older release's data dir gains the columns a newer release declares."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from engine.db import make_engine
from engine.execution_store import ExecutionStore

NEWER = ("failed_steps", "parent_execution_id", "parent_node_id", "parent_loop_path", "detached")


def test_older_executions_table_gains_failed_steps(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    ExecutionStore(engine).close()
    with engine.begin() as conn:  # an executions table as an older release wrote it, with one row
        conn.execute(text("DROP INDEX ix_executions_report"))  # older releases had neither these nor the columns
        conn.execute(text("DROP INDEX ix_executions_stats"))
        conn.execute(text("DROP INDEX ix_executions_parent_execution_id"))
        for column in NEWER:
            conn.execute(text(f"ALTER TABLE executions DROP COLUMN {column}"))
        conn.execute(text("INSERT INTO executions (id, workflow_name, workspace_id, trigger, status, dry_run, "
                          "node_count, definition, created_at, updated_at) VALUES ('old', 'w', 'default', 'manual', "
                          "'completed', 0, 1, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    assert not set(NEWER) & {c["name"] for c in inspect(engine).get_columns("executions")}
    store = ExecutionStore(engine)
    try:
        assert set(NEWER) <= {c["name"] for c in inspect(engine).get_columns("executions")}
        indexes = {i["name"] for i in inspect(engine).get_indexes("executions")}
        assert {"ix_executions_parent_execution_id", "ix_executions_report", "ix_executions_stats"} <= indexes
        old = store.get("old")
        assert old.failed_steps == 0  # the old row reads as "nothing failed"
        assert old.detached is False and old.parent_execution_id is None  # and as no sub-workflow
    finally:
        store.close()
    ExecutionStore(engine).close()  # a second open finds nothing to add
