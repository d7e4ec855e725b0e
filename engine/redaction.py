"""Secret redaction: every secret of an execution's credentials is replaced with ``***`` in step
inputs, outputs, errors, logs and events — in plain text and in the encoded forms a secret takes
on its way to a server, so that an echo of a request does not leak it either:

- base64 (standard and URL-safe, at each of the three byte alignments a secret can have inside a
  longer encoded text), and base64 of ``username:password`` (an HTTP Basic ``Authorization``);
- percent-encoding (``quote``, ``quote_plus``; upper- and lower-case escapes);
- hexadecimal (lower and upper case);
- JSON string escaping (``"`` ``\\`` control characters, ``\\uXXXX`` for non-ASCII).

Only variants at least ``MIN_ENCODED`` characters long are searched for as substrings, so a short
secret cannot blank out unrelated text; shorter ones are redacted where they are a whole value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "***"
MIN_SUBSTRING = 4  # shorter secrets are redacted only where they are a whole value
MIN_ENCODED = 8  # shorter encoded variants are not searched for (they would match by chance)


def _base64_cores(raw: bytes) -> Iterable[str]:
    """The base64 characters that depend on ``raw`` alone, wherever it sits in a longer text:
    drop 0, 1 or 2 leading bytes so that the rest starts a 3-byte group, keep whole groups."""
    for skip in range(3):
        part = raw[skip:]
        whole = len(part) // 3 * 3
        if whole:
            core = base64.b64encode(part[:whole]).decode()
            yield core
            yield core.replace("+", "-").replace("/", "_")


def encoded_forms(secret: str) -> set[str]:
    """The encoded variants of ``secret`` that a redactor looks for (the secret itself excluded)."""
    raw = secret.encode()
    forms = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= {f.rstrip("=") for f in forms}
    forms |= set(_base64_cores(raw))
    for escaped in (quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)):
        forms |= {escaped, _lower_escapes(escaped)}
    forms |= {raw.hex(), raw.hex().upper()}
    forms |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.discard(secret)
    return {f for f in forms if len(f) >= MIN_ENCODED}


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def basic_auth_forms(credential: Mapping[str, Any]) -> set[str]:
    """``base64(username:password)`` of a credential with both (what HTTP Basic sends)."""
    user, password = credential.get("username"), credential.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not password:
        return set()
    pair = f"{user}:{password}".encode()
    return {base64.b64encode(pair).decode(), base64.b64encode(pair).decode().rstrip("=")}


class Redactor:
    """Replaces every string value of the execution's resolved credentials, and its encoded
    forms, with ``***``."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add_credential(self, credential: Mapping[str, Any]) -> None:
        """Learn the secrets of a resolved credential (every string in it) and their encodings."""
        found = {value for value in _strings(credential) if value}
        for value in list(found):
            if len(value) >= MIN_SUBSTRING:
                found |= encoded_forms(value)
        found |= basic_auth_forms(credential)
        self._secrets |= found
        # longest first, so that a secret containing another is replaced whole
        self._ordered = sorted(self._secrets, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with every secret (and encoded secret) in it replaced."""
        if value in self._secrets:
            return REDACTED
        for secret in self._ordered:
            if len(secret) >= MIN_SUBSTRING and secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def __call__(self, value: Any) -> Any:
        """A copy of a JSON value with every secret replaced (the value itself when none)."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
