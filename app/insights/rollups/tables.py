"""The rollup tables: counter rows per hour and day, the definitions they keep, their state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, Text, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from engine.execution_store import RollupMarkRow

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
WORKFLOW = ""  # the node_id of a workflow-level counter
NODE_COUNTS = ("settled", "failed", "attempts", "retried", "retry_successes")


class InsightRollupRow(SQLModel, table=True):
    """One counter of one workflow (``node_id`` empty) or node over one hour or day.

    ``metric`` names the figure (``runs``, ``status``, ``duration``, ``error``, ``attempts``...),
    ``label`` its category (a status, an error code, a version) and ``value`` a histogram bucket.
    """

    __tablename__ = "insight_rollups"
    # what finding evidence and anomalies ask: one counter of one workflow or node, over time
    __table_args__ = (Index("ix_insight_rollups_counter", "grain", "workspace_id", "node_id", "metric", "wf_key",
                            "start", "label", "value", "count"),)

    grain: str = Field(primary_key=True)  # "h" | "d"
    workspace_id: str = Field(primary_key=True)
    start: datetime = Field(primary_key=True)
    wf_key: str = Field(primary_key=True)
    node_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    label: str = Field(default="", primary_key=True)
    value: float = Field(default=0.0, primary_key=True)
    count: float = 0.0


class InsightDefinitionRow(SQLModel, table=True):
    """A workflow version's definition as it ran (copied from one execution's snapshot, so that
    the rollups keep it when retention deletes the executions)."""

    __tablename__ = "insight_definitions"

    workspace_id: str = Field(primary_key=True)
    wf_key: str = Field(primary_key=True)
    version: int = Field(primary_key=True)
    execution_id: str
    definition: str = Field(sa_column=Column(Text, nullable=False))


class InsightRollupStateRow(SQLModel, table=True):
    """What the rollups have done once (``backfilled``: every older hour was computed)."""

    __tablename__ = "insight_rollup_state"

    key: str = Field(primary_key=True)
    value: str = ""


ROLLUPS = InsightRollupRow.__table__  # type: ignore[attr-defined]
DEFINITIONS = InsightDefinitionRow.__table__  # type: ignore[attr-defined]
STATE = InsightRollupStateRow.__table__  # type: ignore[attr-defined]
MARKS = RollupMarkRow.__table__  # type: ignore[attr-defined]
TABLES = [ROLLUPS, DEFINITIONS, STATE, MARKS]


def aware(value: datetime) -> datetime:
    """``value`` in UTC when it came back from the database without a zone (SQLite)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def ensure_tables(db: Engine) -> None:
    """Create the rollup tables (and their indexes) when missing."""
    SQLModel.metadata.create_all(db, tables=TABLES)
    for index in ROLLUPS.indexes:
        index.create(db, checkfirst=True)


def hourly_since(db: Engine) -> datetime | None:
    """Where the hourly rollups start (a midnight): older hours were pruned (``None``: never)."""
    with db.connect() as conn:
        value = conn.execute(select(STATE.c.value).where(STATE.c.key == "hourly_since")).scalar()
    return datetime.fromisoformat(value) if value else None


def row_count(db: Engine, grain: str | None = None) -> int:
    """How many rollup rows there are (of one grain)."""
    query = select(func.count()).select_from(ROLLUPS)
    if grain is not None:
        query = query.where(ROLLUPS.c.grain == grain)
    with db.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def describe(db: Engine) -> dict[str, Any]:
    """Rollup sizes, for the benchmark and the CLI."""
    return {"hourly_rows": row_count(db, "h"), "daily_rows": row_count(db, "d")}
