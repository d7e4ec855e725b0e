"""The local model end to end: a chat (real prompt templates) → CopilotResponse JSON → format v1."""

from __future__ import annotations

import json
import time

import pytest

from app.copilot.local_model import respond
from app.copilot.plan import CopilotResponse, Question
from tests.app.copilot.local_chat import SCHEMA, actions, chat, edges, node, of_type, ops, reply, workflow


def test_schedule_fetch_summarize_email() -> None:
    wf = workflow("Every Monday at 9am Berlin time, fetch last week's sales from https://api.example.com/sales "
                  "and email a summary to alice@example.com")
    trigger = wf["nodes"][0]
    assert trigger["config"] == {"cron": "0 9 * * 1", "timezone": "Europe/Berlin"}
    assert ops(wf) == ["http.request", "llm.summarize", "email.send"]
    email = node(wf, "email.send")
    assert email["config"]["to"] == ["alice@example.com"]
    assert "nodes.summarize.summary" in email["config"]["body"]
    assert node(wf, "http.request")["config"] == {"method": "GET", "url": "https://api.example.com/sales"}


def test_webhook_with_fields_posts_to_slack() -> None:
    wf = workflow("When a form is submitted with name, email and message, post it to #leads on Slack")
    trigger = wf["nodes"][0]
    assert trigger["kind"] == "webhook" and trigger["config"]["method"] == "POST"
    assert trigger["config"]["input_schema"]["required"] == ["name", "email", "message"]
    slack = node(wf, "slack.post_message")
    assert slack["config"]["channel"] == "#leads"
    assert "trigger.body" in slack["config"]["text"]


def test_condition_with_otherwise_branch() -> None:
    wf = workflow("Every weekday at 8:30, get the open tickets from https://support.example.com/api/tickets. "
                  "If there are more than 10, post an alert to #support, otherwise log it.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == "$count(nodes.fetch_open_tickets.body) > 10"
    slack, log = node(wf, "slack.post_message"), node(wf, "core.log")
    assert (condition["id"], slack["id"], "true") in edges(wf)
    assert (condition["id"], log["id"], "false") in edges(wf)


def test_amount_threshold_on_webhook_data() -> None:
    wf = workflow("When Stripe sends a payment event, if the amount is over $500, post to #finance, "
                  "otherwise save it to the payments table.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == "trigger.body.amount > 500"
    assert node(wf, "datastore.insert")["config"]["table"] == "payments"


def test_classify_then_route_by_category() -> None:
    wf = workflow("When a new support ticket arrives via webhook, classify it as bug, feature request or question. "
                  "Route by category: bug → post to #bugs, feature request → email product@example.com, "
                  "question → post to #help.")
    classify = node(wf, "llm.classify")
    assert classify["config"]["labels"] == ["bug", "feature request", "question"]
    [switch] = of_type(wf, "switch")
    assert switch["config"]["value"] == f"nodes.{classify['id']}.label"
    assert [c["equals"] for c in switch["config"]["cases"]] == ["bug", "feature request", "question"]
    routed = {t: b for s, t, b in edges(wf) if s == switch["id"]}
    assert sorted(routed.values()) == ["bug", "feature_request", "question"]


def test_priority_routing_with_arrows_and_default() -> None:
    wf = workflow("When a ticket comes in via webhook, route it by priority: urgent → post to #oncall, "
                  "high → post to #support, otherwise → log it")
    [switch] = of_type(wf, "switch")
    assert switch["config"]["value"] == "trigger.body.priority"
    branches = {b for s, _, b in edges(wf) if s == switch["id"]}
    assert branches == {"urgent", "high", "default"}


def test_multi_if_becomes_a_switch() -> None:
    wf = workflow("When an incident is reported via webhook: if the severity is critical, email oncall@example.com; "
                  "if it is major, post to #incidents; otherwise log it.")
    [switch] = of_type(wf, "switch")
    assert [c["equals"] for c in switch["config"]["cases"]] == ["critical", "major"]
    assert switch["config"]["value"] == "trigger.body.severity"


def test_loop_over_fetched_customers() -> None:
    wf = workflow("Every night at 2am, fetch customers from https://crm.example.com/customers and for each "
                  "customer, send them an email with their account summary.")
    [loop] = of_type(wf, "loop")
    assert loop["config"]["items"] == "{{ nodes.fetch_customers.body }}"
    [email] = loop["body"]["nodes"]
    assert email["operation"] == "send" and email["config"]["to"] == "{{ item.email }}"


def test_batches_of_ten() -> None:
    wf = workflow("Every 15 minutes, fetch orders from https://shop.example.com/orders and insert the orders "
                  "into the orders table in batches of 10.")
    [loop] = of_type(wf, "loop")
    assert loop["config"]["batch_size"] == 10
    assert loop["body"]["nodes"][0]["connector"] == "datastore"


def test_n_at_a_time_is_how_many_run_at_once() -> None:
    wf = workflow("Every 15 minutes, fetch orders from https://shop.example.com/orders and insert each order "
                  "into the orders table, 10 at a time.")
    [loop] = of_type(wf, "loop")
    assert loop["config"]["max_concurrency"] == 10
    assert "batch_size" not in loop["config"]
    assert loop["body"]["nodes"][0]["connector"] == "datastore"


def test_parallel_fetches_then_merge() -> None:
    wf = workflow("Every hour, fetch https://a.example.com/x and https://b.example.com/y at the same time, "
                  "then combine the results and save them to the metrics table.")
    fetches = [n for n in actions(wf) if n["connector"] == "http"]
    assert len(fetches) == 2
    [merge] = of_type(wf, "merge")
    assert {(f["id"], merge["id"], None) for f in fetches} <= edges(wf)
    assert ("trigger", fetches[0]["id"], None) in edges(wf) and ("trigger", fetches[1]["id"], None) in edges(wf)
    assert (merge["id"], node(wf, "datastore.insert")["id"], None) in edges(wf)


def test_delay_before_follow_up_to_the_sender() -> None:
    wf = workflow("When a user signs up, wait 2 days and then send them a follow-up email")
    delay = node(wf, "core.delay")
    assert delay["config"] == {"seconds": 172800.0}
    email = node(wf, "email.send")
    assert email["config"]["to"] == "{{ trigger.body.email }}"
    assert (delay["id"], email["id"], None) in edges(wf)


def test_retries_and_failure_path() -> None:
    wf = workflow("Every day at 6pm, call https://api.example.com/sync, retry up to 5 times, and if it still "
                  "fails, email ops@example.com")
    call = node(wf, "http.request")
    assert call["retry"]["max_attempts"] == 5 and call["on_error"] == "route"
    email = node(wf, "email.send")
    assert (call["id"], email["id"], "error") in edges(wf)
    assert email["config"]["to"] == ["ops@example.com"]


def test_extract_fields_then_store() -> None:
    wf = workflow("When a webhook receives a support email, extract the name, email and order number, "
                  "then save them to the tickets table.")
    extract = node(wf, "llm.extract")
    assert list(extract["config"]["fields"]) == ["name", "email", "order_number"]
    store = node(wf, "datastore.insert")
    assert "nodes.extract_fields.data" in store["config"]["rows"]


def test_summarize_from_url_fetches_first_and_uses_zone() -> None:
    wf = workflow("At 5pm Tokyo time, summarize the day's orders from https://shop.example.com/api/orders and "
                  "post the summary to #daily")
    assert wf["nodes"][0]["config"] == {"cron": "0 17 * * *", "timezone": "Asia/Tokyo"}
    assert ops(wf) == ["http.request", "llm.summarize", "slack.post_message"]


def test_email_and_channel_in_one_clause_give_two_steps() -> None:
    wf = workflow("Every Friday at 4pm, send the weekly report from https://reports.example.com/weekly "
                  "to bob@example.com and #team")
    assert "email.send" in ops(wf) and "slack.post_message" in ops(wf)


def test_workspace_time_zone_applies_when_none_is_said() -> None:
    wf = workflow("Every weekday at 8:30 post 'Stand-up in 5 minutes' to #dev", preferences={"timezone": "Europe/Paris"})
    assert wf["nodes"][0]["config"] == {"cron": "30 8 * * 1-5", "timezone": "Europe/Paris"}
    assert node(wf, "slack.post_message")["config"]["text"] == "Stand-up in 5 minutes"


def test_default_email_preference_fills_email_me() -> None:
    wf = workflow("Every morning at 7, email me the weather from https://weather.example.com/today",
                  preferences={"default email": "me@example.com"})
    assert node(wf, "email.send")["config"]["to"] == ["me@example.com"]


@pytest.mark.parametrize(("text", "missing"), [
    ("Send the report to the team every Friday", "recipient (email address or Slack channel)"),
    ("Every so often check the website", "schedule"),
    ("Every morning, email the sales numbers from https://x.example.com/sales", "email recipient"),
    ("When a form is submitted, post it to Slack", "slack channel"),
    ("Every day at 9, fetch the orders and email them to ops@example.com", "url"),
    ("When a lead arrives via webhook, save it", "table name"),
    ("Every day at noon, run a query on the database", "sql"),
    ("", "request"),
])
def test_missing_values_become_one_question(text: str, missing: str) -> None:
    answer = reply(text)
    assert isinstance(answer, Question), answer
    assert answer.missing == [missing]
    assert answer.question.endswith("?")


def test_answer_to_a_question_completes_the_request() -> None:
    history = [{"role": "user", "content": "Send the report from https://r.example.com/weekly to the team every Friday at 9"},
               {"role": "assistant", "content": "Where should I send the report: which email address(es) or Slack channel?"}]
    wf = workflow("team@example.com", history=history)
    assert node(wf, "email.send")["config"]["to"] == ["team@example.com"]
    assert wf["nodes"][0]["config"]["cron"] == "0 9 * * 5"


def test_reask_message_is_not_taken_as_the_request() -> None:
    history = [{"role": "user", "content": "Every day at 9am post 'hello' to #general"},
               {"role": "assistant", "content": "{}"}]
    wf = workflow("Your reply does not give a valid workflow. Fix these problems: ...", history=history)
    assert node(wf, "slack.post_message")["config"]["channel"] == "#general"


def test_answers_are_deterministic_and_fast() -> None:
    messages = chat("Every Monday at 9am, fetch https://api.example.com/a, summarize it and post it to #news")
    first = respond(messages, SCHEMA)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert respond(messages, SCHEMA) == first
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[2] < 0.3


def test_plain_text_without_schema_is_labelled() -> None:
    answer = respond([{"role": "user", "content": "hello"}], None)
    assert answer.startswith("[local model]")


def test_unknown_schema_gets_a_valid_instance() -> None:
    schema = {"title": "Other", "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert json.loads(respond([{"role": "user", "content": "x"}], schema)) == {"a": 0}


def test_odd_input_never_breaks_the_model() -> None:
    import random

    from app.copilot.plan import EditPlan, PlanInvalidError, WorkflowPlan, apply_edits, compile_plan
    from engine.validation import validate_workflow
    from tests.app.copilot.local_chat import REGISTRY

    vocabulary = ("every monday at 9am tokyo time fetch https://a.example.com/x email bob@example.com post to #ops if the "
                  "total is over 500 otherwise log it for each customer send them 10 at a time at the same time combine "
                  "wait 2 days retry up to 5 times when it still fails summarize classify as a, b or c extract name and "
                  "email save in the datastore table t1 when a webhook receives (a, b) by priority: urgent → #x, high → #y "
                  "run SELECT * FROM t on db1 'quoted text' manually twice a day , . ; : then also instead remove the "
                  "slack step per region in parallel whichever answers first {\"k\": 1} → -> = > <").split(" ")
    rng = random.Random(7)
    for _ in range(60):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 25)))
        answer = CopilotResponse.model_validate_json(respond(chat(text), SCHEMA)).reply
        if isinstance(answer, WorkflowPlan):
            try:
                document = compile_plan(answer, REGISTRY)
            except PlanInvalidError:
                continue
            assert validate_workflow(document, REGISTRY).ok, text
            change = " ".join(rng.choice(vocabulary) for _ in range(6))
            edit = CopilotResponse.model_validate_json(respond(chat(change, plan=answer), SCHEMA)).reply
            if isinstance(edit, EditPlan):
                try:
                    apply_edits(answer, edit)
                except PlanInvalidError:
                    pass


def test_a_day_without_a_time_is_asked_not_assumed() -> None:
    answer = reply("Every weekday post 'Remember to log your hours' to #timesheets.")
    assert isinstance(answer, Question) and "time" in answer.question
    assert not isinstance(reply("Every weekday at 6pm post 'Remember to log your hours' to #timesheets."), Question)
    assert not isinstance(reply("Every morning post 'Remember to log your hours' to #timesheets."), Question)


def test_sending_what_a_query_returns_runs_the_query_first() -> None:
    wf = workflow("Please send daily at 7:00 UTC the open invoices from our postgres "
                  "(SELECT invoice_no, amount FROM invoices WHERE paid = false) per email to books@example.com.")
    assert ops(wf)[:2] == ["database.query", "email.send"]
    query, email = node(wf, "database.query"), node(wf, "email.send")
    assert query["config"]["sql"].startswith("SELECT invoice_no")
    assert (query["id"], email["id"], None) in edges(wf)
    assert "nodes." + query["id"] in email["config"]["body"]
