"""Conversation commands typed in plain words ("undo", "revert that", "go back"), as data."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

INTENTS_FILE = Path(__file__).parent / "data" / "intents.yaml"
_POLITE_RE = re.compile(r"\b(?:please|pls|plz|can you|could you|would you|just|actually|oops|sorry|ok|okay|hey|hm+|"
                        r"thanks|thank you)\b")


@lru_cache(maxsize=1)
def _phrases() -> dict[str, frozenset[str]]:
    data = yaml.safe_load(INTENTS_FILE.read_text(encoding="utf-8")) or {}
    return {name: frozenset(normalise(p) for p in phrases) for name, phrases in data.items()}


def normalise(text: str) -> str:
    """Lower case, no punctuation or politeness words, single spaces."""
    lowered = text.lower().replace("'", "").replace("’", "")
    lowered = _POLITE_RE.sub(" ", re.sub(r"[^\w\s]", " ", lowered))
    return " ".join(lowered.split())


def intent_of(text: str) -> str | None:
    """The command a whole message is (``undo``), or None for an ordinary message."""
    if len(text) > 80:
        return None
    key = normalise(text)
    return next((name for name, phrases in _phrases().items() if key in phrases), None)
