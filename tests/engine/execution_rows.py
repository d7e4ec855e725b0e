"""Execution rows written straight into a store, for tests of what reads them (history, stats)."""

from __future__ import annotations

from typing import Any

from engine.execution_store import _EXECUTION_DEFAULTS, EXEC_INSERT, EXECUTION_COLUMNS, ExecutionStore


def insert(store: ExecutionStore, row: dict[str, Any]) -> None:
    """One execution row: the columns given, every other column at its default."""
    params: dict[str, Any] = {**dict.fromkeys(EXECUTION_COLUMNS), **_EXECUTION_DEFAULTS, **row}
    store.writer.submit_sync(EXEC_INSERT, params)
