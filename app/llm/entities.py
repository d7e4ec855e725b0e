"""The concrete values and the structure of a request, so the semantic cache can tell requests apart.

Sentence embeddings place "email alice@x.com every Monday" and "email bob@y.com every Friday" very
close together, and "do X unless Y" next to "do X if Y". The cache therefore only serves a cached
answer when the two requests agree on what this module extracts:

* **values** — emails, URLs, Slack channels, @mentions, quoted strings, cron strings, numbers and
  amounts, times, days of week and month, months, durations, frequencies, relative periods, time
  zones, proper names, table names and identifiers;
* **structure** — negations (not / unless / except), comparators (above / below ...), scope words
  (only / new / active ...), the services named (email, Slack ...), and the order of the actions.

Values of the *literal* types appear verbatim in a generated workflow (an email address is copied
into ``config.to``), so a cached answer whose literal values differ can be re-bound slot by slot
(see :mod:`app.llm.rebinding`). Everything else — derived values such as "Monday" (rendered as cron
field ``1``) and every structural feature — must match exactly.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.llm import entity_vocab as vocab
from engine import linear_regex

# Actions a request may leave implicit ("email me the report from URL" fetches it).
SOFT_ACTIONS = frozenset({"fetch"})
# Types whose value is copied verbatim into a generated workflow, so it can be re-bound.
LITERAL_TYPES = frozenset({"email", "url", "channel", "mention", "quoted", "cron", "number", "name", "table"})



@dataclass(frozen=True, order=True)
class Entity:
    """One concrete value: its ``type``, a canonical ``value`` for comparison, the ``raw`` text."""

    type: str
    value: str
    raw: str = field(compare=False)

    @property
    def literal(self) -> bool:
        return self.type in LITERAL_TYPES


@dataclass(frozen=True)
class RequestSignature:
    """Everything the cache compares besides the embedding: values and structure."""

    entities: tuple[Entity, ...] = ()
    negations: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    content: tuple[str, ...] = ()

    def structure_differs(self, other: RequestSignature) -> str | None:
        """Why the structures of two requests differ, or ``None`` if they agree.

        Negations, comparators, scope words and services must agree as multisets/sets. Actions
        must come in the same order; a fetch may be implicit ("email me the report from URL"), so
        it is compared only when both requests name one.
        """
        for name in ("negations", "comparators"):
            if sorted(getattr(self, name)) != sorted(getattr(other, name)):
                return name
        for name in ("scope", "services"):
            if set(getattr(self, name)) != set(getattr(other, name)):
                return name
        mine, theirs = self.actions, other.actions
        if not (SOFT_ACTIONS & set(mine) and SOFT_ACTIONS & set(theirs)):
            mine, theirs = _without(mine, SOFT_ACTIONS), _without(theirs, SOFT_ACTIONS)
        if mine != theirs:
            return "actions"
        # A word swapped for another ("disk" → "memory", "signs up" → "cancels") changes the request
        # in ways no list can foresee; extra words on one side only are usually phrasing.
        if set(self.content) - set(other.content) and set(other.content) - set(self.content):
            return "content words"
        return None

    def to_json(self) -> str:
        return json.dumps({
            "entities": [[e.type, e.value, e.raw] for e in self.entities],
            "negations": list(self.negations), "comparators": list(self.comparators),
            "scope": list(self.scope), "services": list(self.services), "actions": list(self.actions),
            "content": list(self.content),
        }, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RequestSignature:
        data: dict[str, Any] = json.loads(text)
        return cls(
            entities=tuple(Entity(t, v, r) for t, v, r in data.get("entities", [])),
            negations=tuple(data.get("negations", [])), comparators=tuple(data.get("comparators", [])),
            scope=tuple(data.get("scope", [])), services=tuple(data.get("services", [])),
            actions=tuple(data.get("actions", [])), content=tuple(data.get("content", [])),
        )


class _Text:
    """The request text with consumed spans blanked out, so that no value is extracted twice."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.masked = text
        self.found: list[tuple[int, Entity]] = []

    def take(self, pattern: Any, kind: str, canon: Any, group: int = 0) -> None:
        """Record every match of ``pattern`` (an RE2 or ``re`` pattern) and blank it out."""
        taken: list[tuple[int, int]] = []
        for match in pattern.finditer(self.masked):
            raw = match.group(group)
            if not raw or not raw.strip():
                continue
            value = canon(match) if callable(canon) else canon
            if value is None:
                continue
            start, end = match.span(group)
            self.found.append((start, Entity(kind, str(value), self.original[start:end])))
            taken.append(match.span())
        if taken:  # once per pattern: blanking per match copied the whole text each time
            pieces: list[str] = []
            last = 0
            for start, end in taken:
                pieces.extend((self.masked[last:start], " " * (end - start)))
                last = end
            pieces.append(self.masked[last:])
            self.masked = "".join(pieces)


def _num(text: str) -> str:
    cleaned = text.replace(",", "").replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else repr(value)


def _clock(hour: int, minute: int, ampm: str | None) -> str | None:
    if ampm:
        ampm = ampm.lower().replace(".", "")
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return f"{hour:02d}:{minute:02d}"


_EMAIL = linear_regex.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = linear_regex.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|`([^`\n]{1,200})`|(?<![\w])'([^'\n]{1,200})'(?![\w])")
_CRON = re.compile(r"(?<![\w*/,-])((?:[\d*][\d*/,-]*\s+){4}[\d*][\d*/,-]*)(?![\w*/,-])")
_CHANNEL = re.compile(r"(?<![\w&])#[a-z0-9][a-z0-9_.-]*", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w.])@[a-z0-9][a-z0-9_.-]*", re.IGNORECASE)
_IANA_TZ = linear_regex.compile(r"\b(?:Africa|America|Asia|Atlantic|Australia|Europe|Pacific|Indian|Etc)/[A-Za-z_]+(?:/[A-Za-z_]+)?")
_TZ_ABBR = linear_regex.compile(r"\b(" + "|".join(vocab.TZ_ABBREVIATIONS) + r")\b(?:\s*[+-]\s*\d{1,2})?", ignore_case=True)
_CITY = linear_regex.compile(r"\b(" + "|".join(sorted(vocab.CITIES, key=len, reverse=True)) + r")\b", ignore_case=True)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?![a-z])|\b(\d{1,2}):(\d{2})\b", re.IGNORECASE)
_TIME_WORD = linear_regex.compile(r"\b(" + "|".join(vocab.TIME_WORDS) + r")s?\b", ignore_case=True)
_PERIOD = linear_regex.compile(
    r"\b(yesterday|today|tomorrow|tonight|(?:last|this|next|previous|past|current|coming|prior)\s+"
    r"(?:\d+\s+)?(?:hour|day|week|month|quarter|year|weekend)s?|(?:week|month|quarter|year)[- ]to[- ]date)\b", ignore_case=True)
_LONG_UNITS = "|".join(sorted((u for u in vocab.UNITS if len(u) > 2), key=len, reverse=True))
_DURATION = linear_regex.compile(
    r"\b(\d+(?:\.\d+)?)[\s-]*(" + "|".join(sorted(vocab.UNITS, key=len, reverse=True)) + r")\b"
    r"|\b(" + "|".join(vocab.NUMBER_WORDS) + r")[\s-]+(" + _LONG_UNITS + r")\b", ignore_case=True)
_EVERY_UNIT = linear_regex.compile(r"\b(?:every|each|once an?|once per|per)\s+(other\s+)?(second|minute|hour|day|week|month|quarter|year)\b", ignore_case=True)
_FREQUENCY = linear_regex.compile(r"\b(" + "|".join(vocab.FREQUENCIES) + r")\b", ignore_case=True)
_DOM = linear_regex.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b|\b(first|last)\s+(?:business\s+|working\s+)?day\s+of\s+(?:the|each|every)\s+month\b", ignore_case=True)
_WEEKDAY = linear_regex.compile(r"\b(" + "|".join(vocab.WEEKDAYS) + r")s?\b|\b(" + "|".join(vocab.WEEKDAY_GROUPS) + r")\b"
                      r"|\b(business|working)\s+days?\b", ignore_case=True)
_MONTH = re.compile(r"\b(" + "|".join(m for m in vocab.MONTHS if m not in {"may", "march"}) + r")\b"
                    r"|\b(May|March)\b(?=\s+\d|\s+of\b)|(?<=\bin\s)(May|March)\b", re.IGNORECASE)
_AMOUNT = linear_regex.compile(r"([$€£¥])\s?(\d[\d,]*(?:\.\d+)?)\s*([kKmM])?\b|\b(\d[\d,]*(?:\.\d+)?)\s*([kKmM]\b|%|percent\b|"
                     r"(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)", ignore_case=True)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,_]*(?:\.\d+)?(?![\w])")
_TABLE_BEFORE = linear_regex.compile(r"\b(?:table|collection|sheet|tab|bucket)\s+(?:called\s+|named\s+)?([A-Za-z_][\w.-]*\w)", ignore_case=True)
_TABLE_AFTER = linear_regex.compile(r"\b([A-Za-z_]\w*)\s+(?:table|collection|bucket)\b", ignore_case=True)
_IDENT = linear_regex.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_WORD = linear_regex.compile(r"[A-Za-z][\w'-]*")


def _amount(match: re.Match[str]) -> str:
    if match.group(1):
        mult = {"k": 1000, "m": 1_000_000}.get((match.group(3) or "").lower(), 1)
        return f"{match.group(1)}{_num(str(float(_num(match.group(2))) * mult))}"
    suffix = match.group(5).lower()
    base = match.group(4)
    if suffix in {"k", "m"}:
        return _num(str(float(_num(base)) * (1000 if suffix == "k" else 1_000_000)))
    if suffix in {"%", "percent"}:
        return f"{_num(base)}%"
    currency = {"usd": "$", "dollar": "$", "dollars": "$", "eur": "€", "euro": "€", "euros": "€",
                "gbp": "£", "pound": "£", "pounds": "£"}[suffix]
    return f"{currency}{_num(base)}"


def _duration(match: re.Match[str]) -> str:
    count = (match.group(1) or match.group(3)).lower()
    unit = match.group(2) or match.group(4)
    n = vocab.NUMBER_WORDS.get(count)
    return f"{n if n is not None else _num(count)} {vocab.UNITS[unit.lower()]}"


def _clock_value(match: re.Match[str]) -> str | None:
    if match.group(3):
        return _clock(int(match.group(1)), int(match.group(2) or 0), match.group(3))
    return _clock(int(match.group(4)), int(match.group(5)), None)


def _weekday(match: re.Match[str]) -> str:
    if match.group(1):
        return vocab.WEEKDAYS[match.group(1).lower()]
    if match.group(2):
        return vocab.WEEKDAY_GROUPS[match.group(2).lower()]
    return "weekdays"


def _dom(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1).lstrip("0") or "0"
    return "1" if match.group(2).lower() == "first" else "last"


def _month(match: re.Match[str]) -> str:
    word = next(g for g in match.groups() if g)
    return str(vocab.MONTHS[word.lower()])


def _table(match: re.Match[str]) -> str | None:
    name = match.group(1)
    if name.lower() in vocab.TABLE_STOP or name.lower() in vocab.SERVICES:
        return None
    return name


def _at_sentence_start(text: str, start: int) -> bool:
    # a window before the word, not all of text[:start]: this runs once per capitalised word
    window = text[max(0, start - 256):start]
    before = window.rstrip(" \t\"'(“")
    if not before and start > 256:
        before = text[:start].rstrip(" \t\"'(“")
    if not before:
        return True
    core = before.rstrip()  # [.!?;:\n]\s*$: a sentence mark, then only whitespace
    return (bool(core) and core[-1] in ".!?;:") or "\n" in before[len(core):] or before.endswith(("-", "*", "•"))


@dataclass
class _Words:
    """What the words of a request say about its structure (beside the entities)."""

    services: set[str] = field(default_factory=set)
    negations: list[str] = field(default_factory=list)
    scope: set[str] = field(default_factory=set)
    actions: list[str] = field(default_factory=list)
    content: set[str] = field(default_factory=set)


def _read_words(t: _Text, lowered: str) -> _Words:
    """Negations, services, scope words, actions and content classes; capitalised names found
    mid-sentence are added to ``t.found`` as ``name`` entities."""
    words = _Words()
    for phrase in ("text message", "google sheets"):
        if phrase in lowered:
            words.services.add(vocab.SERVICES.get(phrase, "sheet"))
    for match in _WORD.finditer(t.masked):
        word = match.group(0)
        low = word.lower()
        if low.endswith("n't"):
            words.negations.append("not")
            continue
        if low in vocab.NEGATIONS and not (low == "no" and _followed_by(t.masked, match.end(), "longer")):
            words.negations.append(vocab.NEGATIONS[low])
        if low in vocab.SERVICES:
            words.services.add(vocab.SERVICES[low])
        if low in vocab.SCOPE_WORDS:
            words.scope.add(low)
        action = _action(low)
        if action and (not words.actions or words.actions[-1] != action):
            words.actions.append(action)
        if _is_name(word, low, t.masked, match.start()):
            t.found.append((match.start(), Entity("name", word, word)))
            continue  # a value, compared (and re-bound) as an entity
        word_class = _content_word(low, action)
        if word_class:
            words.content.add(word_class)
    return words


def _is_name(word: str, low: str, text: str, start: int) -> bool:
    """A capitalised word that is no vocabulary word and does not start a sentence: a name."""
    return (word[0].isupper() and low not in vocab.SERVICES and low not in vocab.CAPITALISED_STOP
            and low not in vocab.ACTIONS and low not in vocab.SCOPE_WORDS and low not in vocab.NEGATIONS
            and not _at_sentence_start(text, start))


def extract(text: str) -> RequestSignature:
    """Extract the values and the structure of ``text`` (a user's request)."""
    t = _Text(text)
    t.take(_URL, "url", lambda m: m.group(0).rstrip("/").lower())
    t.take(_EMAIL, "email", lambda m: m.group(0).lower())
    for group in (1, 2, 3, 4):
        t.take(_QUOTED, "quoted", lambda m, g=group: m.group(g), group=group)
    t.take(_CRON, "cron", lambda m: " ".join(m.group(1).split()), group=1)
    t.take(_IANA_TZ, "timezone", lambda m: m.group(0).lower())
    t.take(_TZ_ABBR, "timezone", lambda m: re.sub(r"\s+", "", m.group(0).lower()))
    t.take(_CITY, "timezone", lambda m: m.group(1).lower())
    t.take(_CHANNEL, "channel", lambda m: m.group(0).lower())
    t.take(_MENTION, "mention", lambda m: m.group(0).lower())
    t.take(_CLOCK, "time", _clock_value)
    t.take(_DOM, "day_of_month", _dom)
    t.take(_PERIOD, "period", lambda m: " ".join(m.group(1).lower().split()).replace("previous", "last")
           .replace("prior", "last").replace("current", "this"))
    t.take(_AMOUNT, "amount", _amount)
    t.take(_DURATION, "duration", _duration)
    t.take(_EVERY_UNIT, "frequency", lambda m: ("2" if m.group(1) else "") + m.group(2).lower())
    t.take(_FREQUENCY, "frequency", lambda m: vocab.FREQUENCIES[m.group(1).lower()])
    t.take(_TIME_WORD, "time", lambda m: vocab.TIME_WORDS[m.group(1).lower()])
    t.take(_WEEKDAY, "weekday", _weekday)
    t.take(_MONTH, "month", _month)
    t.take(_TABLE_AFTER, "table", _table, group=1)
    t.take(_TABLE_BEFORE, "table", _table, group=1)
    t.take(_IDENT, "table", lambda m: m.group(0))
    t.take(_NUMBER, "number", lambda m: _num(m.group(0)))

    # "every Monday" already says weekly; "weekly on Monday" says the same thing.
    kinds = {e.type for _, e in t.found}
    if "weekday" in kinds:
        t.found = [(s, e) for s, e in t.found if not (e.type == "frequency" and e.value == "week")]
    if "day_of_month" in kinds:
        t.found = [(s, e) for s, e in t.found if not (e.type == "frequency" and e.value == "month")]

    lowered = t.masked.lower()
    words = _read_words(t, lowered)
    services, content = words.services, words.content
    for _start, entity in t.found:
        if entity.type == "email":
            services.add("email")
        elif entity.type == "channel":
            services.add("slack")
    comparators = [canon for pattern, canon in vocab.COMPARATORS for _ in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", lowered)]
    entities = tuple(e for _, e in sorted(t.found, key=lambda item: item[0]))
    return RequestSignature(
        entities=entities,
        negations=tuple(words.negations),
        comparators=tuple(comparators),
        scope=tuple(sorted(words.scope)),
        services=tuple(sorted(services)),
        actions=tuple(words.actions),
        content=tuple(sorted(content)),
    )


def _content_word(word: str, action: str | None) -> str | None:
    """The word's meaning class for the content comparison, or ``None`` for phrasing words."""
    if action is not None:
        return None  # compared in order, separately
    if word in vocab.STOPWORDS or word in vocab.SERVICES or word in vocab.NEGATIONS or word in vocab.SCOPE_WORDS:
        return None
    if word.endswith("n't") or len(word) < 3:
        return None
    stem = _stem(word)
    stem = vocab.SYNONYMS.get(stem, stem)
    return None if not stem or stem in vocab.STOPWORDS else stem


def _stem(word: str) -> str:
    """A crude stem, enough to equate "issues"/"issue", "submitted"/"submit", "received"/"receive"."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and not word.endswith("eed") and len(word) > 4:
        word = word[:-2]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _action(word: str) -> str | None:
    """The canonical action of a verb, trying crude lemmas ("assigned" → "assign", "saved" → "save")."""
    if word in vocab.ACTIONS:
        return vocab.ACTIONS[word]
    for suffix, repl in (("ied", "y"), ("ies", "y"), ("ed", ""), ("d", ""), ("ing", ""), ("ing", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            lemma = word[: -len(suffix)] + repl
            if lemma in vocab.ACTIONS:
                return vocab.ACTIONS[lemma]
    return None


def _without(actions: tuple[str, ...], drop: frozenset[str]) -> tuple[str, ...]:
    out: list[str] = []
    for action in actions:
        if action not in drop and (not out or out[-1] != action):
            out.append(action)
    return tuple(out)


def _followed_by(text: str, end: int, word: str) -> bool:
    return text[end:].lstrip().lower().startswith(word)


def entity_counts(signature: RequestSignature) -> Counter[tuple[str, str]]:
    """The entities as a multiset of ``(type, value)``."""
    return Counter((e.type, e.value) for e in signature.entities)


# Stand-ins for literal values in the text that is embedded: two requests that differ only in an
# address or a channel embed identically, and the entity comparison decides (exact or re-bound).
_SLOT_TEXT = {
    "email": "someone@example.com", "url": "https://example.com/path", "channel": "#channel",
    "mention": "@someone", "quoted": "text", "cron": "0 9 * * 1", "number": "42", "name": "Alex",
    "table": "records",
}


def slot_text(text: str, signature: RequestSignature | None = None) -> str:
    """``text`` with every literal value replaced by a fixed stand-in of its type (for embedding)."""
    signature = signature or extract(text)
    raws = sorted({(e.raw, e.type) for e in signature.entities if e.type in _SLOT_TEXT},
                  key=lambda item: len(item[0]), reverse=True)
    for raw, kind in raws:
        text = re.sub(rf"(?<![\w@#.-]){re.escape(raw)}(?![\w@-])", _SLOT_TEXT[kind], text)
    return text
