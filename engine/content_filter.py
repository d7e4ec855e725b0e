"""Pattern categories for the ``content_filter`` guardrail.

Text is normalised first (Unicode NFKC, zero-width characters removed, whitespace collapsed,
lower case) so that ``Ignore\u200b   PREVIOUS\ninstructions`` still matches. The categories:

- ``prompt_injection`` — attempts to override the instructions a model was given;
- ``exfiltration`` — attempts to make a model reveal its system prompt, hidden instructions or
  secrets;
- ``secrets`` — credentials that must not leave (private keys, cloud/API keys, bearer tokens);
- ``unsafe`` — requests for clearly dangerous content (weapons, malware, self-harm instructions).

The lists are deliberately conservative (a false positive stops a workflow); workflows add their
own regular expressions with ``patterns`` and can pick categories with ``categories``.

Every pattern, the workflow's own included, runs on RE2 (google-re2): matching is linear in the
text, so no input can make the filter stall a worker; RE2 refuses lookarounds and backreferences,
which a custom pattern therefore cannot use (a ``guardrail_config_invalid`` error says so).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from engine import linear_regex

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

_PREV = r"(?:previous|prior|above|earlier|preceding|all|any|the|your|system|original)"
# Instruction words only: "please disregard my previous message" is ordinary mail, not an attack.
_INSTR = r"(?:instructions?|prompts?|rules|guidelines|guardrails)"

CATEGORIES: dict[str, tuple[str, ...]] = {
    "prompt_injection": (
        rf"\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\w+){{0,3}}\s+{_PREV}\s+(?:\w+\s+){{0,2}}{_INSTR}",
        r"\byou\s+are\s+now\s+(?:in\s+)?(?:dan|developer\s+mode|jailbroken|unrestricted|an?\s+unfiltered)",
        r"\b(?:new|updated|real)\s+(?:system\s+)?instructions\s*:",
        r"\bact\s+as\s+(?:if\s+you\s+(?:have|had)\s+no|an?\s+(?:ai|assistant)\s+without)\s+(?:restrictions|rules|filters|limits)",
        r"\bdo\s+not\s+(?:follow|obey)\s+(?:your|the|any)\s+(?:rules|instructions|guidelines)",
        r"\b(?:remove|disable|turn\s+off)\s+(?:all\s+|the\s+|any\s+)?(?:guardrails?|safety\s+(?:checks?|filters?)|content\s+filters?)",
        r"<\|?(?:im_start|im_end|system)\|?>|\[/?inst\]|<<sys>>",
    ),
    "exfiltration": (
        r"\b(?:reveal|print|show|repeat|output|leak|dump|tell\s+me|give\s+me|display|what\s+(?:is|are))\b(?:\s+\w+){0,3}\s+"
        r"(?:system\s+prompt|hidden\s+(?:prompt|instructions)|initial\s+(?:prompt|instructions)|developer\s+(?:prompt|message))",
        r"\b(?:send|post|email|upload|exfiltrate)\b(?:\s+\w+){0,4}\s+(?:api\s+keys?|credentials|passwords?|secrets?|tokens?)\s+to\b",
        r"\bprint\s+(?:all\s+)?(?:environment\s+variables|env\s+vars|os\.environ)",
    ),
    "secrets": (
        r"-----begin\s+(?:rsa\s+|ec\s+|openssh\s+|dsa\s+|pgp\s+)?private\s+key-----",
        r"\bakia[0-9a-z]{16}\b",
        r"\bsk-(?:proj-|ant-)?[a-z0-9_-]{20,}",
        r"\bgh[pousr]_[a-z0-9]{36}\b",
        r"\bxox[abposr]-[a-z0-9-]{10,}",
        r"\bauthorization:\s*bearer\s+[a-z0-9._~+/-]{20,}",
    ),
    "unsafe": (
        r"\bhow\s+to\s+(?:make|build|assemble)\s+(?:a\s+)?(?:bomb|explosive|pipe\s+bomb|nerve\s+agent|bioweapon)",
        r"\b(?:write|create|generate)\s+(?:a\s+)?(?:ransomware|keylogger|credential\s+stealer|computer\s+virus)",
        r"\b(?:best|easiest)\s+way\s+to\s+(?:kill\s+myself|commit\s+suicide)",
        r"\brm\s+-rf\s+/(?:\s|$)",
    ),
}

DEFAULT_CATEGORIES = ("prompt_injection", "exfiltration", "secrets", "unsafe")


REGEX_ENGINE = "re2"
"""Which regular-expression engine the filter runs on (tests hold it to RE2)."""


def compile_pattern(pattern: str) -> Any:
    """Compile a filter pattern on RE2, case-insensitive, with a Unicode ``\\w``; ``ValueError``
    names what RE2 refused."""
    try:
        return linear_regex.compile(pattern, ignore_case=True)
    except re2.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid RE2 regular expression ({exc}); "
                         "lookarounds and backreferences are not supported") from None


def normalize(text: str) -> str:
    """NFKC, zero-width characters removed, whitespace collapsed, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return " ".join(text.split()).lower()


@dataclass(frozen=True)
class Finding:
    category: str
    pattern: str
    excerpt: str


class ContentFilter:
    """Compiled patterns for a set of categories plus custom regular expressions."""

    def __init__(self, categories: Iterable[str] = DEFAULT_CATEGORIES, patterns: Iterable[str] = ()) -> None:
        self._compiled: list[tuple[str, str, Any]] = []  # (category, pattern as written, compiled)
        for category in categories:
            if category not in CATEGORIES:
                raise ValueError(f"unknown content_filter category {category!r}; known: {', '.join(CATEGORIES)}")
            self._compiled.extend((category, p, compile_pattern(p)) for p in CATEGORIES[category])
        for pattern in patterns:
            self._compiled.append(("custom", pattern, compile_pattern(pattern)))

    def scan(self, text: str) -> list[Finding]:
        """Every category that matches the (normalised) text, with a short excerpt."""
        norm = normalize(text)
        found: list[Finding] = []
        for category, written, pattern in self._compiled:
            match = pattern.search(norm)
            if match:
                start = max(0, match.start() - 20)
                found.append(Finding(category, written, norm[start : match.end() + 20]))
        return found

    def redact(self, text: str, replacement: str = "[FILTERED]") -> str:
        """Replace matches with ``replacement``, in the original text when the matches are found
        there, else in the normalised text (obfuscated input loses its formatting)."""
        if not self.scan(text):
            return text
        changed = text
        for _, _, pattern in self._compiled:
            changed = pattern.sub(replacement, changed)
        if not self.scan(changed):
            return changed
        changed = normalize(text)
        for _, _, pattern in self._compiled:
            changed = pattern.sub(replacement, changed)
        return changed


__all__ = ["CATEGORIES", "DEFAULT_CATEGORIES", "REGEX_ENGINE", "ContentFilter", "Finding", "compile_pattern", "normalize"]
