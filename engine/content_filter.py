"""Pattern categories for the ``content_filter`` guardrail.

Text is read several ways first (``engine.deobfuscation``): Unicode NFKC with invisible
characters removed, look-alike letters and accents folded, lower case and whitespace collapsed
(so ``Ignore\u200b   PREVIOUS\ninstructions`` and ``іgnоrе`` in Cyrillic still match); the same
without markdown/HTML markup; the text of long base64, hex, percent-encoded, HTML-entity and
``\\u`` tokens (two layers deep); and the letters alone, leetspeak read back (``i g n o r e``,
``1gn0r3``). The categories:

- ``prompt_injection`` — attempts to override the instructions a model was given (English
  synonyms, French, German, Spanish, Italian);
- ``exfiltration`` — attempts to make a model reveal its system prompt, hidden instructions or
  secrets;
- ``secrets`` — credentials that must not leave (private keys, cloud/API keys, bearer tokens);
- ``unsafe`` — requests for clearly dangerous content (weapons, malware, self-harm instructions).

The lists are deliberately conservative (a false positive stops a workflow); workflows add their
own regular expressions with ``patterns`` and can pick categories with ``categories``. What the
filter cannot catch: an attack reworded in plain language it has no pattern for, languages it
has no patterns for, encodings it does not decode (ROT13, compression, images), and instructions
split across several fields or steps.

Every pattern, the workflow's own included, runs on RE2 (google-re2): matching is linear in the
text, so no input can make the filter stall a worker; RE2 refuses lookarounds and backreferences,
which a custom pattern therefore cannot use (a ``guardrail_config_invalid`` error says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from engine import linear_regex
from engine.deobfuscation import fold, readings

_PREV = r"(?:previous|prior|above|earlier|preceding|foregoing|all|any|the|your|system|original|initial|those|these)"
# Instruction words only: "please disregard my previous message" is ordinary mail, not an attack.
_INSTR = (r"(?:instructions?|prompts?|rules|guidelines|guardrails|directives|directions|commands|guidance|"
          r"programming|system\s+message|constraints|restrictions)")
_IGNORE = (r"(?:ignore|disregard|forget|override|bypass|discard|abandon|dismiss|pay\s+no\s+attention\s+to|"
           r"set\s+aside|throw\s+out|stop\s+following|no\s+longer\s+follow|never\s*mind)")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "prompt_injection": (
        rf"\b{_IGNORE}\b(?:\s+\w+){{0,3}}\s+{_PREV}\s+(?:\w+\s+){{0,2}}{_INSTR}",
        # French, German, Spanish, Italian (accents are folded away before matching)
        r"\b(?:ignore[rz]?|oublie[rz]?|ne\s+tenez\s+pas\s+compte|ne\s+tiens\s+pas\s+compte)\b\s+(?:\w+\s+){0,2}"
        r"(?:les|tes|vos|toutes|tous|ces|des)\s+(?:\w+\s+){0,2}(?:instructions?|consignes?|regles|directives|ordres)\b",
        r"\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\b(?:\s+\w+){0,3}\s+"
        r"(?:anweisungen|instruktionen|regeln|vorgaben|befehle)\b",
        r"\b(?:ignora|ignore|ignoren|olvida|olvide|olviden|omite)\b(?:\s+\w+){0,3}\s+(?:instrucciones|reglas|indicaciones|ordenes)\b",
        r"\b(?:ignora|dimentica|trascura)\b(?:\s+\w+){0,3}\s+(?:istruzioni|regole|indicazioni)\b",
        r"\bfrom\s+now\s+on,?\s+you\s+(?:are|will\s+be)\s+(?:dan|jailbroken|unrestricted|unfiltered|no\s+longer\s+bound)",
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

# Signatures for the ``squeezed`` reading (letters and digits only, leetspeak read back): the
# phrases above with nothing between the words, for text spelled out or cut up letter by letter.
_SQ_PREV = r"(?:all|any|the|your|my|of|previous|prior|above|earlier|preceding|system|original|initial)*"
SQUEEZED: dict[str, tuple[str, ...]] = {
    "prompt_injection": (
        rf"(?:ignore|disregard|forget|override|bypass){_SQ_PREV}(?:previous|prior|above|earlier|preceding|system|original|initial)"
        r"(?:instructions?|prompts?|rules|guidelines|directives|directions)",
        r"(?:ignore|disregard|forget)(?:all|any|your|the)(?:instructions|rules|guidelines)",
        r"youarenow(?:in)?(?:dan|developermode|jailbroken|unrestricted|unfiltered)",
        r"(?:ignore[rz]?|oublie[rz]?)(?:toutes?|tous)?(?:les|tes|vos)(?:instructions|consignes|regles)",
        r"(?:ignoriere|vergiss)(?:alle)?(?:vorherigen|bisherigen|deine|die)(?:anweisungen|regeln)",
        r"(?:remove|disable|turnoff)(?:all|the|any)*(?:guardrails|safetychecks|safetyfilters|contentfilters?)",
    ),
    "exfiltration": (
        r"(?:reveal|print|show|repeat|output|leak|dump|tellme|giveme|display)(?:me|us|your|the|full|entire|all)*"
        r"(?:systemprompt|hiddenprompt|hiddeninstructions|initialprompt|initialinstructions|developerprompt|developermessage)",
    ),
}


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
    """The plain reading: NFKC, invisible characters removed, look-alike letters and accents
    folded, lower case, whitespace collapsed (``engine.deobfuscation.fold``)."""
    return fold(text)


@dataclass(frozen=True)
class Finding:
    category: str
    pattern: str
    excerpt: str
    via: str = "text"  # the reading it was found in: text, markup, base64, hex, percent, html, squeezed...


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
        self._squeezed = [(category, p, compile_pattern(p)) for category in categories for p in SQUEEZED.get(category, ())]

    def scan(self, text: str) -> list[Finding]:
        """Every pattern that matches a reading of the text (its plain, de-markup and decoded
        readings; the squeezed one for the squeezed signatures), once, with a short excerpt and
        the reading it was found in."""
        found: list[Finding] = []
        seen: set[str] = set()
        for reading in readings(text):
            squeezed = reading.via == "squeezed"
            compiled = self._squeezed if squeezed else self._compiled
            for category, written, pattern in compiled:
                if written in seen or (squeezed and any(f.category == category for f in found)):
                    continue  # the squeezed reading is the last resort for a category not found otherwise
                match = pattern.search(reading.text)
                if match:
                    seen.add(written)
                    start = max(0, match.start() - 20)
                    found.append(Finding(category, written, reading.text[start : match.end() + 20], reading.via))
        return found

    def redact(self, text: str, replacement: str = "[FILTERED]") -> str:
        """Replace matches with ``replacement``, in the original text when the matches are found
        there, else in the normalised text (obfuscated input loses its formatting); a text whose
        attack is only visible decoded or squeezed is replaced whole."""
        if not self.scan(text):
            return text
        changed = text
        for _, _, pattern in self._compiled:
            changed = pattern.sub(replacement, changed)
        if not self.scan(changed):
            return changed
        changed, replaced = normalize(text), 0
        for _, _, pattern in self._compiled:
            changed, count = pattern.subn(replacement, changed)
            replaced += count
        return changed if replaced and not self.scan(changed) else replacement


__all__ = ["CATEGORIES", "DEFAULT_CATEGORIES", "REGEX_ENGINE", "SQUEEZED", "ContentFilter", "Finding", "compile_pattern", "normalize"]
