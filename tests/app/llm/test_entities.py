"""Entity and structure extraction of requests (app/llm/entities.py)."""

from __future__ import annotations

import pytest

from app.llm.entities import RequestSignature, extract, slot_text


def values(text: str, kind: str) -> list[str]:
    return [e.value for e in extract(text).entities if e.type == kind]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("email Alice@X.com and bob.smith+ops@corp.example.org", "email", ["alice@x.com", "bob.smith+ops@corp.example.org"]),
        ("fetch https://api.example.com/v1/sales?week=last, then stop.", "url", ["https://api.example.com/v1/sales?week=last"]),
        ("post to #sales-eu and #ops", "channel", ["#sales-eu", "#ops"]),
        ("mention @oncall in the thread", "mention", ["@oncall"]),
        ("with the subject \"Weekly digest\" and label 'bug'", "quoted", ["Weekly digest", "bug"]),
        ("run it on cron 0 9 * * 1-5 please", "cron", ["0 9 * * 1-5"]),
        ("at 9am, at 9:30 pm, at 17:00 and at noon", "time", ["09:00", "21:30", "17:00", "12:00"]),
        ("on Mondays and every Friday, not on weekends", "weekday", ["mon", "fri", "weekend"]),
        ("on the 15th and the last day of the month", "day_of_month", ["15", "last"]),
        ("every 5 minutes, after 2 hours and for thirty days", "duration", ["5 minute", "2 hour", "30 day"]),
        ("hourly, daily and every week", "frequency", ["hour", "day", "week"]),
        ("payments above $1,500 or 2k EUR or 15%", "amount", ["$1500", "2000", "15%"]),
        ("the top 10 rows with more than 1,000 views", "number", ["10", "1000"]),
        ("at 9am Europe/Berlin, 10am UTC, or New York time", "timezone", ["europe/berlin", "utc", "new york"]),
        ("insert it into the leads table and the table audit_log", "table", ["leads", "audit_log"]),
        ("yesterday's tickets and last week's sales", "period", ["yesterday", "last week"]),
        ("in December and in May", "month", ["12", "5"]),
        ("Send the file to Maria and Tom from Finance", "name", ["Maria", "Tom", "Finance"]),
    ],
)
def test_extracts_values(text: str, kind: str, expected: list[str]) -> None:
    assert values(text, kind) == expected


def test_sentence_start_capitals_and_known_words_are_not_names() -> None:
    sig = extract("Every Monday, Email the Slack channel. Then Post it on Jira")
    assert [e for e in sig.entities if e.type == "name"] == []
    assert set(sig.services) == {"email", "slack", "jira"}


def test_values_are_extracted_once() -> None:
    sig = extract("email ops@acme.io at 9:30 every 5 minutes from https://acme.io/9")
    assert [e.type for e in sig.entities] == ["email", "time", "duration", "url"]


def test_negations_comparators_scope_actions() -> None:
    sig = extract("Don't email anyone unless the total is above 100, except for new VIP customers")
    assert sorted(sig.negations) == ["except", "not", "unless"]
    assert sig.comparators == ("gt",)
    assert set(sig.scope) == {"new", "vip"}
    assert sig.actions == ("send",)
    assert extract("fetch the orders, then email them, then delete them").actions == ("fetch", "send", "delete")
    assert extract("send an email message").actions == ("send",)  # repeats collapse


@pytest.mark.parametrize(
    ("a", "b", "differs"),
    [
        ("email me if it is above 100", "email me if it is below 100", "comparators"),
        ("email me if it fails", "don't email me if it fails", "negations"),
        ("email all customers", "email new customers", "scope"),
        ("save the row and then email sales", "email sales and then save the row", "actions"),
        ("read disk usage and alert", "read memory usage and alert", "content words"),
        ("post the report to Slack", "send the report by email", "services"),
        ("fetch the report and email it to me", "email me the report", None),  # the fetch is implicit
        ("Every hour check the failed orders", "Each hour look at failed orders", None),
    ],
)
def test_structure_comparison(a: str, b: str, differs: str | None) -> None:
    assert extract(a).structure_differs(extract(b)) == differs


def test_signature_round_trips_through_json() -> None:
    sig = extract("Every Monday at 9am email \"Report\" to alice@x.com unless it is above $5")
    assert RequestSignature.from_json(sig.to_json()) == sig


def test_slot_text_replaces_literal_values_only() -> None:
    text = slot_text("Every Monday at 9am email alice@x.com and #ops the top 5 rows")
    assert text == "Every Monday at 9am email someone@example.com and #channel the top 42 rows"
    assert slot_text("email bob@y.com and #sales the top 7 rows") == "email someone@example.com and #channel the top 42 rows"


def test_value_patterns_run_in_linear_time_and_stay_correct() -> None:
    """The email and amount patterns were quadratic on Python's re ('1,' * 16,000: 26 s); they run
    on RE2 now, and a pattern's matches are blanked in one pass (not one copy of the text each)."""
    from app.llm import entities

    assert entities._EMAIL.__class__.__module__.startswith("re2")
    assert entities._AMOUNT.__class__.__module__.startswith("re2")
    commas = "1," * 80_000
    signature = extract(f"email ops@x.com if over $5k {commas}")
    assert [e.value for e in signature.entities if e.type == "email"] == ["ops@x.com"]
    assert [e.value for e in signature.entities if e.type == "amount"] == ["$5000"]
    assert values("%" * 160_000 + " to a@b.co", "email") == ["a@b.co"]
