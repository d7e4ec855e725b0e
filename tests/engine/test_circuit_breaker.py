"""Circuit breakers: the state machine with a fake clock on a real SQLite file, and runs against a
real HTTP service on loopback — the breaker opens, fails fast (a dead letter), and a trial closes it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors import core, http
from connectors.registry import Registry
from connectors.services import ConnectorServices
from connectors.ssrf import HttpClients
from engine.circuit_breaker import BreakerPolicy, CircuitBreakers, CircuitOpenError, circuit_key
from engine.db import make_engine
from engine.dead_letters import CIRCUIT_OPEN, RETRIES_EXHAUSTED, DeadLetters
from engine.errors import NotFoundError
from tests.app.flaky_service import calling, flaky_service
from tests.engine.runtime_helpers import runtime_at


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def breakers(tmp_path: Path) -> CircuitBreakers:
    return CircuitBreakers(make_engine(f"sqlite:///{tmp_path / 'b.db'}"),
                           BreakerPolicy(failures=3, window_s=10, open_s=5), clock=Clock())


def test_closed_open_half_open_closed(breakers: CircuitBreakers) -> None:
    clock: Any = breakers.clock
    key = "http:api.example.com"
    assert breakers.before_call("ws", key) is None
    assert breakers.record("ws", key, ok=False) is None
    assert breakers.record("ws", key, ok=False) is None
    assert breakers.record("ws", key, ok=True) is None  # a success resets the count...
    assert breakers.states("ws")[0]["failures"] == 0
    for _ in range(2):
        assert breakers.record("ws", key, ok=False) is None
    assert breakers.record("ws", key, ok=False) == "open"  # ...three in a row open it
    with pytest.raises(CircuitOpenError) as info:
        breakers.before_call("ws", key)
    assert info.value.code == "circuit_open" and info.value.retry_after_s == 5
    assert breakers.before_call("other_ws", key) is None  # per workspace
    assert breakers.states("ws") == [{"key": key, "state": "open", "failures": 3, "threshold": 3, "window_s": 10,
                                      "opened_at": clock.now, "trial_in_s": 5.0}]

    clock.now += 5
    assert breakers.before_call("ws", key) == "half_open"  # the one trial call
    with pytest.raises(CircuitOpenError):
        breakers.before_call("ws", key)  # nobody else meanwhile
    assert breakers.record("ws", key, ok=False) == "open"  # the trial failed: open again
    with pytest.raises(CircuitOpenError):
        breakers.before_call("ws", key)
    clock.now += 5
    assert breakers.before_call("ws", key) == "half_open"
    clock.now += 5  # that trial's process died: after open_s another caller gets a trial
    assert breakers.before_call("ws", key) == "half_open"
    assert breakers.record("ws", key, ok=True) == "closed"
    assert breakers.before_call("ws", key) is None
    assert breakers.states("ws")[0]["state"] == "closed"


def test_failures_spread_wider_than_the_window_do_not_open_it(breakers: CircuitBreakers) -> None:
    clock: Any = breakers.clock
    for _ in range(6):  # each failure comes more than a window after the first of its run
        assert breakers.record("ws", "slack", ok=False) is None
        clock.now += 11
    assert breakers.states("ws")[0]["failures"] == 1
    assert breakers.states("ws")[0]["state"] == "closed"
    breakers.reset("ws", "slack")
    assert breakers.states("ws") == []
    with pytest.raises(NotFoundError):
        breakers.reset("ws", "slack")


def test_circuit_keys_name_the_host() -> None:
    class Inp:
        url = "https://API.example.com:8443/v1/x?y=1"

    class Hook:
        webhook_url = "https://hooks.slack.com/services/T/B/X"

    assert circuit_key("http", Inp()) == "http:api.example.com"
    assert circuit_key("slack", Hook()) == "slack:hooks.slack.com"
    assert circuit_key("email", object()) == "email"


async def test_an_open_circuit_fails_runs_fast_and_a_trial_closes_it(tmp_path: Path) -> None:
    db = tmp_path / "flowwright.db"
    clock = Clock()
    engine = make_engine(f"sqlite:///{db}")
    breakers = CircuitBreakers(engine, BreakerPolicy(failures=2, window_s=60, open_s=30), clock=clock)
    services = ConnectorServices(http=HttpClients.allowing("127.0.0.1"))
    with flaky_service() as service:
        workflow = calling(service.url)
        async with runtime_at(db, registry=Registry([core.CONNECTOR, http.CONNECTOR]), services=services,
                              breakers=breakers) as rt:
            letters = DeadLetters(rt.store.engine)
            first = await rt.run(workflow, {}, workspace_id="ws_c")
            assert first["status"] == "failed" and service.calls == 2  # two attempts, both 503
            assert "circuit.open" in [e.type for e in rt.store.events(first["id"])]
            key = "http:127.0.0.1"
            assert breakers.states("ws_c")[0]["key"] == key and breakers.states("ws_c")[0]["state"] == "open"

            second = await rt.run(workflow, {}, workspace_id="ws_c")
            assert second["status"] == "failed" and second["error"]["code"] == "circuit_open"
            assert service.calls == 2  # failed fast: the host was not called
            reasons = {x.execution_id: x.reason for x in letters.list("ws_c")}
            assert reasons == {first["id"]: RETRIES_EXHAUSTED, second["id"]: CIRCUIT_OPEN}

            service.down = False
            clock.now += 30
            third = await rt.run(workflow, {}, workspace_id="ws_c")
            assert third["status"] == "completed" and service.calls == 3
            types = [e.type for e in rt.store.events(third["id"])]
            assert "circuit.half_open" in types and "circuit.closed" in types
            assert breakers.states("ws_c")[0]["state"] == "closed"
            other = await rt.run(workflow, {}, workspace_id=f"ws_{uuid.uuid4().hex[:6]}")
            assert other["status"] == "completed"
