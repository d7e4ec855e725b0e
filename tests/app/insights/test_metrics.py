"""The Prometheus metrics equal what the database holds (SQLite and PostgreSQL), scoped to a
workspace or to all of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.insights.metrics import STEP_BUCKETS, exposition
from app.llm.tracker import UsageRow
from engine.db import make_engine
from engine.execution_store import ExecutionRow, ExecutionStore, StepRow
from engine.queue import ExecutionQueue
from tests.app.insights.history import healthy, realistic, seed

WAITED_S = 90  # the due queued execution was made available this long before the fixture ran
DUE_SINCE: dict[str, datetime] = {}  # database URL -> when its due queued execution became available
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
_ST = StepRow.__table__  # type: ignore[attr-defined]
_U = UsageRow.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'm.db'}"
    else:  # a database of its own: the operator scope reads every workspace of the server
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        server = make_url(request.getfixturevalue("postgres_url"))
        name = f"metrics_{uuid.uuid4().hex[:12]}"
        admin = make_engine(server.render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = server.set(database=name).render_as_string(hide_password=False)
    db = make_engine(url)
    now = datetime.now(UTC)  # at the fixture, not at import: a full suite collects long before this runs
    seed(db, realistic(0.1), now=now, days=3)
    seed(db, healthy(0.05), now=now, days=3, workspace_id="other", seed_value=3)
    ExecutionStore(db).close()
    queue = ExecutionQueue(db)
    queue.enqueue("ex_waiting", "default", available_at=now - timedelta(seconds=WAITED_S))
    queue.enqueue("ex_later", "default", available_at=now + timedelta(hours=1))  # not due: no wait yet
    queue.enqueue("ex_driven", "other", worker_id="w1")
    queue.register("w1", capacity=4)
    DUE_SINCE[str(db.url)] = now - timedelta(seconds=WAITED_S)
    yield db
    db.dispose()


def samples(text: str) -> dict[str, list[Sample]]:
    """Samples by sample name (``…_bucket``, ``…_total`` included)."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def value(found: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(s.value for s in found.get(name, []) if labels.items() <= s.labels.items())


def test_executions_queue_and_model_figures_equal_the_database(history: Engine) -> None:
    found = samples(exposition(history, "default").decode())
    with history.connect() as conn:
        by_status = dict(conn.execute(select(_EX.c.status, func.count()).where(_EX.c.workspace_id == "default")
                                      .group_by(_EX.c.status)).all())
        with_errors = conn.execute(select(func.count()).where(
            _EX.c.workspace_id == "default", _EX.c.status == "completed", _EX.c.failed_steps > 0)).scalar()
        prompt, completion, cost = conn.execute(select(
            func.sum(_U.c.prompt_tokens), func.sum(_U.c.completion_tokens), func.sum(_U.c.cost_usd))
            .where(_U.c.workspace_id == "default", _U.c.cache_hit.is_(False))).one()
    assert {"completed", "failed"} <= set(by_status) and with_errors  # failures, handled ones too
    for status, count in by_status.items():
        assert value(found, "flowwright_executions", workspace="default", status=status) == count
    assert value(found, "flowwright_executions_completed_with_errors", workspace="default") == with_errors
    assert value(found, "flowwright_queue_depth", workspace="default", state="queued") == 2
    waited = value(found, "flowwright_queue_oldest_wait_seconds", workspace="default")
    assert WAITED_S <= waited <= (datetime.now(UTC) - DUE_SINCE[str(history.url)]).total_seconds()
    assert value(found, "flowwright_llm_tokens_total", type="prompt") == prompt > 0
    assert value(found, "flowwright_llm_tokens_total", type="completion") == completion
    assert value(found, "flowwright_llm_cost_usd_total") == pytest.approx(cost, rel=1e-6)
    assert value(found, "flowwright_llm_calls_total", outcome="ok") > 0
    # one workspace's scope shows nothing of another's, and no process-wide figures
    assert all(s.labels.get("workspace") in (None, "default") for ss in found.values() for s in ss)
    assert "flowwright_workers" not in found


def test_step_duration_histogram_holds_every_finished_step(history: Engine) -> None:
    found = samples(exposition(history, "default").decode())
    with history.connect() as conn:
        durations = [ms for (ms,) in conn.execute(
            select(_ST.c.duration_ms).select_from(_ST.join(_EX, _EX.c.id == _ST.c.execution_id))
            .where(_EX.c.workspace_id == "default", _ST.c.status.in_(("completed", "failed")),
                   _ST.c.duration_ms.is_not(None)))]
    assert value(found, "flowwright_step_duration_seconds_count") == len(durations) > 100
    kinds = {s.labels["kind"] for s in found["flowwright_step_duration_seconds_count"]}
    assert {"http.request", "core.log"} <= kinds and "unknown" not in kinds
    # buckets come from the rollups' grid (at most 2.5% wide): exact to within one grid cell
    for upper in STEP_BUCKETS:
        counted = value(found, "flowwright_step_duration_seconds_bucket", le=str(upper))
        below = sum(1 for ms in durations if ms <= upper * 1000)
        within = sum(1 for ms in durations if ms < upper * 1000 * 1.025 + 1)
        assert below <= counted <= within, upper
    assert value(found, "flowwright_step_duration_seconds_bucket", le="+Inf") == len(durations)
    total = sum(durations) / 1000
    assert total * 0.97 <= value(found, "flowwright_step_duration_seconds_sum") <= total


def test_the_operator_scope_sees_every_workspace_and_the_workers(history: Engine) -> None:
    found = samples(exposition(history, None).decode())
    workspaces = {s.labels["workspace"] for s in found["flowwright_executions"]}
    assert workspaces == {"default", "other"}
    assert value(found, "flowwright_queue_depth", workspace="other", state="claimed") == 1
    assert value(found, "flowwright_workers", kind="worker", status="alive") == 1


def test_an_empty_database_answers_every_family(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    text = exposition(db, "default").decode()
    db.dispose()
    for name in ("flowwright_executions", "flowwright_step_duration_seconds", "flowwright_queue_depth",
                 "flowwright_llm_tokens_total", "flowwright_llm_cost_usd_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_breaker_states_and_dead_letters(tmp_path: Path) -> None:
    from engine.circuit_breaker import BreakerPolicy, CircuitBreakers
    from engine.dead_letters import create_table, entry_statements

    db = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    clock = [1_000.0]
    breakers = CircuitBreakers(db, BreakerPolicy(failures=2, window_s=60, open_s=30), clock=lambda: clock[0])
    for _ in range(2):
        breakers.record("default", "http:api.example.com", ok=False)
    breakers.record("default", "slack", ok=False)
    breakers.record("other", "http:elsewhere.example.com", ok=False)
    create_table(db)
    with db.begin() as conn:
        for statement in entry_statements("ex_dead", "default", "wf_1", "Orders", "retries_exhausted",
                                          {"code": "http_status", "node_id": "fetch"}):
            conn.execute(statement)
    found = samples(exposition(db, "default").decode())
    db.dispose()
    assert value(found, "flowwright_circuit_breaker_state", key="http:api.example.com", state="open") == 1
    assert value(found, "flowwright_circuit_breaker_state", key="http:api.example.com", state="closed") == 0
    assert value(found, "flowwright_circuit_breaker_state", key="slack", state="closed") == 1
    assert value(found, "flowwright_circuit_breaker_failures", key="slack") == 1
    assert value(found, "flowwright_dead_letters", workspace="default") == 1
    assert not [s for s in found["flowwright_circuit_breaker_state"] if s.labels["workspace"] != "default"]
