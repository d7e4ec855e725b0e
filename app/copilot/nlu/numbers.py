"""Number words and durations in plain English ("five", "a dozen", "2 days", "half an hour")."""

from __future__ import annotations

import re

NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "couple of": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12,
    "a dozen": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
    "forty five": 45, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "a hundred": 100,
}
ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "fifteenth": 15, "twentieth": 20,
}
NUMBER = r"(\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True)) + r")"

UNIT_SECONDS: dict[str, int] = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "week": 604800, "weeks": 604800,
    "business day": 86400, "business days": 86400,
}
UNIT = r"(business days?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|s|m|h|d)"
DURATION_RE = re.compile(r"\b" + NUMBER + r"\s*-?\s*" + UNIT + r"\b", re.IGNORECASE)
HALF_HOUR_RE = re.compile(r"\b(half an hour|half hour|30 minutes?)\b", re.IGNORECASE)


def to_number(word: str) -> float:
    """'5' → 5, 'five' → 5, 'a dozen' → 12."""
    word = word.strip().lower()
    if word in NUMBER_WORDS:
        return float(NUMBER_WORDS[word])
    return float(word)


def to_int(word: str) -> int:
    return int(to_number(word))


def parse_duration(text: str) -> tuple[float, tuple[int, int]] | None:
    """The first duration in ``text`` as seconds, and its span ('wait 2 days' → 172800)."""
    half = HALF_HOUR_RE.search(text)
    match = DURATION_RE.search(text)
    if half and (match is None or half.start() <= match.start()):
        return 1800.0, half.span()
    if match is None:
        return None
    return to_number(match.group(1)) * UNIT_SECONDS[match.group(2).lower()], match.span()
