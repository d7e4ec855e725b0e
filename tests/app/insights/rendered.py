"""One report over the synthetic history, shared by the rendering tests (drawing charts is slow)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.insights.report import InsightReport, build_report
from engine.db import make_engine
from engine.execution_store import ExecutionStore
from tests.app.insights.history import realistic, seed

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def synthetic_report(folder: Path, *, scale: float = 0.3) -> InsightReport:
    """The report a workspace with the realistic synthetic history gets over the last 7 days."""
    db = make_engine(f"sqlite:///{folder / 'history.db'}")
    seed(db, realistic(scale), now=NOW, days=7)
    ExecutionStore(db).close()
    report = build_report(db, "default", days=7, now=NOW)
    db.dispose()
    return report
