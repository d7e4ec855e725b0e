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
