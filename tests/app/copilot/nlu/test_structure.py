"""Sentence structure: arrows read as step order unless they follow a routing case's value."""

import pytest

from app.copilot.nlu.structure import _arrows_as_steps


@pytest.mark.parametrize(("text", "expected"), [
    ("checkout it -> wait 1 hour -> email the guest", "checkout it, then wait 1 hour, then email the guest"),
    ("webhook -> wait 1 hour -> email", "webhook → wait 1 hour, then email"),
    ("Route by category: bug → post to #bugs, feature request → email x, question → post to #help.",
     "Route by category: bug → post to #bugs, feature request → email x, question → post to #help."),
    ("- urgent -> #oncall", "- urgent → #oncall"),
    ("everything else -> log it", "everything else → log it"),
    ("check the site -> not 200? -> post to #ops", "check the site, then if not 200, post to #ops"),
])
def test_arrows(text: str, expected: str) -> None:
    assert _arrows_as_steps(text) == expected


def test_a_step_then_a_test_with_its_own_action_is_not_one_postfix_condition() -> None:
    from app.copilot.nlu.structure import parse

    items = parse("check ⟦0⟧, if not 200 post to #ops")
    assert [(i.kind, i.text) for i in items] == [("action", "check ⟦0⟧"), ("condition", "not 200")]
    assert [t.text for t in items[1].then] == ["post to #ops"]
    [only_if] = parse("post it to #sales only if it is urgent")
    assert only_if.kind == "condition" and only_if.text == "it is urgent"
