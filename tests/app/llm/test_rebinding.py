"""Serving a cached answer for another request: exact hits, slot re-binding, and refusals."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.llm.entities import extract
from app.llm.rebinding import decide


def ok(_: str) -> bool:
    return True


def answer(**config: object) -> str:
    return json.dumps({"name": "wf", "config": config})


def test_exact_values_serve_without_a_validator() -> None:
    d = decide(extract("email alice@x.com every Monday"), extract("every Monday, email alice@x.com"),
               answer(to="alice@x.com"), None)
    assert d.hit and not d.rebound and d.value_json == answer(to="alice@x.com")


def test_literal_values_are_rebound_and_validated() -> None:
    seen: list[str] = []

    def validate(text: str) -> bool:
        seen.append(text)
        return True

    d = decide(extract("post the report to #sales and mention @ann"), extract("post the report to #ops and mention @bo"),
               answer(channel="#sales", text="@ann: report for #sales"), validate)
    assert d.rebound and json.loads(d.value_json or "") == json.loads(answer(channel="#ops", text="@bo: report for #ops"))
    assert seen == [d.value_json]


def test_swapped_values_rebind_simultaneously() -> None:
    d = decide(extract("forward mail from alice@x.com to bob@x.com"), extract("forward mail from bob@x.com to alice@x.com"),
               answer(source="alice@x.com", target="bob@x.com"), ok)
    assert json.loads(d.value_json or "") == {"name": "wf", "config": {"source": "bob@x.com", "target": "alice@x.com"}}


def test_derived_values_never_rebind() -> None:
    d = decide(extract("email alice@x.com every Monday"), extract("email bob@y.com every Friday"),
               answer(to="alice@x.com", cron="0 9 * * 1", note="every Monday"), ok)
    assert not d.hit and "weekday" in d.reason


def test_refusals() -> None:
    old = extract("alert #ops when more than 100 orders fail")
    new = extract("alert #ops when more than 500 orders fail")
    # the old number occurs twice: which one is the threshold is ambiguous
    assert not decide(old, new, answer(threshold=100, retries=100), ok).hit
    # the old value does not occur at all
    assert not decide(old, new, answer(threshold=7), ok).hit
    # re-bound once, correctly
    d = decide(old, new, answer(threshold=100, text="More than {{ n }} failed"), ok)
    assert d.rebound and json.loads(d.value_json or "")["config"]["threshold"] == 500
    # the validator refuses
    assert not decide(old, new, answer(threshold=100), lambda _: False).hit
    # no validator: re-binding is never unchecked
    assert not decide(old, new, answer(threshold=100), None).hit
    # a different number of values
    assert not decide(extract("email a@x.com"), extract("email a@x.com and b@x.com"), answer(to="a@x.com"), ok).hit
    # not JSON
    assert not decide(extract("email a@x.com"), extract("email b@x.com"), "nope", ok).hit


def test_an_old_value_left_inside_another_string_refuses() -> None:
    # "Alice" is re-bound, but the cached answer also carries her address: serving it would mail Alice.
    d = decide(extract("send the report to Maria and Alice"), extract("send the report to Maria and Bob"),
               answer(greeting="Hi Alice", to="alice@example.com"), ok)
    assert not d.hit and "remains" in d.reason


_local = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_emails = st.builds(lambda user, host: f"{user}@{host}.io", _local, _local)
_days = st.sampled_from(["Monday", "Tuesday", "Friday", "Sunday"])


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_extraction_never_raises(text: str) -> None:
    signature = extract(text)
    assert extract(text) == signature
    decide(signature, extract(text[::-1]), json.dumps({"text": text}), ok)


@settings(max_examples=150, deadline=None)
@given(_emails, _emails, _days, _days, st.integers(1, 500), st.integers(1, 500))
def test_a_served_answer_never_keeps_an_old_value(old_email: str, new_email: str, old_day: str, new_day: str,
                                                  old_n: int, new_n: int) -> None:
    old_text = f"Every {old_day}, email the top {old_n} orders to {old_email}"
    new_text = f"Every {new_day}, email the top {new_n} orders to {new_email}"
    cached = json.dumps({"cron": f"0 9 * * {old_day[:3]}", "limit": old_n, "to": [old_email]})
    decision = decide(extract(old_text), extract(new_text), cached, ok)
    if old_day != new_day:
        assert not decision.hit  # a derived value: never re-bound
    elif decision.hit:
        served = json.loads(decision.value_json or "")
        assert served == {"cron": f"0 9 * * {old_day[:3]}", "limit": new_n, "to": [new_email]}
    else:  # refused only when a number is ambiguous (e.g. it also occurs inside another value)
        assert old_n != new_n or old_email != new_email
