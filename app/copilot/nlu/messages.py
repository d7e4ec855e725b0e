"""Configs for the chosen operation: recipients, channels, URLs, tables, texts and prompts.

Values come from the clause (addresses, channels, URLs, quoted text, table names), from the
workspace preferences (default email, channel, time zone), and from the data the workflow has at
that point (an expression such as ``{{ nodes.fetch_orders.body }}``). A required value that is in
none of them raises ``MissingValue``, which the planner turns into a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.copilot.nlu.actions import _ME_RE, TEAM_RE, MissingValue
from app.copilot.nlu.conditions import DataRef, has_data
from app.copilot.nlu.entities import Protected, channels, snake, tables


@dataclass
class Preferences:
    """Workspace preferences the prompt carries."""

    timezone: str | None = None
    email: str | None = None
    channel: str | None = None


_SUBJECT_WORDS = ("subject", "subject line", "titled", "title", "called", "headline", "heading")
_BODY_WORDS = ("saying", "says", "text", "message", "body", "reading", "that says", "with", "content")
_REPORT_RE = re.compile(
    r"\b(?:the|a|an|our|my|today's|this week's|weekly|daily|monthly)?\s*((?:[a-z]+\s+){0,3}?"
    r"(?:report|summary|digest|update|alert|notification|list|results|reminder|invoice|newsletter|status|overview|"
    r"recap|briefing|receipt|confirmation|welcome email|follow-up|thank-you note|thank you note|numbers|figures|stats|"
    r"metrics|kpis|totals))\b",
    re.I,
)
_LABELS_RE = re.compile(r"\b(?:as|into|between|among|to one of|either)\s+(?:either\s+)?(?:(?:exactly|just|only)\s+)?(?:one of\b\s*:?\s*)?:?\s*(.+?)(?:$|\s+(?:and then|then)\b)", re.I)


def _data_text(data: DataRef, ai_text: str | None) -> str:
    if ai_text:
        return f"{{{{ {ai_text} }}}}"
    if not has_data(data):
        return ""
    return f"{{{{ $string({data.expr}) }}}}"


def _topic(clause: str, workflow_name: str | None) -> str:
    restored = re.sub(r"⟦\d+⟧", "", clause)
    if m := _REPORT_RE.search(restored):
        words = m.group(0).strip()
        words = re.sub(r"^(?:(?:the|a|an|our|my|send|email|e-mail|mail|post|share|forward|them|him|her|it|us|me|with|"
                       r"their|his|its)\s+)+", "", words, flags=re.I)
        return words[:1].upper() + words[1:]
    if m := re.match(r"^\s*(?:also\s+)?(?:e-?mail|send|post|forward|share|mail)\s+(?:me\s+|us\s+|them\s+)?(?:the|a|an|our|its|their)\s+"
                     r"([a-z][\w-]*(?:\s+(?!to\b|with\b|from\b|and\b|in\b|when\b|if\b|whenever\b|once\b)[a-z][\w-]*)?)", restored, re.I):
        words = m.group(1)
        if words.lower() not in ("result", "results", "data", "response", "output", "list", "rows", "count", "number", "customer",
                                 "user", "team", "client", "sender", "lead", "customers", "users", "owner", "person", "contact"):
            return words[:1].upper() + words[1:]
    return workflow_name or "Workflow update"


def _said(clause: str) -> str | None:
    """'email the customer that we got their request' → 'We got your request.'"""
    m = re.search(r"\b(?:that|saying that|to say that|to tell (?:them|him|her) that|letting (?:them|him|her) know that)\s+"
                  r"((?:we|you|they|it|the|their|your|our|everything|all)\b[^⟦]{3,150}?)\s*$", clause, re.I)
    if not m:
        return None
    text = m.group(1).strip().rstrip(".")
    text = re.sub(r"\btheir\b", "your", re.sub(r"\bthey\b", "you", text, flags=re.I), flags=re.I)
    return text[:1].upper() + text[1:] + "."


def _what(topic: str, workflow_name: str | None) -> str:
    return "it" if topic in (workflow_name, "Workflow update") or not topic else f"the {topic[:1].lower()}{topic[1:]}"


def _quoted(p: Protected, clause: str) -> list[str]:
    return p.in_text(clause, "quoted")


def _message(p: Protected, clause: str, data: DataRef, ai_text: str | None, topic: str, loop_noun: str | None,
             subject: str | None = None) -> str:
    del loop_noun  # the item itself is the message inside a loop
    quoted = [q for q in _quoted(p, clause) if q != subject]
    if quoted:
        return quoted[0]
    if m := re.search(r"\b(?:remind(?:ing)?|telling|asking)\s+(?:me|us|them|everyone|the team|people)\s+(?:to|that|about)\s+([^,;.⟦]{3,120})",
                      clause, re.I):
        return f"Reminder: {m.group(1).strip()}"
    if said := _said(clause):
        return said
    if data.expr == "execution.error":
        return f"{topic}: a step failed after all its retries. Check the execution for details."
    text = _data_text(data, ai_text)
    if data.expr == "trigger.body" and not ai_text:
        return f"{topic}: {text}"
    if data.expr == "item" and not ai_text:
        return f"{topic}: {text}"
    if not text:
        return topic
    return text if ai_text else f"{topic}: {text}"


def _cc(p: Protected, clause: str) -> list[str]:
    """Addresses named as copies: 'with manager@x in cc', 'cc bob@x'."""
    out = []
    for match in re.finditer(r"⟦(\d+)⟧", clause):
        kind, value = p.values[int(match.group(1))]
        if kind != "email":
            continue
        after = clause[match.end():match.end() + 12].lower()
        before = clause[max(0, match.start() - 12):match.start()].lower()
        if re.match(r"\s*(?:in|on|as)\s+c\.?c\b", after) or re.search(r"\bc\.?c\.?:?\s*(?:to\s+)?$", before):
            out.append(value)
    return out


def _asked(text: str) -> str | None:
    """'asking how it is going' → 'How is it going?' (an indirect question as a subject)."""
    m = re.search(r"\basking\s+(how|what|whether|if|when|why)\s+(it|they|things|everything|you)\s+(is|are|was)\s+([\w ]{1,40})", text, re.I)
    if not m:
        return None
    word = m.group(1).lower()
    if word in ("whether", "if"):
        return f"{m.group(3).capitalize()} {m.group(2)} {m.group(4).strip()}?"
    return f"{word.capitalize()} {m.group(3)} {m.group(2)} {m.group(4).strip()}?"


def _mentioned_fields(text: str, data: DataRef, fields: list[str]) -> list[str]:
    """Fields a message names: declared webhook fields, or 'the issue title and URL'."""
    if data.expr not in ("trigger.body", "item"):
        return []
    lower = text.lower()
    named = [f for f in fields if re.search(rf"\b{re.escape(f.replace('_', ' '))}\b|\b{re.escape(f)}\b", lower)]
    if named:
        return named
    m = re.search(r"\b(?:post|send|share|forward)\s+(?:the\s+|its\s+|their\s+)?(?:\w+\s+)?(\w+)(?:\s*,\s*(\w+))?\s+and\s+(\w+)\s+to\b",
                  lower) or re.search(r"\bwith\s+(?:the\s+|its\s+|their\s+)?(?:\w+'s\s+)?(\w+)(?:\s*,\s*(\w+))?\s+and\s+(?:its\s+|their\s+)?(\w+)\s*$", lower)
    if m:
        return [snake(w) for w in m.groups() if w]
    return []


def _labels(clause: str) -> list[str]:
    lower = clause.lower()
    if re.search(r"\bsentiment\b", lower) and not re.search(r"\bas\b", lower):
        return ["positive", "neutral", "negative"]
    paren = re.search(r"\(([^)]+)\)", clause)
    # "(subject, body)" right after a webhook or form names its fields, not the labels
    names_fields = paren is not None and bool(re.search(r"\b(?:webhook|form|payload|request|event)s?\s*$", clause[:paren.start()], re.I))
    after = _LABELS_RE.search(clause[paren.end():]) if paren else None
    if after and len([x for x in re.split(r"\s*(?:,|/|\bor\b|\band\b)\s*", re.sub(r"⟦\d+⟧", "", after.group(1))) if x.strip()]) >= 2:
        names_fields = True  # "... (subject, body) as urgent or normal": the labels follow
    if paren and not names_fields:
        parts = re.split(r"\s*(?:,|/|\bor\b|\band\b)\s*", paren.group(1))
        return [p.strip().lower() for p in parts if p.strip()]
    if m := _LABELS_RE.search(clause[paren.end():] if paren else clause):
        text = re.sub(r"⟦\d+⟧", "", m.group(1))
        text = re.sub(r"\s+(?:with|using|via|by)\s+(?:ai|an? llm|the model|a model|gpt)\b.*$", "", text, flags=re.I)
        parts = re.split(r"\s*(?:,|/|\bor\b|\band\b)\s*", text)
        labels = [re.sub(r"^(?:a|an|the)\s+", "", p.strip().strip("'\"")).lower() for p in parts if p.strip()]
        labels = [label for label in labels if label and len(label.split()) <= 3]
        if len(labels) >= 2:
            return labels
    return []


def _fields(clause: str) -> list[str]:
    m = re.search(r"\b(?:extracts?|pulls? out|parses? out|picks? out|gets?|finds?)\s+(?:the\s+)?(.+?)(?:\s+(?:from|out of|in)\b|$)", clause, re.I)
    if not m:
        return []
    text = re.sub(r"⟦\d+⟧", "", m.group(1))
    text = re.sub(r"\s+(?:with|using|via|by)\s+(?:ai|an? llm|the model|a model|gpt)\b.*$", "", text, flags=re.I)
    text = re.sub(r"\b(?:fields?|details|information|info|values?|data)\b", "", text, flags=re.I)
    parts = re.split(r"\s*(?:,|/|\band\b|\bor\b|&)\s*", text)
    fields = [snake(p) for p in parts if snake(p) and len(p.split()) <= 3]
    return [f for f in fields if f not in ("key", "important", "relevant", "all")]


_DATA_NOUN_RE = re.compile(
    r"\b(?:the|our|my|today's|yesterday's|this week's|last week's|daily|weekly|monthly|latest|new|current)?\s*(?:[a-z]+\s+)?"
    r"(numbers|figures|forecast|report|results|data|stats|statistics|metrics|kpis|sales|orders|tickets|signups|invoices|"
    r"prices|weather|news|headlines|status|errors|logs|feedback|revenue|usage)\b", re.I)


def _need_source(key: str, clause: str, p: Protected, data: DataRef, ai_text: str | None) -> None:
    """Ask where the data comes from instead of sending or summarizing made-up content."""
    if has_data(data) or ai_text or p.in_text(clause, "quoted") or p.in_text(clause, "url") or p.in_text(clause, "sql"):
        return
    if tables(p.restore(clause)):
        return
    if key.startswith("llm.") or (key in ("email.send", "slack.post_message") and not re.search(r"\bremind|\breminder\b", clause, re.I)):
        m = _DATA_NOUN_RE.search(re.sub(r"⟦\d+⟧|#[\w.-]+", "", clause))
        if m and (key.startswith("llm.") or m.group(0).strip()):
            noun = re.sub(r"^(?:(?:the|our|my|a|an)\s+)+", "", m.group(0).strip(), flags=re.I)
            raise MissingValue(f"Where should the {noun} come from (a URL, a datastore table or a database query)?",
                               [f"source of the {noun}"])


def build_config(key: str, clause: str, p: Protected, data: DataRef, prefs: Preferences, *, loop_noun: str | None,
                 ai_text: str | None, workflow_name: str | None, index: Any, fields: list[str] | None = None,
                 trigger_kind: str | None = None) -> dict[str, Any]:
    """Semantic config values for operation ``key`` (adapted to field names by the caller)."""
    del index
    from app.copilot.nlu import requests

    fields = fields or []
    if key.startswith("llm."):
        _need_source(key, clause, p, data, ai_text)
    if key.split(".")[0] in ("http", "database", "datastore", "core") and key not in ("core.log",):
        found = requests.build(key, clause, p, data, fields=fields, ai_text=ai_text)
        if found is not None:
            return found
    restored = p.restore(clause)
    topic = _topic(restored, workflow_name)
    lower = clause.lower()
    if key == "email.send":
        emails = p.in_text(clause, "email")
        address_field = next((f for f in fields if f == "email"), None) or next((f for f in fields if "email" in f), None)
        to: Any = emails
        if not emails:
            if loop_noun and not TEAM_RE.search(clause) and not _ME_RE.search(clause):
                named = re.search(r"\b([a-z]+_e?mail(?:_address)?|email_address)\b", lower)  # "email the customer_email"
                to = f"{{{{ item.{named.group(1)} }}}}" if named else "{{ item.email }}"
            elif data.expr.startswith("trigger.body") and not address_field and re.search(
                    r"\b(them|him|her|that (?:address|email|e-mail)|(?:the|that|this) (?:user|customer|sender|submitter|person|lead|buyer|"
                    r"subscriber|member|applicant|client|signup|new user|contact)|back)\b", lower):
                to = "{{ trigger.body.email }}"
            elif loop_noun and re.search(r"\b(the (?:customer|user|client|owner|contact|sender|person)|them|him|her)\b", lower):
                to = "{{ item.email }}"
            elif data.expr.startswith("trigger.body") and address_field and not TEAM_RE.search(clause) and not _ME_RE.search(clause):
                to = f"{{{{ trigger.body.{address_field} }}}}"
            elif address_field and trigger_kind == "webhook" and re.search(
                    r"\b(them|him|her|the (?:user|customer|sender|submitter|person|requester|buyer|client|member|applicant))\b", lower):
                to = f"{{{{ trigger.body.{address_field} }}}}"
            elif _ME_RE.search(clause) and prefs.email:
                to = [prefs.email]
            elif prefs.email and not TEAM_RE.search(clause):
                to = [prefs.email]
            elif TEAM_RE.search(clause) or not re.search(r"\b(e-?mail|mail)\b", lower):
                raise MissingValue(f"Where should I send {_what(topic, workflow_name)}: which email address(es) or Slack channel?",
                                   ["recipient (email address or Slack channel)"])
            else:
                raise MissingValue(f"Which email address should receive {_what(topic, workflow_name)}?", ["email recipient"])
        subject = p.quoted_after(clause, _SUBJECT_WORDS) or _asked(restored) or topic
        topic = subject
        body_quote = p.quoted_after(clause, ("text", "body", "message", "saying", "says", "reading", "content")) or _said(restored)
        body = body_quote or _message(p, clause, data, ai_text, topic, loop_noun, subject)
        if _said(restored) and subject in (topic, workflow_name):
            subject = _said(restored) or subject
        quotes = [q for q in _quoted(p, clause) if q != subject]
        if subject in (workflow_name, "Workflow update") and quotes:
            subject = quotes[0] if len(quotes[0]) <= 80 else quotes[0][:77] + "..."
        if fields and data.expr == "trigger.body" and not body_quote and not ai_text and not _quoted(p, clause):
            body = f"{topic}: " + ", ".join(f"{f}: {{{{ trigger.body.{f} }}}}" for f in fields)
        if not body_quote:
            _need_source(key, clause, p, data, ai_text)
        values: dict[str, Any] = {"to": to, "subject": subject, "body": body}
        cc = _cc(p, clause)
        if cc:
            values["to"] = [e for e in to if e not in cc] if isinstance(to, list) else to
            values["cc"] = cc
        return values
    if key == "slack.post_message":
        chans = channels(restored)
        channel = chans[0] if chans else prefs.channel
        channel_field = next((f for f in (fields or []) if f in ("channel", "slack_channel", "channel_name", "channel_id")), None)
        if not chans and channel_field and re.search(r"\b(?:the|that|its|their|given)\s+(?:slack\s+)?channel\b|\b" + channel_field + r"\b", lower):
            # "when a webhook receives (text, channel), post the text to the channel"
            channel = f"{{{{ {'item' if data.expr == 'item' else 'trigger.body'}.{channel_field} }}}}"
        if channel is None:
            if TEAM_RE.search(clause) and not re.search(r"\bslack\b", lower):
                raise MissingValue(f"Where should I send {_what(topic, workflow_name)}: which email address(es) or Slack channel?",
                                   ["recipient (email address or Slack channel)"])
            raise MissingValue("Which Slack channel should I post to?", ["slack channel"])
        _need_source(key, clause, p, data, ai_text)
        text = _message(p, clause, data, ai_text, topic, loop_noun)
        mentioned = [f for f in _mentioned_fields(restored, data, fields) if f != channel_field]
        if mentioned and not _quoted(p, clause) and not ai_text:
            base = "item" if data.expr == "item" else data.expr
            text = " ".join(f"{{{{ {base}.{f} }}}}" for f in mentioned)
        return {"channel": channel, "text": text}
    if not has_data(data):
        source_text = restored
    else:
        source_text = f"{{{{ {ai_text} }}}}" if ai_text else f"{{{{ $string({data.expr}) }}}}"
    if key == "llm.summarize":
        values = {"input": source_text}
        if m := re.search(r"\b(?:in|to|under|within|at most)\s+(\d+)\s+words\b", lower):
            values["max_words"] = max(5, int(m.group(1)))
        return values
    if key == "llm.classify":
        labels = _labels(restored)
        return {"input": source_text, "labels": labels}
    if key == "llm.extract":
        fields = _fields(restored)
        if not fields:
            raise MissingValue("Which fields should I extract (for example name, email, amount)?", ["fields to extract"])
        return {"input": source_text, "fields": {f: f.replace("_", " ") for f in fields}}
    if key == "llm.complete":
        context = "" if source_text == restored else f"\n\n{source_text}"
        ask = re.sub(r"\s+(?:with|using|via)\s+(?:the\s+)?(?:ai|an?\s+llm|the\s+model)\b", "", restored, flags=re.I)
        return {"prompt": f"{ask[:1].upper()}{ask[1:]}.{context}"}
    if key == "core.log":
        quoted = _quoted(p, clause)
        message = quoted[0] if quoted else _message(p, clause, data, ai_text, topic, loop_noun)
        said = re.search(r"\b(warn(?:ing)?|error|debug)\b", re.sub(r"⟦\d+⟧", "", clause), re.I)
        level = "error" if data.expr == "execution.error" else {"warn": "warning", "warning": "warning", "error": "error",
                                                                 "debug": "debug"}[said.group(1).lower()] if said else "info"
        return {"message": message, "level": level}
    return {}


def step_id_for(key: str, clause: str, noun: str, values: dict[str, Any]) -> str:
    """A readable id: send_email, post_to_sales, fetch_orders, save_to_leads, summarize ..."""
    connector, operation = key.split(".")
    noun_id = snake(noun, 24)
    if key == "email.send":
        return "send_email"
    if key == "slack.post_message":
        channel = str(values.get("channel") or "slack").lstrip("#")
        return f"post_to_{snake(channel, 30) or 'slack'}"
    if key == "http.request":
        method = str(values.get("method", "GET"))
        url = str(values.get("url", ""))
        segment = snake(re.sub(r"[?#].*$", "", url).rstrip("/").rsplit("/", 1)[-1], 24) if url.count("/") > 2 else ""
        host = snake(re.sub(r"^https?://(?:www\.|api\.)?", "", url).split(".")[0], 24)
        if method == "GET" and not re.match(r"^\s*(call|hit|ping|trigger|invoke)\b", clause, re.I):
            return f"fetch_{noun_id or segment or host or 'data'}"
        return f"call_{segment or host or 'api'}"
    if connector == "datastore":
        table = snake(str(values.get("table", "")), 30)
        verb = {"insert": "save_to", "upsert": "upsert_into", "query": "look_up_in", "delete": "delete_from"}[operation]
        return f"{verb}_{table}" if table else verb
    if key == "database.query":
        return "query_database"
    if key == "database.execute":
        return "update_database"
    if connector == "llm":
        return {"summarize": "summarize", "classify": "classify", "extract": "extract_fields"}.get(
            operation, f"write_{noun_id}" if noun_id else "generate_text")
    if key == "core.log":
        return "log_failure" if values.get("level") == "error" else "log_message"
    return f"{operation}_{noun_id}" if noun_id else operation
