"""What a sentence of a request is: an instruction, a remark, or a description of the incoming data.

People who never saw the planner write context around what they want ("We run a small
taqueria", "That's all, the kitchen tablet is always on slack anyway") and describe the data
in its own sentence ("The payload has customer_name, items_count and total"). Read as steps,
those sentences become invented actions and needless questions. A sentence that carries a value
(an address, a URL, a quoted text, a channel) or starts with an action verb is an instruction;
any other sentence is typed by its nearest examples in ``data/clauses.yaml`` (MiniLM vectors, the
offline embedder the operation index uses), so a new phrasing is a new line of data.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from app.copilot.nlu.entities import snake
from app.copilot.nlu.structure import _VERB_START

CLAUSES_FILE = Path(__file__).parent / "data" / "clauses.yaml"
_NEIGHBOURS = 3

# "The payload has a, b and c", "payload fields: a, b", "it contains name and email", "each row has id, total"
_PAYLOAD_RE = re.compile(
    r"^\s*(?:and\s+)?(?:(?:the|its|their|each|every|this|that)\s+)?(?:[\w-]+\s+(?=(?:it|webhook|payload|body)\s*:))?"
    r"(?:(?:webhook|request|json|form|event|incoming|post)\s+)?(?:[\w-]+\s+)?(?:payloads?|body|request|json|data|forms?|events?|messages?|submissions?|it|they)"
    r"(?:\s+fields?)?\s*(?::|(?:always\s+|will\s+)?(?:has|have|contains?|includes?|carries|comes? with|with|brings|looks like|is like))\s+"
    r"(?:(?:the|a|an)\s+)?(?:fields?\s+|keys?\s+|properties\s+)?(?P<list>.+?)\s*[.;]?\s*$",
    re.IGNORECASE,
)
# "our alerting tool will POST with service, severity, message", "the form posts email and first_name"
_SENDS_RE = re.compile(
    r"^\s*(?:and\s+)?(?:the|our|their|its|a|an|this)\s+[\w' -]{1,40}?\s+(?:will\s+|would\s+|always\s+)?"
    r"(?:posts?|sends?|submits?|pushes|push|delivers?|calls?|hits?|fires?|POST)\s+(?:us\s+|it\s+)?(?:(?:a|an|the)\s+[\w ]{1,30}?\s+)?"
    r"(?:with\s+(?:the\s+)?(?:fields?\s+)?)?(?P<list>[a-z_][\w]*(?:\s*(?:,|and|/)\s*(?:and\s+)?[a-z_][\w]*)+)\s*[.;]?\s*$",
    re.IGNORECASE,
)
# "priority field (1, 2 or 3) comes in", "a status value arrives with each call"
_ARRIVES_RE = re.compile(
    r"^\s*(?:and\s+)?(?:(?:the|a|an|each|every)\s+)?(?P<list>[a-z_]\w*)\s+(?:field|value|key|property|column)(?:\s*\([^)]*\))?\s+"
    r"(?:(?:always|will|should)\s+)?(?:comes?\s+in|arrives?|is\s+(?:sent|included|given|set|passed))\b.*$", re.IGNORECASE)
# "a ticket with a field team", "each call comes with a key called region"
_WITH_FIELD_RE = re.compile(r"^.{0,60}?\bwith\s+(?:a|an|the|one)\s+(?:field|key|property)\s+(?:called\s+|named\s+)?(?P<list>[a-z_]\w*)\s*$",
                            re.IGNORECASE)
_DESIRE_RE = re.compile(r"\b(?:i want|i'd like|i would like|i need|we need|we want|please|could you|can you|would you|"
                        r"should|must|needs? to|make sure|have to)\b", re.IGNORECASE)
_VALUE_RE = re.compile(r"⟦\d+⟧|(?<![\w&])#[a-z0-9]", re.IGNORECASE)


def payload_fields(clause: str) -> list[str]:
    """The field names a sentence describing the incoming data lists ([] when it is not one)."""
    m = _PAYLOAD_RE.match(clause) or _SENDS_RE.match(clause) or _ARRIVES_RE.match(clause) or _WITH_FIELD_RE.match(clause)
    if not m or _VALUE_RE.search(re.sub(r"\([^)]*\)", "", clause)):
        return []
    listed = re.sub(r"\s*\([^)]*\)", "", m.group("list"))
    listed = re.sub(r"\s+(?:fields?|keys?|in it|in there)\b.*$", "", listed, flags=re.I)
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*/\s*", listed)
    names = [re.sub(r"^(?:a|an|the)\s+|\s*\([^)]*\)$", "", p.strip(), flags=re.I) for p in parts]
    if not names or any(len(n.split()) > 2 for n in names):
        return []  # "it has been flaky lately": a remark, not a list of fields
    fields = [snake(n) for n in names if n]
    # a list of fields is identifiers: at least one snake_case or single-word name per part
    return [f for f in dict.fromkeys(fields) if f]


def wants(clause: str) -> bool:
    """Whether a sentence asks for something in so many words ('I'd like the AI to sort ...')."""
    return bool(_DESIRE_RE.search(clause))


def is_remark(clause: str, embedder: Any | None) -> bool:
    """Whether a sentence is context or chatter rather than something the workflow should do."""
    if _VALUE_RE.search(clause) or _VERB_START.search(clause) or _DESIRE_RE.search(clause):
        return False
    if embedder is None:
        return False
    remarks, instructions = _example_vectors(embedder)
    vector = embedder.embed([clause])[0]
    scored = sorted([(float(s), "remark") for s in remarks @ vector] + [(float(s), "instruction") for s in instructions @ vector],
                    reverse=True)[:_NEIGHBOURS]
    return sum(1 for _, kind in scored if kind == "remark") * 2 > len(scored)


@lru_cache(maxsize=4)
def _examples() -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(CLAUSES_FILE.read_text(encoding="utf-8")) or {}
    return {kind: tuple(str(s) for s in data.get(kind, ())) for kind in ("remark", "instruction")}


_VECTORS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _example_vectors(embedder: Any) -> tuple[np.ndarray, np.ndarray]:
    cached = _VECTORS.get(id(embedder))
    if cached is None:
        examples = _examples()
        cached = (embedder.embed(list(examples["remark"])), embedder.embed(list(examples["instruction"])))
        _VECTORS[id(embedder)] = cached
    return cached


__all__ = ["is_remark", "payload_fields", "wants"]
