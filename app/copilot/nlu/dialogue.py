"""The conversation as the planner reads it: a pending draft that answers complete.

When the assistant's last turn was a question, the request is still a *draft*: the original
request plus every answer so far. The next message is read first as an answer to that question,
in any phrasing ("oh send it to me@home.org please", "the sql is SELECT ...", "use #ops"): its
values (addresses, channels, URLs, SQL, quoted text, tables) are put where the draft left the gap.
Only a message that is clearly a new request (its own trigger and action, and none of the values
the question asked for) replaces the draft.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.copilot.nlu.actions import TEAM_RE
from app.copilot.nlu.entities import CHANNEL_RE, Protected, tables

REASK_RE = re.compile(r"^(?:Your reply does not give a valid workflow|Recall the function correctly|Validation Error found|"
                      r"Please correct|The previous (?:reply|answer|response))", re.I)
_FILLER_RE = re.compile(r"^\s*(?:oh|ah|ok(?:ay)?|sure|yes|yeah|yep|right|well|sorry|hmm+|um+|so|and|please)\b[,!.\s]*", re.I)
_TRIGGER_WORDS = re.compile(r"\b(?:every|each|daily|weekly|hourly|monthly|whenever|when(?:ever)? (?:a|an|new)|webhook|"
                            r"on (?:mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|weekdays)|at \d{1,2}(?::\d\d)?\s*(?:am|pm)?)\b", re.I)
_ACTION_WORDS = re.compile(r"\b(?:fetch|get|pull|send|email|post|save|store|query|call|check|summari[sz]e|classify|log|notify)\b", re.I)
_VERBS_SEND = re.compile(r"\b(send|email|e-mail|mail|post|notify|alert|share|forward|message|tell|report)\b[^,.;:?!]*?"
                         r"(?=\s*(?:[,.;:?!]|\b(?:and|then|please|thanks?|every|each|daily)\b|$))", re.I)
_VERBS_FETCH = re.compile(r"\b(fetch|get|pull|download|call|load|retrieve|check|read|grab|hit|ping|monitor)\b[^,.;]*?"
                          r"(?=\s*(?:,|\.|;|\band\b|\bthen\b|$))", re.I)
_VERBS_STORE = re.compile(r"\b(save|store|insert|record|add|upsert|write|keep)\b[^,.;]*?(?=\s*(?:,|\.|;|\band\b|\bthen\b|$))", re.I)
_DATABASE_RE = re.compile(r"\b(?:database|db|postgres(?:ql)?|mysql|sqlite|warehouse|sql)\b", re.I)
_CLAUSE_END_RE = re.compile(r"\s*(?:,|;|\.(?=\s|$)|$)|\s+(?=and\s+\w+|then\b)", re.I)


def request_of(messages: list[dict[str, Any]], text_of: Any) -> str:
    """The request to plan: the last real user message, or the pending draft it answers."""
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    draft: str | None = None
    pending: list[str] | None = None
    for message in turns:
        text = text_of(message).strip()
        if message.get("role") == "assistant":
            asked = is_question(text)
            pending = missing_of(text) if asked else None
            continue
        if REASK_RE.match(text):
            continue
        if draft is not None and pending is not None and not is_new_request(text, pending):
            draft = merge_answer(draft, text, pending)
        else:
            draft = text
        pending = None
    return draft or ""


def is_question(text: str) -> bool:
    """Whether an assistant turn (JSON or text) asked the person something."""
    stripped = text.strip()
    if '"kind":"question"' in stripped.replace(" ", ""):
        return True
    if stripped.startswith("{") and '"kind"' in stripped:
        return False
    return "?" in stripped and len(stripped) < 1500


def missing_of(text: str) -> list[str]:
    """What the question asked for (its ``missing`` list, or the words it used)."""
    try:
        data = json.loads(text)
        reply = data.get("reply", data)
        return [str(x) for x in reply.get("missing", [])]
    except (json.JSONDecodeError, AttributeError):
        lower = text.lower()
        words = ("channel", "email", "url", "table", "schedule", "often", "time", "fields", "categories", "sql", "wait", "long")
        return [word for word in words if word in lower]


def _values(answer: str) -> dict[str, list[str]]:
    protected = Protected.of(answer)
    found: dict[str, list[str]] = {}
    for kind, value in protected.values:
        found.setdefault(kind, []).append(value)
    channels = ["#" + c for c in CHANNEL_RE.findall(protected.text)]
    if channels:
        found["channel"] = channels
    return found


def is_new_request(text: str, missing: list[str]) -> bool:
    """A message that starts over rather than answering (its own trigger and action, no asked value)."""
    values = _values(text)
    joined = " ".join(missing).lower()
    asked = {"email": "email" in joined or "send" in joined or "recipient" in joined,
             "channel": "channel" in joined or "send" in joined, "url": "url" in joined,
             "sql": "sql" in joined or "statement" in joined}
    words = len(text.split())
    complete = words >= 9 and bool(_TRIGGER_WORDS.search(text)) and bool(_ACTION_WORDS.search(text))
    if any(values.get(kind) and wanted for kind, wanted in asked.items()):
        # it gives what was asked; it starts over only when it also brings values nobody asked for
        # ("Every Monday, GET <url> and email it to team@x" after "which address?")
        return complete and any(values.get(kind) and not wanted for kind, wanted in asked.items())
    return complete


def merge_answer(original: str, answer: str, missing: list[str]) -> str:
    """Put an answer, in any phrasing, where the original request left the gap."""
    answer = _FILLER_RE.sub("", answer.strip()).strip().rstrip(".!")
    values = _values(answer)
    joined = " ".join(missing).lower()
    protected = Protected.of(original)
    merged = protected.text
    if values.get("sql"):
        merged = _merge_sql(merged, values["sql"][0])
    if values.get("url"):
        merged = _merge_url(merged, values["url"][0])
    recipients = values.get("email", []) + values.get("channel", [])
    if recipients:
        named = _named_role(merged, Protected.of(answer).text)
        merged = (merged[:named.start()] + " and ".join(recipients) + merged[named.end():]) if named \
            else _merge_recipient(merged, " and ".join(recipients))
    if merged != protected.text:
        return protected.restore(merged)
    if "schedule" in joined or "often" in joined or "time" in joined:
        return f"{answer}, {original}"
    if "table" in joined:
        return _merge_table(original, answer)
    if "categor" in joined or "label" in joined:
        labels = re.sub(r"^(?:the\s+)?(?:categories|labels|classes)\s*(?:are|:)?\s*", "", answer, flags=re.I)
        return re.sub(r"\b(classify|categori[sz]e)\b([^,.;]*)", lambda m: f"{m.group(0)} as {labels}", original, count=1,
                      flags=re.I)
    if "wait" in joined or "long" in joined:
        return re.sub(r"\b(wait|pause|delay)\b", lambda m: f"{m.group(0)} {answer}", original, count=1, flags=re.I)
    return f"{original}. {answer}"


def _named_role(original: str, answer: str) -> re.Match[str] | None:
    """'the hiring manager is ⟦0⟧': where the original names that role ('email the hiring manager')."""
    said = re.match(r"^(?:the\s+|our\s+|my\s+)?([a-z][\w -]{1,40}?)\s+(?:is|are|=|:)\s+(?:at\s+)?⟦\d+⟧", answer.strip(), re.I)
    if said is None or said.group(1).lower() in ("it", "that", "this", "channel", "email", "address", "recipient", "url", "sql"):
        return None
    return re.search(rf"\b(?:the\s+|our\s+|my\s+)?{re.escape(said.group(1))}\b", original, re.I)


def _merge_recipient(original: str, recipient: str) -> str:
    """The recipient goes where the send step left it open: in place of 'the team' in that step,
    after 'Slack' for a channel, or after the step's object ('email the summary' + ' to x')."""
    if recipient.startswith("#") and re.search(r"\bslack\b", original, re.I):
        return re.sub(r"\bslack\b", f"Slack {recipient}", original, count=1, flags=re.I)
    verb = _VERBS_SEND.search(original)
    if verb:
        team = TEAM_RE.search(original, verb.start(), verb.end())
        if team:
            return original[:team.start()] + recipient + original[team.end():]
        return original[:verb.end()] + f" to {recipient}" + original[verb.end():]
    if TEAM_RE.search(original):
        return TEAM_RE.sub(recipient, original, count=1)
    return f"{original} and send it to {recipient}"


def _merge_url(original: str, url: str) -> str:
    """The URL goes in place of the named-but-unaddressed service ('POST them to our CRM'), or as
    the source of the step that fetches."""
    target = re.search(r"\b(?:post|put|patch|send|push|forward|submit|deliver)\b[^.;?!]*?\bto\s+((?:our|the|my|their)\s+[\w -]{1,30}?)"
                       r"(?=\s*(?:[,.;!?]|\b(?:and|then|as|with|every|each)\b|$))", original, re.I)
    if target and not re.search(r"\b(?:slack|channel|inbox|email|table|database)\b", target.group(1), re.I):
        return original[:target.start(1)] + url + original[target.end(1):]
    verb = _VERBS_FETCH.search(original)
    if verb:
        return original[:verb.end()] + f" from {url}" + original[verb.end():]
    return f"{original} from {url}"


def _merge_sql(original: str, sql: str) -> str:
    where = _DATABASE_RE.search(original)
    if where is None:
        return f"{original}. Run {sql} on the database"
    end = _CLAUSE_END_RE.search(original, where.end())
    cut = end.start() if end else len(original)
    return original[:cut] + f" with {sql.rstrip(';')}" + original[cut:]


def _merge_table(original: str, answer: str) -> str:
    """The table goes into the step that named none; the rest of the answer ('table x, anything
    older than 7 days') qualifies that step."""
    named = tables(answer)
    table = named[0] if named else re.sub(r"^(?:use\s+|in\s+|the\s+)+|\s*table$", "", answer, flags=re.I).split()[0]
    rest = re.sub(rf"(?:\b(?:the\s+|use\s+|in\s+)*(?:(?:datastore\s+)?table\s+(?:is\s+|called\s+|named\s+)?)?{re.escape(table)}"
                  r"(?:\s+(?:datastore\s+)?table)?\b)", "", answer, count=1, flags=re.I).strip(" ,;.")
    phrase = f" the {table} table" + (f", {rest}" if len(rest.split()) >= 2 else "")
    datastore = re.search(r"\b(?:from|in|into|to)\s+(?:the\s+|our\s+)?datastore\b", original, re.I)
    if datastore:
        preposition = datastore.group(0).split()[0]
        return original[:datastore.start()] + preposition + phrase + original[datastore.end():]
    verb = _VERBS_STORE.search(original)
    if verb:
        return original[:verb.end()] + " in" + phrase + original[verb.end():]
    return f"{original} in{phrase}"
