"""Phrasings written to test how the local model generalizes (not taken from any eval split)."""

from __future__ import annotations

import pytest

from app.copilot.plan import Question, WorkflowPlan
from tests.app.copilot.local_chat import edges, node, of_type, ops, reply, workflow


def loop_body(wf: dict) -> tuple[list[str], set[tuple[str, str, str | None]]]:
    loop = of_type(wf, "loop")[0]
    body = loop["body"]
    return ([n["id"] for n in body["nodes"]],
            {(e["source"], e["target"], e.get("branch")) for e in body.get("edges", [])})


def test_switch_on_a_named_field_routes_by_that_field() -> None:
    wf = workflow("When an order webhook arrives (id, status, total), switch on status: paid → email ops@example.com, "
                  "refunded → post to #refunds, failed → post to #payments.")
    switch = of_type(wf, "switch")[0]
    assert switch["config"]["value"] == "trigger.body.status"
    assert [c["equals"] for c in switch["config"]["cases"]] == ["paid", "refunded", "failed"]
    assert ops(wf) == ["email.send", "slack.post_message", "slack.post_message"]


@pytest.mark.parametrize("text", [
    "Every morning at 7, fetch https://api.example.com/tickets and for each ticket, if the priority is high, post it to "
    "#support, otherwise add it to the datastore table backlog.",
    "Every day at 7, fetch https://api.example.com/tickets and for each ticket, if the priority is high post it to #support, "
    "otherwise add it to the backlog table.",
])
def test_if_else_inside_a_loop_keeps_both_branches(text: str) -> None:
    wf = workflow(text)
    ids, body_edges = loop_body(wf)
    condition = next(i for i in ids if i.startswith("check_"))
    assert node(wf, "datastore.insert")["config"]["table"] == "backlog"
    assert (condition, "post_to_support", "true") in body_edges
    assert any(src == condition and branch == "false" and tgt.startswith("save_to") for src, tgt, branch in body_edges)
    assert of_type(wf, "condition") == []  # the condition is inside the loop, not outside


def test_if_without_comma_inside_a_loop_splits_the_action_off() -> None:
    wf = workflow("Every day at 7, fetch https://api.example.com/tickets and for each ticket, if the priority is high post it "
                  "to #support, otherwise log it.")
    loop = of_type(wf, "loop")[0]
    condition = next(n for n in loop["body"]["nodes"] if n["type"] == "condition")
    assert condition["config"]["expression"] == 'item.priority = "high"'
    assert ops(wf) == ["http.request", "slack.post_message", "core.log"]


@pytest.mark.parametrize(("text", "operations"), [
    ("Translate the incoming webhook message (text) to French with AI and post it to #fr.",
     ["llm.complete", "slack.post_message"]),
    ("Summarize the webhook message (text) with AI and email the summary to team@example.com.",
     ["llm.summarize", "email.send"]),
    ("Save every incoming webhook payload (email, plan) to the datastore table subscriptions.", ["datastore.insert"]),
])
def test_a_webhook_named_as_the_object_of_the_first_step(text: str, operations: list[str]) -> None:
    wf = workflow(text)
    assert wf["nodes"][0]["config"]["method"] == "POST"
    assert wf["nodes"][0]["config"]["input_schema"]["required"]
    assert ops(wf) == operations


@pytest.mark.parametrize("text", [
    "Every Friday at 5pm, summarize the rows of the datastore table feedback with AI and email the summary to "
    "product@example.com.",
    "Every Monday at 8, use AI to summarize the feedback table and post it to #product.",
])
def test_ai_over_a_table_reads_the_table_first(text: str) -> None:
    wf = workflow(text)
    assert ops(wf)[:2] == ["datastore.query", "llm.summarize"]
    assert node(wf, "datastore.query")["config"]["table"] == "feedback"
    summary = node(wf, "llm.summarize")
    assert "look_up_in_feedback" in str(summary["config"])


def test_each_row_in_a_table_is_a_loop_over_the_table_not_a_question() -> None:
    wf = workflow("Every day at 8, classify each row in the datastore table tickets with AI as bug or feature and post the result "
                  "to #triage.")
    assert ops(wf)[:2] == ["datastore.query", "llm.classify"]
    assert of_type(wf, "loop")[0]["config"]["items"] == "{{ nodes.look_up_in_tickets.rows }}"
    assert node(wf, "llm.classify")["config"]["labels"] == ["bug", "feature"]


@pytest.mark.parametrize(("text", "url"), [
    ("When called with a webhook (user_id), fetch https://api.example.com/users/{{user_id}} and store the result in the "
     "users table.", "https://api.example.com/users/{{ trigger.body.user_id }}"),
    ("When I run it, fetch https://weather.example.com/api?city={{city}}&days={{days}} and post the forecast to #weather.",
     "https://weather.example.com/api?city={{ trigger.body.city }}&days={{ trigger.body.days }}"),
])
def test_double_brace_placeholders_in_urls(text: str, url: str) -> None:
    assert node(workflow(text), "http.request")["config"]["url"] == url


def test_inline_json_row_is_the_row_written() -> None:
    wf = workflow('Run the workflow by hand to upsert the row {"id": 1, "name": "Ann"} into the datastore table people.')
    assert wf["nodes"][0]["type"] == "trigger"
    upsert = node(wf, "datastore.upsert")
    assert upsert["config"]["rows"] == [{"id": 1, "name": "Ann"}]
    assert upsert["config"]["key_field"] == "id"


@pytest.mark.parametrize(("text", "operations"), [
    # every required value is given: no question
    ("When I click run, fetch https://api.example.com/users and email the list to ops@example.com.",
     ["http.request", "email.send"]),
    ("Run it manually: query the datastore table customers and post the count to #sales.",
     ["datastore.query", "slack.post_message"]),
    ("Manually, delete all rows from the datastore table temp where status is done.", ["datastore.delete"]),
    ("On demand, GET https://status.example.com/health and if the status is not ok, post an alert to #oncall.",
     ["http.request", "slack.post_message"]),
    ("When a ticket comes in via webhook (subject, body), classify it with AI into bug, billing or other and post it to "
     "#triage.", ["llm.classify", "slack.post_message"]),
    ("When a form is submitted (name, message), use AI to extract the company and email, then insert them into the leads "
     "table.", ["llm.extract", "datastore.insert"]),
    ("Every day at 9, ask AI to write a motivational quote and post it to #general.", ["llm.complete", "slack.post_message"]),
    ("When a support request comes in through a webhook (email, question), draft a reply with AI and email it back to the "
     "email.", ["llm.complete", "email.send"]),
    ("Each night at 2am, delete rows older than 30 days from the datastore table logs.", ["datastore.delete"]),
    ("Every weekday at 9am, query the datastore table tasks where status is open and email the list to pm@example.com.",
     ["datastore.query", "email.send"]),
    ("When a signup webhook arrives (email), wait 10 minutes, then send a welcome email to the email.",
     ["core.delay", "email.send"]),
])
def test_requests_that_give_every_value_get_no_question(text: str, operations: list[str]) -> None:
    plan = reply(text)
    assert isinstance(plan, WorkflowPlan), plan
    assert ops(workflow(text)) == operations


def test_a_truly_missing_recipient_is_still_asked() -> None:
    plan = reply("Every Sunday, email a summary of https://blog.example.com/feed.")
    assert isinstance(plan, Question)
    assert "email" in plan.question.lower()


def test_loop_branches_are_wired_in_order() -> None:
    wf = workflow("Every hour, get https://api.example.com/orders and loop over each order: if the total is above 500, "
                  "email sales@example.com, else do nothing.")
    assert ("trigger", "fetch_orders", None) in edges(wf)
    ids, body_edges = loop_body(wf)
    assert ids == ["check_total_500", "send_email"]
    assert body_edges == {("check_total_500", "send_email", "true")}


def test_depending_on_a_field_after_for_each_routes_inside_the_loop() -> None:
    wf = workflow("Every day at 6, fetch https://api.example.com/leads and for each lead, depending on the region: EU → post "
                  "to #eu, US → post to #us, anything else → log it.")
    loop = of_type(wf, "loop")[0]
    switch = next(n for n in loop["body"]["nodes"] if n["type"] == "switch")
    assert switch["config"]["value"] == "item.region"
    _, body_edges = loop_body(wf)
    assert {branch for src, _, branch in body_edges if src == switch["id"]} == {"eu", "us", "default"}


@pytest.mark.parametrize(("text", "field", "values"), [
    ("When a webhook receives an event (type, user), if the type is signup post to #growth, if the type is churn email "
     "cs@example.com, otherwise log it.", "trigger.body.type", ["signup", "churn"]),
    ("When a ticket webhook arrives (priority, title), if it is urgent page #oncall, if it is low log it.",
     "trigger.body.priority", ["urgent", "low"]),
])
def test_several_ifs_without_commas_are_one_switch(text: str, field: str, values: list[str]) -> None:
    wf = workflow(text)
    switch = of_type(wf, "switch")[0]
    assert switch["config"]["value"] == field
    assert [c["equals"] for c in switch["config"]["cases"]] == values
    assert of_type(wf, "condition") == []


def test_set_fixed_values_is_a_core_step_not_a_url_question() -> None:
    wf = workflow("Manually run: set the status to 'ready' and post it to #deploys.")
    assert ops(wf) == ["core.set", "slack.post_message"]
    assert node(wf, "core.set")["config"]["values"] == {"status": "ready"}


@pytest.mark.parametrize(("text", "expression"), [
    ("Every hour, fetch https://api.example.com/jobs and stop with an error if the status code is not 200.",
     "nodes.fetch_jobs.status != 200"),
    ("Every hour, fetch https://api.example.com/jobs; if the status is failed, stop the run with an error, otherwise post "
     "the result to #jobs.", 'nodes.fetch_jobs.body.status = "failed"'),
])
def test_stopping_with_an_error_is_a_fail_step_after_the_fetch(text: str, expression: str) -> None:
    wf = workflow(text)
    condition = of_type(wf, "condition")[0]
    assert condition["config"]["expression"] == expression
    assert ("trigger", "fetch_jobs", None) in edges(wf)
    assert ("fetch_jobs", condition["id"], None) in edges(wf)
    fail = node(wf, "core.fail")
    assert (condition["id"], fail["id"], "true") in edges(wf)


@pytest.mark.parametrize(("text", "url"), [
    ("When a webhook arrives (url), fetch that url and save the response to the pages table.", "{{ trigger.body.url }}"),
    ("When a webhook receives a page_url, download the page_url and summarize it with AI, then post the summary to "
     "#reading.", "{{ trigger.body.page_url }}"),
])
def test_a_url_given_by_the_payload_is_not_asked_for(text: str, url: str) -> None:
    assert node(workflow(text), "http.request")["config"]["url"] == url


def test_manual_run_with_a_named_input() -> None:
    wf = workflow("Let me trigger it by hand with an order_id input, then look up the order in the orders table and send "
                  "it to billing@example.com.")
    assert wf["nodes"][0]["config"]["input_schema"]["required"] == ["order_id"]
    assert ops(wf) == ["datastore.query", "email.send"]


def test_a_named_address_field_of_loop_items() -> None:
    wf = workflow("Every day at 8, query SELECT * FROM invoices WHERE due < date('now') on billing_db, and for each "
                  "invoice, email the customer_email a reminder.")
    assert node(wf, "email.send")["config"]["to"] == "{{ item.customer_email }}"
    assert node(wf, "database.query")["credential"] == "billing_db"


def test_a_condition_before_an_approval_is_kept() -> None:
    wf = workflow("When an invoice webhook arrives (amount, customer), if the amount is more than 5000, ask for approval and "
                  "then POST it to https://erp.example.com/invoices.")
    condition = of_type(wf, "condition")[0]
    assert condition["config"]["expression"] == "trigger.body.amount > 5000"
    assert ("trigger", condition["id"], None) in edges(wf)
    approval = next(n for n in wf["nodes"] if n["type"] == "guardrail")
    assert (condition["id"], approval["id"], "true") in edges(wf)
    assert (approval["id"], node(wf, "http.request")["id"], None) in edges(wf)


def test_look_up_by_a_payload_field_filters_the_rows() -> None:
    wf = workflow("When a webhook comes in (email), look up the customer by email in the customers table and post their "
                  "plan to #cs.")
    assert node(wf, "datastore.query")["config"]["where"] == {"email": "{{ trigger.body.email }}"}


@pytest.mark.parametrize(("text", "expression"), [
    ("Every hour, check https://example.com and if it's down, email alerts@example.com.", "nodes.fetch_example.status >= 400"),
    ("Every 5 minutes, ping https://shop.example.com; if the site is not up, post to #ops.", ".status >= 400"),
])
def test_a_site_being_down_reads_the_http_status(text: str, expression: str) -> None:
    assert of_type(workflow(text), "condition")[0]["config"]["expression"].endswith(expression)


@pytest.mark.parametrize(("text", "expression", "last"), [
    ("Every hour, fetch https://api.example.com/orders, keep only orders with status pending, and post them to "
     "#fulfillment.", 'nodes.fetch_orders.body[status = "pending"]', "slack.post_message"),
    ("Every day at 8, fetch https://api.example.com/orders, filter them to those over 100 and email them to big@example.com.",
     "nodes.fetch_orders.body[total > 100]", "email.send"),
])
def test_keep_only_is_a_filter_step_between_fetch_and_send(text: str, expression: str, last: str) -> None:
    wf = workflow(text)
    assert ops(wf) == ["http.request", "core.transform", last]
    transform = node(wf, "core.transform")
    assert transform["config"]["expression"] == expression
    assert (transform["id"], node(wf, last)["id"], None) in edges(wf)


def test_a_channel_given_by_the_payload_is_not_asked_for() -> None:
    wf = workflow("When a webhook receives a message (text, channel), post the text to the channel.")
    post = node(wf, "slack.post_message")
    assert post["config"] == {"channel": "{{ trigger.body.channel }}", "text": "{{ trigger.body.text }}"}


def test_a_payment_that_succeeds_is_a_webhook_and_the_customer_is_its_email() -> None:
    wf = workflow("When a Stripe payment succeeds (amount, email), add a row to the payments table and send a receipt to the "
                  "customer.")
    assert wf["nodes"][0]["config"]["input_schema"]["required"] == ["amount", "email"]
    assert ops(wf) == ["datastore.insert", "email.send"]
    assert node(wf, "email.send")["config"]["to"] == "{{ trigger.body.email }}"


def test_to_each_of_them_loops_over_what_came_before() -> None:
    wf = workflow("Every evening at 6, get the list of new signups from the signups table and send a welcome email to each "
                  "of them.")
    loop = of_type(wf, "loop")[0]
    assert loop["config"]["items"] == "{{ nodes.look_up_in_signups.rows }}"
    assert node(wf, "email.send")["config"]["to"] == "{{ item.email }}"


def test_storing_each_item_in_a_table_writes_it_there() -> None:
    wf = workflow("Fetch https://api.example.com/prices every hour and store each price in the datastore table prices.")
    assert ops(wf) == ["http.request", "datastore.insert"]
    assert of_type(wf, "loop")[0]["config"]["items"] == "{{ nodes.fetch_prices.body }}"
    assert node(wf, "datastore.insert")["config"] == {"table": "prices", "rows": "{{ [item] }}"}


def test_an_ai_report_from_a_table_reads_it_and_writes_with_the_model() -> None:
    wf = workflow("Every Sunday at 8pm, generate a weekly report with AI from the datastore table metrics and email it to "
                  "ceo@example.com.")
    assert ops(wf) == ["datastore.query", "llm.complete", "email.send"]
    assert node(wf, "email.send")["config"]["body"] == "{{ nodes.write_weekly_report.text }}"


def test_labels_after_the_payload_fields_are_the_labels() -> None:
    wf = workflow("Classify incoming support emails sent to our webhook (subject, body) as urgent or normal and post urgent "
                  "ones to #support.")
    assert node(wf, "llm.classify")["config"]["labels"] == ["urgent", "normal"]
    condition = of_type(wf, "condition")[0]
    assert condition["config"]["expression"] == 'nodes.classify.label = "urgent"'
    assert (condition["id"], "post_to_support", "true") in edges(wf)
