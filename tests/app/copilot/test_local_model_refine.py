"""Refinement with the local model: edits to the current plan that leave the rest untouched."""

from __future__ import annotations

from typing import Any

import pytest

from app.copilot.plan import EditPlan, Question, WorkflowPlan, apply_edits, compile_plan
from engine.validation import validate_workflow
from tests.app.copilot.local_chat import REGISTRY, edges, node, ops, reply

BASE_REQUEST = ("Every Monday at 9am Berlin time, fetch sales from https://api.example.com/sales, summarize them "
                "and email the summary to alice@example.com")


@pytest.fixture(scope="module")
def base() -> WorkflowPlan:
    plan = reply(BASE_REQUEST)
    assert isinstance(plan, WorkflowPlan)
    return plan


def refined(base: WorkflowPlan, text: str) -> tuple[EditPlan, dict[str, Any], dict[str, Any]]:
    edit = reply(text, plan=base)
    assert isinstance(edit, EditPlan), edit
    before = compile_plan(base, REGISTRY)
    after = compile_plan(apply_edits(base, edit), REGISTRY)
    assert validate_workflow(after, REGISTRY).ok
    return edit, before, after


def unchanged_except(before: dict[str, Any], after: dict[str, Any], *changed: str) -> None:
    old = {n["id"]: n for n in before["nodes"] if n["id"] not in changed}
    new = {n["id"]: n for n in after["nodes"]}
    for node_id, original in old.items():
        assert new.get(node_id) == original, node_id


def test_also_post_it_to_a_channel(base: WorkflowPlan) -> None:
    _, before, after = refined(base, "also post it to #sales")
    slack = node(after, "slack.post_message")
    assert slack["config"] == {"channel": "#sales", "text": "{{ nodes.summarize.summary }}"}
    unchanged_except(before, after)
    assert len(after["nodes"]) == len(before["nodes"]) + 1


def test_make_it_fridays_keeps_time_and_zone(base: WorkflowPlan) -> None:
    _, before, after = refined(base, "make it Fridays instead")
    assert after["nodes"][0]["config"] == {"cron": "0 9 * * 5", "timezone": "Europe/Berlin"}
    unchanged_except(before, after, "trigger")


def test_new_time_keeps_the_days(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "run it at 10:30 instead")
    assert after["nodes"][0]["config"]["cron"] == "30 10 * * 1"


def test_zone_only(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "use London time")
    assert after["nodes"][0]["config"] == {"cron": "0 9 * * 1", "timezone": "Europe/London"}


def test_remove_a_step_reconnects_the_rest(base: WorkflowPlan) -> None:
    _, before, after = refined(base, "remove the summary step")
    assert "llm.summarize" not in ops(after)
    fetch, email = node(after, "http.request"), node(after, "email.send")
    assert (fetch["id"], email["id"], None) in edges(after)
    assert ops(before) == ["http.request", "llm.summarize", "email.send"]


def test_add_a_recipient(base: WorkflowPlan) -> None:
    _, before, after = refined(base, "send it to bob@example.com too")
    assert node(after, "email.send")["config"]["to"] == ["alice@example.com", "bob@example.com"]
    unchanged_except(before, after, "send_email")


def test_replace_the_recipient(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "send it to carol@example.com instead")
    assert node(after, "email.send")["config"]["to"] == ["carol@example.com"]


def test_retry_only_the_named_step(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "retry the fetch up to 4 times")
    assert node(after, "http.request")["retry"]["max_attempts"] == 4
    assert "retry" not in node(after, "email.send")


def test_rename(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "rename it to 'Weekly digest'")
    assert after["name"] == "Weekly digest"


def test_wait_before_a_step(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "wait 10 minutes before sending the email")
    delay, email = node(after, "core.delay"), node(after, "email.send")
    assert delay["config"] == {"seconds": 600.0}
    assert (delay["id"], email["id"], None) in edges(after)


def test_condition_in_front_of_the_email(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "only send it if the total is over 1000")
    [condition] = [n for n in after["nodes"] if n["type"] == "condition"]
    assert condition["config"]["expression"] == "nodes.fetch_sales.body.total > 1000"
    assert (condition["id"], node(after, "email.send")["id"], "true") in edges(after)


def test_another_action_goes_after_the_output(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "also save the sales to the sales_archive table")
    store = node(after, "datastore.insert")
    assert store["config"]["table"] == "sales_archive"
    assert "nodes.fetch_sales.body" in store["config"]["rows"]


def test_change_the_channel() -> None:
    plan = reply("When a deal closes via webhook, post it to #sales")
    assert isinstance(plan, WorkflowPlan)
    edit = reply("use #wins instead of #sales", plan=plan)
    assert isinstance(edit, EditPlan)
    after = compile_plan(apply_edits(plan, edit), REGISTRY)
    assert node(after, "slack.post_message")["config"]["channel"] == "#wins"


def test_remove_the_slack_step_of_a_two_channel_workflow() -> None:
    plan = reply("Every day at 9am, fetch https://x.example.com/a and email it to a@example.com and post it to #ops")
    assert isinstance(plan, WorkflowPlan)
    edit = reply("remove the Slack step", plan=plan)
    assert isinstance(edit, EditPlan)
    after = compile_plan(apply_edits(plan, edit), REGISTRY)
    assert "slack.post_message" not in ops(after) and "email.send" in ops(after)


def test_unclear_change_asks(base: WorkflowPlan) -> None:
    assert isinstance(reply("make it better", plan=base), Question)


def test_a_new_workflow_is_planned_from_scratch(base: WorkflowPlan) -> None:
    answer = reply("Create a new workflow: every day at noon post 'lunch' to #general", plan=base)
    assert isinstance(answer, WorkflowPlan)


def test_retry_with_fixed_wait_and_a_correction(base: WorkflowPlan) -> None:
    _, _, after = refined(base, "Retry the fetch twice more with a fixed 30 second wait.")
    assert node(after, "http.request")["retry"] == {"max_attempts": 3, "backoff": "fixed", "initial_delay_s": 30.0}
    _, _, after = refined(base, "Use Osaka time... no wait, London time.")
    assert after["nodes"][0]["config"]["timezone"] == "Europe/London"


def test_refining_a_polling_workflow_keeps_its_while_loop() -> None:
    """The current plan the model reads carries the loop's ``while`` (it used to be dropped, and the
    refined workflow came back as a for-each loop over nothing)."""
    from app.copilot.plan import plan_from_workflow

    stored = {"schema_version": "1", "name": "Export", "nodes": [
        {"id": "trigger", "type": "trigger", "kind": "manual"},
        {"id": "until_ready", "type": "loop",
         "config": {"while": "previous.check_export.body.status != 'ready'", "max_iterations": 20, "delay_s": 60,
                    "output": "last"},
         "body": {"nodes": [{"id": "check_export", "type": "action", "connector": "http", "operation": "request",
                             "config": {"method": "GET", "url": "https://api.example.com/exports/1"}}],
                  "edges": []}}],
        "edges": [{"source": "trigger", "target": "until_ready"}]}
    assert validate_workflow(stored, REGISTRY).ok
    current = plan_from_workflow(stored)
    _, before, after = refined(current, "also email the result to bob@example.com")
    loops = [next(n for n in d["nodes"] if n["id"] == "until_ready") for d in (before, after)]
    assert loops[0] == loops[1] and loops[1]["config"] == {
        "while": "previous.check_export.body.status != 'ready'", "max_concurrency": 1, "max_iterations": 20,
        "delay_s": 60, "output": "last"}
    assert "email.send" in ops(after)


def test_refinements_in_words_people_use() -> None:
    """'a retry of 5 times', 'only the ones over 50', 'add an approval step before the post',
    'can the AI summarize it first in 50 words and send me the summary instead?'."""
    from app.copilot.plan import GuardrailStep

    base = reply("When our webhook gets a new order (order_id, total, customer), post 'New order <order_id>' to #orders")
    assert isinstance(base, WorkflowPlan)
    retry = reply("could you add a retry of 5 times?", plan=base)
    assert isinstance(retry, EditPlan)
    assert [s.max_attempts for s in apply_edits(base, retry).steps if s.id == "post_to_orders"] == [5]
    only = reply("actualy only the ones over 50", plan=base)
    assert isinstance(only, EditPlan)
    checks = [s for s in apply_edits(base, only).steps if s.type == "condition"]
    assert [c.expression for c in checks] == ["trigger.body.total > 50"]
    gate = reply("add an approval step before the post", plan=base)
    assert isinstance(gate, EditPlan)
    gated = apply_edits(base, gate)
    approval = next(s for s in gated.steps if isinstance(s, GuardrailStep))
    assert approval.kind == "approval" and next(s for s in gated.steps if s.id == "post_to_orders").after == [approval.id]
    first = reply("people write novels in there. can the AI summarize it first in 50 words and post the summary instead?",
                  plan=base)
    assert isinstance(first, EditPlan)
    summarized = apply_edits(base, first)
    summary = next(s for s in summarized.steps if getattr(s, "operation", None) == "summarize")
    post = next(s for s in summarized.steps if s.id == "post_to_orders")
    assert post.config["text"] == f"{{{{ nodes.{summary.id}.summary }}}}"
