"""Many phrasings through the local model: the key facts of each answer (written for these tests)."""

from __future__ import annotations

from typing import Any

import pytest

from app.copilot.plan import EditPlan, Question, WorkflowPlan, apply_edits, compile_plan
from engine.validation import validate_workflow
from tests.app.copilot.local_chat import REGISTRY, actions, edges, node, of_type, ops, reply, workflow


def trigger_config(wf: dict[str, Any]) -> dict[str, Any]:
    return wf["nodes"][0].get("config", {})


@pytest.mark.parametrize(("text", "cron", "zone", "operations"), [
    ("Every Tuesday and Thursday at 14:15 Paris time, pull open invoices from https://erp.example.com/api/invoices "
     "and post a summary to #billing.", "15 14 * * 2,4", "Europe/Paris", ["http.request", "llm.summarize", "slack.post_message"]),
    ("At 23:30 every Sunday, delete rows older than 7 days from the datastore table temp_files.",
     "30 23 * * 0", None, ["datastore.delete"]),
    ("Every 2 hours, fetch https://api.example.com/metrics and save the response into the metrics table.",
     "0 */2 * * *", None, ["http.request", "datastore.insert"]),
    ("Hourly between 8am and 6pm on weekdays, GET https://queue.example.com/size.", "0 8-18 * * 1-5", None, ["http.request"]),
    ("On the 15th of each month at noon London time, run SELECT sum(amount) AS total FROM payments on billing_db and "
     "email the total to cfo@example.com.", "0 12 15 * *", "Europe/London", ["database.query", "email.send"]),
    ("Remind #standup every weekday at 9:55 with the message 'Standup in 5 minutes'.", "55 9 * * 1-5", None,
     ["slack.post_message"]),
    ("Twice a day at 9am and 6pm Tokyo time, fetch https://fx.example.com/rates and store them in the datastore table "
     "fx_rates.", "0 9,18 * * *", "Asia/Tokyo", ["http.request", "datastore.insert"]),
    ("Send a daily reminder email to team@example.com at 4:30pm saying 'Submit your timesheets'.", "30 16 * * *", None,
     ["email.send"]),
    ("Post a weekly digest of the datastore table signups to #growth every Monday at 10am.", "0 10 * * 1", None,
     ["datastore.query", "llm.summarize", "slack.post_message"]),
    ("Every day at 10pm Sydney time, back up the datastore table orders by POSTing its rows to "
     "https://backup.example.com/api/orders.", "0 22 * * *", "Australia/Sydney", ["datastore.query", "http.request"]),
])
def test_scheduled_workflows(text: str, cron: str, zone: str | None, operations: list[str]) -> None:
    wf = workflow(text)
    assert trigger_config(wf).get("cron") == cron
    assert trigger_config(wf).get("timezone") == zone
    assert ops(wf) == operations


def test_database_credential_and_sql_are_read_from_the_sentence() -> None:
    wf = workflow("On the 15th of each month at noon, run SELECT sum(amount) AS total FROM payments on billing_db "
                  "and email the total to cfo@example.com.")
    query = node(wf, "database.query")
    assert query["config"]["sql"] == "SELECT sum(amount) AS total FROM payments"
    assert query["credential"] == "billing_db"


def test_sql_parameters_bind_to_webhook_fields() -> None:
    wf = workflow("When a webhook receives a customer_id, look up orders in shop_db (SELECT * FROM orders WHERE "
                  "customer_id = :customer_id) and post the result to #support.")
    query = node(wf, "database.query")
    assert query["config"]["params"] == {"customer_id": "{{ trigger.body.customer_id }}"}


def test_contact_form_fields_become_rows() -> None:
    wf = workflow("Whenever a customer submits the contact form (name, email, phone), store it in the datastore table "
                  "contacts and notify #sales on Slack.")
    assert node(wf, "datastore.insert")["config"]["rows"] == [
        {"name": "{{ trigger.body.name }}", "email": "{{ trigger.body.email }}", "phone": "{{ trigger.body.phone }}"}]
    assert wf["nodes"][0]["config"]["input_schema"]["required"] == ["name", "email", "phone"]


def test_the_payloads_address_field_receives_the_email() -> None:
    wf = workflow("When a payment fails (customer_email, amount) via webhook, email the customer with the subject "
                  "'Payment failed' and also post to #billing.")
    assert node(wf, "email.send")["config"]["to"] == "{{ trigger.body.customer_email }}"
    assert node(wf, "email.send")["config"]["subject"] == "Payment failed"


def test_cc_and_headers_and_query_parameters() -> None:
    wf = workflow("Every day at 6, GET https://api.example.com/report with the header X-Team set to growth and query "
                  "parameters region=eu and format=json, then email it to a@example.com with b@example.com in cc.")
    http = node(wf, "http.request")
    assert http["config"]["headers"] == {"X-Team": "growth"}
    assert http["config"]["query"] == {"region": "eu", "format": "json"}
    email = node(wf, "email.send")
    assert email["config"]["to"] == ["a@example.com"] and email["config"]["cc"] == ["b@example.com"]


def test_inline_json_body_and_url_placeholders() -> None:
    wf = workflow("When a payment webhook arrives (payment_id), POST {\"check\": true} to "
                  "https://pay.example.com/api/payments/{payment_id}/verify")
    http = node(wf, "http.request")
    assert http["config"]["json"] == {"check": True}
    assert http["config"]["url"] == "https://pay.example.com/api/payments/{{ trigger.body.payment_id }}/verify"


def test_three_parallel_fetches_merge_before_the_log() -> None:
    wf = workflow("Manually: fetch https://a.example.com/one, https://b.example.com/two and https://c.example.com/three "
                  "in parallel, then merge them and log the result.")
    fetches = [n["id"] for n in actions(wf) if n["connector"] == "http"]
    [merge] = of_type(wf, "merge")
    assert len(fetches) == 3 and all((f, merge["id"], None) in edges(wf) for f in fetches)
    assert all(("trigger", f, None) in edges(wf) for f in fetches)


def test_whichever_answers_first() -> None:
    wf = workflow("Manually: ask https://m1.example.com/p and https://m2.example.com/p at the same time, continue with "
                  "whichever answers first and log it.")
    [merge] = of_type(wf, "merge")
    assert merge["config"]["mode"] == "first"


def test_classify_inside_a_loop_filters_by_label() -> None:
    wf = workflow("Every hour, get new tickets from https://help.example.com/api/tickets and for each ticket, classify it "
                  "as urgent or normal and post urgent ones to #urgent.")
    [loop] = of_type(wf, "loop")
    body_ops = [f"{n.get('connector')}.{n.get('operation')}" if n["type"] == "action" else n["type"] for n in loop["body"]["nodes"]]
    assert body_ops == ["llm.classify", "condition", "slack.post_message"]


def test_sentiment_then_condition() -> None:
    wf = workflow("When a new comment is posted via webhook (author, text), detect its sentiment and if it's negative, "
                  "email moderators@example.com.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == 'nodes.classify.label = "negative"'


def test_payload_list_loop_and_after_loop_step() -> None:
    wf = workflow("When an order is placed via webhook (order_id, items), for each item in the order insert it into the "
                  "datastore table order_items; when all are saved, post 'Order stored' to #ops.")
    [loop] = of_type(wf, "loop")
    assert loop["config"]["items"] == "{{ trigger.body.items }}"
    assert (loop["id"], node(wf, "slack.post_message")["id"], None) in edges(wf)


def test_on_failure_alert_without_retries() -> None:
    wf = workflow("Every 5 minutes ping https://app.example.com/health and on failure alert #oncall.")
    http, slack = node(wf, "http.request"), node(wf, "slack.post_message")
    assert (http["id"], slack["id"], "error") in edges(wf)


def test_continue_whatever_happens() -> None:
    wf = workflow("Manually: call https://a.example.com/warm, and even if it fails, continue and log 'warmed'.")
    assert node(wf, "http.request")["on_error"] == "continue"
    assert node(wf, "core.log")["config"]["message"] == "warmed"


def test_negative_existence_swaps_branches() -> None:
    wf = workflow("When a webhook comes in with an email, stop the workflow with the error 'no email' if there is no "
                  "email; otherwise save it in the datastore table people.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == "$exists(trigger.body.email)"
    assert (condition["id"], node(wf, "core.fail")["id"], "false") in edges(wf)


@pytest.mark.parametrize("text", [
    "Automate my onboarding.",
    "Send a reminder every Friday at 3pm.",
    "Let the team know when something important happens.",
    "Email me whenever a new order comes in.",
    "Post the daily numbers to Slack every morning.",
    "Back up the customers table regularly.",
    "Fetch the latest prices and save them.",
])
def test_questions_instead_of_invented_values(text: str) -> None:
    assert isinstance(reply(text), Question)


REFINEMENTS: list[tuple[str, str, Any]] = [
    ("Every Monday at 9am, get https://r.example.com/weekly and email it to team@example.com.",
     "Post it to #reports instead of emailing it",
     lambda wf: ops(wf) == ["http.request", "slack.post_message"]),
    ("Every Monday at 9am, get https://r.example.com/weekly and email it to team@example.com.",
     "Add boss@example.com in cc", lambda wf: node(wf, "email.send")["config"]["cc"] == ["boss@example.com"]),
    ("Every Monday at 9am, get https://r.example.com/weekly and email it to team@example.com.",
     "Change the schedule to every weekday at 7", lambda wf: trigger_config(wf)["cron"] == "0 7 * * 1-5"),
    ("Every Monday at 9am, get https://r.example.com/weekly and email it to team@example.com.",
     "If the request fails, post to #alerts",
     lambda wf: (node(wf, "http.request")["id"], node(wf, "slack.post_message")["id"], "error") in edges(wf)),
    ("Manually: get customers from https://api.example.com/customers and email each one a thank-you note.",
     "Process 50 at a time", lambda wf: of_type(wf, "loop")[0]["config"]["max_concurrency"] == 50),
    ("Manually: get customers from https://api.example.com/customers and email each one a thank-you note.",
     "Do it in batches of 50", lambda wf: of_type(wf, "loop")[0]["config"]["batch_size"] == 50),
    ("When a ticket arrives via webhook (title, priority), route it by priority: urgent → post to #oncall, "
     "everything else → log it", "Also send high priority tickets to #support-high",
     lambda wf: {"urgent", "high", "default"} <= {b for s, _, b in edges(wf) if s == of_type(wf, "switch")[0]["id"]}),
    ("Every Friday at 3pm, read the rows of the datastore table feedback and email them to pm@example.com.",
     "Summarize them with AI before emailing",
     lambda wf: ops(wf) == ["datastore.query", "llm.summarize", "email.send"]
     and "summarize" in node(wf, "email.send")["config"]["body"]),
]


@pytest.mark.parametrize(("first", "change", "check"), REFINEMENTS)
def test_refinements(first: str, change: str, check: Any) -> None:
    plan = reply(first)
    assert isinstance(plan, WorkflowPlan)
    edit = reply(change, plan=plan)
    assert isinstance(edit, EditPlan), edit
    after = compile_plan(apply_edits(plan, edit), REGISTRY)
    assert validate_workflow(after, REGISTRY).ok
    assert check(after)


def test_two_independent_checks_of_the_same_field() -> None:
    wf = workflow("When a survey response arrives on a webhook (email, score): if the score is below 5, alert #care; "
                  "if it is at least 9, email thanks@example.com.")
    conditions = of_type(wf, "condition")
    assert [c["config"]["expression"] for c in conditions] == ["trigger.body.score < 5", "trigger.body.score >= 9"]
    assert all(("trigger", c["id"], None) in edges(wf) or any(e[1] == c["id"] for e in edges(wf)) for c in conditions)


def test_filter_inside_a_loop() -> None:
    wf = workflow("Manually: get the accounts from https://crm.example.com/api/accounts and for every account with a "
                  "balance over 100, email billing@example.com.")
    [loop] = of_type(wf, "loop")
    condition = next(n for n in loop["body"]["nodes"] if n["type"] == "condition")
    assert condition["config"]["expression"] == "item.balance > 100"


def test_plural_case_names_are_singular_values() -> None:
    wf = workflow("When a webhook gets an alert (severity, message): critical alerts go to #pager, warnings go to "
                  "#alerts, and anything else is logged.")
    [switch] = of_type(wf, "switch")
    assert [c["equals"] for c in switch["config"]["cases"]] == ["critical", "warning"]


def test_one_time_run_in_a_zone() -> None:
    wf = workflow("On December 31st 2026 at 23:59 New York time, post 'Happy New Year!' to #general.")
    assert trigger_config(wf) == {"at": "2026-12-31T23:59:00", "timezone": "America/New_York"}


def test_trigger_at_the_end_and_filter_in_the_trigger() -> None:
    wf = workflow("Send a Slack message to #sales whenever a deal closes, with the deal name and amount (fields name, amount).")
    assert wf["nodes"][0]["kind"] == "webhook"
    wf = workflow("When a payment over $1000 comes in via webhook (amount, customer), notify #finance.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == "trigger.body.amount > 1000"


def test_evening_hours_and_sql_followed_by_a_schedule() -> None:
    wf = workflow("Collect the error count from logs_db with SELECT count(*) AS n FROM errors every evening at 6 and post "
                  "it to #eng.")
    assert trigger_config(wf)["cron"] == "0 18 * * *"
    assert node(wf, "database.query")["config"]["sql"] == "SELECT count(*) AS n FROM errors"


def test_several_days_of_the_month() -> None:
    wf = workflow("At 9am on the 1st and 15th of every month, email payroll@example.com the contents of "
                  "https://hr.example.com/api/payroll.")
    assert trigger_config(wf)["cron"] == "0 9 1,15 * *"
    assert ops(wf) == ["http.request", "email.send"]


def test_numbered_and_bulleted_steps_and_arrows() -> None:
    wf = workflow("Every Monday at 9: 1) fetch https://api.example.com/report 2) summarize it 3) email the summary to "
                  "team@example.com")
    assert ops(wf) == ["http.request", "llm.summarize", "email.send"]
    wf = workflow("When a webhook receives an order (id, total): - save it to the datastore table orders - if the total "
                  "is above 100, post it to #big-orders")
    assert ops(wf) == ["datastore.insert", "slack.post_message"] and of_type(wf, "condition")
    wf = workflow("Daily 8am: GET https://api.example.com/todo → post to #todo.")
    assert ops(wf) == ["http.request", "slack.post_message"]
    wf = workflow("Every 2nd day at noon, ping https://api.example.com/keepalive.")
    assert trigger_config(wf)["cron"] == "0 12 */2 * *"


def test_a_long_request_with_loop_filter_summary_and_failure_path() -> None:
    wf = workflow("Every weekday at 7am New York time, pull yesterday's orders from https://shop.example.com/api/orders. "
                  "For each order over $500, post it to #vip-orders. Then email a summary of all orders to "
                  "sales@example.com. If fetching the orders fails after 3 retries, alert #ops.")
    fetch = node(wf, "http.request")
    assert fetch["retry"]["max_attempts"] == 3 and fetch["on_error"] == "route"
    [loop] = of_type(wf, "loop")
    assert any(n["type"] == "condition" and n["config"]["expression"] == "item.total > 500" for n in loop["body"]["nodes"])
    assert ops(wf)[-2:] == ["llm.summarize", "email.send"] or "email.send" in ops(wf)


def test_check_whether_then_if_it_does() -> None:
    wf = workflow("When someone fills in the contact form (name, email, message), check whether the message mentions "
                  "'refund'. If it does, email refunds@example.com; otherwise post it to #inbox.")
    [condition] = of_type(wf, "condition")
    assert condition["config"]["expression"] == '$contains($string(trigger.body.message), "refund")'
