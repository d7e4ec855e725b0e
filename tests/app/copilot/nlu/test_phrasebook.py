"""Schedule words in other languages and mistyped ones read as the English the schedule knows."""

import pytest

from app.copilot.nlu.phrasebook import fix_typos, normalize


@pytest.mark.parametrize(("text", "expected"), [
    ("evry monday at 9", "every monday at 9"),
    ("dialy report at noon", "daily report at noon"),
    ("on wendesday at midnigt", "on wednesday at midnight"),
    ("a very early run every hour", "a very early run every hour"),  # real words are never rewritten
    ("send ⟦0⟧ evry day", "send ⟦0⟧ every day"),
])
def test_typos(text: str, expected: str) -> None:
    assert fix_typos(text) == expected


def test_other_languages() -> None:
    assert normalize("de lunes a viernes 9h") == "weekdays 9:00"
