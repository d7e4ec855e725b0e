"""The local model's llm-node tasks: classify, extract, summarize, complete."""

from __future__ import annotations

import json

from app.copilot.local_model import respond


def task(name: str, user: str, schema: dict | None = None, system: str = "") -> str:
    return respond([{"role": "system", "content": f"[flowwright:task={name}] {system}"},
                    {"role": "user", "content": user}], schema)


LABEL_SCHEMA = {"title": "Classification", "type": "object", "required": ["label"],
                "properties": {"label": {"type": "string", "enum": ["billing", "bug", "praise"]}}}


def test_classify_by_meaning() -> None:
    answer = task("classify", "The app crashes with a stack trace every time I open settings", LABEL_SCHEMA)
    assert json.loads(answer) == {"label": "bug"}
    answer = task("classify", "I was charged twice on my credit card this month", LABEL_SCHEMA)
    assert json.loads(answer) == {"label": "billing"}


def test_classify_labels_from_the_prompt_and_literal_mentions() -> None:
    answer = task("classify", "This is clearly spam, buy cheap watches now", system="Labels: spam, ham")
    assert answer == "spam"


def test_extract_fields_from_schema() -> None:
    schema = {"type": "object", "properties": {"email": {"type": ["string", "null"]}, "amount": {"type": ["string", "null"]},
                                               "order_number": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]}}}
    text = "Hi, my order #A-12345 for $49.90 never arrived. Reach me at jane@example.com or +1 415 555 0100."
    data = json.loads(task("extract", text, schema))
    assert data == {"email": "jane@example.com", "amount": "$49.90", "order_number": "A-12345", "phone": "+1 415 555 0100"}


def test_extract_nested_data_and_field_lines() -> None:
    schema = {"type": "object", "required": ["data"], "properties": {"data": {
        "type": "object", "properties": {"name": {"type": ["string", "null"]}, "company": {"type": ["string", "null"]}}}}}
    data = json.loads(task("extract", "Name: Ada Lovelace\nCompany: Analytical Engines Ltd", schema))
    assert data == {"data": {"name": "Ada Lovelace", "company": "Analytical Engines Ltd"}}


def test_summarize_keeps_central_sentences_within_budget() -> None:
    text = ("Revenue grew 12 percent this quarter thanks to the new subscription plan. "
            "The office coffee machine was replaced on Tuesday. "
            "Subscription revenue now makes up half of all revenue. "
            "Churn fell to 2 percent as subscribers stayed longer.")
    summary = task("summarize", text, system="Summarize in at most 25 words.")
    assert len(summary.split()) <= 25
    assert "coffee" not in summary and "ubscription" in summary


def test_summarize_with_schema() -> None:
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    out = json.loads(task("summarize", "One short sentence about nothing at all here.", schema))
    assert out["summary"].startswith("One short sentence")


def test_complete_is_labelled_and_deterministic() -> None:
    first = task("complete", "Write a haiku about workflows")
    assert first.startswith("[local model]") and first == task("complete", "Write a haiku about workflows")
