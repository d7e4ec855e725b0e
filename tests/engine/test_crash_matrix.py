"""The crash matrix, bounded: one SIGKILL of the worker process driving a run at four durable
points (tests/engine/crash_matrix.py says what each is), on SQLite. ``make reliability`` runs the
long version (200 kills, and PostgreSQL) and writes docs/reliability.md."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.engine.crash_matrix import POINTS, Matrix

# a node's side effect done but not checkpointed, a checkpoint just committed, a durable delay, and
# the non-idempotent POST in flight; make reliability runs every point, 200 times
BOUNDED = ("node_running", "after_checkpoint", "mid_delay", "post_in_flight")
assert set(BOUNDED) <= set(POINTS)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_one_kill_at_each_durable_point_loses_nothing_and_reruns_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    async with Matrix(f"sqlite:///{tmp_path / 'fw.db'}", tmp_path) as matrix:
        outcomes = [await matrix.run_case(point, rng) for point in BOUNDED]
    assert [o.point for o in outcomes] == list(BOUNDED)
    failing = {o.point: o.problems for o in outcomes if o.problems}
    assert failing == {}, failing
    assert all(o.killed and o.status == "completed" for o in outcomes)
