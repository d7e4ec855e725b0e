"""Decide whether a cached answer may serve a new request, re-binding literal values when they differ.

A cached answer for request A may serve request B when B's signature (:mod:`app.llm.entities`)
has the same structure (negations, comparators, scope, services, order of actions) and either

* the same values (an exact hit), or
* values that differ only in *literal* types, with the same types and counts, where each old value
  occurs in the cached JSON: then every old value is replaced by the new one (simultaneously, so
  swaps work), and the result is served only if no trace of an old value remains and the caller's
  validator accepts it.

Anything else is a miss: a wrong answer from the cache is worse than a model call.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.llm.entities import LITERAL_TYPES, Entity, RequestSignature, entity_counts


@dataclass(frozen=True)
class Decision:
    """The verdict on one candidate: ``value_json`` to serve (``None`` for a miss) and why."""

    value_json: str | None
    rebound: bool = False
    reason: str = "exact"

    @property
    def hit(self) -> bool:
        return self.value_json is not None


def _miss(reason: str) -> Decision:
    return Decision(None, False, reason)


def decide(old: RequestSignature, new: RequestSignature, value_json: str,
           validate: Callable[[str], bool] | None) -> Decision:
    """May ``value_json`` (cached for ``old``) serve ``new``? Re-binds literal values if needed."""
    differs = old.structure_differs(new)
    if differs is not None:
        return _miss(f"{differs} differ")
    if _same_values(old, new):
        return Decision(value_json, False, "exact")
    if validate is None:
        return _miss("values differ and no validator to re-check a re-bound answer")
    pairing = _pair_values(old, new)
    if isinstance(pairing, Decision):
        return pairing
    mapping, olds = pairing
    return _rebind(value_json, mapping, olds, validate)


def _pair_values(old: RequestSignature, new: RequestSignature) -> tuple[dict[str, Entity], dict[str, Entity]] | Decision:
    """Which old literal value becomes which new one (by raw text), or the miss that forbids it."""
    old_by_type: dict[str, list[Entity]] = defaultdict(list)
    new_by_type: dict[str, list[Entity]] = defaultdict(list)
    for e in old.entities:
        old_by_type[e.type].append(e)
    for e in new.entities:
        new_by_type[e.type].append(e)
    if {k: len(v) for k, v in old_by_type.items()} != {k: len(v) for k, v in new_by_type.items()}:
        return _miss("entity types or counts differ")
    mapping: dict[str, Entity] = {}
    olds: dict[str, Entity] = {}
    for kind, old_list in old_by_type.items():
        new_list = new_by_type[kind]
        if kind not in LITERAL_TYPES:
            if sorted(e.value for e in old_list) == sorted(e.value for e in new_list):
                continue
            return _miss(f"{kind} differs ({_raws(old_list)} vs {_raws(new_list)}) and cannot be re-bound")
        # Literal slots pair up in order of appearance: "from alice to bob" → "from carol to dan".
        for before, after in zip(old_list, new_list, strict=True):
            if before.value == after.value:
                continue
            if before.raw in mapping and mapping[before.raw].raw != after.raw:
                return _miss(f"{before.raw!r} would be re-bound to two values")
            mapping[before.raw] = after
            olds[before.raw] = before
    return mapping, olds


def _rebind(value_json: str, mapping: dict[str, Entity], olds: dict[str, Entity],
            validate: Callable[[str], bool]) -> Decision:
    """The cached answer with the old values replaced by the new ones, re-validated."""
    try:
        document = json.loads(value_json)
    except ValueError:
        return _miss("cached value is not JSON")
    rebound = _Rebinder(mapping, olds)
    result = rebound.apply(document)
    for raw, count in rebound.counts.items():
        if count == 0:
            return _miss(f"{raw!r} does not occur in the cached answer")
        if olds[raw].type == "number" and count != 1:
            return _miss(f"number {raw!r} occurs {count} times in the cached answer (ambiguous)")
    text = json.dumps(result, ensure_ascii=False)
    if rebound.leftovers(result):
        return _miss("an old value remains in the re-bound answer")
    if not validate(text):
        return _miss("the re-bound answer failed validation")
    return Decision(text, True, "rebound")


def _same_values(old: RequestSignature, new: RequestSignature) -> bool:
    """Literal values equal in order ("from A to B" is not "from B to A"), derived ones as multisets."""
    if entity_counts(old) != entity_counts(new):
        return False
    return [(e.type, e.value) for e in old.entities if e.literal] == [
        (e.type, e.value) for e in new.entities if e.literal]


def _raws(entities: list[Entity]) -> str:
    return ", ".join(repr(e.raw) for e in entities)


def _number(text: str) -> int | float | None:
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


class _Rebinder:
    """Simultaneous substitution of old raw values by new ones in every string and number leaf."""

    def __init__(self, mapping: dict[str, Entity], olds: dict[str, Entity]) -> None:
        self.mapping = mapping
        self.olds = olds
        self.counts: dict[str, int] = dict.fromkeys(mapping, 0)
        alternatives = sorted(mapping, key=len, reverse=True)
        self.pattern = re.compile("|".join(self._bounded(raw) for raw in alternatives)) if alternatives else None
        self.numbers = {_number(old.value): raw for raw, old in olds.items() if old.type == "number"}

    @staticmethod
    def _bounded(raw: str) -> str:
        left = r"(?<![\w.,@+-])" if raw[:1].isalnum() else ""
        right = r"(?![\w@]|[.,]\d)" if raw[-1:].isalnum() else ""
        return f"{left}{re.escape(raw)}{right}"

    def _replace(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        self.counts[raw] += 1
        return self.mapping[raw].raw

    def apply(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        if isinstance(value, str) and self.pattern is not None:
            return self.pattern.sub(self._replace, value)
        if isinstance(value, int | float) and not isinstance(value, bool) and value in self.numbers:
            raw = self.numbers[value]
            self.counts[raw] += 1
            replacement = _number(self.mapping[raw].value)
            return replacement if replacement is not None else value
        return value

    def leftovers(self, value: Any) -> bool:
        """Does any old value still occur (case-insensitively, e.g. inside an email address)?"""
        text = json.dumps(value, ensure_ascii=False).lower()
        # Blank out the new values first: in a swap, an old value is legitimately some slot's new one.
        for new in sorted({e.raw.lower() for e in self.mapping.values()}, key=len, reverse=True):
            text = text.replace(new, "\x00")
        for raw, old in self.olds.items():
            needle = raw.lower()
            if old.type == "number":
                if re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w]|\.\d)", text):
                    return True
            elif needle in text:
                return True
        return False
