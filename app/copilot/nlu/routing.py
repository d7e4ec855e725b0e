"""Routing in plain words → a switch: "by priority: urgent → ..., high → ...", "EU leads go to A, US
leads to B, anything else is logged", "if it is urgent, ...; if high, ...; otherwise ...",
"for 'a' do X; for 'b' do Y", "send German messages to #de, French ones to #fr".

Loaded by ``structure`` on first use (it builds on ``structure``'s clause parser).
"""

from __future__ import annotations

import re

from app.copilot.nlu.structure import (
    _VERB_START,
    ACTION_VERBS,
    LOOP_RE,
    Item,
    _is_label,
    _loop,
    parse_clauses,
)

CASE_ARROW_RE = re.compile(
    r"^\s*(?:and\s+|or\s+|if\s+(?:it(?:'s| is)\s+|the\s+\w+\s+is\s+)?|when\s+)?['\"]?([\w -]{1,30}?|⟦\d+⟧)['\"]?\s*"
    r"(?:→|->|=>|:|goes?\s+to|go\s+to|should\s+go\s+to|means|gets?|,)\s*(.+)$",
    re.IGNORECASE,
)
DEFAULT_CASE_RE = re.compile(r"^\s*(?:and\s+)?(?:otherwise|else|anything else|everything else|the rest|all others|others|default|"
                             r"any other(?:\s+\w+)?)\b\s*(?:→|->|=>|:|goes?\s+to|go\s+to|,)?\s*(.+)$", re.IGNORECASE)

LANGUAGES = {"german": "de", "french": "fr", "spanish": "es", "italian": "it", "english": "en", "dutch": "nl",
             "portuguese": "pt", "japanese": "ja", "chinese": "zh", "polish": "pl", "swedish": "sv", "danish": "da"}
_CASE_SEGMENT_RE = re.compile(
    r"^(?:and\s+)?(?:for\s+|if\s+(?:it(?:'s|\s+is)\s+)?)?['\"]?(?P<value>[\w-]+|⟦\d+⟧)['\"]?(?:\s+(?:ones?|\w+s))?\s*,?\s+"
    r"(?P<how>go(?:es)?\s+to|to|→|->|=>|:|gets?\s+(?:\w+ed\s+)?(?:to\s+)?|(?:is|are)\s+\w+ed\s+(?:to|in|into)|should\s+go\s+to)\s*(?P<target>.+)$"
    r"|^(?:and\s+)?(?:for\s+)?['\"]?(?P<value2>⟦\d+⟧)['\"]?\s*,?\s+(?P<target2>.+)$",
    re.IGNORECASE,
)
_DEFAULT_SEGMENT_RE = re.compile(
    r"^(?:and\s+)?(?:anything|everything|all|any)\s+(?:else|others?|other\s+\w+)\b\s*(?:(?:is|are)\s+(?:just\s+|simply\s+)?(?P<verb>\w+ed)\s*(?:to|in|into)?|goes?\s+to|go\s+to|to|→|->|:)?\s*(?P<target>.*)$"
    r"|^(?:and\s+)?(?:otherwise|else)\s*,?\s*(?P<target2>.+)$",
    re.IGNORECASE,
)
_LEAD_VERB_RE = re.compile(rf"^(?:and\s+)?((?:{ACTION_VERBS})\b)\s+(.+)$", re.IGNORECASE)


def _case_action(target: str, verb: str | None, how: str = "") -> str:
    target = target.strip(" ,.")
    both = re.split(r"\s+(?:and|&|\+|plus)\s+(?=(?:also\s+)?(?:slack|email|mail|#|⟦|log\b))", target, flags=re.I)
    if len(both) > 1:  # "email ⟦0⟧ AND slack #p1": one action each
        return " and then ".join(_case_action(part, verb, how) for part in both)
    if _VERB_START.search(target):
        return target
    past = re.search(r"\b(\w+)ed\b", how)
    if past:
        stem = {"emailed": "email", "saved": "save", "logged": "log", "posted": "post", "stored": "store", "sent": "send",
                "forwarded": "forward", "routed": "send", "archived": "archive", "added": "add"}.get(past.group(0).lower())
        if stem:
            return f"{stem} {'to ' if stem in ('send', 'post', 'forward', 'save', 'add', 'store') and not target.lower().startswith(('to ', 'in ', 'into ')) else ''}{target}".strip()
    if verb:
        return f"{verb} to {target}" if not re.match(r"^(to|into|in)\b", target, re.I) else f"{verb} {target}"
    if re.search(r"#[\w-]+", target) or "slack" in target.lower():
        return f"post to {target}"
    if re.match(r"^⟦\d+⟧", target):
        return f"send to {target}"
    if re.search(r"\blog(?:ged)?\b", target, re.I) or not target:
        return "log it"
    return target


def value_cases(sentence: str) -> Item | None:
    """'EU leads go to A, US leads to B, anything else is logged' / 'send German messages to #de, French ones to #fr'."""
    if not re.search(r",|;", sentence):
        return None
    verb = None
    text = sentence
    head_text = ""
    if head := re.match(r"^[^:]{3,80}:\s*(?=\S)", sentence):
        head_text = sentence[:head.end()].rstrip(": ")
        text = sentence[head.end():]  # "Route tickets (...): urgent ones go to ..., everything else ..."
        sentence = text
    if lead := _LEAD_VERB_RE.match(sentence):
        verb, text = lead.group(1), lead.group(2)
    segments = [seg.strip() for seg in re.split(r"\s*[,;]\s*(?:and\s+)?|\s+and\s+(?=(?:all|any|every)thing|all others)", text) if seg.strip()]
    cases: list[tuple[str, list[Item]]] = []
    default: list[Item] = []
    for seg in segments:
        if m := _DEFAULT_SEGMENT_RE.match(seg):
            target = m.group("target") or m.group("target2") or ""
            how = m.group("verb") or ""
            default = parse_clauses(_case_action(target, verb, f"{how}" if how else ""))
            if how and not target:
                default = parse_clauses({"logged": "log it"}.get(how.lower(), f"{how[:-2]} it"))
            continue
        m = _CASE_SEGMENT_RE.match(seg)
        if not m:
            return None
        value = m.group("value") or m.group("value2")
        target = m.group("target") or m.group("target2")
        how = m.group("how") or ""
        if value.lower() in ("it", "them", "this", "that", "the", "a", "an", "then", "also", "if", "when"):
            return None
        noun_follows = re.match(rf"^(?:and\s+)?(?:for\s+)?['\"]?{re.escape(value)}['\"]?\s+(?:ones?|\w+s)\b", seg, re.I)
        if not noun_follows and value.lower().endswith("s") and not value.lower().endswith(("ss", "us", "is")) and len(value) > 4 \
                and not re.search(rf"\b{re.escape(value)}\b", head_text, re.I):
            value = value[:-1]  # "warnings go to #alerts": the value is 'warning'
        cases.append((LANGUAGES.get(value.lower(), value), parse_clauses(_case_action(target, verb, how))))
    if len(cases) < (1 if default else 2) or any(not items for _, items in cases):
        return None
    field_text = "language" if any(v in LANGUAGES.values() for v, _ in cases) and verb else ""
    # "... and for each lead, depending on the region: EU → ..., US → ...": the field ends the head
    if by := re.search(r"(?:^|,\s*|\s+)(?:depending on|based on|according to|by)\s+(?:the\s+|its\s+|their\s+)?([a-z][\w ]{0,30}?)\s*$",
                       head_text, re.I):
        field_text, head_text = by.group(1).strip(), head_text[:by.start()].strip(" ,")
        switch = Item("switch", text=field_text, cases=cases, otherwise=default)
        loop = LOOP_RE.search(head_text)
        if loop and not head_text[loop.end():].strip(" ,"):
            outer = parse_clauses(head_text[:loop.start()]) if head_text[:loop.start()].strip(" ,;") else []
            looped = _loop((loop.group(1) or "item").strip(), "")
            looped.then = [switch]
            return Item("sequence", then=[*outer, looped])
        if not head_text or not _VERB_START.search(head_text):
            return switch
        return Item("sequence", then=[*parse_clauses(head_text), switch])
    switch = Item("switch", text=field_text, cases=cases, otherwise=default)
    if head_text and not re.match(r"^(?:route|sort|split|send|handle|dispatch|forward|direct)\b", head_text, re.I) \
            and _VERB_START.search(head_text):
        # "classify the message as a, b or c: a → ..., b → ...": the head is a step of its own
        switch.text = ""
        return Item("sequence", then=[*parse_clauses(head_text), switch])
    return switch


def _switch(field_text: str, cases_text: str) -> Item | None:
    parts = re.split(r"\s*[;,]\s*(?:and\s+)?|\s+and\s+(?=\S+\s*(?:→|->|=>|:))", cases_text)
    cases: list[tuple[str, list[Item]]] = []
    default: list[Item] = []
    for part in parts:
        if not part.strip():
            continue
        if m := DEFAULT_CASE_RE.match(part):
            default = parse_clauses(m.group(1))
            continue
        if m := CASE_ARROW_RE.match(part):
            cases.append((m.group(1).strip().lower(), parse_clauses(m.group(2))))
        elif cases:
            cases[-1][1].extend(parse_clauses(part))
    if len(cases) < 2:
        return None
    return Item("switch", text=field_text, cases=cases, otherwise=default)


_IF_CASE_RE = re.compile(
    r"^(?:and\s+)?(?:if|when)\s+(?:the\s+)?(?:(?P<field>[a-z][\w ]{0,30}?)\s+(?:is|=|equals)\s+|it(?:'s|\s+is)\s+(?:a\s+|an\s+)?)"
    r"['\"]?(?P<value>[\w-]{1,30})['\"]?\s*(?:priority|one|ticket|message|item)?\s*(?:[,:]\s*(?:then\s+)?|\s(?=(?:" + ACTION_VERBS + r")\b))"
    r"(?P<action>.+)$",
    re.IGNORECASE,
)


def _multi_if_switch(sentence: str) -> Item | None:
    """'If it is urgent, page on-call; if high, post to #support; otherwise log it' → a switch."""
    parts = re.split(r"\s*;\s*|,\s*(?=(?:and\s+)?(?:if|when|otherwise|else)\b)", sentence)
    cases: list[tuple[str, list[Item]]] = []
    default: list[Item] = []
    field_text = ""
    for part in parts:
        if m := _IF_CASE_RE.match(part.strip()):
            if m.group("field") and not field_text and m.group("field").strip().lower() not in ("it", "this", "that", "they"):
                field_text = m.group("field").strip()
            if re.match(r"^(over|above|under|below|more|less|greater|at)$", m.group("value"), re.I):
                return None
            cases.append((m.group("value").lower(), parse_clauses(m.group("action"))))
        elif m := re.match(r"^(?:and\s+)?(?:if\s+)?(?:the\s+\w+\s+is\s+)?['\"]?([\w-]{1,30})['\"]?\s*[,:]\s*(.+)$", part.strip()):
            if cases and not re.match(r"^(otherwise|else|then)$", m.group(1), re.I):
                cases.append((m.group(1).lower(), parse_clauses(m.group(2))))
            elif re.match(r"^(otherwise|else)$", m.group(1), re.I):
                default = parse_clauses(m.group(2))
            else:
                return None
        elif m := DEFAULT_CASE_RE.match(part.strip()):
            default = parse_clauses(m.group(1))
        else:
            return None
    if len(cases) < 2:
        return None
    return Item("switch", text=field_text, cases=cases, otherwise=default)


_ARROW_CASE_RE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:(?:if|when)\s+(?:it(?:'s|\s+is)\s+|the\s+[\w.]+\s+is\s+)?|for\s+)?['\"]?(?P<label>[^→'\"]{1,40}?)['\"]?\s*→\s*(?P<target>[^→]*)$")
_DEFAULT_LABEL_RE = re.compile(
    r"^(?:(?:anything|everything|something)\s+else|(?:all\s+)?others?|the\s+rest|otherwise|else|default|any\s+other(?:\s+\w+)?|"
    r"other(?:\s+\w+)?|unknown(?:\s+\w+)?|none\s+of\s+(?:these|those|them|the\s+above))$", re.I)
_NOOP_TARGET_RE = re.compile(r"^(?:just\s+)?(?:(?:do\s+)?nothing|ignore(?:\s+it|\s+them)?|skip(?:\s+it)?|no\s+action|drop(?:\s+it)?|"
                             r"(?:don'?t|do\s+not)\s+do\s+anything|leave\s+(?:it|them)(?:\s+alone)?)\b", re.I)
_ROUTING_HEAD_RE = re.compile(
    r"^(?:please\s+|then\s+|and\s+)*(?:route|sort|split|switch|branch|dispatch|handle|direct|forward|triage)\b"
    r"(?:\s+(?:it|them|this|these|those|the\s+\w+|each\s+\w+|every\s+\w+|on|by))*|^(?:depending\s+on|based\s+on|by|according\s+to)\b", re.I)
_HEAD_FIELD_RE = re.compile(
    r"\b(?:by|on|based\s+on|depending\s+on|according\s+to|using)\s+(?:the\s+|its\s+|their\s+)?(?:value\s+of\s+(?:the\s+)?)?"
    r"(?P<field>[a-z_][\w.]{0,30}?)(?:\s+(?:field|value|column|property))?\s*:?\s*$", re.I)


def arrow_runs(sentences: list[str]) -> list[tuple[str, list[Item] | None]]:
    """Lines of 'value → action' (a list under 'Route it:' or 'by region:') are the cases of one
    switch. Returns each sentence with its items, or ``None`` when ``parse_sentence`` reads it; the
    head sentence that only announces the routing is folded into the switch and names its field."""
    out: list[tuple[str, list[Item] | None]] = []
    i = 0
    while i < len(sentences):
        run: list[re.Match[str]] = []
        j = i
        while j < len(sentences) and (m := _ARROW_CASE_RE.match(sentences[j])) and _is_label(m.group("label"), listed=True):
            run.append(m)
            j += 1
        labelled = [m for m in run if not _DEFAULT_LABEL_RE.match(m.group("label").strip())]
        if len(labelled) < 2 and not (labelled and len(run) >= 2):
            out.append((sentences[i], None))
            i += 1
            continue
        switch = _arrow_switch(run)
        head = out[-1][0] if out and out[-1][1] is None else ""
        if head and (routing_head := _ROUTING_HEAD_RE.match(head)):
            field_m = _HEAD_FIELD_RE.search(head)
            rest = head[routing_head.end():field_m.start() if field_m else len(head)].strip(" ,:")
            if field_m:
                switch.text = field_m.group("field").strip()
            if not rest or not _VERB_START.search(rest):
                out.pop()
        elif head.rstrip().endswith(":") and (field_m := _HEAD_FIELD_RE.search(head)):
            # "For every order, depending on the plan:" — the head keeps its own steps
            switch.text = field_m.group("field").strip()
            out[-1] = (head[:field_m.start()].strip(" ,:"), None)
        elif head.rstrip().endswith(":") and not re.search(r"⟦\d+⟧|#[\w-]", head):
            out.pop()  # "Send it on:", "Here is what to do:" — it only announces the list
        out.append((" ".join(sentences[i:j]), [switch]))
        i = j
    return out


def _arrow_switch(run: list[re.Match[str]]) -> Item:
    cases: list[tuple[str, list[Item]]] = []
    otherwise: list[Item] = []
    for m in run:
        label, target = m.group("label").strip(), m.group("target").strip(" .,")
        items = [] if not target or _NOOP_TARGET_RE.match(target) else parse_clauses(_case_action(target, None))
        if _DEFAULT_LABEL_RE.match(label):
            otherwise = items
        else:
            cases.append((label, items))
    return Item("switch", text="", cases=cases, otherwise=otherwise)
