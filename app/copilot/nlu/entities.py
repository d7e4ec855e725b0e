"""The concrete values a request carries: emails, URLs, Slack channels, quoted text, tables, amounts.

``Protected`` swaps values that contain punctuation (emails, URLs, quoted text) for placeholders,
so that sentence and clause splitting cannot cut through them, and puts them back afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
URL_RE = re.compile(r"\bhttps?://[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]", re.IGNORECASE)
CHANNEL_RE = re.compile(r"(?<![\w&])#([a-z0-9][a-z0-9_.-]{0,79})", re.IGNORECASE)
QUOTED_RE = re.compile(r"\"([^\"]+)\"|“([^”]+)”|‘([^’]+)’|(?<![A-Za-z])'([^']{2,}?)'(?![A-Za-z])|`([^`]+)`")
PLACEHOLDER_RE = re.compile(r"⟦(\d+)⟧")
SQL_START_RE = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s*\(|"
                          r"VACUUM\b|ANALYZE\b|TRUNCATE\s|REFRESH\s+MATERIALIZED\s+VIEW\s|CALL\s+\w+\s*\()")
SQL_END_RE = re.compile(r"\s+(?-i:on|in|against)\s+(?:our\s+|the\s+)?[a-z]\w*(?:\s+(?:database|db))?\b(?=\s*(?:[,.;)]|and\b|then\b|$))"
                        r"|\s+and\s+(?:then\s+)?(?:e-?mail|post|send|log|save|store|insert|respond|notify)\b|\)(?=\s*(?:and|,|\.|;|$))|[.;](?=\s|$)|,\s+(?-i:(?=(?:then|and|fetch|call|read|query|post|send|save|store|log|notify|wait)\b))|,\s+(?-i:(?=(?:GET|POST|PUT|PATCH|DELETE)\s))"
                        r"|\s+(?-i:every|each|daily|weekly|hourly|twice|once)\s(?-i:[a-z])|\s+(?-i:at)\s+\d"
                        r"|[?!](?=\s|$)|\s+(?-i:using|with|from)\s+(?-i:the|its|their)\s+(?-i:values?|data|fields?|form|payload|webhook)\b",
                        re.IGNORECASE)
AMOUNT_RE = re.compile(
    r"(?P<cur>[$€£¥])\s?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<suf>k|m|thousand|million)?\b"
    r"|(?P<num2>\d[\d,]*(?:\.\d+)?)\s*(?P<suf2>k|m|thousand|million)?\s*(?P<cur2>usd|eur|gbp|dollars?|euros?|pounds?)\b"
    r"|(?P<num3>\d[\d,]*(?:\.\d+)?)\s*(?P<suf3>k|thousand|million)\b"
    r"|(?P<num4>\d[\d,]*(?:\.\d+)?)\s*(?P<pct>%|percent)"
    r"|(?<![\w./:-])(?P<num5>\d[\d,]*(?:\.\d+)?)(?![\w/:-])",
    re.IGNORECASE,
)
TABLE_AFTER_RE = re.compile(
    r"\b(?:datastore\s+|database\s+)?(?:table|collection)\s+(?:called\s+|named\s+)?[`'\"]?([a-z][a-z0-9_]*)", re.IGNORECASE)
TABLE_BEFORE_RE = re.compile(
    r"\b(?:the\s+|a\s+|our\s+|my\s+)?[`'\"]?([a-z][a-z0-9_]*)[`'\"]?\s+(?:datastore\s+|database\s+)?"
    r"(?:table|collection|list|sheet|spreadsheet)\b", re.IGNORECASE)
# "in the datastore under signups", "in the datastore as `leads`", "to our signups datastore"
TABLE_UNDER_RE = re.compile(r"\b(?:datastore|data\s+store)\s+(?:under|as|at|in|named|called)\s+(?:the\s+)?(?:key\s+|name\s+|table\s+)?[`'\"]?"
                            r"([a-z][a-z0-9_]*)|\b(?:the|our|my|a|an)\s+[`'\"]?([a-z][a-z0-9_]*)[`'\"]?\s+(?:datastore|data\s+store|store)\b",
                            re.IGNORECASE)
_NOT_TABLES = {"datastore", "database", "db", "is", "with", "for", "by", "whose", "where", "that", "which", "the", "a", "an", "this", "same", "new", "our", "my", "your", "their", "its", "data", "mailing", "email", "to", "do", "contact", "sql", "and", "or", "of", "in", "into", "from",
               "value", "key", "kv", "object", "blob", "file", "local", "internal", "built", "own", "it", "them", "each", "every", "all"}


@dataclass
class Protected:
    """A text with emails, URLs and quoted strings replaced by ``⟦n⟧`` placeholders."""

    text: str
    values: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)

    @classmethod
    def of(cls, text: str) -> Protected:
        values: list[tuple[str, str]] = []

        def keep(kind: str) -> Callable[[re.Match[str]], str]:
            def swap(match: re.Match[str]) -> str:
                value = next((g for g in match.groups() if g is not None), None) if match.groups() else None
                values.append((kind, value if value is not None else match.group(0)))
                return f"⟦{len(values) - 1}⟧"
            return swap

        text = _protect_json(text, values)
        text = _protect_sql(text, values)
        text = URL_RE.sub(keep("url"), _shield_url_braces(text))
        values[:] = [(k, v.replace("⁆", "}")) for k, v in values]
        text = text.replace("⁆", "}")
        text = EMAIL_RE.sub(keep("email"), text)
        text = QUOTED_RE.sub(keep("quoted"), text)
        return cls(text, values)

    def restore(self, text: str) -> str:
        def back(match: re.Match[str]) -> str:
            kind, value = self.values[int(match.group(1))]
            return f'"{value}"' if kind == "quoted" else value
        return PLACEHOLDER_RE.sub(back, text)

    def in_text(self, text: str, kind: str) -> list[str]:
        """The values of ``kind`` whose placeholders occur in ``text``, in order."""
        out = []
        for match in PLACEHOLDER_RE.finditer(text):
            k, value = self.values[int(match.group(1))]
            if k == kind:
                out.append(_clean_url(value) if kind == "url" else value)
        return out

    def quoted_after(self, text: str, words: tuple[str, ...]) -> str | None:
        """The quoted value right after one of ``words`` ('subject "Weekly report"')."""
        for match in PLACEHOLDER_RE.finditer(text):
            kind, value = self.values[int(match.group(1))]
            if kind != "quoted":
                continue
            before = text[max(0, match.start() - 40):match.start()].lower()
            if any(re.search(rf"\b{w}\b[^⟦]*$", before) for w in words):
                return value
        return None


_LOOSE_VALUE = r"(?:\.\.\.|…|<[\w ]{1,30}>|[a-z_][\w]{0,40})"
_LOOSE_JSON_RE = re.compile(rf'\{{\s*"[\w-]{{1,40}}"\s*:\s*{_LOOSE_VALUE}\s*(?:,\s*"[\w-]{{1,40}}"\s*:\s*(?:{_LOOSE_VALUE}|"[^"]*"|\d+))*\s*\}}', re.I)
_LOOSE_PAIR_RE = re.compile(rf'"([\w-]{{1,40}})"\s*:\s*({_LOOSE_VALUE}|"[^"]*"|\d+)', re.I)


def _loose_value(key: str, word: str) -> Any:
    """A value of a JSON-like object a person typed: a literal, or the field a bare word names."""
    if word.startswith('"'):
        return word.strip('"')
    if word.isdigit():
        return int(word)
    return "{{ " + (key if word in ("...", "…") or word.startswith("<") else word) + " }}"


def _protect_json(text: str, values: list[tuple[str, str]]) -> str:
    """Inline JSON objects ('the heartbeat {"service": "billing"}') become one value."""
    import json

    i = 0
    while (start := text.find("{", i)) >= 0:
        if text.startswith("{{", start):
            end = text.find("}}", start)
            i = start + 2 if end < 0 else end + 2
            continue
        try:
            value, end = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            loose = _LOOSE_JSON_RE.match(text, start)
            if loose is None:
                i = start + 1
                continue
            # '{"order_id": ..., "address": ...}', '{"title": title}': each key filled from the field it names
            value = {key: _loose_value(key, word) for key, word in _LOOSE_PAIR_RE.findall(loose.group(0))}
            end = loose.end()
            values.append(("json", json.dumps(value)))
            text = f"{text[:start]}⟦{len(values) - 1}⟧{text[end:]}"
            i = start + 1
            continue
        if not isinstance(value, dict):
            i = start + 1
            continue
        values.append(("json", text[start:end]))
        text = f"{text[:start]}⟦{len(values) - 1}⟧{text[end:]}"
        i = start + 1
    return text


def _protect_sql(text: str, values: list[tuple[str, str]]) -> str:
    """An unquoted SQL statement ('run SELECT ... FROM x WHERE y on main_db') becomes one value."""
    while (start := SQL_START_RE.search(text)) is not None:
        begin = start.start()
        if text[max(0, begin - 1):begin] in ("'", '"', "`"):
            break
        depth, end = 0, len(text)
        for match in re.finditer(r"[()]|" + SQL_END_RE.pattern, text[begin:], re.IGNORECASE):
            token = match.group(0)
            if token == "(":
                depth += 1
                continue
            if token == ")" and depth > 0:
                depth -= 1
                continue
            if depth == 0:
                end = begin + match.start()
                break
        statement = text[begin:end].strip()
        values.append(("sql", statement))
        text = f"{text[:begin]}⟦{len(values) - 1}⟧{text[begin + len(text[begin:end].rstrip()):]}"
    return text


def _shield_url_braces(text: str) -> str:
    """'{id}' and '{{id}}' placeholders inside URLs keep their closing braces (shielded as '⁆' while matching)."""
    def url(m: re.Match[str]) -> str:
        return re.sub(r"(\{\{?\s*[a-z_][\w.]*\s*)(\}\}?)", lambda p: p.group(1) + "⁆" * len(p.group(2)), m.group(0), flags=re.I)
    return re.sub(r"https?://[^\s<>\"'`]*", url, text, flags=re.I)


def _clean_url(url: str) -> str:
    cleaned = url.rstrip(".,;:!?)]")
    while cleaned.endswith("}") and cleaned.count("}") > cleaned.count("{"):
        cleaned = cleaned[:-1]
    return cleaned


def channels(text: str) -> list[str]:
    """Slack channels named with '#' ('#sales'), or as 'the sales channel'."""
    found = [f"#{m.group(1).rstrip('.-').lower()}" for m in CHANNEL_RE.finditer(text)]
    for m in re.finditer(r"\b(?:the\s+)?([a-z][a-z0-9_-]{1,40})\s+(?:slack\s+)?channel\b", text, re.IGNORECASE):
        name = m.group(1).lower()
        if name not in {"slack", "the", "a", "same", "right", "team", "that", "this", "our", "my", "its", "their"}:
            found.append(f"#{name}")
    return list(dict.fromkeys(found))


def tables(text: str) -> list[str]:
    found = []
    for regex in (TABLE_AFTER_RE, TABLE_BEFORE_RE, TABLE_UNDER_RE):
        for match in regex.finditer(text):
            found.append((match.start(), (match.group(1) or match.group(2)).lower()))
    return list(dict.fromkeys(name for _, name in sorted(found) if name not in _NOT_TABLES))


def amounts(text: str) -> list[tuple[float, str, tuple[int, int]]]:
    """Numbers in ``text`` with their written form: '$1,000' → 1000.0, '5k' → 5000.0, '20%' → 20."""
    out = []
    for match in AMOUNT_RE.finditer(text):
        g = match.groupdict()
        raw = g["num"] or g["num2"] or g["num3"] or g["num4"] or g["num5"]
        suffix = (g["suf"] or g["suf2"] or g["suf3"] or "").lower()
        try:
            value = float(raw.replace(",", ""))
        except ValueError:
            continue
        value *= {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(suffix, 1)
        out.append((value, match.group(0), match.span()))
    return out


def number_literal(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def snake(text: str, limit: int = 40) -> str:
    """'Order Total' → 'order_total' (ids and field names)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = "_".join(words)[:limit].strip("_")
    return out if out and out[0].isalpha() else (f"x_{out}" if out else "")
