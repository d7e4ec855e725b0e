"""The shape of a request: sentences → clauses → a small tree of actions and control structures.

The tree (``Item``) says *what* happens in which order — conditions ("if ... otherwise ..."),
routing ("by priority: urgent → ..., high → ..."), loops ("for each customer ..."), batches
("10 at a time"), parallel work ("at the same time ... then combine"), waits ("wait 2 days"),
retries ("retry up to 5 times") and failure paths ("if it still fails ...") — and leaves each
action clause as text for the planner to turn into a connector operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.copilot.nlu.numbers import NUMBER, parse_duration, to_int

ACTION_VERBS = (
    "send|email|e-mail|mail|post|notify|alert|message|ping|tell|fetch|get|pull|grab|download|load|read|retrieve|"
    "call|request|hit|query|look|lookup|find|search|check|save|store|insert|add|append|record|write|upsert|update|"
    "create|delete|remove|archive|summari[sz]e|classify|categori[sz]e|tag|label|extract|parse|translate|draft|"
    "generate|compose|reply|respond|log|run|execute|sync|push|forward|share|copy|put|report|wait|pause|"
    "combine|merge|join|compute|calculate|set|mark|flag|escalate|assign|open|file|page|text|sort|route|score|"
    "analy[sz]e|detect|publish|upload|export|import|submit|trigger|invoke|refund|charge|pay|approve|"
    "stop|halt|abort|filter|keep only|let|make|then"
)
_NOT_VERB = r"(?!\s*(?:and\b|or\b|,|address(?:es)?\b|fields?\b|parameters?\b|params?\b|strings?\b|$))"
_VERB_START = re.compile(rf"^(?:also\s+|then\s+|and\s+|just\s+|simply\s+|only\s+)*(?:{ACTION_VERBS})(?:s|es)?\b{_NOT_VERB}", re.IGNORECASE)
# "AI classifies the comment", "the model should extract ...": the model as the subject of the verb
_MODEL_SUBJECT_RE = re.compile(
    rf"(^|[,:;]\s*|\bthen\s+|\band\s+|->\s*|→\s*)(?:the\s+|an?\s+)?(?:ai|llm|model|gpt|bot)\s+(?:should\s+|will\s+|must\s+|can\s+|then\s+)?"
    rf"((?:{ACTION_VERBS}))(?:ies|es|s)?\b", re.IGNORECASE)


def _model_as_subject(text: str) -> str:
    """'AI classifies the comment as ...' → 'have the AI classify the comment as ...'."""
    def base(m: re.Match[str]) -> str:
        verb = m.group(2)
        return f"{m.group(1)}have the AI {verb}"
    return _MODEL_SUBJECT_RE.sub(base, text)


FAILURE_RE = re.compile(
    r"\b(?:if|when|should|in case)\s+(?:it|that|this|(?:\w+ing\s+)?the\s+[\w ]{1,30}?|they|this step|the call|the request|anything|something)?"
    r"\s*(?:still\s+|ultimately\s+|finally\s+|then\s+|keeps?\s+|also\s+)?(?:fails?|failing|errors?\s*(?:out)?|goes wrong|breaks|times? out|doesn't work)"
    r"(?:\s+(?:after|despite)\s+(?:all\s+)?(?:the\s+)?(?:\d+\s+)?(?:retries|attempts|tries|that|those|them|retrying))?\b"
    r"|\bon\s+(?:failure|error)\b|\bif\s+all\s+(?:retries|attempts)\s+fail\b|\botherwise\s+on\s+failure\b",
    re.IGNORECASE,
)
RETRY_RE = re.compile(
    rf"\b(?:retry(?:ing)?|re-?try|try)\s+(?:it\s+|that\s+|the\s+[\w ]{{1,20}}?\s+)?(?:up\s+to\s+|at\s+most\s+|a\s+maximum\s+of\s+)?(?:{NUMBER}|(once|twice|thrice))(?:\s+(more))?(?:\s*(?:times|attempts|x))?\b"
    rf"(?:\s+(?:with|using)\s+(?:an?\s+)?(?:fixed|constant|exponential|linear)?\s*(?:\d+\s*-?\s*(?:seconds?|secs?|s|minutes?|mins?)\s*)?(?:wait|delay|backoff|back-off|pause)s?(?:\s+between\s+(?:attempts|tries|retries))?)?"
    rf"|\bwith\s+(?:up\s+to\s+)?{NUMBER}\s+(?:retries|attempts)\b|\b{NUMBER}\s+(?:retries|retry attempts)\b"
    r"|\bretry(?:ing)?\s+(?:it\s+)?(?:on|if|when)\s+(?:failure|it\s+fails|errors?)\b|\b(?:and\s+)?retry\s+(?:it\s+)?(?:if\s+needed)?$"
    r"|,?\s*\bwith\s+(?:automatic\s+)?retries\b"
    rf"|\b(?:add\s+)?retr(?:y|ies)\b[^.;]*?\b(?:up\s+to|max(?:imum)?(?:\s+of)?|at\s+most)\s+{NUMBER}\s*(?:attempts|times|tries)\b"
    r"|\badd\s+(?:some\s+)?retries\b"
    rf"|\bretr(?:y|ies)(?:\s+(?:of|count\s+(?:of\s+|to\s+)?|limit\s+(?:of\s+|to\s+)?|policy\s+of|set\s+to)|\s*[:=])\s*(?:up\s+to\s+)?{NUMBER}(?:\s*(?:times|attempts|tries|x))?\b"
    rf"|\b(?:try|attempt)\s+(?:it\s+|that\s+)?again\s+(?:up\s+to\s+|at\s+most\s+)?{NUMBER}\s*(?:more\s+)?(?:times|x)?\b"
    rf"|\bmax(?:imum)?\s+(?:of\s+)?{NUMBER}\s+(?:retries|attempts|tries)\b|\b{NUMBER}\s+(?:attempts|tries)\b",
    re.IGNORECASE,
)
BATCH_RE = re.compile(
    rf"\bin\s+(?:batches|chunks|groups)\s+of\s+{NUMBER}\b|\bbatches\s+of\s+{NUMBER}\b|\b{NUMBER}\s+(?:items\s+)?per\s+batch\b",
    re.IGNORECASE,
)
# "3 at a time", "5 in parallel": how many items the loop works on at once (people who never saw
# the planner read "N at a time" as concurrency; batches are "in batches of N")
CONCURRENCY_RE = re.compile(rf"\b{NUMBER}\s+(?:in\s+parallel|concurrently|at\s+once|simultaneously|at\s+a\s+time)\b", re.IGNORECASE)
PARALLEL_RE = re.compile(r"\b(?:at the same time|in parallel|simultaneously|concurrently|at once|side by side|both)\b",
                         re.IGNORECASE)
COMBINE_RE = re.compile(r"^(?:and\s+|then\s+)*(?:combine|merge|join|aggregate)\b|\b(?:combine|merge)\s+(?:them|the results|both|everything)",
                        re.IGNORECASE)
LOOP_RE = re.compile(
    r"\b(?:for\s+(?:each|every|all(?:\s+of\s+the)?)|loop(?:ing)?\s+(?:over|through)|iterate\s+(?:over|through)|"
    r"go(?:ing)?\s+through\s+(?:each|every|all|the)|one\s+by\s+one\s+for|for\s+each\s+of\s+(?:the|these|those))"
    r"\s+(?:of\s+)?(?:the\s+|these\s+|those\s+|them\b)?\s*([a-z][\w-]*(?:\s+(?!in\b|from\b|of\b|on\b|at\b|and\b|to\b|with\b|whose\b|where\b|that\b|"
    r"over\b|above\b|under\b|below\b|more\b|less\b|worth\b|returned\b|listed\b|coming\b|fetched\b|received\b|pulled\b|"
    r"retrieved\b|found\b|we\b|you\b|i\b|they\b|"
    r"which\b|having\b|(?:" + ACTION_VERBS + r")\b)[a-z][\w-]*)?)?",
    re.IGNORECASE,
)
EACH_RE = re.compile(r"\b(?:each|every)\s+(?!(?:day|week|month|year|hour|minute|morning|evening|night|time|monday|tuesday|"
                     r"wednesday|thursday|friday|saturday|sunday|weekday|weekend|\d|one of|with|has|have|having|containing|contains|"
                     r"includes|including|carrying|holding|of|is|being)\b)([a-z][\w-]*)", re.IGNORECASE)
CONDITION_RE = re.compile(r"^(?:and\s+|but\s+|then\s+|also\s+)*(?:only\s+)?(?:if|when|whenever|in case|provided that)\s+(.+)$",
                          re.IGNORECASE)
POSTFIX_IF_RE = re.compile(r"^(.+?),?\s+(?:but\s+)?(only\s+if|if|unless|only\s+when|provided that)\s+(.+)$", re.IGNORECASE)
ELSE_RE = re.compile(r"(?:[,;]\s*|\s+)(?:and\s+)?(?:otherwise|else|if not|or else|in all other cases|in any other case)[,:]?\s+",
                     re.IGNORECASE)
SWITCH_HEAD_RE = re.compile(
    r"\b(?:route|routed|send|sort|split|branch|handle|dispatch|direct|forward)\b[^:]*?\b(?:by|based on|depending on|according to)\s+"
    r"(?:the\s+|its\s+|their\s+)?([a-z][\w ]{0,30}?)\s*[:\-—]\s*(.+)$"
    r"|^(?:depending on|based on|by)\s+(?:the\s+|its\s+|their\s+)?([a-z][\w ]{0,30}?)\s*[:,\-—]\s*(.+)$"
    r"|\b(?:switch|branch|route|split|fork)\s+on\s+(?:the\s+|its\s+|their\s+)?([a-z][\w .]{0,30}?)(?:\s+field)?\s*[:,\-—]\s*(.+)$",
    re.IGNORECASE,
)
DELAY_RE = re.compile(r"^(?:and\s+|then\s+)*(?:wait|pause|sleep|delay|hold)\b(?:\s+(?:for|about|around))?", re.IGNORECASE)
AFTER_DELAY_RE = re.compile(rf"^(?:and\s+|then\s+)*(?:after|in)\s+(?:another\s+)?(?P<span>{NUMBER}\s*\w+|half an hour|an?\s+(?:minute|hour|day|week|month)),?\s+(?P<rest>.+)$|"
                            rf"^(?:and\s+|then\s+)*(?P<span2>(?:{NUMBER}|an?|another)\s+\w+)\s+(?:later|after\s+that|afterwards|on)\b,?\s+(?P<rest2>.+)$",
                            re.IGNORECASE)
# "3 days later send ...", "a week after that ask ...": a wait, then the step
_LATER_RE = re.compile(r"\b((?:a|an|one|another|\d+|two|three|four|five|six|seven|ten|twelve|fifteen|twenty|thirty)\s+"
                       r"(?:seconds?|minutes?|mins?|hours?|days?|weeks?|months?))\s+(?:after\s+that|afterwards|later)\b,?", re.I)


@dataclass
class Item:
    """One node of the request's shape."""

    kind: str  # action | delay | condition | switch | loop | parallel | merge | retry | failure
    text: str = ""
    seconds: float | None = None
    count: int | None = None
    then: list[Item] = field(default_factory=list)
    otherwise: list[Item] = field(default_factory=list)
    cases: list[tuple[str, list[Item]]] = field(default_factory=list)
    negate: bool = False
    concurrency: int | None = None


def sentences(text: str) -> list[str]:
    """Split on sentence ends, semicolons before a new clause, line breaks and list markers."""
    # inline lists: "1) fetch ... 2) summarize ...", ": - save ... - post ..."
    if len(re.findall(r"(?:^|\s)\d[.)]\s", text)) >= 2:
        text = re.sub(r"(?:^|\s)\d[.)]\s+", "\n", text)
    if len(re.findall(r"(?:^|[\s:])[-•*]\s+(?=[A-Za-z])", text)) >= 2:
        text = re.sub(r"(?:^|(?<=[\s:]))[-•*]\s+(?=[A-Za-z])", "\n", text)
    text = re.sub(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+", "\n", text)
    text = _model_as_subject(_arrows_as_steps(text))
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Za-z⟦]|\w{1,20}\s*→)|\n+|;\s+(?=(?:then|and then|after that|finally|next)\b)", text)
    return [p.strip().rstrip(".!") for p in parts if p and p.strip().rstrip(".!")]


_ARROW_RE = re.compile(r"\s*(?:→|->|=>)\s*")
_LABEL_SEGMENT_RE = re.compile(r"^\s*(?:[-*•]\s*)?(?:['\"]?[\w-]+(?:\s+[\w-]+){0,2}['\"]?|⟦\d+⟧|(?:anything|everything|something|all)\s+else|the\s+rest|others?"
                               r"|any\s+other\s+\w+|other\s+\w+|unknown(?:\s+\w+)?|default)\s*$", re.I)
_COMPARISON_RE = re.compile(r"(?:[<>]=?|!=|==|≥|≤)\s*[\d.]|\?\s*$|\b(?:not\s+)?\d{3}\b\s*\??\s*$")


_CASE_WORDS = frozenset({"anything", "everything", "something", "all", "the", "any", "other", "unknown"})


def _is_label(segment: str, *, listed: bool) -> bool:
    """A routing case's value before an arrow: one word, or up to three after a list separator
    ('..., feature request → ...'), never a verb phrase ('wait 1 hour → ...')."""
    if not _LABEL_SEGMENT_RE.match(segment) or re.match(rf"^\s*(?:[-*•]\s*)?(?:{ACTION_VERBS})\b", segment, re.I):
        return False
    words = re.sub(r"^\s*[-*•]\s*", "", segment).split()
    return listed or len(words) == 1 or words[0].lower() in _CASE_WORDS


def _arrows_as_steps(text: str) -> str:
    """'webhook -> wait 1 hour -> email the guest' reads as steps in order ('..., then ...').

    An arrow after a single value ('emea -> email ...', 'everything else -> #ops') is a routing
    case and stays; a test before an arrow ('not 200? -> ...', 'rate >= 0.05 -> ...') becomes
    'if <test>, ...'.
    """
    out: list[str] = []
    for line in text.split("\n"):
        pieces = _ARROW_RE.split(line)
        if len(pieces) == 1:
            out.append(line)
            continue
        built = pieces[0]
        for left, right in zip(pieces, pieces[1:], strict=False):
            parts = re.split(r"[,;:]\s*|(?<=[.!?])\s+", left)
            segment = parts[-1]
            if _is_label(segment, listed=len(parts) > 1 or bool(re.match(r"^\s*[-*•]", segment))):
                built += " → " + right
            elif _COMPARISON_RE.search(segment) and not re.match(r"^\s*(?:if|when|unless)\b", segment, re.I):
                head = built[: len(built) - len(segment)]
                built = f"{head}if {segment.strip().rstrip('?').strip()}, {right}"
            else:
                built += ", then " + right
        out.append(built)
    return "\n".join(out)


def split_actions(text: str) -> list[str]:
    """Split a clause list on 'then', ', and <verb>', 'after that' (never inside a value)."""
    text = _LATER_RE.sub(lambda m: f"then {m.group(1)} later", text)
    text = re.sub(r"\b(?:and\s+)?then\s+then\b", "then", text, flags=re.I)
    parts = re.split(r"\s*(?:,|;)?\s*\b(?:and\s+then|then|after\s+that|afterwards|finally|next|and\s+finally)\b,?\s+|\s*;\s*", text,
                     flags=re.IGNORECASE)
    out: list[str] = []
    for part in parts:
        if not part.strip():
            continue
        pieces = re.split(rf"\s*,\s*(?:and\s+)?(?=(?:also\s+)?(?:{ACTION_VERBS})(?:s|es)?\b{_NOT_VERB})|\s+and\s+(?=(?:also\s+)?(?:{ACTION_VERBS})(?:s|es)?\b{_NOT_VERB})"
                          r"|\s*,\s*(?:and\s+)?(?=(?:the|its|their)\s+[\w ]{1,25}?\s+(?:is|are|gets|get)\s+\w+ed\b)"
                          r"|\s*,\s*(?:and\s+)?(?=(?:have|let|use|ask|get)\s+(?:the\s+)?(?:ai|llm|model)\b)", part,
                          flags=re.IGNORECASE)
        out.extend(p.strip(" ,") for p in pieces if p and p.strip(" ,"))
    for i in range(1, len(out)):
        if re.fullmatch(r"⟦\d+⟧", out[i].strip()):
            verb = re.match(rf"^(?:(?:also|then|and)\s+)*((?:{ACTION_VERBS})\b)", out[i - 1], re.I)
            if verb:
                out[i] = f"{verb.group(1)} {out[i].strip()}"
    merged: list[str] = []
    for piece in out:
        # "post it and the summary" would be one action; keep pieces that start with a verb
        if merged and not _VERB_START.search(piece) and not re.match(r"^(if|when|for|unless|otherwise|else|wait|after|retry)\b", piece, re.I) \
                and not AFTER_DELAY_RE.match(piece) \
                and not re.match(r"^(?:the|its|their)\s+[\w ]{1,25}?\s+(?:is|are|gets|get)\s+\w+ed\b|^(?:have|let|use|ask)\s+(?:the\s+)?ai\b", piece, re.I):
            merged[-1] = f"{merged[-1]} and {piece}"
        else:
            merged.append(piece)
    return merged


def parse(text: str) -> list[Item]:
    """The request body (trigger phrases already removed) as a list of items."""
    parts = sentences(text)
    # "For 'a' do X; for 'b' do Y." written as separate sentences: one routing sentence
    merged: list[str] = []
    for part in parts:
        if merged and re.match(r"^(?:for|if it(?:'s| is))\s+⟦\d+⟧", part, re.I) and re.match(r"^(?:for|if it(?:'s| is))\s+⟦\d+⟧", merged[-1], re.I):
            merged[-1] = f"{merged[-1]}; {part}"
        elif merged and re.match(r"^(?:otherwise|else|if not|or else|in all other cases)\b", part, re.I) \
                and re.match(r"^(?:if|when|in case)\b", merged[-1], re.I) and not ELSE_RE.search(merged[-1]):
            merged[-1] = f"{merged[-1].rstrip('.!')}, {part[0].lower()}{part[1:]}"  # "If ... . Otherwise ...": one condition
        else:
            merged.append(part)
    from app.copilot.nlu.routing import arrow_runs  # builds on this module

    parsed = [(sentence, items if items is not None else parse_sentence(sentence)) for sentence, items in arrow_runs(merged)]
    return _resolve_checks(_loop_bodies(parsed))


# "when all partners are done, post ...", "at the very end, log ...": the end of a loop's body
AFTER_ALL_RE = re.compile(
    r"^(?:and\s+|then\s+)?(?:(?:when|once|after)\s+(?:all|every(?:thing|one|\s+\w+)|they|them|the\s+loop|(?:all\s+)?(?:the\s+)?\w+)\b[^,]{0,40}?"
    r"\b(?:are|is|have|has)?\s*(?:been\s+)?(?:done|finished|processed|completed?|over|through|sent|handled|checked)\b\s*,?\s*"
    r"|(?:and\s+)?at\s+the\s+(?:very\s+)?end\b\s*,?\s*(?:of\s+(?:it|the\s+loop|everything)\s*,?\s*)?|after\s+the\s+loop\s*,?\s*)",
    re.IGNORECASE)


def _loop_bodies(parsed: list[tuple[str, list[Item]]]) -> list[Item]:
    """Sentences after a loop that belong to its body.

    A sentence naming the loop's item ('if the ping for a partner fails, ...' after 'for each
    partner, ...') is part of the body; so is every sentence up to a closing one ('when all are
    done, log ...', 'at the end, ...'), which then runs after the loop.
    """
    out: list[Item] = []
    open_loop: Item | None = None
    for index, (sentence, items) in enumerate(parsed):
        closing = AFTER_ALL_RE.match(sentence)
        if open_loop is not None and closing:
            open_loop = None
            out.extend(parse_sentence(sentence[closing.end():]))
            continue
        if open_loop is not None and items and (
                any(AFTER_ALL_RE.match(later) for later, _ in parsed[index + 1:]) or _names_item(sentence, open_loop.text)):
            open_loop.then.extend(items)
            continue
        out.extend(items)
        open_loop = items[-1] if items and items[-1].kind == "loop" and items[-1].then else None
    return out


def _names_item(sentence: str, noun: str) -> bool:
    """'the ping for a partner', 'that customer': the sentence speaks of one item of the loop."""
    word = (noun or "").split()[-1].lower() if noun else ""
    if not word or word in ("item", "one", "them"):
        return False
    singular = word[:-1] if word.endswith("s") and not word.endswith("ss") else word
    return bool(re.search(rf"\b(?:the|a|an|that|this|each|every|its|their)\s+{re.escape(singular)}\b", sentence, re.I))


def _resolve_checks(items: list[Item]) -> list[Item]:
    """'Check whether the message mentions refund. If it does, ...': the check is the condition."""
    out: list[Item] = []
    for item in items:
        previous = out[-1] if out else None
        check = _CHECK_RE.match(previous.text) if previous is not None and previous.kind == "action" else None
        if check and item.kind == "condition" and re.match(r"^(?:it|they|that|so|yes)\b(?:\s+(?:does|do|is|are|matches|contains|has))?(?:\s+not|n't)?\s*$",
                                                           item.text.strip(), re.I):
            out.pop()
            negate = bool(re.search(r"\bnot\b|n't", item.text))
            out.append(Item("condition", text=check.group(1), then=item.then, otherwise=item.otherwise, negate=negate))
            continue
        subject = re.match(r"^(?:that\s+)?((?:the\s+|its\s+|their\s+)?[a-z_]\w*(?:\s+[a-z_]\w*)?)\s+(?:is|isn't|is not|are|aren't|has|hasn't|contains|was)\b",
                           check.group(1), re.I) if check else None
        pronoun = re.match(r"^(?:it|they|that)(?:'s|\s+is|\s+are|\s+isn't|\s+has|\s+contains|\s+was)\b", item.text.strip(), re.I)
        if subject and pronoun and item.kind == "condition":
            # "Check the email isn't empty. If it's empty, ...": the check names what "it" is
            out.pop()
            rest = item.text.strip()[pronoun.end():]
            verb = pronoun.group(0).split("'")[-1].split()[-1] if "'" not in pronoun.group(0) else "is"
            item = Item("condition", text=f"{subject.group(1)} {verb}{rest}", then=item.then, otherwise=item.otherwise,
                        negate=item.negate)
        out.append(item)
    return out


_CHECK_RE = re.compile(r"^(?:and\s+|first\s*,?\s+|then\s+)*(?:check|see|find out|determine|test|verify|make sure|ensure|confirm)\s+"
                       r"(?:whether\s+|if\s+|that\s+)?(.+)$", re.I)


def parse_sentence(sentence: str) -> list[Item]:
    from app.copilot.nlu.routing import _multi_if_switch, _switch, value_cases  # builds on this module

    sentence = sentence.strip().strip(",").strip()
    if not sentence:
        return []
    if m := SWITCH_HEAD_RE.search(sentence):
        head = sentence[:m.start()].strip(" ,")
        field_text = (m.group(1) or m.group(3) or m.group(5) or "").strip()
        cases_text = m.group(2) or m.group(4) or m.group(6) or ""
        switch = _switch(field_text, cases_text)
        if switch is not None:
            loop = LOOP_RE.search(head)
            if loop and not head[loop.end():].strip(" ,"):
                outer = parse_clauses(head[:loop.start()]) if head[:loop.start()].strip(" ,;") else []
                looped = _loop((loop.group(1) or "item").strip(), "")
                looped.then = [switch]
                return [*outer, looped]
            before = parse_clauses(head) if head and not re.match(r"^(route|send|sort|split|handle|switch|branch)\b", head, re.I) else []
            return [*before, switch]
    multi_if = _multi_if_switch(sentence)
    if multi_if is not None:
        return [multi_if]
    cases = value_cases(sentence)
    if cases is not None:
        return cases.then if cases.kind == "sequence" else [cases]
    return parse_clauses(sentence)


_AI_PREFIX_RE = re.compile(
    r"^(?:(?:and|then|also)\s+)*(?:(?:the|an?)\s+(?:ai|llm|model)(?=\s+\w+s\b)|use\s+(?:the\s+)?(?:ai|an?\s+llm|the\s+model|a\s+model)\s+to|have\s+(?:the\s+)?(?:ai|an?\s+llm|model)|"
    r"ask\s+(?:the\s+)?(?:ai|model)\s+to|let\s+(?:the\s+)?(?:ai|model)|get\s+(?:the\s+)?(?:ai|model)\s+to|with\s+ai,?)\s+", re.I)


def parse_clauses(text: str) -> list[Item]:
    text = text.strip().strip(",:").strip()
    text = re.sub(r"^(?:given|taking|with)\s+(?:a|an|the)\s+[\w ]{1,40}?\s+as\s+(?:the\s+)?input\s*,\s*", "", text, flags=re.I)
    text = re.sub(r"^(?:i\s+(?:want|need|would like)\s+to|i'd\s+like\s+to|please|can\s+you|could\s+you)\s+", "", text, flags=re.I)
    text = re.sub(r"^get\s+(?=an?\s+(?:e-?mail|slack message|message)\b)", "send me ", text, flags=re.I)
    text = _AI_PREFIX_RE.sub("", text)
    # "when all are saved, post ...": plain sequencing, not a condition
    text = re.sub(r"^(?:and\s+)?(?:when|once|after)\s+(?:all|everything|they|it|that|this|each one|all of them|the loop)\s+"
                  r"(?:are|is|has been|have been|were|was|has|have)?\s*(?:been\s+)?(?:saved|done|finished|complete|completed|processed|stored|"
                  r"inserted|sent|imported|over|through)\s*,?\s*", "", text, flags=re.I)
    # passive voice: "the result is saved in the table X" → "save the result in the table X"
    if m := re.match(r"^(?:and\s+)?((?:the|its|their|this|that)\s+[\w ]{1,30}?)\s+(?:is|are|gets|get|will be)\s+"
                     r"(saved|stored|logged|posted|sent|emailed|inserted|added|written|uploaded|forwarded|archived)\b\s*(.*)$", text, re.I):
        stem = {"saved": "save", "stored": "store", "logged": "log", "posted": "post", "sent": "send", "emailed": "email",
                "inserted": "insert", "added": "add", "written": "write", "uploaded": "upload", "forwarded": "forward",
                "archived": "archive"}[m.group(2).lower()]
        text = f"{stem} {m.group(1)} {m.group(3)}".strip()
    if not text:
        return []
    if ";" in text:
        # semicolons separate clauses; "otherwise ..." stays with the "if" it answers
        parts: list[str] = []
        for part in (p.strip() for p in text.split(";")):
            if parts and re.match(r"^(?:and\s+)?(?:otherwise|else|if not|or else)\b", part, re.I):
                parts[-1] = f"{parts[-1]}, {part}"
            elif part:
                parts.append(part)
        if len(parts) > 1:
            return [item for part in parts for item in parse_clauses(part)]
    # "whether or not that works, continue": failures of the step before are ignored
    if m := re.search(r"\b(?:whether or not (?:that|it|this) (?:works|succeeds|fails)|even if (?:it|that|this) fails|regardless of (?:the )?(?:result|outcome)|"
                      r"no matter (?:what|the result)|ignor(?:e|ing) (?:any )?(?:errors|failures)|(?:and\s+)?continue (?:even )?(?:on|if|after) (?:errors?|failures?))\b,?\s*"
                      r"(?:(?:just\s+)?continue\s*(?:and|,|then)?\s*)?", text, re.I):
        before, after = text[:m.start()].strip(" ,"), text[m.end():].strip(" ,")
        return [*(parse_clauses(before) if before else []), Item("continue"), *(parse_clauses(after) if after else [])]
    # "ask for approval", "ask me before ...": an approval guardrail the person wants
    # ("if the amount is over 5000, ask for approval and then ...": the condition comes first)
    if not (CONDITION_RE.match(text) and re.search(r",", text)) and (m := re.search(r"\b(?:ask|wait)\s+(?:me\s+|us\s+|a\s+manager\s+|someone\s+)?for\s+(?:an?\s+)?(?:approval|sign-?off|confirmation)\b|"
                      r"\b(?:get|require|needs?)\s+(?:an?\s+|manager\s+|my\s+)?(?:approval|sign-?off)\b|\bask\s+me\s+(?:first|before)\b|"
                      r"\blet\s+me\s+approve\b|\bafter\s+(?:manager\s+|my\s+)?approval\b", text, re.I)):
        before, after = text[:m.start()].strip(" ,"), text[m.end():].strip(" ,")
        after = re.sub(r"^(?:and\s+)?(?:then\s+)?(?:it\s+|that\s+)?", "", after, flags=re.I)
        after = re.sub(r"^(?:before\s+)", "", after, flags=re.I)
        return [*(parse_clauses(before) if before else []), Item("approval", text=m.group(0)), *(parse_clauses(after) if after else [])]
    # failure path: "if it still fails, email ops"
    if m := FAILURE_RE.search(text):
        before, after = text[:m.start()].strip(" ,"), text[m.end():].strip(" ,")
        after = re.sub(r"^(?:then|,)\s*", "", after)
        items = parse_clauses(before) if before else []
        if count := re.search(r"\bafter\s+(\d+)\s+(?:retries|attempts|tries)\b", m.group(0), re.I):
            items.append(Item("retry", count=int(count.group(1)), text=m.group(0)))
        handler = parse_clauses(after)
        if handler and all(h.kind == "retry" for h in handler):
            return [*items, *handler]  # "if it fails, retry 3 times": a retry policy, not a failure path
        return [*items, Item("failure", text=m.group(0), then=handler)]
    # retries anywhere in the clause
    if m := RETRY_RE.search(text):
        groups = m.groups()
        words = {"once": 1, "twice": 2, "thrice": 3}
        tries: int = next((words[g.lower()] if g.lower() in words else to_int(g) for g in groups if g and g.strip().lower() != "more"), 3)
        if re.search(r"\bmore\b", m.group(0), re.I) or re.search(r"\b(?:once|twice|thrice|\d+\s+times)\s+more\b", m.group(0), re.I):
            tries += 1  # "retry twice more": the first attempt plus two
        retry_text = m.group(0)
        rest = (text[:m.start()] + " " + text[m.end():]).strip(" ,")
        if gap := _RETRY_GAP_RE.search(rest):
            retry_text = f"{retry_text} {gap.group(0).strip()}"  # "..., with 30s between tries"
            rest = (rest[:gap.start()] + " " + rest[gap.end():]).strip(" ,")
        rest = re.sub(r"\s*,?\s*\b(and|but)\s*$", "", rest).strip(" ,")
        items = parse_clauses(rest) if rest else []
        return [*items, Item("retry", count=tries, text=retry_text)]
    # loop: "for each customer, send ..."
    loop = LOOP_RE.search(text)
    if loop and (loop.start() == 0 or re.search(r"(,|\band\b|\bthen\b|:)\s*$", text[:loop.start()])):
        before = text[:loop.start()].strip(" ,:")
        before = re.sub(r"\s*\b(and|then)\s*$", "", before)
        body = text[loop.end():].strip(" ,")
        noun = (loop.group(1) or "item").strip()
        source: list[Item] = []
        # "for each URL in the datastore table monitored_sites": read the table first
        if m := re.match(r"^(?:in|from|of)\s+(?:the\s+)?((?:datastore\s+|database\s+)?table\s+\w+|\w+\s+(?:datastore\s+)?table)\s*,?\s*", body, re.I):
            source = [Item("action", text=f"read all rows from the {m.group(1)}")]
            body = body[m.end():]
        elif m := _LOOP_URL_RE.match(body):
            # "for every user returned by GET <url>, email them": fetch the list first
            source = [Item("action", text=f"fetch the {noun} from {m.group(1)}")]
            body = body[m.end():]
        elif m := re.match(r"^(?:in|from|of)\s+(?:the\s+)?(?:webhook\s+|request\s+)?(?:payload|body|request|data)(?:'s)?\s+(\w+)(?:\s+(?:list|array|field))?\s*,?\s*",
                           body, re.I):
            item = _loop(noun, body[m.end():])
            item.text = f"{noun}|trigger.body.{m.group(1)}"
            return [*(parse_clauses(before) if before else []), item]
        body = re.sub(r"^(?:in\s+(?:it|them|the\s+\w+)|from\s+(?:it|them|the\s+\w+(?:\s+\w+)?)|of\s+them)\s*,?\s*", "", body, flags=re.I)
        if body.lower().startswith(noun.lower()):
            body = body[len(noun):].strip(" ,")
        return [*(parse_clauses(before) if before else []), *source, _loop(noun, body)]
    # "check up to 5 sites at the same time": the loop before runs that many at once
    if m := re.match(rf"^(?:and\s+)?(?:\w+\s+)?(?:up\s+to\s+|at\s+most\s+|a\s+maximum\s+of\s+|max(?:imum)?\s+)?{NUMBER}\s+(?:\w+\s+)?"
                     r"(?:at the same time|at once|in parallel|concurrently|simultaneously)\s*$", text, re.I):
        return [Item("concurrency", count=to_int(m.group(1)))]
    # condition first: "if the total is over 1000, email ... otherwise ..."
    if m := CONDITION_RE.match(text):
        rest = m.group(1)
        split = re.search(r",\s*(?:then\s+)?|\s+then\s+", rest)
        verb = re.search(rf"\s+(?=(?:also\s+)?(?:{ACTION_VERBS})\b{_NOT_VERB})", rest)
        if verb and verb.start() > 3 and (split is None or verb.start() < split.start()) and _looks_like_condition(rest[:verb.start()]):
            split = verb
        if split:
            condition, action = rest[:split.start()], rest[split.end():]
            otherwise = ELSE_RE.search(action)
            then_text, else_text = (action[:otherwise.start()], action[otherwise.end():]) if otherwise else (action, "")
            return [Item("condition", text=condition.strip(), then=parse_clauses(then_text),
                         otherwise=parse_clauses(else_text) if else_text else [])]
    # "check X and if the status is not ok, email Y": the condition starts a new clause
    if m := re.match(rf"^(.+?)(?:\s*,\s*|\s+)(?:and\s*,?\s+|then\s*,?\s+)+(?=(?:only\s+)?(?:if|when)\s+(?:[^,]{{3,80}},\s*\S|[^,]{{3,80}}?\s(?:{ACTION_VERBS})\b))",
                     text, re.I):
        if _VERB_START.search(m.group(1)):
            return [*parse_clauses(m.group(1)), *parse_clauses(text[m.end():])]
    # "check the site, if it is not 200 post to #ops": a step, then a condition with its own action
    if (m := POSTFIX_IF_RE.match(text)) and m.group(2).lower() in ("if", "unless") and _VERB_START.search(m.group(1)) \
            and _leads_an_action(m.group(3)) and not FAILURE_RE.search(text):
        return [*parse_clauses(m.group(1)), *parse_clauses(f"{m.group(2)} {m.group(3)}")]
    # "post it to #sales only if it is urgent"
    if (m := POSTFIX_IF_RE.match(text)) and not FAILURE_RE.search(text):
        otherwise = ELSE_RE.search(m.group(3))
        condition = m.group(3)[:otherwise.start()] if otherwise else m.group(3)
        else_text = m.group(3)[otherwise.end():] if otherwise else ""
        if _looks_like_condition(condition):
            actions = split_actions(m.group(1))
            first = [item for action in actions[:-1] for item in parse_clauses(action)]
            return [*first, Item("condition", text=condition.strip(), then=parse_clauses(actions[-1] if actions else m.group(1)),
                                 otherwise=parse_clauses(else_text) if else_text else [], negate=m.group(2).lower() == "unless")]
    # delay: "wait 2 days", "after 2 hours, send ..."
    if m := AFTER_DELAY_RE.match(text):
        span_text = m.group("span") or m.group("span2")
        duration = parse_duration(span_text)
        if duration:
            return [Item("delay", seconds=duration[0], text=span_text), *parse_clauses(m.group("rest") or m.group("rest2"))]
    if DELAY_RE.match(text):
        duration = parse_duration(text)
        if duration:
            rest = text[duration[1][1]:].strip(" ,")
            rest = re.sub(r"^(?:and\s+|then\s+|before\s+|,)+", "", rest, flags=re.I)
            return [Item("delay", seconds=duration[0], text=text[:duration[1][1]]), *parse_clauses(rest)]
    # parallel work: "fetch A and B at the same time, then combine them"
    if PARALLEL_RE.search(text) and re.search(r"\b(in parallel|at the same time|simultaneously|concurrently)\b", text, re.I):
        return _parallel(text)
    actions = split_actions(text)
    if len(actions) > 1:
        out: list[Item] = []
        for action in actions:
            out.extend(parse_clauses(action))
        return out
    if re.search(r"\b(?:whichever|whatever|the first (?:one|to))\s+(?:\w+\s+)?(?:answers|responds|returns|comes back|finishes|arrives)\s+first\b|\bfirst (?:one )?to (?:answer|respond|return)\b", text, re.I):
        rest = re.sub(r"^.*?\bfirst\b\s*,?\s*", "", text, flags=re.I)
        return [Item("merge", text="first"), *(parse_clauses(rest) if rest and _VERB_START.search(rest) else [])]
    if COMBINE_RE.search(text):
        rest = _strip_combine(text)
        return [Item("merge"), *(parse_clauses(rest) if rest and _VERB_START.search(rest) else [])]
    # "POST them to X in batches of 100", "post each item one by one", "one message per region": a loop
    batch = BATCH_RE.search(text)
    one_by_one = re.search(r"\s*\b(?:one by one|one at a time|individually|separately)\b", text, re.I)
    per = re.search(r"\b(?:one\s+(?:\w+\s+){0,2})?per\s+([a-z][\w-]*)\b", text, re.I)
    if (batch or one_by_one or per) and _VERB_START.search(text) and not LOOP_RE.search(text):
        body, noun = text, "item"
        if per and not batch:
            noun = per.group(1)
            body = (text[:per.start()] + text[per.end():]).strip()
            body = re.sub(r"\b(post|send)\s+(?:a\s+|one\s+)?(?:slack\s+)?message\b", r"\1", body, flags=re.I)
        elif one_by_one:
            body = (text[:one_by_one.start()] + text[one_by_one.end():]).strip()
        if not per or batch:
            if each_word := re.search(r"\b(?:each|every)\s+(?!one\b)([a-z][\w-]*)", body, re.I):
                noun = each_word.group(1)
                body = (body[:each_word.start()] + "it" + body[each_word.end():]).strip()
        return [_loop(noun, re.sub(r"\s{2,}", " ", body))]
    if (them := re.search(r"\s*\b(?:to\s+)?(?:each|every)\s+(?:one\s+)?of\s+them\b", text, re.I)) and _VERB_START.search(text) \
            and not LOOP_RE.search(text):
        # "send a welcome email to each of them": one step per item of what came before
        to = "to them" if them.group(0).strip().lower().startswith("to ") else "them"
        return [_loop("one", re.sub(r"\s{2,}", " ", f"{text[:them.start()]} {to} {text[them.end():]}").strip())]
    if m := _AGGREGATE_RE.search(text):
        # "add up the price of each item": one sum over the list, not a loop
        func = {"add": "sum", "sum": "sum", "total": "sum", "tally": "sum", "count": "count", "average": "average",
                "averag": "average"}.get(m.group("verb").lower().rstrip("e"), "sum")
        container = _singular_word(m.group("container").split()[-1])
        aggregate = f"compute the {func} of the {container} {_singular_word(m.group('field'))}"
        before, after = text[:m.start()].strip(" ,"), text[m.end():].strip(" ,")
        after = re.sub(r"^(?:and\s+|then\s+)+", "", after, flags=re.I)
        return [*(parse_clauses(before) if before else []), Item("action", text=aggregate),
                *(parse_clauses(after) if after else [])]
    each = EACH_RE.search(text)
    if each and _VERB_START.search(text) and not re.search(r"\beach\s+(?:of\s+)?(?:them|time)\b", text, re.I):
        # "send each customer an email", "email every new lead"
        noun = each.group(1)
        after = text[each.end():]
        if _EVENT_RE.match(after):
            # "store every signup from the webhook": each call of the trigger, not a list
            return [Item("action", text=(text[:each.start()] + "the " + noun + after).strip())]
        source = []
        # "classify each row in the datastore table tickets ...": read the table first
        writes = re.match(r"^(?:and\s+|then\s+)*(?:save|store|insert|add|write|upsert|append|record|put|log|keep)\b", text, re.I)
        if not writes and (m := re.match(r"^\s*(?:in|from|of)\s+(?:the\s+)?((?:datastore\s+|database\s+)?table\s+\w+|\w+\s+(?:datastore\s+)?table)\b",
                                         after, re.I)):
            source = [Item("action", text=f"read all rows from the {m.group(1)}")]
            after = after[m.end():]
        body = (text[:each.start()] + after).replace("  ", " ").strip()
        return [*source, _loop(noun, body)]
    return [Item("action", text=text)]


_AGGREGATE_RE = re.compile(r"\b(?P<verb>add|sum|total|tally|count|average)(?:\s+up)?\s+(?:the\s+|all\s+(?:the\s+)?)?(?P<field>[a-z_]\w*)\s+"
                           r"(?:of|for|across|from|on|in)\s+(?:each|every|all(?:\s+(?:of\s+)?the)?|the)\s+(?P<container>[a-z_]\w*(?:\s+[a-z_]\w*)?)\b",
                           re.I)


def _singular_word(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


_RETRY_GAP_RE = re.compile(r"(?:^|,|\band\b|\bwith\b|\bwaiting\b|\s)\s*(?:an?\s+)?(?:fixed\s+|constant\s+|exponential\s+)?"
                           r"\d+(?:\.\d+)?\s*-?\s*(?:seconds?|secs?|s|minutes?|mins?|m)\b\s*(?:wait|delay|pause|gap|backoff)?s?\s*"
                           r"(?:(?:in\s+)?between|apart|after\s+each)\s*(?:each\s+|the\s+)?(?:tries|try|attempts?|retries|retry|them|failures?)?\b|"
                           r"(?:,|\band\b|\bwith\b)?\s*(?:wait(?:ing)?|pause|sleep)\s+\d+(?:\.\d+)?\s*-?\s*(?:seconds?|secs?|s|minutes?|mins?|m)\b"
                           r"\s*(?:(?:in\s+)?between|before\s+(?:each|the\s+next)|after\s+each)\s*(?:each\s+|the\s+)?(?:tries|try|attempts?|retries|retry|one)?\b",
                           re.I)
_EVENT_RE = re.compile(r"^\s*(?:(?:from|via|through|on|in|sent\s+to|posted\s+to)\s+(?:the\s+|our\s+|a\s+|this\s+|my\s+)?(?:[\w-]+\s+)?"
                       r"(?:webhook|hook|form|endpoint)\b|(?:that|which)?\s*(?:arrives?|comes?\s+in|we\s+(?:get|receive)|"
                       r"(?:is|gets?)\s+(?:received|submitted|posted|sent\s+in)|hits?\s+(?:the|our)\s+(?:webhook|endpoint))\b)", re.I)
_LOOP_URL_RE = re.compile(r"^(?:(?:that\s+(?:are\s+|were\s+)?)?(?:returned|listed|given|sent\s+back|served)\s+(?:by|from|at)\s+|from\s+|at\s+|in\s+)"
                          r"(?:(?:a|the)\s+)?(?:GET\s+|calling\s+|the\s+(?:api|endpoint|url)\s+|api\s+|endpoint\s+)?(⟦\d+⟧)\s*,?\s*", re.I)


def _loop(noun: str, body: str) -> Item:
    # "for every account with a balance over 100, email ...": a filter inside the body
    # "if the priority is high, post it to #support, otherwise ...": a full condition, not a filter
    full_if = re.match(r"^(?:if|when)\s+", body.strip(), re.I) and (
        ELSE_RE.search(body) or re.match(rf"^(?:if|when)\s+[^,]+?\s(?:{ACTION_VERBS})\b{_NOT_VERB}", body.strip(), re.I))
    if not full_if and (m := re.match(r"^((?:with|whose|where|that has|that have|having|if)\s+.+?|(?:over|above|under|below|more than|less than|worth)\s+[^,]+?),\s*(.+)$",
                                      body.strip(), re.I)):
        condition_text = re.sub(r"^(?:with|whose|where|that has|that have|having|if)\s+", "", m.group(1), flags=re.I)
        if re.match(r"^(?:over|above|under|below|more than|less than|worth)\b", condition_text, re.I):
            money = "total" if noun.lower().rstrip("s") in ("order", "invoice", "cart", "purchase", "sale") else "amount"
            condition_text = f"the {money} is {condition_text}"
        if not _looks_like_condition(condition_text) and re.fullmatch(r"(?:a\s+|an\s+)?[a-z_]\w*\s+['\"]?[\w-]+['\"]?|(?:a\s+|an\s+)?[a-z_]\w*\s+of\s+['\"]?[\w-]+['\"]?",
                                                                  condition_text.strip(), re.I):
            field, value = re.sub(r"^(?:a|an)\s+", "", condition_text.strip()).replace(" of ", " ").split(None, 1)
            condition_text = f"{field} is {value}"
        if _looks_like_condition(condition_text):
            m = re.match(r"^(.*)$", f"{condition_text},{m.group(2)}")
            assert m is not None
            condition_text, rest = m.group(1).split(",", 1)
            item = _loop(noun, "")
            item.then = [Item("condition", text=condition_text.strip(), then=parse_sentence(rest.strip()))]
            return item
    batch = BATCH_RE.search(body) or BATCH_RE.search(noun)
    count = None
    concurrency = None
    if batch:
        count = next((to_int(g) for g in batch.groups() if g), None)
        body = (body[:batch.start()] + body[batch.end():]).strip(" ,:") if BATCH_RE.search(body) else body
    if conc := CONCURRENCY_RE.search(body):
        concurrency = to_int(conc.group(1))
        body = (body[:conc.start()] + body[conc.end():]).strip(" ,:")
    return Item("loop", text=noun, count=count, concurrency=concurrency, then=parse_sentence(body) if body else [])


def _leads_an_action(condition: str) -> bool:
    """'it is not 200, post to #ops' / 'not 200 post to #ops': a test followed by what to do."""
    verb = re.search(rf"(?:\s*,\s*(?:then\s+)?|\s+then\s+|\s+)(?=(?:{ACTION_VERBS})\b{_NOT_VERB})", condition, re.I)
    return verb is not None and verb.start() > 1 and _looks_like_condition(condition[:verb.start()]) \
        and not ELSE_RE.search(condition[:verb.start()] + " ")


def _looks_like_condition(text: str) -> bool:
    return bool(re.search(r"\b(is|are|was|has|have|exceeds?|contains?|over|above|under|below|more|less|fewer|greater|equals?|remains?|left|least|most|"
                          r"matches|starts|ends|empty|true|false|positive|negative|urgent|high|low|not|>|<|=)\b|[<>=]", text, re.I))


def _parallel(text: str) -> list[Item]:
    marker = re.compile(r"\s*,?\s*\b(?:all\s+)?(?:at the same time|in parallel|simultaneously|concurrently|at once)\b\s*,?\s*", re.I)
    cleaned = re.sub(r"\s*,\s*,\s*", ", ", marker.sub(", ", text)).strip(" ,")
    # the parallel part ends at "then" / "and combine" / "and continue with"; the rest follows the merge
    m = re.search(r"\s*(?:,\s*)?\b(?:and\s+then|then|and\s+(?=(?:combine|merge|join|continue|wait for)\b))\b\s*|\s*,\s*(?=(?:combine|merge|join|continue)\b)"
                  r"|\s*,?\s*\band\s+(?=(?:e-?mail|post|send|save|store|log|notify|write|insert|upload|summari[sz]e|report)\b)",
                  cleaned, re.I)
    parallel_part, rest = (cleaned[:m.start()], cleaned[m.end():]) if m else (cleaned, "")
    branches = _branches(parallel_part)
    if len(branches) < 2:
        return [Item("action", text=cleaned)]
    items = [Item("parallel", then=[item for b in branches for item in parse_clauses(b)])]
    rest = rest.strip(" ,")
    if rest:
        first = re.match(r"^(?:and\s+)?continue\s+with\s+(?:whichever|whatever|the first)\b[^,;]*?\bfirst\b\s*[,;]?\s*", rest, re.I)
        if first:
            items.append(Item("merge", text="first"))
            rest = rest[first.end():]
        elif COMBINE_RE.search(rest):
            items.append(Item("merge"))
            rest = _strip_combine(rest)
        else:
            items.append(Item("merge"))  # what follows uses every branch's result
        if rest:
            items.extend(parse_clauses(rest))
    return items


def _strip_combine(text: str) -> str:
    return re.sub(r"^(?:and\s+|then\s+)*(?:combine|merge|join|aggregate)\s*(?:them|the results|both|everything|it all|"
                  r"the\s+(?:\w+\s+)?(?:results|responses|data|outputs|three|two|four|sources|lists|answers))?\s*"
                  r"(?:together|into one)?\s*,?\s*(?:and\s+|then\s+)?(?:into\s+)?", "", text, flags=re.I).strip()


def _branches(text: str) -> list[str]:
    """'fetch orders from A and customers from B' → two fetches sharing the verb; bare URLs each get one."""
    verb = re.match(rf"^(?:(?:also|and)\s+)?((?:{ACTION_VERBS})\b(?:\s+(?:data|the data))?)\s+", text, re.I)
    parts = [p.strip(" ,") for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", text) if p.strip(" ,")]
    if len(parts) < 2:
        return parts
    bare = [p for p in parts if re.fullmatch(r"⟦\d+⟧", p)]
    if len(bare) >= 2:
        intro = next((p for p in parts if p not in bare), "")
        lead = "fetch" if not verb or re.match(r"^(ask|query|check|call|hit|ping)\b", intro, re.I) else verb.group(1)
        first = [intro] if re.search(r"⟦\d+⟧", intro) else []
        return [*first, *(f"{lead} {p}" for p in bare)]
    out = []
    for part in parts:
        if verb and not _VERB_START.search(part):
            part = f"{verb.group(1)} {part}"
        out.append(part)
    return out
