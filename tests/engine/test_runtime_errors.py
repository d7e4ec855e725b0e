"""Runtime error handling: retries, timeouts, on_error, output cap, secrets, rate limits, dry runs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.execution_run import RuntimeLimits
from tests.engine.runtime_helpers import ATTEMPTS, DictVault, runtime_at, statuses, transform, wf

# Engine conformance: every test here runs on the local runtime and on the Temporal backend.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowwright.db"


def flaky(node_id: str, failures: int, mode: str = "retryable", retry: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    key = f"{node_id}-{uuid.uuid4().hex}"
    ATTEMPTS.pop(key, None)
    config: dict[str, Any] = {"key": key, "failures": failures, "mode": mode}
    if "retry_after_s" in extra:
        config["retry_after_s"] = extra.pop("retry_after_s")
    node: dict[str, Any] = {"id": node_id, "type": "action", "connector": "probe", "operation": "flaky", "config": config}
    if retry is not None:
        node["retry"] = retry
    node.update(extra)
    return node


FAST_RETRY = {"max_attempts": 3, "backoff": "fixed", "initial_delay_s": 0.01, "max_delay_s": 0.05, "jitter": False}


async def test_retries_until_success_with_a_row_per_attempt(db: Path) -> None:
    workflow = wf([flaky("call", 2, retry=FAST_RETRY)], [("start", "call")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
        events = [e.type for e in rt.store.events(result["id"])]
    rows = [s for s in result["steps"] if s["node_id"] == "call"]
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "failed"), (2, "failed"), (3, "completed")]
    assert rows[0]["error"]["code"] == "connector_error" and rows[0]["error"]["attempt"] == 1
    assert result["output"] == {"attempts": 3}
    assert events.count("node.retrying") == 2


async def test_retries_exhausted_fail_the_execution(db: Path) -> None:
    workflow = wf([flaky("call", 5, retry=FAST_RETRY)], [("start", "call")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "failed"
    assert result["error"]["node_id"] == "call" and result["error"]["attempt"] == 3
    assert len([s for s in result["steps"] if s["node_id"] == "call"]) == 3


@pytest.mark.parametrize("mode", ["permanent", "http404"])
async def test_non_retryable_errors_are_not_retried(db: Path, mode: str) -> None:
    workflow = wf([flaky("call", 1, mode=mode, retry=FAST_RETRY)], [("start", "call")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "failed"
    assert len([s for s in result["steps"] if s["node_id"] == "call"]) == 1


async def test_invalid_input_is_not_retried(db: Path) -> None:
    node = {"id": "bad", "type": "action", "connector": "core", "operation": "delay",
            "config": {"seconds": "{{ 'soon' }}"}, "retry": FAST_RETRY}
    async with runtime_at(db) as rt:
        result = await rt.run(wf([node], [("start", "bad")]))
    assert result["status"] == "failed"
    assert result["error"]["code"] == "input_invalid"
    assert "config.seconds" in result["error"]["message"]
    assert len([s for s in result["steps"] if s["node_id"] == "bad"]) == 1


async def test_expression_error_fails_clearly(db: Path) -> None:
    async with runtime_at(db) as rt:
        result = await rt.run(wf([transform("t", "$undefinedfn(1)")], [("start", "t")]))
    assert result["status"] == "failed"
    assert result["error"]["code"] == "expression_error"


async def test_http_429_honours_retry_after(db: Path) -> None:
    retry = {"max_attempts": 2, "backoff": "fixed", "initial_delay_s": 0, "max_delay_s": 0, "jitter": False}
    workflow = wf([flaky("call", 1, mode="http429", retry=retry, retry_after_s=0.3)], [("start", "call")])
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        result = await rt.run(workflow)
        elapsed = time.perf_counter() - t0
    assert result["status"] == "completed"
    assert elapsed >= 0.3


async def test_exponential_backoff_waits_grow(db: Path) -> None:
    retry = {"max_attempts": 3, "backoff": "exponential", "initial_delay_s": 0.1, "max_delay_s": 1, "jitter": False}
    workflow = wf([flaky("call", 2, retry=retry)], [("start", "call")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
        delays = [e.data["delay_s"] for e in await _events(rt, result["id"]) if e.type == "node.retrying"]
    assert delays == [0.1, 0.2]


async def _events(rt: Any, execution_id: str) -> list[Any]:
    return [e async for e in rt.events(execution_id, 0)]


async def test_node_timeout_is_retryable_then_fails(db: Path) -> None:
    node = {"id": "slow", "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": 5},
            "timeout_s": 0.1, "retry": {"max_attempts": 2, "backoff": "fixed", "initial_delay_s": 0, "jitter": False}}
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        result = await rt.run(wf([node], [("start", "slow")]))
        elapsed = time.perf_counter() - t0
    assert result["status"] == "failed"
    assert result["error"]["code"] == "node_timeout"
    assert [s["status"] for s in result["steps"] if s["node_id"] == "slow"] == ["failed", "failed"]
    assert elapsed < 4.5  # both 5 s sleeps were cut off (the Temporal backend adds a second or so of hops)


async def test_workflow_timeout(db: Path) -> None:
    node = {"id": "slow", "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": 5}}
    # 1 s: the slow node has started by then on either backend, even on a busy machine
    workflow = wf([node, transform("after", "1")], [("start", "slow"), ("slow", "after")], timeout_s=1.0)
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        result = await rt.run(workflow)
        elapsed = time.perf_counter() - t0
    assert result["status"] == "timed_out"
    assert result["error"]["code"] == "workflow_timeout"
    assert statuses(result)["slow"] in ("cancelled", "timed_out")
    assert "after" not in statuses(result)  # never started: no row
    assert all(s["attempt"] >= 1 for s in result["steps"] if s["node_id"] == "slow")
    assert len([s for s in result["steps"] if s["node_id"] == "slow"]) == 1
    assert elapsed < 4.5  # the 5 s sleep was cut off


async def test_on_error_continue_goes_on_with_null(db: Path) -> None:
    workflow = wf([flaky("call", 1, mode="permanent", on_error="continue"),
                   transform("after", "{'got': nodes.call, 'ok': true}")],
                  [("start", "call"), ("call", "after")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed"
    assert statuses(result)["call"] == "failed"
    assert result["output"] == {"value": {"got": None, "ok": True}}  # the failed node's output is null
    assert (result["failed_steps"], result["outcome"]) == (1, "completed with errors")


async def test_on_error_route_takes_the_error_edge(db: Path) -> None:
    workflow = wf([flaky("call", 1, mode="permanent", on_error="route"),
                   transform("happy", "'fine'"), transform("handle", "'handled: ' & nodes.call.message")],
                  [("start", "call"), ("call", "happy"), ("call", "handle", "error")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed"
    assert statuses(result)["happy"] == "skipped"
    assert result["output"] == {"handle": {"value": "handled: permanent failure 1"}}
    assert (result["failed_steps"], result["outcome"]) == (1, "completed with errors")
    async with runtime_at(db) as rt:  # the count is stored: a later read and the event say the same
        again = await rt.describe(result["id"])
        completed = [e async for e in rt.events(result["id"]) if e.type == "execution.completed"]
    assert again["failed_steps"] == 1 and completed[0].data["failed_steps"] == 1


async def test_on_error_route_not_taken_on_success(db: Path) -> None:
    workflow = wf([flaky("call", 0, on_error="route"), transform("happy", "'fine'"), transform("handle", "'x'")],
                  [("start", "call"), ("call", "happy"), ("call", "handle", "error")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert statuses(result)["handle"] == "skipped" and result["output"] == {"happy": {"value": "fine"}}
    assert (result["failed_steps"], result["outcome"]) == (0, "completed")


async def test_failure_inside_loop_fails_the_loop(db: Path) -> None:
    body = {"nodes": [transform("div", "item = 2 ? $error('two') : item")], "edges": []}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "{{ [1,2,3] }}"}, "body": body,
                    "on_error": "continue"}, transform("after", "'went on'")],
                  [("start", "each"), ("each", "after")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed"
    assert statuses(result)["each"] == "failed"
    assert result["output"] == {"value": "went on"}
    assert result["failed_steps"] == 1  # the loop node, whose on_error: continue handled its body's failure


async def test_step_output_cap(db: Path) -> None:
    node = {"id": "huge", "type": "action", "connector": "probe", "operation": "big", "config": {"size": 5000}}
    async with runtime_at(db, limits=RuntimeLimits(step_output_limit_bytes=2048)) as rt:
        result = await rt.run(wf([node], [("start", "huge")]))
    assert result["status"] == "failed"
    assert result["error"]["code"] == "step_output_too_large"
    assert "2048" in result["error"]["message"]
    assert statuses(result)["huge"] == "failed"


async def test_credentials_are_redacted_everywhere(db: Path) -> None:
    token = "tok-SUPER-SECRET-123"
    node = {"id": "use", "type": "action", "connector": "probe", "operation": "secret", "credential": "api",
            "config": {"note": "hello"}}
    workflow = wf([node, transform("copy", "nodes.use.token")], [("start", "use"), ("use", "copy")])
    async with runtime_at(db, credentials=DictVault({"api": {"token": token}})) as rt:
        result = await rt.run(workflow)
        events = [e.to_dict() for e in await _events(rt, result["id"])]
        logs = [(row.message, row.meta) for row in rt.store.logs(result["id"])]
    assert result["status"] == "completed"
    assert result["output"] == {"value": "***"}  # secrets never enter expression scope
    everything = json.dumps([result, events, logs])
    assert token not in everything
    assert "using token ***" in everything
    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b"")
    assert token.encode() not in raw


async def test_missing_credential_or_vault_fails_without_retry(db: Path) -> None:
    node = {"id": "use", "type": "action", "connector": "probe", "operation": "secret", "credential": "nope",
            "retry": FAST_RETRY}
    async with runtime_at(db, credentials=DictVault({})) as rt:
        missing = await rt.run(wf([node], [("start", "use")]))
    async with runtime_at(db) as rt:
        no_vault = await rt.run(wf([node], [("start", "use")]))
    assert missing["error"]["code"] == "credential_error"
    assert no_vault["error"]["code"] == "credential_error"
    assert len([s for s in missing["steps"] if s["node_id"] == "use"]) == 1


async def test_rate_limiter_is_called_for_declared_limits(db: Path) -> None:
    calls: list[tuple[str, str]] = []

    class Limiter:
        async def acquire(self, workspace_id: str, key: str, limit: Any) -> None:
            calls.append((workspace_id, key))
            assert limit.requests == 2

    nodes = [{"id": f"l{i}", "type": "action", "connector": "probe", "operation": "limited",
              "config": {"seconds": 0}} for i in range(3)]
    async with runtime_at(db, rate_limiter=Limiter()) as rt:
        result = await rt.run(wf(nodes, [("start", "l0"), ("l0", "l1"), ("l1", "l2")]), workspace_id="ws1")
    assert result["status"] == "completed"
    assert calls == [("ws1", "probe.limited")] * 3


async def test_real_rate_limiter_spaces_calls(db: Path) -> None:
    from connectors.ratelimit import RateLimiter

    nodes = [{"id": f"l{i}", "type": "action", "connector": "probe", "operation": "limited",
              "config": {"seconds": 0}} for i in range(3)]
    async with runtime_at(db, rate_limiter=RateLimiter()) as rt:
        t0 = time.perf_counter()
        result = await rt.run(wf(nodes, [("start", "l0"), ("start", "l1"), ("start", "l2")]))
        elapsed = time.perf_counter() - t0
    assert result["status"] == "completed"
    assert elapsed >= 0.4  # 2 per second: the third call waits for a token


async def test_dry_run_records_external_calls_and_runs_core(db: Path) -> None:
    remote = {"id": "call", "type": "action", "connector": "probe", "operation": "remote",
              "config": {"url": "https://api.example.com/{{ trigger.id }}", "count": 2}}
    workflow = wf([remote, {"id": "wait", "type": "action", "connector": "core", "operation": "delay",
                            "config": {"seconds": 3600}},
                   transform("use", "nodes.call.items[0].name & '/' & $string(nodes.call.status)")],
                  [("start", "call"), ("call", "wait"), ("wait", "use")])
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        first = await rt.run(workflow, {"id": 7}, dry_run=True)
        second = await rt.run(workflow, {"id": 7}, dry_run=True)
        logs = rt.store.logs(first["id"])
    assert time.perf_counter() - t0 < 5  # the one-hour delay is skipped
    assert first["status"] == "completed", first["error"]
    call = next(s for s in first["steps"] if s["node_id"] == "call")
    from tests.engine.runtime_helpers import RemoteOutput

    RemoteOutput.model_validate(call["output"])  # schema-valid sample
    assert call["output"] == next(s for s in second["steps"] if s["node_id"] == "call")["output"]  # deterministic
    assert first["output"]["value"].endswith("/100")
    recorded = json.loads(logs[0].meta)
    assert recorded["input"] == {"url": "https://api.example.com/7", "count": 2}
    assert "dry run" in logs[0].message


async def test_guardrail_passes_data_through(db: Path) -> None:
    guard = {"id": "check", "type": "guardrail", "kind": "schema", "origin": "guardrail",
             "config": {"schema": {"type": "object", "required": ["value"]}}}
    workflow = wf([transform("make", "{'a': 1}"), guard, transform("after", "nodes.check.value.a")],
                  [("start", "make"), ("make", "check"), ("check", "after")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed", result["error"]
    assert statuses(result)["check"] == "completed"
    assert result["output"] == {"value": 1}


async def test_guardrail_violation_fails_the_node(db: Path) -> None:
    guard = {"id": "check", "type": "guardrail", "kind": "schema",
             "config": {"schema": {"type": "object", "required": ["missing"]}}}
    workflow = wf([transform("make", "{'a': 1}"), guard], [("start", "make"), ("make", "check")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "guardrail_violation" and result["error"]["node_id"] == "check"


async def test_secret_seen_before_the_node_that_uses_it_is_redacted(db: Path) -> None:
    token = "tok-EARLY-LEAK-456"
    echo = {"id": "echo", "type": "action", "connector": "core", "operation": "set", "config": {"values": {"t": token}}}
    use = {"id": "use", "type": "action", "connector": "probe", "operation": "secret", "credential": "api"}
    async with runtime_at(db, credentials=DictVault({"api": {"token": token}})) as rt:
        result = await rt.run(wf([echo, use], [("start", "echo"), ("echo", "use")]))
    assert result["status"] == "completed"
    assert token not in json.dumps(result)
    assert next(s for s in result["steps"] if s["node_id"] == "echo")["output"] == {"t": "***"}


async def test_guardrail_first_in_a_loop_body_checks_the_item(db: Path) -> None:
    guard = {"id": "check", "type": "guardrail", "kind": "schema",
             "config": {"schema": {"type": "integer", "maximum": 5}}}
    body = {"nodes": [guard, transform("use", "nodes.check * 2")], "edges": [{"source": "check", "target": "use"}]}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "{{ trigger.values }}"}, "body": body}],
                  [("start", "each")])
    async with runtime_at(db) as rt:
        ok = await rt.run(workflow, {"values": [1, 2]})
        bad = await rt.run(workflow, {"values": [1, 9]})
    assert ok["output"] == [{"value": 2}, {"value": 4}]
    assert bad["status"] == "failed" and bad["error"]["code"] == "guardrail_violation"


async def test_guardrail_nodes_fail_clearly_without_the_guardrail_module(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "engine.guardrails" else real(name, *a))
    guard = {"id": "check", "type": "guardrail", "kind": "schema", "config": {"schema": {"type": "object"}}}
    async with runtime_at(db) as rt:
        result = await rt.run(wf([guard], [("start", "check")]))
    assert result["status"] == "failed"
    assert result["error"]["code"] == "guardrail_unavailable"
