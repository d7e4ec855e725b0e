"""Insight report benchmark: a full workspace report over about a million step rows.

Seeds synthetic history (``tests/app/insights/history.py``: six workflows with slow nodes, routed
failures, retries that never succeed, delays, approvals, token-heavy calls and an anomaly) into a
fresh SQLite database in a temporary folder, then times ``build_report`` for the workspace in a
fresh child process (so its peak RSS is the report's, not the seeding's), after the rollups were
backfilled in another child (timed apart: a one-time cost of an upgraded data dir; in service the
execution store marks each execution's hour as it changes). Prints one JSON line:
``{"step_rows", "executions", "seconds", "cpu_seconds", "peak_rss_mb", "findings", "load_average",
"seed_seconds", "backfill_seconds", "backfill_cpu_seconds", "backfill_hours", "hourly_rows",
"daily_rows"}`` (``seconds`` is wall time: on a shared machine read it beside ``cpu_seconds`` and
the 1-minute load average).

    python bench/insights_report.py [--steps 1000000] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def backfill(db_path: str) -> None:
    """Child process: build the rollups of the seeded history (what an upgraded data dir does once)."""
    from app.insights import rollups
    from engine.db import make_engine

    db = make_engine(f"sqlite:///{db_path}")
    started, cpu = time.perf_counter(), time.process_time()
    hours = rollups.refresh(db)
    print(json.dumps({"backfill_seconds": round(time.perf_counter() - started, 2),
                      "backfill_cpu_seconds": round(time.process_time() - cpu, 2), "backfill_hours": hours,
                      **rollups.describe(db)}))


def report(db_path: str, days: float) -> None:
    """Child process: time one full report (an execution has just finished: its hour is marked,
    so the report first recomputes that hour, as it would in service) and print its figures."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from app.insights.report import build_report
    from engine.db import make_engine
    from engine.execution_store import RollupMarkRow, hour_of

    db = make_engine(f"sqlite:///{db_path}")
    with db.begin() as conn:
        conn.execute(insert(RollupMarkRow.__table__).values(  # type: ignore[attr-defined]
            workspace_id="default", hour=hour_of(datetime.now(UTC))))
    started, cpu = time.perf_counter(), time.process_time()
    built = build_report(db, "default", days=days + 1)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                      "peak_rss_mb": round(peak_kb / 1024, 1), "findings": len(built.findings),
                      "runs": built.totals["runs"], "load_average": round(os.getloadavg()[0], 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backfill", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(args.child, args.days)
        return
    if args.backfill:
        backfill(args.backfill)
        return
    from engine.db import make_engine
    from engine.execution_store import ExecutionStore
    from tests.app.insights.history import scaled_plans, seed

    with tempfile.TemporaryDirectory(prefix="fw-insights-bench-") as folder:
        db_path = str(Path(folder) / "flowwright.db")
        db = make_engine(f"sqlite:///{db_path}")
        started = time.perf_counter()
        counts = seed(db, scaled_plans(args.steps), days=args.days)
        ExecutionStore(db).close()  # the store's own schema and indexes, as a real data dir has them
        with db.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.dispose()
        seed_seconds = time.perf_counter() - started
        built = subprocess.run([sys.executable, __file__, "--backfill", db_path], capture_output=True, text=True,
                               check=True, cwd=ROOT)
        rolled = json.loads(built.stdout.strip().splitlines()[-1])
        child = subprocess.run([sys.executable, __file__, "--child", db_path, "--days", str(args.days)],
                               capture_output=True, text=True, check=True, cwd=ROOT)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps({"step_rows": counts["steps"], "executions": counts["executions"],
                          **result, "seed_seconds": round(seed_seconds, 1), **rolled}))


if __name__ == "__main__":
    main()
