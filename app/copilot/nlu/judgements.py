"""Conditions only a model can decide ("if the AI thinks the customer is angry", "if the review
sounds negative", "if it looks like spam") → a label to classify the text by first.

The words are data (``data/judgements.yaml``). ``read`` returns the label and the words for what
is judged; the builder adds an ``llm.classify`` step and branches on that label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.copilot.nlu.entities import snake

JUDGEMENTS_FILE = Path(__file__).parent / "data" / "judgements.yaml"


@dataclass(frozen=True)
class Judgement:
    """A condition the model decides: classify ``subject`` as ``label`` (or not)."""

    label: str
    subject: str


@dataclass(frozen=True)
class _Words:
    model: re.Pattern[str]
    perception: re.Pattern[str]
    quality: re.Pattern[str]


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def _words() -> _Words:
    data = yaml.safe_load(JUDGEMENTS_FILE.read_text(encoding="utf-8"))
    model, verbs = _alternation(data["model"]), _alternation(data["model_verbs"])
    quality = _alternation(data["qualities"])
    return _Words(
        model=re.compile(rf"^(?:if\s+)?(?:{model})\s+(?:{verbs})\s+(?:that\s+)?(?:(?P<subject>.+?)\s+(?:is|are|was|as|to\s+be)\s+)?"
                         rf"(?:an?\s+|very\s+|really\s+)*(?P<label>[\w' -]{{2,40}}?)$", re.I),
        perception=re.compile(rf"^(?P<subject>.+?)\s+(?:{_alternation(data['perception'])})\s+(?:to\s+be\s+)?(?:like\s+)?"
                              rf"(?:an?\s+|very\s+|really\s+|quite\s+)*(?P<label>[\w'-]+(?:\s+[\w'-]+){{0,3}})$", re.I),
        quality=re.compile(rf"^(?P<subject>.+?)\s+(?:is|are|was|were|'s)\s+(?:an?\s+|very\s+|really\s+|quite\s+)*"
                           rf"(?P<label>{quality})$", re.I),
    )


def read(text: str, fields: tuple[str, ...] | list[str] = ()) -> Judgement | None:
    """The judgement a condition asks the model for, or None when it is a plain test of data."""
    text = re.sub(r"\s+", " ", text.strip().rstrip(".,;:!?")).strip()
    text = re.sub(r"\b(it|that|this|he|she|who)'s\b", r"\1 is", text, flags=re.I)
    text = re.sub(r"\b(they|you|we)'re\b", r"\1 are", text, flags=re.I)
    words = _words()
    for pattern in (words.model, words.perception, words.quality):
        match = pattern.match(text)
        if match is None:
            continue
        subject = (match.group("subject") or "it").strip()
        if pattern is words.quality and _names_a_field(subject, fields):
            return None  # "the sentiment is negative" with a sentiment field: read it
        label = snake(re.sub(r"^(?:an?|the)\s+", "", match.group("label").strip(), flags=re.I), 30)
        if label:
            return Judgement(label=label, subject=re.sub(r"^(?:if\s+)", "", subject, flags=re.I))
    return None


def _names_a_field(subject: str, fields: tuple[str, ...] | list[str]) -> bool:
    name = snake(re.sub(r"^(?:the|its|their|our|this|that)\s+", "", subject, flags=re.I))
    text_like = {"text", "body", "message", "comment", "comments", "review", "feedback", "content", "description",
                 "email", "subject", "title", "note", "notes", "reply", "response", "answer", "post", "tweet"}
    return bool(name) and name in fields and name not in text_like
