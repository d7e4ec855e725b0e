"""Deterministic text heuristics behind the ``ModelService`` protocol — NOT a language model.

Used by the llm steps when the app supplies no ``services["model"]`` (connector tests, scripts
that call operations directly). Same input, same output, no network, no weights:

* ``summarize`` is extractive: it scores sentences by the frequency of their content words and
  returns the best ones in their original order, within ``max_words``;
* ``classify`` scores each label by the overlap of its words (plus a small built-in lexicon for
  common labels such as positive/negative, urgent, spam, question, complaint, billing) with the
  text; with no evidence it picks a neutral/other/unknown label when offered, else the first;
* ``extract`` finds ``field: value`` lines first, then falls back on patterns chosen from the
  field's name and description: emails, phone numbers, URLs, dates, money amounts, numbers and
  "my name is ..." names; amounts and numbers come back as numbers; anything else stays ``None``;
* ``complete`` cannot write: it returns the prompt's key sentences (an extractive summary), so a
  workflow still runs end to end offline. Its ``name`` says ``local-heuristics``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his
i if in into is it its me my no not of on or our she so than that the their them then there these they this those
to too us was we were what when where which who will with would you your yours about after again all also am any
because before being both each few more most other over same should some such only own just very up down out off
""".split())

LEXICON: dict[str, set[str]] = {
    "positive": {"good", "great", "love", "excellent", "happy", "thank", "thanks", "awesome", "amazing", "perfect",
                 "pleased", "glad", "nice", "wonderful", "fantastic", "recommend", "satisfied"},
    "negative": {"bad", "terrible", "hate", "awful", "angry", "broken", "poor", "disappointed", "worst", "refund",
                 "complaint", "unhappy", "useless", "horrible", "annoyed", "fail", "failed", "problem"},
    "urgent": {"urgent", "asap", "immediately", "emergency", "critical", "now", "outage", "down", "blocker",
               "deadline", "quickly"},
    "spam": {"winner", "won", "prize", "lottery", "free", "click", "offer", "bitcoin", "crypto", "viagra",
             "unsubscribe", "congratulations", "claim"},
    "question": {"how", "what", "why", "when", "where", "which", "can", "could", "?"},
    "complaint": {"complaint", "unacceptable", "disappointed", "refund", "broken", "worst", "angry"},
    "billing": {"invoice", "payment", "charge", "charged", "bill", "billing", "refund", "price", "subscription",
                "card", "paid"},
    "bug": {"bug", "error", "crash", "crashes", "broken", "exception", "fails", "failing", "stack", "trace"},
    "feature": {"feature", "request", "suggest", "suggestion", "would", "wish", "add", "support"},
}
NEUTRAL_LABELS = ("neutral", "other", "unknown", "none", "normal", "misc")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}|\n(?=\s*[-*•]\s)")
_WORD = re.compile(r"[A-Za-z0-9']+|\?")

PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "url": re.compile(r"https?://[^\s<>\"')\]]+"),
    "phone": re.compile(r"(?<![\w])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w])"),
    "date": re.compile(
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
        r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?,?\s+\d{4}\b"
        r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b",
        re.IGNORECASE),
    "amount": re.compile(
        r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|JPY|CHF|dollars|euros|pounds)\b)",
        re.IGNORECASE),
    "number": re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])"),
    "name": re.compile(r"(?i:my name is|i am|i'm|this is|regards,?|thanks,?|cheers,?|from:?)\s+"
                       r"([A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){0,2})"),
}
KIND_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("email", ("email", "e-mail", "mail address")),
    ("url", ("url", "link", "website", "site", "homepage")),
    ("phone", ("phone", "telephone", "mobile", "cell", "fax")),
    ("date", ("date", "day", "deadline", "when", "due", "birthday", "time")),
    ("amount", ("amount", "price", "total", "cost", "fee", "sum", "payment", "budget", "salary", "revenue")),
    ("number", ("number", "count", "quantity", "qty", "age", "id", "how many", "size", "percent")),
    ("name", ("name", "person", "sender", "customer", "contact", "who")),
]


def _stem(word: str) -> str:
    word = word.lower().strip("'")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s and s.strip()]


def summarize(text: str, max_words: int) -> str:
    """Extractive summary: the highest-scoring sentences, in their original order."""
    parts = sentences(text)
    if not parts:
        return ""
    freq = Counter(_stem(w) for w in _words(text) if w not in STOPWORDS and len(w) > 2)
    if not freq:
        return _truncate(parts[0], max_words)

    def score(i: int, sentence: str) -> float:
        content = [_stem(w) for w in _words(sentence) if w not in STOPWORDS and len(w) > 2]
        base = sum(freq[w] for w in content) / (len(content) ** 0.5 or 1)
        return base * (1.15 if i == 0 else 1.0)  # opening sentences tend to carry the topic

    ranked = sorted(range(len(parts)), key=lambda i: (-score(i, parts[i]), i))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        n = len(parts[i].split())
        if used + n > max_words:
            continue
        chosen.append(i)
        used += n
    if not chosen:
        return _truncate(parts[ranked[0]], max_words)
    return " ".join(parts[i] for i in sorted(chosen))


def _truncate(sentence: str, max_words: int) -> str:
    words = sentence.split()
    return sentence if len(words) <= max_words else " ".join(words[:max_words]) + "…"


def classify(text: str, labels: Sequence[str]) -> tuple[str, float]:
    """The label with the most evidence in the text, and its score."""
    tokens = Counter(_stem(w) for w in _words(text))
    raw = Counter(_words(text))
    best, best_score = None, 0.0
    for label in labels:
        label_words = {_stem(w) for w in _words(label) if w not in STOPWORDS} or {_stem(label)}
        lexicon = set().union(*(LEXICON.get(w, set()) for w in {*(_words(label)), label.lower()}))
        score = float(sum(tokens[w] for w in label_words)) * 2
        score += sum(raw[w] + tokens[_stem(w)] for w in lexicon) * 0.5
        if score > best_score:
            best, best_score = label, score
    if best is None:
        neutral = next((lab for lab in labels if lab.lower() in NEUTRAL_LABELS), labels[0])
        return neutral, 0.0
    return best, best_score


def _kind(name: str, description: str) -> str | None:
    haystack = f"{name.replace('_', ' ')} {description}".lower()
    for kind, words in KIND_WORDS:
        if any(re.search(rf"\b{re.escape(w)}\b", haystack) for w in words):
            return kind
    return None


def _number(text: str) -> int | float | None:
    cleaned = re.sub(r"[^\d.,-]", "", text)
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    elif cleaned.count(",") == 1 and len(cleaned.split(",")[1]) != 3:
        cleaned = cleaned.replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in cleaned else value


def _labelled(text: str, name: str) -> str | None:
    spelled = r"[\s_-]*".join(re.escape(part) for part in re.split(r"[\s_-]+", name.strip()) if part)
    match = re.search(rf"(?im)^\s*[-*•]?\s*{spelled}\s*[:=]\s*(.+?)\s*$", text)
    return match.group(1).strip() if match else None


def extract(text: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """Values for each field: ``field: value`` lines, then patterns picked from name/description."""
    out: dict[str, Any] = {}
    for name, description in fields.items():
        kind = _kind(name, description or "")
        value: Any = _labelled(text, name)
        if value is None and kind is not None:
            match = PATTERNS[kind].search(text)
            if match:
                value = match.group(1) if kind == "name" and match.groups() else match.group(0)
                value = value.strip().rstrip(".,;")
        if value is not None and kind in ("amount", "number"):
            number = _number(value)
            value = number if number is not None else value
        out[name] = value
    return out


class LocalHeuristics:
    """The ``ModelService`` used when no model is configured. Deterministic; see the module doc."""

    name = "local-heuristics"

    async def complete(self, prompt: str, *, system: str | None = None, max_tokens: int | None = None,  # noqa: ARG002
                       temperature: float | None = None, ctx_meta: Mapping[str, Any] | None = None) -> str:  # noqa: ARG002
        budget = max(5, int((max_tokens or 200) * 0.75))
        return summarize(prompt, budget)

    async def classify(self, text: str, labels: Sequence[str], *, instructions: str | None = None,  # noqa: ARG002
                       ctx_meta: Mapping[str, Any] | None = None) -> str:  # noqa: ARG002
        return classify(text, labels)[0]

    async def extract(self, text: str, fields: Mapping[str, str], *,
                      ctx_meta: Mapping[str, Any] | None = None) -> dict[str, Any]:  # noqa: ARG002
        return extract(text, fields)

    async def summarize(self, text: str, max_words: int, *,
                        ctx_meta: Mapping[str, Any] | None = None) -> str:  # noqa: ARG002
        return summarize(text, max_words)
