"""Sentences that start with a label ('- billing: email ...', 'Negative ones should be emailed ...').

After a step that sorts the data into labels (an AI classification), or on a field whose values
the request lists ('priority (P1/P2/P3)', "lang ('pt', 'es' or 'en')"), people give one sentence
per value: "billing: email billing@x", "bug: post to #eng-bugs", "Neutral ones, dont do anything",
"unknown priority: post to #alerts too". Those sentences are the cases of one switch; a value
spelled slightly wrong ("positve") still names its case.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from app.copilot.nlu import structure

_CLASSIFY_RE = re.compile(r"\b(?:classify|classif(?:y|ies|ied)|categori[sz]e|sort|triage|label|tag|bucket|group)\b", re.I)
_OTHER_RE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:if\s+(?:it'?s|it\s+is)\s+)?(?:anything\s+else|everything\s+else|something\s+else|all\s+others?|"
    r"others?(?:\s+ones?)?|the\s+rest|otherwise|else|unknown(?:\s+[\w]+)?|any\s+other\s+[\w]+|other\s+[\w]+)\b\s*[:,→>=-]*\s*",
    re.I)
_NOOP_RE = re.compile(r"^(?:,\s*)?(?:just\s+)?(?:dont|don't|do not|no need to)\s+do\s+anything|^(?:do\s+)?nothing|^ignore|^skip|"
                      r"^leave\s+(?:it|them)|^no\s+action|^(?:we\s+)?(?:can\s+)?ignore", re.I)
_NOUNS = r"(?:ones?|tickets?|reviews?|items?|messages?|emails?|cases?|leads?|requests?|orders?|rows?|alerts?|events?|entries|posts?)"


def _label_at(text: str, labels: list[str]) -> tuple[str, str] | None:
    """(label, the rest) when ``text`` starts with one of ``labels``."""
    m = re.match(r"^\s*(?:[-*•]\s*)?(?:for\s+|if\s+(?:it'?s|it\s+is|the\s+\w+\s+is)\s+|when\s+(?:it'?s|it\s+is)\s+)?(?:the\s+)?"
                 r"['\"]?([\w-]+)['\"]?(?:\s+" + _NOUNS + r")?\s*(?:[:,→>=-]+\s*|\s+(?=should|go|get|are|must|will|to\b|need|i\b|we\b|please))(.*)$",
                 text, re.I | re.S)
    if not m:
        return None
    word = m.group(1).lower()
    lowered = {label.lower(): label for label in labels}
    if word in lowered:
        return lowered[word], m.group(2)
    close = difflib.get_close_matches(word, list(lowered), n=1, cutoff=0.8)
    return (lowered[close[0]], m.group(2)) if close and len(word) >= 4 else None


def _pieces(text: str, labels: list[str]) -> list[str]:
    """'Negative ones should be emailed ..., positive ones should go to #kudos' → one piece per label."""
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    parts = re.split(rf"[,;]\s+(?:and\s+|but\s+|while\s+)?(?=(?:the\s+)?(?:(?:{alternatives})\b|[\w-]+\s+{_NOUNS}\b))", text, flags=re.I)
    return [p for p in parts if p.strip()]


def group(items: list[structure.Item], labels_of: Callable[[str], list[str]],
          enums: dict[str, list[str]]) -> list[structure.Item]:
    """Turn the label sentences after a classification (or on a listed field) into one switch."""
    out: list[structure.Item] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.kind == "action" and enums and declares_values(item.text) and i + 1 < len(items):
            i += 1  # the sentence listing the values: the switch the next sentences make uses it
            continue
        if item.kind == "switch":
            _name_field(item, enums)
        if item.kind == "condition" and out and out[-1].kind == "switch" and not out[-1].otherwise and not item.otherwise \
                and _OTHER_VALUE_RE.match(item.text.strip()):
            out[-1].otherwise = item.then  # "... If lang is other thing, send to #support-en": the default case
            i += 1
            continue
        enum = next(((name, values) for name, values in enums.items()
                     if item.kind == "action" and _label_at(item.text, values)), None)
        if enum is not None:
            switch, i = _collect(items, i, enum[1], enum[0])
            if switch is not None:
                out.append(switch)
                continue
        out.append(item)
        i += 1
        if item.kind == "action" and _CLASSIFY_RE.search(item.text):
            labels = labels_of(item.text)
            if len(labels) >= 2:
                switch, after = _collect(items, i, labels, "")
                if switch is not None:
                    out.append(switch)
                    i = after
    return out


def _name_field(switch: structure.Item, enums: dict[str, list[str]]) -> None:
    """A switch whose field the sentence did not name reads the listed field its cases come from."""
    if switch.text:
        return
    labels = {label.lower() for label, _ in switch.cases}
    for name, values in enums.items():
        if labels and labels <= {v.lower() for v in values}:
            switch.text = name
            return


def _collect(items: list[structure.Item], start: int, labels: list[str], field: str) -> tuple[structure.Item | None, int]:
    """The switch the label sentences from ``start`` make, and the index after them."""
    cases: dict[str, list[structure.Item]] = {}
    otherwise: list[structure.Item] = []
    last = ""
    j = start
    while j < len(items) and items[j].kind == "action":
        pieces = _pieces(items[j].text, labels)
        found = [_label_at(p, labels) for p in pieces]
        hits = [hit for hit in found if hit is not None]
        if len(hits) != len(found) and cases and len(pieces) == 1 and j + 1 < len(items) \
                and items[j + 1].kind == "action" and _label_at(items[j + 1].text, labels) and not _OTHER_RE.match(items[j].text):
            # "P1: page the on-call AND post to #sev1" split in two: the second part belongs to P1
            cases[last].extend(structure.parse_clauses(items[j].text))
            j += 1
            continue
        if len(hits) != len(found):
            other = _OTHER_RE.match(items[j].text)
            if other is None or len(pieces) != 1 or not cases:
                break
            rest = items[j].text[other.end():]
            otherwise = [] if _NOOP_RE.search(rest) else structure.parse_clauses(rest)
            j += 1
            continue
        for label, rest in hits:
            last = label
            rest = rest.strip(" ,.")
            cases.setdefault(label, []).extend([] if not rest or _NOOP_RE.search(rest) else structure.parse_clauses(rest))
        j += 1
    if not cases:
        return None, start
    ordered = [(label, cases[label]) for label in labels if label in cases]
    switch = structure.Item("switch", text=field, cases=ordered, otherwise=otherwise)
    if j < len(items) and items[j].kind == "condition" and not otherwise and _OTHER_VALUE_RE.match(items[j].text.strip()):
        switch.otherwise = items[j].then
        j += 1
    return switch, j


_VALUE = r"['\"]?[\w-]{1,20}['\"]?"
# "The order_type is dine_in, takeout or delivery", "status can be open, pending or closed"
_DECLARED_RE = re.compile(
    rf"(?:^|[.;:]\s+|\b(?:the|its|their)\s+)([a-z_]\w*)\s+(?:field\s+|value\s+)?(?:is|are|can\s+be|will\s+be|is\s+always)\s+"
    rf"(?:either\s+|one\s+of\s+)?((?:{_VALUE}\s*,\s*)*{_VALUE},?\s+or\s+{_VALUE})\s*(?=[.;!]|$)", re.I | re.M)
_OTHER_VALUE_RE = re.compile(
    r"^(?:the\s+)?(?:[\w]+\s+)?(?:is|are)\s+(?:an?\s+)?(?:other|another|any\s+other|something\s+else|anything\s+else|different|"
    r"none\s+of\s+(?:these|those|them)|unknown|not\s+(?:one\s+of\s+)?(?:these|those|them|listed|any\s+of\s+(?:these|those|them)))\b", re.I)


def declares_values(text: str) -> bool:
    """Whether a sentence only lists a field's values ('The order_type is dine_in, takeout or delivery')."""
    m = _DECLARED_RE.search(text)
    return m is not None and not text[:m.start()].strip(" .;:") and not structure._VERB_START.search(text)


def enumerated_fields(text: str) -> dict[str, list[str]]:
    """Fields whose values the request lists: 'priority (P1/P2/P3)', "lang ('pt', 'es' or 'en')",
    'the order_type is dine_in, takeout or delivery'."""
    found: dict[str, list[str]] = {}
    for m in _DECLARED_RE.finditer(text):
        values = [v.strip(" '\"") for v in re.split(r"\s*,\s*(?:or\s+)?|\s+or\s+", m.group(2)) if v.strip(" '\"")]
        if 2 <= len(values) <= 8 and m.group(1).lower() not in ("it", "this", "that", "which", "what", "there"):
            found[m.group(1).lower()] = values
    for m in re.finditer(r"\b([a-z_][\w]*)(?:\s+(?:field|value|column|key|property))?\s*\(([^()]{2,80})\)", text, re.I):
        values = [v.strip(" '\"") for v in re.split(r"\s*(?:,|/|\bor\b|\|)\s*", m.group(2)) if v.strip(" '\"")]
        if 2 <= len(values) <= 8 and all(re.fullmatch(r"[\w-]{1,20}", v) for v in values):
            found[m.group(1).lower()] = values
    return found


__all__ = ["enumerated_fields", "group"]
