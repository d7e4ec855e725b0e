"""PII detection and masking for the ``pii_redaction`` guardrail.

Detectors are regular expressions followed by a checksum where the format has one, so that an
order number is not mistaken for a card and a product code not for an IBAN:

- ``email`` — RFC 5322-ish addresses;
- ``card`` — 13–19 digits (spaces/dashes allowed) passing the Luhn check;
- ``iban`` — a country code, two check digits and 11–30 characters passing ISO 7064 mod-97;
- ``national_id`` — US Social Security numbers (with the SSA's never-issued ranges excluded) and
  UK National Insurance numbers;
- ``phone`` — international numbers (``+`` and 8–15 digits) and North-American style numbers.

Detectors run in that order on the text left unmasked by the previous ones, so a card number is
never half-masked as a phone number.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

PII_KINDS = ("email", "card", "iban", "national_id", "phone")


def luhn_valid(digits: str) -> bool:
    """True when a string of digits passes the Luhn checksum (payment card numbers)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when an IBAN (spaces allowed) passes the ISO 7064 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\w)")
_PHONE_NANP = re.compile(r"(?<![\w+])(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None


_DETECTORS: tuple[_Detector, ...] = (
    _Detector("email", _EMAIL),
    _Detector("card", _CARD, lambda m: 13 <= len(_digits(m)) <= 19 and luhn_valid(_digits(m))),
    _Detector("iban", _IBAN, iban_valid),
    _Detector("national_id", _SSN),
    _Detector("national_id", _NINO),
    _Detector("phone", _PHONE_INTL, lambda m: 8 <= len(_digits(m)) <= 15),
    _Detector("phone", _PHONE_NANP),
)


def default_mask(kind: str) -> str:
    return f"[REDACTED_{kind.upper()}]"


def redact_text(text: str, kinds: Iterable[str] = PII_KINDS, counts: Counter[str] | None = None) -> str:
    """Mask every PII match of the given kinds in ``text``; add what was found to ``counts``."""
    wanted = set(kinds)
    for detector in _DETECTORS:
        if detector.kind not in wanted:
            continue

        def _sub(match: re.Match[str], det: _Detector = detector) -> str:
            if det.check is not None and not det.check(match.group(0)):
                return match.group(0)
            if counts is not None:
                counts[det.kind] += 1
            return default_mask(det.kind)

        text = detector.pattern.sub(_sub, text)
    return text


def redact(value: Any, kinds: Iterable[str] = PII_KINDS, *, skip_keys: Iterable[str] = ()) -> tuple[Any, Counter[str]]:
    """Redact every string nested in a JSON-like value. Returns the new value and counts per kind.

    Keys of mappings are kept as they are; values under a key in ``skip_keys`` are left untouched.
    """
    counts: Counter[str] = Counter()
    kinds = tuple(kinds)
    skip = set(skip_keys)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact_text(item, kinds, counts)
        if isinstance(item, dict):
            return {k: (v if k in skip else walk(v)) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value), counts


__all__ = ["PII_KINDS", "iban_valid", "luhn_valid", "redact", "redact_text"]
