"""Routing written as lists: 'value → action' lines under a head, numbered cases, dotted paths,
values declared in a sentence of their own, 'another value' as the default, loosely typed JSON
bodies (phrasings written for these tests)."""

from __future__ import annotations

from typing import Any

from tests.app.copilot.local_chat import edges, node, of_type, workflow


def _switch(wf: dict[str, Any]) -> dict[str, Any]:
    [switch] = of_type(wf, "switch")
    return switch


def _targets(wf: dict[str, Any], switch_id: str) -> dict[str, set[str]]:
    """Branch name → the operations of the nodes that branch leads to directly."""
    by_id = {n["id"]: n for n in wf["nodes"]}
    out: dict[str, set[str]] = {}
    for source, target, branch in edges(wf):
        if source == switch_id and branch is not None:
            n = by_id[target]
            out.setdefault(branch, set()).add(f"{n.get('connector')}.{n.get('operation')}")
    return out


def test_arrow_lines_under_a_head_are_one_switch_on_the_declared_field() -> None:
    wf = workflow("A webhook sends us a ticket with a field team. Send it on:\n"
                  "- billing → slack #money-desk\n"
                  "- legal → email counsel@example.org\n"
                  "- everything else → log it")
    switch = _switch(wf)
    assert switch["config"]["value"] == "trigger.body.team"
    assert [c["equals"] for c in switch["config"]["cases"]] == ["billing", "legal"]
    targets = _targets(wf, switch["id"])
    assert targets["billing"] == {"slack.post_message"}
    assert targets["legal"] == {"email.send"}
    assert targets["default"] == {"core.log"}
    assert node(wf, "slack.post_message")["config"]["channel"] == "#money-desk"


def test_numbered_cases_compare_as_numbers_and_a_case_may_do_two_things() -> None:
    wf = workflow("The webhook's level field (1, 2 or 3) comes in with every alert. "
                  "1 → email oncall@example.org AND slack #sev-one, 2 → slack #sev-two, 3 → log only")
    switch = _switch(wf)
    assert switch["config"]["value"] == "trigger.body.level"
    assert [c["equals"] for c in switch["config"]["cases"]] == [1, 2, 3]  # JSON sends numbers; a switch compares by type
    by_id = {n["id"]: n for n in wf["nodes"]}
    first = next(c["name"] for c in switch["config"]["cases"] if c["equals"] == 1)
    [email_id] = [t for s, t, b in edges(wf) if s == switch["id"] and b == first]
    assert by_id[email_id]["operation"] == "send"
    assert any(s == email_id and by_id[t].get("operation") == "post_message" for s, t, b in edges(wf))


def test_a_dotted_path_is_kept_as_written_and_quoted_values_are_cases() -> None:
    wf = workflow("every 10 minutes GET https://ops.example.net/api/queue and switch on body.health: "
                  "'green' → nothing, 'amber' → slack #ops-watch, 'red' → email pager@example.net")
    switch = _switch(wf)
    assert switch["config"]["value"].endswith(".body.health")
    targets = _targets(wf, switch["id"])
    assert "green" not in targets  # 'nothing' is an empty case
    assert targets["amber"] == {"slack.post_message"} and targets["red"] == {"email.send"}


def test_values_declared_in_their_own_sentence_and_another_value_as_the_default() -> None:
    wf = workflow("Orders reach our webhook with order_id, channel and note. The channel is web, phone or store. "
                  "Web orders go to #web-orders, phone ones go to #phone-orders, and store ones go to #shop-floor. "
                  "If the channel is something else, post to #orders-misc.")
    switch = _switch(wf)
    assert switch["config"]["value"] == "trigger.body.channel"
    targets = _targets(wf, switch["id"])
    assert set(targets) == {"web", "phone", "store", "default"}
    channels = {n["config"]["channel"] for n in of_type(wf, "action") if n.get("operation") == "post_message"}
    assert channels == {"#web-orders", "#phone-orders", "#shop-floor", "#orders-misc"}
    assert not [n for n in of_type(wf, "action") if "web, phone or store" in str(n["config"])]


def test_a_loosely_typed_json_body_is_filled_from_the_fields_it_names() -> None:
    wf = workflow('When our form webhook receives (name, email, plan), POST {"email": ..., "tier": plan, "source": "form"} '
                  "to https://crm.example.com/api/contacts")
    body = node(wf, "http.request")["config"]["json"]
    assert body == {"email": "{{ trigger.body.email }}", "tier": "{{ trigger.body.plan }}", "source": "form"}
