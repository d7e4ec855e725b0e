"""How the workflow starts: a schedule, a webhook ("when a form is submitted", "when Stripe sends
...") or a person ("manually", "when I click run"). Returns the request with the trigger phrase
taken out, so that what is left is the list of things to do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from app.copilot.nlu.entities import snake
from app.copilot.nlu.schedule import Schedule, parse_schedule

_EVENT_VERBS = (
    r"(?:is|are|gets?|was|were|has been)?\s*(?:submitted|submits?|sends?|sent|posts?|posted|arrives?|arrived|comes?\s+in|"
    r"came in|is received|receives?|received|signs?\s+up|signed up|registers?|registered|is created|created|is placed|placed|"
    r"fires?|calls?|hits?|pings?|is opened|opened|is updated|updated|is paid|pays|paid|is closed|closed|is filed|files|"
    r"reports?|delivers?|delivered|notifies|closes|opens|published|publishes|released|merged|deployed|shipped|approved|rejected|assigned|"
    r"commented|starred|pushed|opens?|books?|booked|cancels?|cancelled|canceled|subscribes?|unsubscribes?|is added|added|happens|occurs|"
    r"is triggered|completes?|completed|succeeds?|succeeded|expires?|expired|renews?|renewed|is deleted|is refunded|refunded|is made|makes|checks?\s+out|checked out|uploads?|uploaded|fills?\s+(?:in|out))"
)
WEBHOOK_RE = re.compile(
    r"(?:^|(?<=[.;]\s)|(?<=\n))\s*(?:every\s*time|each\s*time|whenever|when|once|as soon as|after|on|upon)\s+"
    r"(?P<what>(?:(?!\b(?:then|and then)\b)[^,.;:]){1,120}?)\s*\b" + _EVENT_VERBS + r"\b(?P<tail>(?:[^,.;:(]|\([^)]*\))*)[,.;:]?",
    re.IGNORECASE,
)
WEBHOOK_LATE_RE = re.compile(
    r"(?<=[\s,])(?:every\s*time|each\s*time|whenever|when)\s+(?P<what>(?:a|an|the|someone|somebody|we|our|new)\b[^,.;:]{0,80}?)\s*\b"
    + _EVENT_VERBS + r"\b(?P<tail>(?:[^,.;:(]|\([^)]*\))*)[,.;:]?",
    re.IGNORECASE,
)
WEBHOOK_WORD_RE = re.compile(
    r"\b(?:webhooks?|web hook|incoming (?:http|post|request)|http (?:post|request|call)|api call|form submission|"
    r"on (?:every |each )?(?:new )?(?:form )?submission|post request|when called|via http)\b",
    re.IGNORECASE,
)
WEBHOOK_CLAUSE_RE = re.compile(
    r"^\s*(?:(?:every\s*time|each\s*time|whenever|when|once|as soon as|on|upon|if)\s+(?:[^,.;:(]|\([^)]*\))*?\b(?:webhook|web hook|request|submission|"
    r"call|post|event|payload)\b(?:[^,.;:(]|\([^)]*\))*?[,.;:]|on\s+(?:every\s+|each\s+)?(?:new\s+)?[\w ]{0,30}?(?:submission|event|request|order|signup|sign-up)s?\s*[,.;:])",
    re.IGNORECASE,
)
MANUAL_RE = re.compile(
    r"\b(?:manually(?: triggered| run| started)?|by hand|on demand|on-demand|a button (?:i|we|you) can (?:press|click)(?: to)?|"
    r"a manual workflow(?: that| which| to)?|(?:run|start|trigger) (?:it )?manually|when i (?:click|press|run|start|trigger)[^,.;]*|"
    r"when (?:someone|a user|the user) (?:clicks|presses|runs|starts)[^,.;]*|with a button|when run manually|"
    r"(?:that|which) i can (?:run|start|trigger)[^,.;]*)\b[,.;]?",
    re.IGNORECASE,
)
_UNUSED_FIELDS_RE = re.compile(
    r"\b(?:with|containing|that has|that have|including|carrying|having)\s+(?:(?:the|a|an|their|its)\s+)?(?:fields?\s+)?"
    r"(?P<list>[a-z_][\w ]*?(?:\s*,\s*[a-z_][\w ]*?)*(?:,?\s+and\s+[a-z_][\w]*(?:\s+[a-z_]\w*)?))(?:\s+fields?)?(?=\s*[,.;]|$|\s+(?:to|then|and then)\b)",
    re.IGNORECASE,
)


FIELD_LIST_RE = re.compile(
    r"\s*,?\s*(?:with|containing|including|carrying|having|that has|that have)\s+(?:(?:the|a|an|their|its)\s+)?(?:fields?\s+)?"
    r"[a-z_]\w*(?:\s+(?!and\b|then\b)[a-z_]\w*)?(?:\s*,\s*(?!then\b|and\b)[a-z_]\w*(?:\s+(?!and\b|then\b)[a-z_]\w*)?)*"
    r"(?:,?\s+and\s+[a-z_]\w*(?:\s+(?!then\b)[a-z_]\w*)?)?"
    r"(?:\s+fields?)?\s*[,.;:]?",
    re.IGNORECASE,
)


@dataclass
class TriggerRead:
    kind: str  # manual | webhook | schedule
    rest: str
    schedule: Schedule | None = None
    method: str | None = None
    fields: list[str] = field(default_factory=list)
    name_hint: str | None = None
    only_if: str | None = None  # "when a payment over $1000 comes in": a condition on the payload


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(chars), end)):
            chars[i] = " "
    out = "".join(chars)
    out = re.sub(r"\b(?:every|each|on|at|in|from|between|run|runs|starting)\s*(?=[,.;]|$)", "", out, flags=re.I)
    out = re.sub(r"^\s*(?:and\s+)?(?:,|\s)*", "", out)
    out = re.sub(r"^(?:in\s+the\s+|each\s+|every\s+)?(?:morning|evening|afternoon|night)s?\b\s*,?\s*", "", out, flags=re.I)
    return re.sub(r"\s{2,}", " ", re.sub(r"\s+([,.;])", r"\1", out)).strip(" ,")


_SENDS_FIELDS_RE = re.compile(
    r"\b(?:posts?|sends?|submits?|pushes|push|delivers?|forwards?)\s+(?:the\s+|its\s+|their\s+)?(?:fields?\s+)?"
    r"(?P<list>[a-z_]\w*(?:\s*,\s*[a-z_]\w*)*(?:,?\s+and\s+[a-z_]\w*))\s+(?:fields?\s+)?(?:to|into|at)\s+(?:a|an|the|our|my)\s+"
    r"(?:[\w-]+\s+)?web-?hook\b", re.I)


def _each_call(text: str, trigger_text: str, rest: str) -> str:
    """'store every signup from the webhook': each call of the webhook is one signup, not a list to
    loop over; the request reads 'store the signup'."""
    at = text.find(trigger_text)
    lead = re.search(r"(?<!\bfor\s)\b(?:each|every)\s+((?:new\s+|incoming\s+)?[a-z][\w-]*)\s*$", text[:at]) if at > 0 else None
    if lead is None or not re.match(r"\s*(?:from|via|on|through|sent\s+to|posted\s+to|that|which|coming|arriving)\b",
                                    trigger_text, re.I):
        return rest
    return rest.replace(lead.group(0), f"the {lead.group(1)}", 1)


def _paren_fields(text: str) -> list[str]:
    """'(order_id, customer, total)' or '(name and email)' right in the trigger clause."""
    m = re.search(r"\((?:(?:fields?|payload|body|keys?|web-?hook|data|json|form|with|it has|has|sends?)\s*:?\s*)?([a-z_][\w ]*(?:\s*(?:,|and)\s*[a-z_][\w ]*)*)\)", text, re.I)
    if not m:
        return []
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", m.group(1))
    out = [snake(re.sub(r"\s+(?:field|list|flag)$", "", p.strip())) for p in parts if p.strip() and len(p.split()) <= 2]
    return [f for f in dict.fromkeys(out) if f]


def _fields(text: str) -> list[str]:
    if found := _paren_fields(text):
        return found
    m = re.search(r"\b(?:with|containing|including|carrying|having|that has|that have)\s+(?:(?:the|a|an|their|its)\s+)?(?:fields?\s+)?(.+)$",
                  text, re.I)
    if not m:
        return []
    listed = re.sub(r"\s+fields?\b.*$|[,.;:]\s*$", "", m.group(1).strip(), flags=re.I)
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", listed)
    out = [snake(p) for p in parts if p.strip() and len(p.split()) <= 2 and "⟦" not in p]
    return [f for f in dict.fromkeys(out) if f and f not in ("data", "payload", "details", "information", "it", "them")]


WEBHOOK_INTRO_RE = re.compile(
    r"^\s*(?:(?:please\s+)?(?:create|set up|setup|expose|make|add|build|give me|i want|i need)\s+)?(?:a|an)\s+(?:\w+\s+)?webhook\s+"
    r"(?:that|which|to|for|where)\s+(?:(?:receives?|accepts?|gets?|takes?|collects?|handles?)\s+)?(?P<what>[^,.;:(]*?)"
    r"(?P<fields>\s*\([^)]*\))?(?=\s*(?:,|\.|;|:|\band\b|\bthen\b|$))"
    r"|^\s*(?:receive|accept|take|collect|handle|catch)\s+(?P<what2>[^,.;:(]*?)(?P<fields2>\s*\([^)]*\))?\s+(?:on|via|through|with|at|from)\s+"
    r"(?:a|an|the|our)\s+(?:\w+\s+)?webhook(?P<fields3>\s*\([^)]*\))?(?=\s*(?:,|\.|;|:|\band\b|\bthen\b|$))",
    re.IGNORECASE,
)
SENTENCE_WEBHOOK_RE = re.compile(
    r"^(?!\s*(?:when|whenever|if|once|each time|every time|as soon as)\b)[^.;:]*?\b(?:calls?|posts?|sends?|hits?|pings?|fires?|triggers?)\s+(?:a|an|the|our|its)\s+(?:\w+\s+)?webhook\b[^.;:]*[.;:]",
    re.IGNORECASE,
)
WEBHOOK_PHRASE_RE = re.compile(
    r"\s*(?:(?:that|which)\s+(?:arrive|come)s?\s+)?\b(?:on|via|from|through|to|by|in)\s+(?:a|an|the|our)?\s*(?:incoming\s+)?webhook"
    r"(?:\s+(?:payload|request|call|body)(?:'s)?)?\b"
    r"|(?<=\w)\s+(?:incoming\s+)?webhook(?=\s+[a-z]+s\b)",
    re.IGNORECASE,
)


def read_trigger(text: str, today: date | None = None) -> TriggerRead:
    """Find the trigger in ``text`` (values already protected) and return the rest."""
    if intro := WEBHOOK_INTRO_RE.search(text):
        fields_text = intro.group("fields") or intro.group("fields2") or intro.group("fields3") or ""
        rest = re.sub(r"^\s*(?:,|\band\b|\bthen\b|\s)*", "", text[intro.end():])
        what = (intro.group("what") or intro.group("what2") or "").strip()
        return TriggerRead("webhook", rest, method="POST", fields=_paren_fields(fields_text) or _fields(what),
                           name_hint=f"New {what}" if what else None)
    if sentence := SENTENCE_WEBHOOK_RE.search(text):
        rest = text[:sentence.start()] + text[sentence.end():]
        return TriggerRead("webhook", rest.strip(), method="POST", fields=_fields(sentence.group(0).rstrip(".;:")),
                           name_hint=None)
    webhook = WEBHOOK_RE.search(text)
    clause = WEBHOOK_CLAUSE_RE.search(text)
    schedule = parse_schedule(text, today=today)
    if schedule.found and not WEBHOOK_WORD_RE.search(text):
        rest = _blank(text, schedule.spans)
        rest = re.sub(r"^(?:,|\s)*(?:and\s+)?", "", rest)
        return TriggerRead("schedule", rest, schedule=schedule)
    if webhook is None and not schedule.found:
        late = WEBHOOK_LATE_RE.search(text)
        if late is not None:
            webhook = late
    if webhook is not None and (webhook.start() <= 2 or webhook.re is WEBHOOK_LATE_RE) or clause is not None or WEBHOOK_WORD_RE.search(text):
        match = webhook if webhook is not None and (clause is None or webhook.start() <= clause.start()) else clause
        if match is None:
            phrase = WEBHOOK_PHRASE_RE.search(text)
            if phrase is not None:
                trigger_text, rest = phrase.group(0), text[:phrase.start()] + text[phrase.end():]
                if paren := re.search(r"^([^(:]*?)\s*(\([^)]*\))\s*(?=:)", rest):
                    trigger_text += paren.group(2)  # "Route tickets (title, priority): ..." names the payload
                    rest = rest[:paren.start(2)] + rest[paren.end(2):]
            else:
                m = WEBHOOK_WORD_RE.search(text)
                assert m is not None
                sentence_end = re.search(r"[,.;:](?![^(]*\))", text[m.end():])  # a comma inside "(name, email)" does not end it
                start = text.rfind(".", 0, m.start()) + 1
                end = m.end() + (sentence_end.end() if sentence_end else len(text) - m.end())
                trigger_text, rest = text[start:end], (text[:start] + " " + text[end:])
                lead = text[start:m.start()]
                noun = re.compile(r"(?:(?:the|an?|each|every|any)\s+)?(?:new\s+|incoming\s+)?" + re.escape(m.group(0))
                                  + r"(?:'s)?(?:\s+(?:message|payload|data|body|request|event|text|content))?(?:\s*\([^)]*\))?", re.I)
                if lead.strip() and not re.match(r"^\s*(?:when|whenever|on|upon|if|each|every|once|after|as soon as|for|via|through)\b",
                                                 lead, re.I) and (phrase_m := noun.search(text, start)) is not None:
                    # "Translate the incoming webhook message (text) to French ...": the webhook is the object
                    trigger_text = phrase_m.group(0)
                    rest = text[:phrase_m.start()] + "it" + text[phrase_m.end():]
        else:
            end = match.end()
            # the payload's fields may continue past commas: "with name, email and message,"
            pos = match.start("tail") if match is webhook else end
            tail = FIELD_LIST_RE.match(text, pos)
            if tail and tail.end() > end:
                end = tail.end()
            trigger_text, rest = text[match.start():end], text[:match.start()] + " " + text[end:]
        what = webhook.group("what") if webhook is not None else None
        name_hint = "New " + re.sub(r"^(?:(?:a|an|the|new|someone|somebody|we|i|our)\s+)+", "", what.strip(), flags=re.I) if what else None
        method = None
        if m := re.search(r"\b(GET|PUT|PATCH|DELETE|POST)\b", trigger_text):
            method = m.group(1)
        fields = _fields(trigger_text)
        # "When a form is submitted with name and email, ..." – the field list may follow the clause
        if not fields and (m := re.match(r"^\s*(with|containing)\b[^,.;]*[,.;]?", rest)):
            fields = _fields(m.group(0))
            rest = rest[m.end():]
        if not fields and (paren := re.search(r"^[^.;:]*?(\([^)]*\))", rest)) and (listed := _paren_fields(paren.group(1))):
            # "store every signup from the webhook (email, plan) ...": the list left behind names the payload
            fields = listed
            rest = rest[:paren.start(1)] + rest[paren.end(1):]
        if not fields and (sends := _SENDS_FIELDS_RE.search(text)):
            fields = _fields(f"with {sends.group('list')}")  # "a form that posts sender and message to a webhook"
        rest = _each_call(text, trigger_text, rest)
        rest = re.sub(r"^\s*(?:,|\s|then\b)*", "", rest)
        only_if = None
        if what and (amount := re.search(r"\b(over|above|more than|greater than|exceeding|below|under|less than)\s+(\$?[\d,.]+\s*[km]?)\b",
                                          what, re.I)):
            money = next((f for f in fields if f in ("amount", "total", "value", "price", "sum")), "amount")
            only_if = f"the {money} is {amount.group(1)} {amount.group(2)}"
        return TriggerRead("webhook", rest.strip(), method=method or "POST", fields=fields, name_hint=name_hint, only_if=only_if)
    if schedule.vague:
        return TriggerRead("schedule", text, schedule=schedule)
    if manual := MANUAL_RE.search(text):
        rest = (text[:manual.start()] + " " + text[manual.end():]).strip(" ,:")
        rest, fields = _manual_input(re.sub(r"\s{2,}", " ", rest))
        return TriggerRead("manual", rest, fields=fields or _fields(text[:manual.start()]))
    rest, fields = _manual_input(text)
    return TriggerRead("manual", rest, fields=fields)


def _manual_input(text: str) -> tuple[str, list[str]]:
    """'takes a note (title, text) as input', 'where I paste a CV as text', 'given a question as input'."""
    m = re.search(r"\b(?:that\s+|which\s+)?(?:takes|accepts|gets|receives|given|with)\s+(?:a|an|the)\s+([\w ]{1,30}?)\s*(\([^)]*\))?\s+as\s+(?:its\s+|the\s+)?input\b\s*,?\s*(?:and\s+)?"
                  r"|\b(?:where|in which|when)\s+(?:i|we|you|someone)\s+(?:paste|enter|type|provide|give|upload|submit)s?\s+(?:a|an|the|some)\s+([\w ]{1,30}?)(?:\s+as\s+(\w+))?\s*(?:[;,.]|$)\s*",
                  text, re.I)
    if not m and (named := re.search(r"\s*,?\s*\b(?:with|taking)\s+(?:an?\s+|the\s+)?([a-z]\w*)\s+(?:input|parameter|argument)\b\s*,?\s*(?:and\s+)?(?:then\s+)?",
                                       text, re.I)):
        # "trigger it by hand with an order_id input, then ..."
        rest = (text[:named.start()] + " " + text[named.end():]).strip(" ,;:")
        return re.sub(r"\s{2,}", " ", rest), [snake(named.group(1))]
    if not m:
        pasted = re.search(r"\b(?:from|in|of)\s+(?:the|my|a)\s+(?:pasted|given|provided|entered|submitted|input|uploaded)\s+([a-z_]\w*)\b", text, re.I)
        return text, [snake(pasted.group(1))] if pasted else []
    if m.group(2):
        fields = _paren_fields(m.group(2))
    else:
        noun = m.group(1) or m.group(3)
        suffix = m.group(4)
        fields = [snake(f"{noun} {suffix}" if suffix else noun)]
    rest = (text[:m.start()] + " " + text[m.end():]).strip(" ,;:")
    return re.sub(r"\s{2,}", " ", rest), [f for f in fields if f]
