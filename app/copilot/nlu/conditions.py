"""Conditions in plain words → bare JSONata over the data the workflow has at that point.

"the total is over $1,000" → ``nodes.fetch_orders.body.total > 1000``; "it's a bug" after a
classify step → ``nodes.classify.label = "bug"``; "there are no new orders" →
``$count(nodes.fetch_orders.body) = 0``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from app.copilot.nlu.entities import amounts, number_literal, snake

_COMPARATORS: list[tuple[str, str]] = [
    (r"(?:is\s+|are\s+|was\s+)?(?:greater than or equal to|at least|>=|no less than|or more)", ">="),
    (r"(?:is\s+|are\s+|was\s+)?(?:less than or equal to|at most|<=|no more than|or less)", "<="),
    (r"(?:is\s+|are\s+|was\s+|goes\s+)?(?:over|above|more than|greater than|higher than|bigger than|larger than|exceeds?|exceeding|>)", ">"),
    (r"(?:is\s+|are\s+|was\s+|drops\s+|falls\s+|goes\s+)?(?:under|below|less than|lower than|fewer than|smaller than|<)", "<"),
    (r"(?:is not|isn't|is no longer|does not equal|doesn't equal|!=|<>|not equal to|are not|aren't)", "!="),
    (r"(?:contains|includes|mentions|has the word|mentions the word)", "contains"),
    (r"(?:equals|is equal to|==|=|is|are|was|matches)", "="),
]
_EMPTY_RE = re.compile(r"\b(?:is not found|are not found|isn't found|not found|no match(?:es)?|doesn't exist|does not exist|is empty|are empty|is missing|there (?:are|is) no|there aren't any|nothing (?:was )?(?:found|returned)|"
                       r"no (?:new )?\w+ (?:were |was )?(?:found|returned)|there are none|none (?:were |was )?(?:found|returned))\b", re.I)
_NONEMPTY_RE = re.compile(r"\b(?:(?:it|they|one|a match|a row|a record|the \w+) (?:is|are|was|were) found|found|there is a match|matches|is not empty|isn't empty|there (?:are|is) (?:any|some|new)|anything (?:was )?(?:found|returned)|"
                          r"any (?:new )?\w+ (?:were |was )?(?:found|returned)|exists?)\b", re.I)
_COUNT_RE = re.compile(r"\bthere (?:are|were|is) (?:more than|over|at least|fewer than|less than)?\s*(\d+)", re.I)
_ARTICLES = re.compile(r"^(?:the|its|it's|their|our|a|an|this|that|payload's|request's|response's)\s+", re.I)
_STATUS_WORDS = {"status", "status code", "response status", "http status", "code"}
_PRONOUNS = {"it", "they", "this", "that", "the result", "the response", "the data", "the results", "them"}


@dataclass
class DataRef:
    """Where the workflow's current data lives: an expression and what produced it."""

    expr: str  # "nodes.fetch_orders.body", "trigger.body", "item"
    source: str | None = None  # node id
    operation: str | None = None  # "http.request", "llm.classify" ...
    label_field: str | None = None  # classify: the output field that holds the label
    labels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # the fields the trigger declares, when ``expr`` is its data


def has_data(data: DataRef) -> bool:
    """False when there is nothing to work on yet (a schedule's start, a failure path)."""
    return not (data.expr in ("trigger", "execution.error") and data.operation != "manual_input")


def _field_path(subject: str, data: DataRef) -> str:
    subject = _ARTICLES.sub("", subject.strip().strip(",").lower())
    subject = re.sub(r"^(?:order|request|payload|response|ticket|email|message|form)(?:'s)?\s+(?=\w)", "", subject)
    subject = re.sub(r"'s\b", "", subject)
    if subject in _PRONOUNS or not subject:
        return data.expr
    dotted = re.fullmatch(r"(?:(?:body|data|payload|response|json|trigger)\.)*([a-z_]\w*(?:\.[a-z_]\w*)*)", subject)
    if dotted and "." in subject:  # "switch on body.state": a path the person wrote, kept as written
        return f"{data.expr}.{dotted.group(1)}"
    if data.operation == "http.request" and subject in _STATUS_WORDS:
        return data.expr.rsplit(".", 1)[0] + ".status" if data.expr.endswith(".body") else f"{data.expr}.status"
    name = snake(subject)
    words = name.split("_")
    if len(words) > 2:
        name = "_".join(words[-2:])
    return f"{data.expr}.{name}" if name else data.expr


def _literal(text: str) -> str:
    text = text.strip().strip(".,").strip()
    text = re.sub(r"^(?:a|an|the)\s+", "", text, flags=re.I)
    found = amounts(text)
    if found and found[0][2][0] == 0 and len(found[0][1]) >= len(text.split()[0]) - 1:
        return number_literal(found[0][0])
    lower = text.lower()
    if lower in ("true", "yes"):
        return "true"
    if lower in ("false", "no"):
        return "false"
    value = text.strip("'\"“”").split(" (")[0]
    value = re.sub(r"\s+(?:priority|ones?|tickets?|status|level|category)$", "", value, flags=re.I)
    return json.dumps(value.lower() if value.isalpha() else value)


def condition_expression(text: str, data: DataRef) -> str:
    """A bare JSONata boolean for a condition in plain words."""
    text = text.strip().rstrip(",.")
    lower = text.lower()
    # a classify step before: "it's a bug", "the sentiment is negative"
    if data.operation == "llm.classify" and data.label_field:
        target = f"nodes.{data.source}.{data.label_field}"
        for label in data.labels:
            if re.search(rf"\b{re.escape(label.lower())}\b", lower):
                negated = bool(re.search(r"\b(not|isn't|is not|aren't)\b", lower))
                return f'{target} {"!=" if negated else "="} {json.dumps(label)}'
        m = re.search(r"(?:it(?:'s| is)|is|as|=)\s+(?:an?\s+)?['\"]?([\w -]+?)['\"]?$", lower)
        if m:
            return f"{target} = {json.dumps(m.group(1).strip())}"
    if m := _COUNT_RE.search(lower):
        op = ">" if re.search(r"more than|over", lower) else ">=" if "at least" in lower else "<" if re.search(r"fewer|less", lower) else ">="
        return f"$count({data.expr}) {op} {m.group(1)}"
    named = re.match(r"^(?:the\s+)?([a-z_][\w ]{0,30}?)\s+(?:is|are)\s+(not\s+)?(empty|missing|blank|set|present|given|filled(?:\s+in)?)$", text, re.I)
    if named and named.group(1).lower() not in ("it", "they", "this", "that", "there", "the result", "the response"):
        path = _field_path(named.group(1), data)
        present = (named.group(3).lower() in ("set", "present", "given") or named.group(3).lower().startswith("filled")) != bool(named.group(2))
        return f'$exists({path}) and $string({path}) != ""' if present else f'$not($exists({path})) or $string({path}) = ""'
    if _EMPTY_RE.search(lower):
        return f"$count({data.expr}) = 0"
    if _NONEMPTY_RE.search(lower) and not re.search(r"\b(over|above|under|below|more|less)\b", lower):
        return f"$count({data.expr}) > 0"
    # "if it's down" after a fetch: the HTTP status says so
    if data.operation == "http.request" and (m := re.match(
            r"^(?:it|this|that|the\s+(?:site|website|page|service|api|endpoint|server|url))\s*(?:'s|is|are|goes|returns)?\s*(?:not\s+)?"
            r"(down|offline|unreachable|unavailable|not responding|failing|broken|up|online|reachable|available|healthy)$", lower)):
        base = data.expr[: -len(".body")] if data.expr.endswith(".body") else data.expr
        up = m.group(1) in ("up", "online", "reachable", "available", "healthy")
        negated = bool(re.search(r"\bnot\s+(?:up|online|reachable|available|healthy|down|offline)\b", lower))
        return f"{base}.status {'<' if up != negated else '>='} 400"
    for pattern, op in _COMPARATORS:
        m = re.search(rf"^(.*?)\s*(?<![\w<>=!])(?:{pattern})(?![\w<>=])\s*(.+)$", text, re.I)
        if m is None:
            continue
        subject, value = m.group(1), m.group(2)
        if not value.strip():
            continue
        path = _field_path(subject, data)
        literal = _literal(value)
        if op == "contains":
            return f"$contains($string({path}), {literal if literal.startswith(chr(34)) else json.dumps(value.strip())})"
        if op in (">", "<", ">=", "<=") and literal.startswith('"'):
            continue
        if literal.startswith('"') and data.operation == "http.request" and path.endswith(".status") and not path.endswith("body.status"):
            path = path[: -len(".status")] + ".body.status"  # a word is the payload's status, not the HTTP code
        return f"{path} {op} {literal}"
    # "if it is urgent" / "if it's approved": a flag or a value of a status-like field
    word = snake(re.sub(r"^(?:it|this|the \w+)\s*(?:'s|is|are)\s+", "", lower))
    if word in ("urgent", "high", "low", "critical", "normal", "medium") and word not in data.fields:
        return f'{data.expr}.priority = "{word}"'
    if word:
        return f"{data.expr}.{word} = true"
    return f"$exists({data.expr})"


def value_expression(field_text: str, data: DataRef) -> str:
    """The value a switch compares ('by priority' → ``trigger.body.priority``)."""
    if data.operation == "llm.classify" and data.label_field:
        if not field_text or re.search(r"\b(category|label|class|type|sentiment|classification|intent|topic)\b", field_text, re.I):
            return f"nodes.{data.source}.{data.label_field}"
    return _field_path(field_text or "type", data)
