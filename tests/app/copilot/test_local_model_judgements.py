"""Conditions a model decides, lists named by their source, aggregates, retry gaps, checks that name
"it", and each call of a webhook (phrasings written for these tests)."""

from __future__ import annotations

from typing import Any

import pytest

from app.copilot.nlu.judgements import read
from tests.app.copilot.local_chat import actions, edges, node, of_type, ops, workflow


@pytest.mark.parametrize(("text", "fields", "label"), [
    ("the AI thinks the customer is angry", (), "angry"),
    ("it sounds angry", (), "angry"),
    ("the email looks like a phishing attempt", (), "phishing_attempt"),
    ("the model says it's urgent", (), "urgent"),
    ("the review is negative", ("review",), "negative"),
    ("the sentiment is negative", ("sentiment",), None),  # a declared field: read it
    ("it is over 50", (), None),
    ("priority is high", ("priority",), None),
])
def test_judgements_are_told_from_tests_of_data(text: str, fields: tuple[str, ...], label: str | None) -> None:
    judged = read(text, fields)
    assert (judged.label if judged else None) == label


def _condition(wf: dict[str, Any]) -> str:
    [check] = of_type(wf, "condition") or [
        n for loop in of_type(wf, "loop") for n in loop["body"]["nodes"] if n["type"] == "condition"]
    return str(check["config"]["expression"])


def test_a_judgement_classifies_first_and_branches_on_the_label() -> None:
    wf = workflow("When a ticket arrives on our webhook (subject, body), if the AI thinks the customer is angry, "
                  "email escalations@example.com")
    assert ops(wf) == ["llm.classify", "email.send"]
    classify = node(wf, "llm.classify")
    assert "angry" in classify["config"]["labels"]
    assert _condition(wf) == f'nodes.{classify["id"]}.label = "angry"'


def test_a_judgement_inside_a_loop_classifies_each_item() -> None:
    wf = workflow("every hour GET https://forum.example.com/api/posts/new and for each post, if it looks like spam, "
                  "post it to #mods")
    [loop] = of_type(wf, "loop")
    body = [f"{n.get('connector')}.{n.get('operation')}" for n in loop["body"]["nodes"] if n["type"] == "action"]
    assert body == ["llm.classify", "slack.post_message"]


def test_a_list_named_by_the_url_it_comes_from_is_fetched_before_the_loop() -> None:
    wf = workflow("Loop over the users returned by GET https://api.example.com/users and email each one at their "
                  "email address with subject 'Hello'")
    assert ops(wf) == ["http.request", "email.send"]
    [loop] = of_type(wf, "loop")
    fetch = node(wf, "http.request")
    assert loop["config"]["items"] == f"{{{{ nodes.{fetch['id']}.body }}}}"
    assert node(wf, "email.send")["config"]["to"] == "{{ item.email }}"


def test_every_call_of_a_webhook_is_one_item_not_a_list() -> None:
    wf = workflow("Store every signup from the webhook (email, plan) in the datastore under signups, key = email")
    assert not of_type(wf, "loop")
    save = node(wf, "datastore.insert")
    assert save["config"]["table"] == "signups" and save["config"]["key_field"] == "email"
    assert wf["nodes"][0]["config"]["input_schema"]["required"] == ["email", "plan"]


def test_adding_up_a_field_of_each_item_is_one_sum() -> None:
    wf = workflow("On a webhook with a list of line items (items), add up the price of each item and post the total "
                  "to #sales")
    assert not of_type(wf, "loop")
    assert ops(wf) == ["core.transform", "slack.post_message"]
    total = node(wf, "core.transform")
    assert total["config"]["expression"] == "$sum(trigger.body.items.price)"
    assert f"nodes.{total['id']}" in node(wf, "slack.post_message")["config"]["text"]


def test_if_it_fails_retry_is_a_retry_policy_with_its_gap() -> None:
    wf = workflow("hit https://status.example.com/health every 10 minutes. if it fails, retry 3 times with 30s "
                  "between tries; if it still fails, post 'status down' to #sre")
    fetch = node(wf, "http.request")
    assert fetch["retry"]["max_attempts"] == 3
    assert fetch["retry"].get("initial_delay_s", fetch["retry"].get("delay_s")) == 30
    alert = node(wf, "slack.post_message")
    assert (fetch["id"], alert["id"], "error") in edges(wf)


def test_a_check_names_it_and_otherwise_opens_the_next_sentence() -> None:
    wf = workflow("webhook receives a form (name, email, message). First check the email isn't empty. If it's empty, "
                  "log a warning. Otherwise save the submission to the datastore table contacts and email "
                  "hello@example.com a copy")
    [check] = of_type(wf, "condition")
    assert "trigger.body.email" in check["config"]["expression"]
    log, save = node(wf, "core.log"), node(wf, "datastore.insert")
    assert log["config"]["level"] == "warning"
    assert (check["id"], log["id"], "true") in edges(wf) and (check["id"], save["id"], "false") in edges(wf)
    assert node(wf, "email.send")["config"]["to"] == ["hello@example.com"]
    assert len(actions(wf)) >= 3


def test_each_message_of_a_webhook_that_posts_fields_is_one_message() -> None:
    wf = workflow("My shop's contact form posts sender and message to a webhook. Email each message to me at "
                  "owner@example.com with the subject 'Message from <sender>'.")
    assert not of_type(wf, "loop")
    assert wf["nodes"][0]["config"]["input_schema"]["required"] == ["sender", "message"]
    assert node(wf, "email.send")["config"]["subject"] == "Message from {{ trigger.body.sender }}"


def test_later_and_after_that_are_waits_and_ask_is_another_email() -> None:
    wf = workflow("When a new user signs up (webhook: email, name), send them a welcome email right away, then 3 days "
                  "later send a tips email, and a week after that ask for feedback.")
    assert ops(wf) == ["email.send", "core.delay", "email.send", "core.delay", "email.send"]
    assert [n["config"]["seconds"] for n in actions(wf) if n["operation"] == "delay"] == [3 * 86400, 7 * 86400]
    assert {str(n["config"]["to"]) for n in actions(wf) if n["operation"] == "send"} == {"{{ trigger.body.email }}"}


def test_either_way_runs_after_both_branches_of_the_check() -> None:
    wf = workflow("Every Monday 8am: GET https://api.example.com/kpis. If signups are below 100, email "
                  "growth@example.com. Either way log the numbers.")
    [check] = of_type(wf, "condition")
    log, mail = node(wf, "core.log"), node(wf, "email.send")
    merges = {n["id"] for n in of_type(wf, "merge")}
    into = {(e["source"], e.get("branch")) for e in wf["edges"] if e["target"] == log["id"]}
    into |= {(e["source"], e.get("branch")) for e in wf["edges"] if e["target"] in merges and (e["target"], None) in into}
    assert (check["id"], "false") in into and (mail["id"], None) in into
