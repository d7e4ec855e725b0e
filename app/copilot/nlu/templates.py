"""Message templates as people write them: 'New order from <customer>: <total>' → expressions.

People mark the parts of a message that come from the data with angle brackets, braces or
square brackets ("<name> applied for <role>", "{title}", "[severity] service: message"). A
placeholder naming a field of the data the step works on becomes ``{{ base.field }}``; a word of
the message that is exactly a declared field name (``severity``, ``customer_name``) does too when
the message is a format ("formatted as: [severity] service: message"). A message that would only
dump the whole payload lists the declared fields instead.
"""

from __future__ import annotations

import re

from app.copilot.nlu.entities import snake

_PLACEHOLDER_RE = re.compile(r"<\s*([A-Za-z][\w .'-]{0,40}?)\s*>|(?<!\{)\{\s*([A-Za-z][\w .-]{0,40}?)\s*\}(?!\})|\[\s*([A-Za-z][\w .-]{0,40}?)\s*\]")
_MESSAGE_KEYS = ("text", "subject", "body", "message", "html")
_DUMP_RE = re.compile(r"\{\{\s*\$string\((trigger\.body|item)\)\s*\}\}")


def field_for(name: str, fields: list[str]) -> str | None:
    """The declared field a placeholder means: exact, then a unique prefix/suffix match ('id' → 'order_id')."""
    key = snake(re.sub(r"^(?:the|a|an|their|its|his|her)\s+", "", name.strip(), flags=re.I))
    if not key:
        return None
    if key in fields:
        return key
    near = [f for f in fields if f.endswith(f"_{key}") or f.startswith(f"{key}_") or key.startswith(f"{f}_")
            or key.endswith(f"_{f}")]
    return near[0] if len(near) == 1 else None


def fill(text: str, base: str, fields: list[str]) -> str:
    """Placeholders of ``text`` that name a field of ``base`` become expressions."""

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        found = field_for(name, fields)
        if found is None and not fields and match.group(1):
            found = snake(name)  # no declared fields: the writer is telling us the field names
        if found is None:
            return match.group(0)
        return f"{{{{ {base}.{found} }}}}"

    out = _PLACEHOLDER_RE.sub(replace, text)
    if out == text and fields and re.search(r"\b(?:formatted as|format|like|as follows|in the form)\s*:", text, re.I):
        # "formatted as: [severity] service: message" with bare field names
        head, _, tail = text.partition(":")
        tail = re.sub(r"\b(" + "|".join(re.escape(f) for f in sorted(fields, key=len, reverse=True)) + r")\b",
                      lambda m: f"{{{{ {base}.{m.group(1)} }}}}", tail)
        out = f"{head}:{tail}"
    return out


def apply(values: dict[str, object], base: str | None, fields: list[str]) -> dict[str, object]:
    """Fill the message fields of a step's values; list the declared fields instead of a payload dump."""
    if base is None:
        return values
    out = dict(values)
    for key in _MESSAGE_KEYS:
        value = out.get(key)
        if not isinstance(value, str):
            continue
        value = fill(value, base, fields)
        if fields and (m := _DUMP_RE.search(value)) and m.group(1) == base:
            listed = ", ".join(f"{f}: {{{{ {base}.{f} }}}}" for f in fields)
            value = _DUMP_RE.sub(listed, value)
        out[key] = value
    return out


__all__ = ["apply", "field_for", "fill"]
