"""The readings of a text that an obfuscated attack hides in, for the content filter to scan.

Issue 11: the filter let payloads through that were spelled with look-alike letters, zero-width
characters, base64, percent-encoding, spaced letters or markdown. Each reading undoes one trick:

- ``text``: Unicode NFKC; every invisible format character removed (zero-width spaces and joiners,
  bidi controls, tag characters, soft hyphens, variation selectors); look-alike letters folded to
  the Latin letter they imitate (Unicode's confusables data: Cyrillic ``о``, Greek ``Ι``, math and
  fullwidth letters...), accents dropped, other scripts transliterated (``anyascii``); lower case,
  whitespace collapsed;
- ``markup``: the same without markdown and HTML markup (``[ignore](#) **previous**``);
- ``base64``, ``hex``, ``percent``, ``html``, ``escapes``: the text of each long encoded token
  (base64 standard or URL-safe of 16+ characters, hex of 8+ bytes, ``%xx`` runs, HTML entities,
  ``\\uXXXX`` escapes) when it decodes to printable UTF-8 — and encodings inside those, two layers
  deep;
- ``squeezed``: only the letters and digits of the ``text`` reading, leetspeak digits read as
  letters (``1gn0r3`` → ``ignore``), for phrases spelled out letter by letter (``i g n o r e``,
  ``i.g.n.o.r.e``) or cut up by any separator.

The work is linear in the text: deletions and foldings are ``str.translate`` and single
character classes; the token patterns are a character class with a bounded tail, which cannot
backtrack more than a constant per character on any engine. They run on the standard library's
``re`` rather than RE2 on purpose: RE2's Python wrapper builds every match and substitution in
Python (about 40 µs each, so a text of 200,000 tokens took 8 s and 500,000 HTML entities 38 s),
where ``re`` does them in C; a one-pass RE2 probe first says whether a text has a token at all.
The decoded readings together are capped at ``MAX_DECODED_CHARS``,
so a text of encoded tokens cannot multiply the work without bound.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import string
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import unquote_plus

from anyascii import anyascii

from engine import linear_regex

MAX_DECODED_CHARS = 1_000_000
"""At most this many characters are decoded from one text (all layers and encodings together)."""
MAX_LAYERS = 2

# Tokens start only where the previous character cannot be part of them (a one-character look
# behind), so each character is looked at a bounded number of times.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){4,}|(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}")
# One pass in C (RE2) says whether a text has a token at all, before re looks for each one.
_PROBE_BASE64 = linear_regex.compile(r"[A-Za-z0-9+/_-]{16}")
_PROBE_HEX = linear_regex.compile(r"[0-9A-Fa-f]{8}|\\x[0-9A-Fa-f]{2}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPE = re.compile(r"(?:\\u[0-9A-Fa-f]{4}){3,}")
_ENTITY = re.compile(r"&#?[0-9A-Za-z]{2,8};")
# Every format character of Unicode 15 (category Cf: zero-width, bidi controls, tags, soft hyphen,
# word joiner...), variation selectors, the combining grapheme joiner and the invisible fillers.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]")

# The folded text is ASCII, so these run as bytes.translate (in C, about 1 ms per MB).
_LEET = bytes.maketrans(b"0134578@$!|+9", b"oieastbasiitg")
_NOT_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())
_MARKUP = bytes.maketrans(b"[]()*_~`>#|<>/\\=", b" " * 16)
_LETTER = re.compile(r"[^\W\d_]")
# Confusables whose first Latin look-alike in the data is not the letter people read.
_PREFERRED = {"ı": "i", "ȷ": "j", "ɩ": "i", "ǀ": "l"}


@dataclass(frozen=True)
class Reading:
    """One way of reading a text: how it was obtained (``via``) and the folded text."""

    via: str
    text: str


def fold(text: str) -> str:
    """The ``text`` reading: invisibles removed, look-alikes and accents folded, transliterated,
    lower case, whitespace collapsed. Always ASCII."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = _INVISIBLE.sub("", text).translate(_fold_table())
        if not text.isascii():
            text = anyascii(text)  # accents and marks dropped, other scripts transliterated
    return " ".join(text.split()).lower()


def readings(text: str) -> list[Reading]:
    """Every reading of ``text`` (the ``text`` reading first), without repeats."""
    folded = fold(text)
    ascii_bytes = folded.encode("ascii")
    found = [Reading("text", folded), Reading("markup", " ".join(ascii_bytes.translate(_MARKUP).decode().split()))]
    budget = [MAX_DECODED_CHARS]
    decoded: dict[str, list[str]] = {}  # one reading per kind of decoding, its tokens a line each
    for via, token_text in _decoded(_visible(text), 1, budget):
        decoded.setdefault(via, []).append(fold(token_text))
    found.extend(Reading(via, "\n".join(texts)) for via, texts in decoded.items())
    found.append(Reading("squeezed", ascii_bytes.translate(_LEET).translate(None, _NOT_ALNUM).decode()))
    seen: set[str] = set()
    unique = []
    for reading in found:
        if reading.text and reading.text not in seen:
            seen.add(reading.text)
            unique.append(reading)
    return unique


def _decoded(text: str, layer: int, budget: list[int]) -> list[tuple[str, str]]:
    """(how, decoded text) for each encoded token of ``text``, and for encodings inside those
    (the tokens of one layer are looked into together, once)."""
    out: list[tuple[str, str]] = []
    for via, decoded in _decode_once(text):
        if budget[0] <= 0:
            break
        decoded = decoded[: budget[0]]
        budget[0] -= len(decoded)
        out.append((via, decoded))
    if layer < MAX_LAYERS and out and budget[0] > 0:
        inner = _decoded("\n".join(d for _, d in out), layer + 1, budget)
        vias = sorted({v for v, _ in out})
        out.extend((f"{'|'.join(vias)}+{how}", d) for how, d in inner)
    return out


def _decode_once(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    whole = text[:MAX_DECODED_CHARS]
    for match in _BASE64.finditer(whole) if _PROBE_BASE64.search(whole) else ():
        decoded = _from_base64(match.group(0))
        if decoded is not None:
            out.append(("base64", decoded))
    for match in _HEX.finditer(whole) if _PROBE_HEX.search(whole) else ():
        decoded = _printable(_hex_bytes(match.group(0)))
        if decoded is not None:
            out.append(("hex", decoded))
    if _PERCENT.search(whole) and len(_PERCENT.findall(whole, 0, 4096)) >= 2:
        out.append(("percent", unquote_plus(whole)))
    if _ENTITY.search(whole):
        out.append(("html", html.unescape(whole)))
    for match in _ESCAPE.finditer(whole) if "\\u" in whole else ():
        try:
            out.append(("escapes", json.loads(f'"{match.group(0)}"')))
        except ValueError:
            continue
    return out


def _from_base64(token: str) -> str | None:
    padded = token.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    urlsafe, standard = ("-" in token or "_" in token), ("+" in token or "/" in token)
    if urlsafe and standard:
        return None  # no base64 alphabet has all four
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def _hex_bytes(token: str) -> bytes:
    digits = "".join(ch for ch in token.replace("\\x", "") if ch in string.hexdigits)
    return bytes.fromhex(digits[: len(digits) // 2 * 2])


def _printable(raw: bytes) -> str | None:
    """The bytes as text when they are UTF-8 made almost only of printable characters."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded:
        return None
    if not _LETTER.search(decoded):
        return None
    if decoded.isprintable():
        return decoded
    shown = sum(1 for ch in decoded if ch.isprintable() or ch in "\n\r\t")
    return decoded if shown >= 0.9 * len(decoded) else None


def _visible(text: str) -> str:
    """NFKC without invisible characters, case kept (encodings are case-sensitive)."""
    text = unicodedata.normalize("NFKC", text)
    return text if text.isascii() else _INVISIBLE.sub("", text)


@cache
def _fold_table() -> dict[int, str]:
    """Each non-ASCII character that Unicode lists as confusable with a Latin letter or digit,
    mapped to that letter (lower case), for ``str.translate``."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[int, str] = {}
    for latin in string.ascii_lowercase + string.ascii_uppercase + string.digits:
        for entry in data.get(latin, []):
            ch = entry.get("c", "")
            if len(ch) == 1 and not ch.isascii():
                # a capital listed like "l" (Cyrillic "І", Greek "Ι") reads as "I"
                table.setdefault(ord(ch), "i" if latin == "l" and ch.isupper() else latin.lower())
    table.update({ord(k): v for k, v in _PREFERRED.items()})
    return table


__all__ = ["MAX_DECODED_CHARS", "Reading", "fold", "readings"]
