"""Regular expressions that run in linear time: RE2 (google-re2) with Python's Unicode ``\\w``.

RE2 never backtracks, so no text can make a pattern take more than time proportional to its
length (Python's ``re`` took 18.8 s on 160 KB of '%' with the PII email pattern, issue 11). It has
no lookarounds and no backreferences; patterns that scan user data are written without them.
"""

from __future__ import annotations

from typing import Any

import re2

ENGINE = "re2"
"""The engine behind :func:`compile` (tests hold every scanner of user data to it)."""


def compile(pattern: str, *, ignore_case: bool = False) -> Any:
    """Compile ``pattern`` on RE2 (``re2.error`` if RE2 refuses it). ``\\w`` keeps the meaning it
    has in Python (Unicode letters, digits and '_'); ``\\b`` and ``\\d`` are ASCII in RE2."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    return re2.compile(unicode_words(pattern), options)


def unicode_words(pattern: str) -> str:
    """``\\w`` spelled out for RE2 (whose ``\\w`` is ASCII-only; Python's, which the patterns
    were written for, is Unicode), inside and outside character classes."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(("\\p{L}\\p{N}_" if in_class else "[\\p{L}\\p{N}_]") if pair == "\\w" else pair)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a ']' right after '[' (or '[^') is a literal
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)
