"""One action clause → one connector operation and its config, or a question for a missing value.

The operation is chosen by meaning and by evidence: every operation of the catalog is scored by
the cosine similarity of its description to the clause (MiniLM), plus strong bonuses for the
values the clause carries (an email address points at ``email.send``, ``#sales`` at Slack, a URL
at ``http.request``, "summarize" at ``llm.summarize``). The config is then filled from those
values, under the field names the operation's input model declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.copilot.nlu.entities import Protected, channels, tables

# The built-in contract (DESIGN.md): operations the planner knows even before a connector is loaded.
KNOWN_OPS = (
    "core.transform", "core.delay", "core.log", "core.set", "core.fail", "http.request", "email.send",
    "slack.post_message", "database.query", "database.execute", "datastore.insert", "datastore.upsert",
    "datastore.query", "datastore.delete", "llm.complete", "llm.classify", "llm.extract", "llm.summarize",
)

_EVIDENCE: list[tuple[str, re.Pattern[str], float]] = [
    ("llm.summarize", re.compile(r"\b(summari[sz]e|summary|summaries|tl;?dr|digest of|condense|recap)\b", re.I), 0.9),
    ("llm.classify", re.compile(r"\b(classify|classification|categori[sz]e|categor(?:y|ies)|sentiment|triage|"
                                r"tag (?:it|them|each)|label (?:it|them|each)|decide (?:whether|if)|detect (?:if|whether|the)|"
                                r"is it (?:spam|urgent)|score (?:it|them|the)|sort (?:\w+\s+){0,3}into|bucket|group (?:\w+\s+){0,3}into)\b", re.I), 1.0),
    ("llm.extract", re.compile(r"\b(extract|pull out|parse out|parse the|pick out|grab the fields|find the (?:name|email|amount))\b", re.I), 1.0),
    ("llm.complete", re.compile(r"\b(draft|write|generate|compose|translate|rewrite|reply to|respond to|answer|"
                                r"come up with|brainstorm|suggest|personali[sz]ed)\b", re.I), 0.7),
    ("slack.post_message", re.compile(r"\bslack\b|(?<![\w&])#[a-z0-9]|\bchannel\b", re.I), 1.0),
    ("email.send", re.compile(r"\b(e-?mail(?:s|ed)?|mail(?:s|ed)?|inbox|newsletter)\b", re.I), 0.9),
    ("http.request", re.compile(r"\b(api|endpoint|http|https|rest|url|fetch|download|webhook url|call|ping|"
                                r"hit|get request|post request|scrape|crm|stripe|github|hubspot|salesforce|shopify)\b", re.I), 0.6),
    ("database.query", re.compile(r"\b(sql|database|db|postgres(?:ql)?|mysql|sqlite|warehouse|select)\b", re.I), 0.9),
    ("datastore.insert", re.compile(r"\b(store|save|record|keep track|insert|append|add (?:it|them|the \w+|a row) to|log (?:it|them) (?:to|in)|"
                                    r"write (?:it|them|the \w+) (?:to|into))\b|\btable\b", re.I), 0.7),
    ("email.send", re.compile(r"\b(send|notify|tell|let [\w ]{1,20} know|share|forward|remind|inform|deliver)\b", re.I), 0.35),
    ("slack.post_message", re.compile(r"\b(post|notify|alert|ping|announce|share)\b", re.I), 0.3),
    ("core.log", re.compile(r"\b(log|write to the log|log line|audit)\b", re.I), 0.6),
    ("core.fail", re.compile(r"\b(fail|raise an error|abort|throw an error)\b", re.I), 0.5),
    ("core.transform", re.compile(r"\b(compute|calculate|sum up|total up|format|convert|transform step|transform|map)\b", re.I), 0.5),
    ("core.transform", re.compile(r"\b(?:with|using|in) a transform(?:ation)? step\b|^(?:and\s+|then\s+)*(?:keep only|only keep|filter)\b", re.I), 1.5),
    ("core.set", re.compile(r"\bset (?:the )?(?:fields?|values?)\b|\b\w+\s*=\s*⟦\d+⟧|\b\w+='", re.I), 1.5),
    ("core.fail", re.compile(r"\bstop the workflow\b|\bwith the error\b|\bfail the (?:workflow|run)\b|"
                             r"\b(?:stop|halt|abort|end)\b[\w ]{0,20}?\bwith an? (?:error|failure)\b|\berror out\b", re.I), 1.5),
    # "set the status to 'ready'": fixed values, not a call
    ("core.set", re.compile(r"^(?:and\s+|then\s+)*set\s+(?:the\s+)?[a-z_][\w ]{0,25}?\s+(?:to|=)\s+(?:⟦\d+⟧|\d[\d.]*|true|false)", re.I), 1.5),
]
# The verb a clause starts with says most about what it wants.
_LEADING_VERB: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:e-?mail|mail)\b", re.I), "email.send"),
    (re.compile(r"^(?:slack|post|announce)\b", re.I), "slack.post_message"),
    (re.compile(r"^(?:fetch|download|call|hit|ping|scrape|get|pull|retrieve)\b", re.I), "http.request"),
    (re.compile(r"^(?:save|store|insert|record|upsert|append|archive)\b", re.I), "datastore.insert"),
    (re.compile(r"^(?:summari[sz]e|condense)\b", re.I), "llm.summarize"),
    (re.compile(r"^(?:classify|categori[sz]e|triage|tag|label)\b", re.I), "llm.classify"),
    (re.compile(r"^(?:extract|parse)\b", re.I), "llm.extract"),
    (re.compile(r"^(?:draft|write|generate|compose|translate|rewrite)\b", re.I), "llm.complete"),
    (re.compile(r"^(?:log)\b", re.I), "core.log"),
]
_NOOP_RE = re.compile(r"^(?:and\s+|then\s+)*(?:just\s+)?(?:stop|do nothing|nothing|skip(?: it)?|ignore(?: it| them)?|drop it|end|"
                      r"don't do anything|leave it|discard(?: it)?|that's it|done)\.?$", re.I)
TEAM_RE = re.compile(r"\b(the team|my team|our team|everyone|the group|stakeholders|the managers?|management|people|"
                     r"the staff|colleagues|the company|the client|customers?)\b", re.I)
_ME_RE = re.compile(r"\b(me|myself|us|my inbox|to me)\b", re.I)
_STOP = {"the", "a", "an", "all", "new", "latest", "today's", "todays", "our", "my", "it", "them", "this", "that", "these",
         "those", "its", "their", "some", "any", "each", "every", "of", "to", "from", "in", "on", "for", "with", "and", "via",
         "at", "by", "into", "me", "us", "up", "out", "list", "details"}


@dataclass
class ActionSpec:
    """What one clause asks for: an operation and its values by semantic name."""

    connector: str
    operation: str
    values: dict[str, Any] = field(default_factory=dict)
    object_noun: str = ""
    score: float = 0.0


class MissingValue(Exception):
    """A required value is not in the request: the planner asks instead of inventing one."""

    def __init__(self, question: str, missing: list[str]) -> None:
        super().__init__(question)
        self.question = question
        self.missing = missing


def object_noun(text: str) -> str:
    """The first content words after the verb ('fetch the latest orders from ...' → 'orders')."""
    words = re.findall(r"[a-zA-Z][\w'’-]*|⟦\d+⟧", text)
    out: list[str] = []
    for word in words[1:]:
        lower = word.lower()
        if lower in _STOP or word.startswith("⟦") or lower.endswith(("'s", "’s")) or lower in ("last", "next", "this", "week", "day"):
            if out:
                break
            continue
        if lower in {"from", "to", "into", "via", "using", "at", "with", "on", "if", "when", "as", "about"}:
            break
        out.append(lower)
        if len(out) == 2:
            break
    return " ".join(out)


def choose_operation(clause: str, protected: Protected, index: Any, vector: Any, allowed: set[str] | None) -> tuple[str, float]:
    """The best operation for a clause: cosine similarity to each description plus evidence bonuses."""
    restored = protected.restore(clause)
    scores: dict[str, float] = dict.fromkeys(KNOWN_OPS, 0.0)
    if vector is not None:
        for score, info in index.rank(vector):
            scores[info.key] = float(score)
    if allowed:
        for key in scores:
            if key in allowed or key.split(".")[0] in allowed:
                scores[key] += 0.05  # the catalog retrieval put it in the prompt
    for key, pattern, bonus in _EVIDENCE:
        if pattern.search(clause):
            scores[key] = scores.get(key, 0.0) + bonus
    lead = re.sub(r"^(?:(?:also|then|and|please|just)\s+)+", "", clause.strip(), flags=re.I)
    for pattern, key in _LEADING_VERB:
        if pattern.match(lead):
            scores[key] = scores.get(key, 0.0) + 0.8
            break
    if protected.in_text(clause, "email"):
        scores["email.send"] += 1.2
    if channels(restored):
        scores["slack.post_message"] += 1.3
    if re.search(r"\b(?:POST|PUT|PATCH|DELETE)\b|\bas\s+JSON\b|\b(?:endpoint|REST\s+API|api\s+endpoint)\b", restored):
        scores["http.request"] += 0.9  # an HTTP method in capitals, a JSON body, an endpoint: a request
    if protected.in_text(clause, "url"):
        scores["http.request"] += 1.1
        if not channels(restored) and not re.search(r"\bslack\b", clause, re.I):
            scores["slack.post_message"] -= 1.0
    sql = protected.in_text(clause, "sql")
    if sql:
        writes = re.match(r"\s*(insert|update|delete|upsert|merge|create|drop|alter|vacuum|analyze|truncate|refresh|call)\b", sql[0], re.I)
        scores["database.execute" if writes else "database.query"] += 2.0
    if tables(restored):
        scores["datastore.insert"] += 0.6
        scores["datastore.query"] += 0.3
        if re.search(r"\bfrom\s+(?:the\s+)?(?:datastore\s+)?(?:table\s+\w+|\w+\s+(?:datastore\s+)?table)\b", restored, re.I):
            scores["datastore.insert"] -= 0.6  # "... from the table metrics": the table is a source
    if re.search(r"\b(?:with|using|via|by)\s+(?:the\s+|an?\s+)?(?:ai|llm|model|gpt|openai|claude)\b", restored, re.I):
        for key in ("llm.complete", "llm.summarize", "llm.classify", "llm.extract"):
            scores[key] += 0.5  # an explicit AI step
    if re.search(r"\bwrite (?:it |them |the \w+ )?(?:to|into) (?:the |a )?\w+ (?:table|database)\b", clause, re.I):
        scores["llm.complete"] -= 1.0
    key = max(scores, key=lambda k: scores[k])
    return key, scores[key]


def refine_operation(key: str, clause: str) -> str:
    """Pick the right operation within a connector (query vs execute, insert vs upsert ...)."""
    lower = clause.lower()
    connector = key.split(".")[0]
    if connector == "datastore":
        if re.search(r"\b(upsert|update or (?:create|insert)|insert or update|create or update|update (?:it|them|the \w+) if|"
                     r"dedupe|without duplicates|keyed by|unique by)\b", lower):
            return "datastore.upsert"
        if re.search(r"\b(delete|remove|purge|clear|prune)\b", lower):
            return "datastore.delete"
        reads = re.search(r"\b(look ?up|find|search|query|read|fetch|get|load|check (?:if|whether)|count|export|list|all rows)\b", lower) or \
            re.search(r"\b(?:from|in)\s+(?:the\s+)?(?:datastore\s+)?(?:table\s+\w+|\w+\s+(?:datastore\s+)?table)\b", lower)
        if reads and not re.search(r"\b(save|store|insert|add|record|write|append)\b", lower):
            return "datastore.query"
        return "datastore.insert"
    if connector == "database":
        sql = re.search(r"⟦\d+⟧", clause)
        del sql
        if key == "database.execute":
            return key
        if re.search(r"\b(insert|update|delete|write|upsert|execute|remove|archive|mark|deactivate)\b", lower) and not re.search(
                r"\b(select|query|read|look up|count)\b", lower):
            return "database.execute"
        return "database.query"
    return key
