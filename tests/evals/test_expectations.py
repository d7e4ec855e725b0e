"""Expectation checks on hand-made workflows: each rule passes the right answer and fails a wrong one."""

from __future__ import annotations

import copy

import pytest

from evals.expectations import Expect, UnchangedExpect, check, check_unchanged, same_zone


def action(node_id: str, connector: str, operation: str, config: dict | None = None, **extra) -> dict:
    return {"id": node_id, "type": "action", "connector": connector, "operation": operation,
            "config": config or {}, **extra}


def wf(nodes: list[dict], edges: list[tuple], trigger: dict | None = None) -> dict:
    trigger = trigger or {"id": "start", "type": "trigger", "kind": "manual"}
    return {
        "schema_version": "1", "name": "t", "nodes": [trigger, *nodes],
        "edges": [{"source": e[0], "target": e[1], **({"branch": e[2]} if len(e) > 2 else {})} for e in edges],
    }


def schedule(cron: str, tz: str | None = None) -> dict:
    config = {"cron": cron, **({"timezone": tz} if tz else {})}
    return wf([action("log", "core", "log", {"message": "hi"})], [("start", "log")],
              trigger={"id": "start", "type": "trigger", "kind": "schedule", "config": config})


def failures(workflow: dict, **expect) -> list[str]:
    return check(workflow, None, Expect.model_validate(expect))


@pytest.mark.parametrize(
    ("actual", "actual_tz", "ok"),
    [
        ("0 9 * * 1-5", "Europe/Berlin", True),
        ("0 9 * * MON-FRI", "Europe/Berlin", True),
        ("00 09 * * 1,2,3,4,5", "Europe/Berlin", True),
        ("0 9 * * *", "Europe/Berlin", False),  # every day is not weekdays
        ("0 8 * * 1-5", "UTC", False),  # right in winter, an hour off in summer
        ("0 9 * * 1-5", "UTC", False),
        ("not a cron", "Europe/Berlin", False),
    ],
)
def test_cron_equivalence_is_by_firing_times(actual: str, actual_tz: str, ok: bool) -> None:
    found = failures(schedule(actual, actual_tz),
                     trigger={"kind": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"})
    assert (found == []) is ok, found


def test_time_zone_aliases_are_the_same_zone() -> None:
    assert same_zone("US/Eastern", "America/New_York")
    assert not same_zone("Europe/London", "UTC")  # same in winter, not in summer
    assert failures(schedule("*/15 * * * *", "US/Eastern"),
                    trigger={"cron": "0,15,30,45 * * * *", "timezone": "America/New_York"}) == []


def test_cron_without_a_zone_demanded_compares_wall_clock_times() -> None:
    assert failures(schedule("30 17 * * *", "Asia/Tokyo"), trigger={"cron": "30 17 * * *"}) == []


def test_one_run_at_an_instant() -> None:
    once = wf([action("log", "core", "log", {"message": "x"})], [("start", "log")],
              trigger={"id": "start", "type": "trigger", "kind": "schedule",
                       "config": {"at": "2026-12-24T18:00:00", "timezone": "Europe/Paris"}})
    assert failures(once, trigger={"at": "2026-12-24T17:00:00Z"}) == []
    assert failures(once, trigger={"at": "2026-12-24T18:00:00Z"}) != []


BRANCHY = wf(
    [action("fetch", "http", "request", {"url": "https://api.example.com/orders"}),
     {"id": "big", "type": "condition", "config": {"expression": "nodes.fetch.body.total > 100"}},
     {"id": "ok", "type": "guardrail", "kind": "approval", "origin": "guardrail"},
     action("refund", "http", "request", {"method": "POST", "url": "https://pay.example.com/refund"}),
     action("note", "slack", "post_message", {"channel": "#ops", "text": "small"})],
    [("start", "fetch"), ("fetch", "big"), ("big", "ok", "true"), ("ok", "refund"), ("big", "note", "false")],
)


def test_operations_absent_types_counts_and_values() -> None:
    assert failures(BRANCHY, operations=["http.request", "slack.*"], absent=["email.send"],
                    node_types=["condition"], counts=[{"sel": "http.request", "min": 2, "max": 2}],
                    values=["#OPS", "api.example.com/orders"]) == []
    found = failures(BRANCHY, operations=["email.send"], absent=["slack.post_message"], node_types=["loop"],
                     counts=[{"sel": "http.request", "max": 1}], values=["#sales"])
    assert len(found) == 5


def test_selectors_with_where_pick_one_node_of_several() -> None:
    refund = {"sel": "http.request", "where": {"url": "refund"}}
    assert failures(BRANCHY, order=[["guardrail:approval", refund]]) == []
    # the approval is not before the *fetch* request
    assert failures(BRANCHY, order=[["guardrail:approval", {"sel": "http.request", "where": {"url": "orders"}}]])


def test_order_means_every_path() -> None:
    assert failures(BRANCHY, order=[["http.request", "condition"], ["condition", "slack.post_message"]]) == []
    bypass = copy.deepcopy(BRANCHY)
    bypass["edges"].append({"source": "big", "target": "refund", "branch": "false"})
    assert failures(bypass, order=[["guardrail:approval", {"sel": "http.request", "where": {"url": "refund"}}]])


def test_parallel_needs_independent_branches() -> None:
    fan = wf([action("a", "http", "request"), action("b", "database", "query"),
              {"id": "join", "type": "merge"}, action("c", "email", "send")],
             [("start", "a"), ("start", "b"), ("a", "join"), ("b", "join"), ("join", "c")])
    assert failures(fan, parallel=[["http.request", "database.query"]], order=[["merge", "email.send"]]) == []
    assert failures(fan, parallel=[["http.request", "email.send"]])


def test_routes_follow_branches_by_name_or_matched_value() -> None:
    routed = wf(
        [{"id": "by_priority", "type": "switch",
          "config": {"value": "trigger.priority", "cases": [{"name": "hot", "equals": "urgent"}]}},
         action("page", "slack", "post_message", {"channel": "#oncall", "text": "x"}),
         action("log", "core", "log", {"message": "later"})],
        [("start", "by_priority"), ("by_priority", "page", "hot"), ("by_priority", "log", "default")],
    )
    ok = failures(routed, routes=[{"from": "switch", "branch": "urgent", "to": "slack.post_message"},
                                  {"from": "switch", "branch": "hot", "to": "slack.post_message"},
                                  {"from": "switch", "branch": "default", "to": "core.log"}])
    assert ok == []
    assert failures(routed, routes=[{"from": "switch", "branch": "default", "to": "slack.post_message"}])
    assert failures(BRANCHY, routes=[{"from": "condition", "branch": "true", "to": "http.request"}]) == []
    assert failures(BRANCHY, routes=[{"from": "condition", "branch": "false", "to": {"sel": "http.request",
                                                                                       "where": {"url": "refund"}}}])


def test_error_routes_loops_fields_and_guardrails() -> None:
    flow = wf(
        [action("list", "http", "request", {"url": "https://x.example"}, on_error="route",
                retry={"max_attempts": 5, "backoff": "exponential"}),
         action("alert", "email", "send", {"to": ["ops@example.com"], "subject": "failed", "body": "x"}),
         {"id": "each", "type": "loop", "config": {"items": "{{ nodes.list.body }}", "batch_size": 10},
          "body": {"nodes": [action("save", "datastore", "insert", {"table": "rows", "values": {}})], "edges": []}}],
        [("start", "list"), ("list", "alert", "error"), ("list", "each")],
    )
    assert failures(
        flow,
        error_routes=[{"from": "http.request", "to": "email.send"}],
        in_loop=["datastore.insert"],
        fields=[{"sel": "http.request", "path": "retry.max_attempts", "equals": 5},
                {"sel": "loop", "path": "config.batch_size", "equals": 10},
                {"sel": "email.send", "path": "config.to", "contains": "OPS@example.com"},
                {"sel": "loop", "path": "config.max_items", "exists": False}],
    ) == []
    found = failures(flow, error_routes=[{"from": "email.send"}], in_loop=["email.send"], guardrails=["schema"],
                     fields=[{"sel": "http.request", "path": "retry.max_attempts", "gte": 6}])
    assert len(found) == 4


def test_questions() -> None:
    expect = Expect(question=True)
    assert check(None, "Which channel?", expect) == []
    assert check(BRANCHY, None, expect) == ["expected a clarifying question, got a workflow"]
    assert check(None, "Which channel?", Expect())[0].startswith("expected a workflow")


def test_nothing_else_changed() -> None:
    after = copy.deepcopy(BRANCHY)
    after["nodes"][-1]["config"]["channel"] = "#sales"
    spec = UnchangedExpect.model_validate({"except": ["slack.post_message"]})
    assert check_unchanged(BRANCHY, after, spec) == []
    assert check_unchanged(BRANCHY, after, UnchangedExpect())  # the edit itself was not allowed
    drifted = copy.deepcopy(after)
    drifted["nodes"][1]["config"]["url"] = "https://elsewhere.example"
    assert any("fetch" in f for f in check_unchanged(BRANCHY, drifted, spec))
    added = copy.deepcopy(after)
    added["nodes"].append(action("extra", "core", "log", {"message": "x"}))
    added["edges"].append({"source": "note", "target": "extra"})
    assert any("added" in f for f in check_unchanged(BRANCHY, added, spec))
    # a renamed but identical node still counts as unchanged; guardrail-origin nodes are ignored
    renamed = copy.deepcopy(after)
    renamed["nodes"][1]["id"] = "get_orders"
    for edge in renamed["edges"]:
        edge["source"] = "get_orders" if edge["source"] == "fetch" else edge["source"]
        edge["target"] = "get_orders" if edge["target"] == "fetch" else edge["target"]
    renamed["nodes"] = [n for n in renamed["nodes"] if n["id"] != "ok"]
    assert check_unchanged(BRANCHY, renamed, spec) == []
    assert check_unchanged(None, after, spec)


def test_steps_inserted_by_passes_are_not_the_users_steps() -> None:
    flow = wf([action("fetch", "http", "request", on_error="route"), action("total", "core", "transform", {"expression": "1"}),
               action("say", "core", "log", {"message": "x"}),
               action("report_failure", "core", "log", {"message": "failed"}, origin="guardrail")],
              [("start", "fetch"), ("fetch", "total"), ("total", "say"), ("fetch", "report_failure", "error")])
    # the inserted error log is reached without the transform, but it is not the log the user asked for
    assert failures(flow, order=[["core.transform", "core.log"]], counts=[{"sel": "core.log", "max": 1}]) == []
    assert failures(flow, error_routes=[{"from": "http.request"}]) == []
