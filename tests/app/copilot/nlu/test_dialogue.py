"""A question keeps a pending draft; the next message, in any phrasing, answers it."""

from __future__ import annotations

from app.copilot.nlu.dialogue import is_new_request, merge_answer, request_of
from app.copilot.nlu.intents import intent_of

REQUEST = "Every morning at 8, query our database for yesterday's signups and email the list"


def _text(message: dict[str, str]) -> str:
    return message["content"]


def test_plain_word_answers_complete_the_draft_across_several_questions() -> None:
    messages = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": '{"reply": {"kind": "question", "question": "Which SQL?", "missing": ["sql"]}}'},
        {"role": "user", "content": "the sql is SELECT email FROM users WHERE day = 1"},
        {"role": "assistant", "content": '{"reply": {"kind": "question", "question": "Who?", "missing": ["email recipient"]}}'},
        {"role": "user", "content": "oh send it to me@home.org please"},
    ]
    text = request_of(messages, _text)
    assert text.startswith("Every morning at 8, query our database")
    assert "SELECT email FROM users WHERE day = 1" in text
    assert "email the list to me@home.org" in text


def test_an_answer_inside_the_sql_is_not_taken_for_the_verb() -> None:
    draft = "query the db with SELECT email FROM users and email the list"
    merged = merge_answer(draft, "send it to a@example.org", ["email recipient"])
    assert "SELECT email FROM users" in merged and "email the list to a@example.org" in merged


def test_a_clearly_new_request_replaces_the_draft() -> None:
    assert is_new_request("every friday at 5pm fetch https://x.example.com/a and post it to #news", ["email recipient"])
    assert not is_new_request("send it to dana@example.org every time", ["email recipient"])
    assert not is_new_request("the channel is #ops", ["slack channel"])


def test_other_answers_merge_by_what_was_asked() -> None:
    assert merge_answer("fetch the orders and email bob@x.example", "it's https://api.example.com/orders", ["url"]) == \
        "fetch the orders from https://api.example.com/orders and email bob@x.example"
    assert merge_answer("post the digest to slack", "use #ops", ["slack channel"]) == "post the digest to Slack #ops"
    assert merge_answer("post hello to slack", "every weekday at 9", ["schedule"]).startswith("every weekday at 9, ")


def test_undo_in_plain_words() -> None:
    for text in ("undo", "Undo that!", "revert that please", "go back", "can you roll it back?", "scratch that"):
        assert intent_of(text) == "undo", text
    for text in ("undo the slack step and email instead", "go back to sleep and post to #x at 9", "also post it to #x"):
        assert intent_of(text) is None, text


def test_the_recipient_goes_after_the_send_steps_object_not_after_the_thanks() -> None:
    draft = "Every Monday at 9am, take the rows from the datastore table incidents and email the summary? Thanks!"
    merged = merge_answer(draft, "send it to priya@example.org please", ["email recipient"])
    assert "email the summary to priya@example.org? Thanks!" in merged


def test_a_field_named_like_a_group_is_not_the_recipient() -> None:
    draft = "When the payment webhook arrives (it has customer and amount), post it in Slack: 'failed'"
    merged = merge_answer(draft, "channel is #billing", ["slack channel"])
    assert "(it has customer and amount)" in merged and "Slack #billing" in merged


def test_a_url_replaces_the_service_it_was_asked_for() -> None:
    merged = merge_answer("When the form webhook fires, POST them as JSON to our CRM. Thank you!",
                          "oh sorry, the endpoint is https://crm.acme.test/api/leads", ["url"])
    assert "POST them as JSON to https://crm.acme.test/api/leads." in merged


def test_the_rest_of_a_table_answer_qualifies_the_step() -> None:
    merged = merge_answer("every night at 1am delete the old rows from the datastore",
                          "table sessions_cache, anything older than 7 days", ["table name"])
    assert merged.endswith("delete the old rows from the sessions_cache table, anything older than 7 days")


def test_a_time_answer_completes_the_schedule() -> None:
    messages = [
        {"role": "user", "content": "Every weekday post 'hi' to #x."},
        {"role": "assistant", "content": "At what time of day should it run (for example 9:00)?"},
        {"role": "user", "content": "at 6pm"},
    ]
    assert request_of(messages, _text) == "at 6pm, Every weekday post 'hi' to #x."


def test_an_answer_naming_a_role_replaces_that_role() -> None:
    merged = merge_answer("- senior: email the hiring manager with the name and title",
                          "the hiring manager is carla@example.com", ["email recipient"])
    assert merged == "- senior: email carla@example.com with the name and title"
