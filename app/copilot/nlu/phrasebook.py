"""Scheduling words from other languages, and mistyped ones, → the English the schedule reader knows.

People mix their own language into English requests ("lunes a viernes 9:45 Madrid", "todo dia
6h da manhã horário de Recife", "um 7 Uhr morgens"). ``data/phrasebook.yaml`` lists each phrase
as a pattern and its English; ``normalize`` applies them in order, on text whose values (quoted
messages, addresses, URLs) are already protected, so a message's own words are never rewritten.
"""

from __future__ import annotations

import functools
import re
from functools import lru_cache
from pathlib import Path

import yaml

PHRASEBOOK_FILE = Path(__file__).parent / "data" / "phrasebook.yaml"


@lru_cache(maxsize=1)
def _phrases() -> tuple[tuple[re.Pattern[str], str], ...]:
    data = yaml.safe_load(PHRASEBOOK_FILE.read_text(encoding="utf-8"))
    return tuple((re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.IGNORECASE), english)
                 for pattern, english in data["phrases"])


@lru_cache(maxsize=1)
def _typos() -> dict[str, str]:
    """Mistyped schedule word → the word: every one-letter deletion and neighbour swap."""
    data = yaml.safe_load(PHRASEBOOK_FILE.read_text(encoding="utf-8"))
    keep = set(data.get("not_typos", [])) | set(data.get("typo_words", []))
    typos: dict[str, str] = {}
    for word in data.get("typo_words", []):
        variants = {word[:i] + word[i + 1:] for i in range(len(word))}
        variants |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
        for variant in variants:
            if len(variant) >= 4 and variant not in keep:
                typos.setdefault(variant, word)
    return typos


def fix_typos(text: str) -> str:
    """Mistyped schedule words spelled right ('evry monday 9am' → 'every monday 9am')."""
    typos = _typos()
    return re.sub(r"(?<![\w⟦-])[A-Za-z]{4,}(?![\w-])", lambda m: typos.get(m.group(0).lower(), m.group(0)), text)


def normalize(text: str) -> str:
    """``text`` with mistyped schedule words fixed and every phrasebook phrase replaced by its
    English (a ``9:`` hour gains ``00``)."""
    text = fix_typos(text)
    for pattern, english in _phrases():
        text = pattern.sub(functools.partial(_expand, english=english), text)
    return text


def _expand(match: re.Match[str], english: str) -> str:
    out = match.expand(english)
    return re.sub(r"^(\d{1,2}):$", r"\1:00", out)
