"""Sentences typed as payload descriptions, label cases and message placeholders."""

from app.copilot.nlu import cases, structure
from app.copilot.nlu.clauses import payload_fields, wants
from app.copilot.nlu.templates import apply, fill


def test_payload_sentences_list_the_fields() -> None:
    assert payload_fields("The payload has customer_name, items_count and total") == ["customer_name", "items_count", "total"]
    assert payload_fields("our alerting tool will POST with service, severity, message") == ["service", "severity", "message"]
    assert payload_fields("alert it: title, priority (P1/P2/P3)") == ["title", "priority"]
    assert payload_fields("it has been flaky lately") == []
    assert payload_fields("post it to sales and marketing") == []


def test_a_wish_is_an_instruction() -> None:
    assert wants("I'd like the AI to sort each review into positive or negative")
    assert not wants("We run a small bakery")


def test_label_sentences_after_a_classification_become_one_switch() -> None:
    items = [structure.Item("action", text="classify it as billing, bug or other"),
             structure.Item("action", text="billing: email billing@example.com"),
             structure.Item("action", text="bugg: post to #bugs"),
             structure.Item("action", text="anything else: log it")]
    out = cases.group(items, lambda _: ["billing", "bug", "other"], {})
    assert [i.kind for i in out] == ["action", "switch"]
    assert [label for label, _ in out[1].cases] == ["billing", "bug"]  # 'bugg' is a near miss of 'bug'
    assert out[1].otherwise and out[1].otherwise[0].kind == "action"


def test_a_listed_field_routes_its_value_sentences() -> None:
    assert cases.enumerated_fields("title, priority (P1/P2/P3)") == {"priority": ["P1", "P2", "P3"]}
    items = [structure.Item("action", text="P1: post to #sev1"), structure.Item("action", text="P2: post to #alerts")]
    out = cases.group(items, lambda _: [], {"priority": ["P1", "P2", "P3"]})
    assert len(out) == 1 and out[0].kind == "switch" and out[0].text == "priority"


def test_placeholders_become_expressions() -> None:
    fields = ["customer_name", "total"]
    assert fill("New order from <customer>: <total>", "trigger.body", fields) == \
        "New order from {{ trigger.body.customer_name }}: {{ trigger.body.total }}"
    assert fill("[severity] service", "trigger.body", []) == "[severity] service"  # unknown square brackets stay
    listed = apply({"text": "Update: {{ $string(trigger.body) }}"}, "trigger.body", fields)
    assert listed["text"] == "Update: customer_name: {{ trigger.body.customer_name }}, total: {{ trigger.body.total }}"
