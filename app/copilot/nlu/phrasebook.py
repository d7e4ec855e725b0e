"""Scheduling words from other languages → the English the schedule reader knows.

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


def normalize(text: str) -> str:
    """``text`` with every phrasebook phrase replaced by its English (a ``9:`` hour gains ``00``)."""
    for pattern, english in _phrases():
        text = pattern.sub(functools.partial(_expand, english=english), text)
    return text


def _expand(match: re.Match[str], english: str) -> str:
    out = match.expand(english)
    return re.sub(r"^(\d{1,2}):$", r"\1:00", out)
