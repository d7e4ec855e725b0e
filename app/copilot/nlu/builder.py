"""Turning the request's tree of items into plan steps: ids, wiring, branches, loops, merges.

``_Builder`` walks ``structure.Item`` trees: each action clause becomes a connector operation
(``actions``: catalog embeddings plus evidence) with its config (``messages``, ``requests``), and
steps are wired in order, through condition and switch branches, loop bodies, parallel branches
and merges, retries and failure paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.copilot.nlu import clauses, judgements, structure, templates
from app.copilot.nlu.actions import MissingValue, choose_operation, object_noun, refine_operation
from app.copilot.nlu.conditions import DataRef, condition_expression, has_data, value_expression
from app.copilot.nlu.entities import Protected, channels, snake
from app.copilot.nlu.messages import Preferences, build_config, step_id_for
from app.copilot.nlu.trigger import TriggerRead
from app.copilot.plan import (
    ActionStep,
    ConditionStep,
    DelayStep,
    GuardrailStep,
    LoopStep,
    MergeStep,
    Question,
    SwitchCaseSpec,
    SwitchStep,
)

Frontier = list[tuple[str, str | None]]
_EXTERNAL = ("http", "email", "slack", "database", "llm")


_SEND_LEAD_RE = re.compile(r"^\s*(?:(?:hi|hello|hallo|hey|ok|so|also|then|and|please|just|could you|can you|would you)\b[\s,!]*)*(?:send|e-?mail|mail|post|share|forward|deliver|report)\b", re.I)


@dataclass
class Request:
    """The request and what the prompt says around it."""

    text: str
    prefs: Preferences = field(default_factory=Preferences)
    today: date | None = None
    allowed_ops: set[str] | None = None


class _Builder:
    def __init__(self, protected: Protected, index: Any, request: Request, trigger: TriggerRead) -> None:
        self.p = protected
        self.index = index
        self.request = request
        self.trigger = trigger
        self.steps: list[Any] = []
        self.ids: set[str] = {"trigger"}
        self.notes: list[str] = []
        self.summary: list[str] = []
        self.last_external: str | None = None
        self.last_step: str | None = None
        self.ai_text: str | None = None  # expression of the latest AI-written text
        self.in_switch = 0  # inside a switch's cases the label is already decided
        self.last_subject: str | None = None  # "if the score is below 5 ...; if it is at least 9 ..."

    # --- ids and emission ---------------------------------------------------------------

    def new_id(self, base: str) -> str:
        base = snake(base, 48) or "step"
        candidate, n = base, 2
        while candidate in self.ids:
            candidate = f"{base}_{n}"
            n += 1
        self.ids.add(candidate)
        return candidate

    def emit(self, step: Any, frontier: Frontier, loop: str | None) -> Frontier:
        if frontier:
            step.after = [sid for sid, _ in frontier]
            branches = [b for _, b in frontier if b is not None]
            step.branch = branches[0] if branches else None
        else:
            step.after = [loop] if loop else ["trigger"]
        step.in_loop = loop
        self.steps.append(step)
        self.last_step = step.id
        return [(step.id, None)]

    # --- walking the tree ---------------------------------------------------------------

    def walk(self, items: list[structure.Item], frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        before_condition: Frontier | None = None
        leaves: Frontier = []
        last_check: str | None = None
        for item in items:
            if item.kind == "action" and last_check is not None and (either := _EITHER_WAY_RE.search(item.text)):
                # "Either way, log the numbers": after the check, on both of its branches
                item = structure.Item("action", text=(item.text[:either.start()] + " " + item.text[either.end():]).strip(" ,."))
                if (last_check, "false") not in frontier and not any(s.branch == "false" and last_check in (s.after or [])
                                                                      for s in self.steps):
                    frontier = [*frontier, (last_check, "false")]
            known = len(self.steps)
            if item.kind == "condition" and before_condition is not None:
                # "if X, do A; if Y, do B": independent checks of the same data
                out, data = self.walk_one(item, before_condition, loop, data)
                leaves.extend(out)
                frontier = leaves
                last_check = None
                continue
            start = frontier
            frontier, data = self.walk_one(item, frontier, loop, data)
            last_check = next((st.id for st in self.steps[known:] if isinstance(st, ConditionStep)), None) \
                if item.kind == "condition" else None
            if item.kind == "condition" and not item.otherwise:
                before_condition, leaves = start, list(frontier)
            else:
                before_condition, leaves = None, []
        return frontier, data

    def walk_one(self, item: structure.Item, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        kind = item.kind
        if kind == "action":
            label = self._label_filter(item.text, data)
            if label is not None:
                # "post negative ones to #care" after a classify step: only for that label
                condition = structure.Item("condition", text=f"it is {label}", then=[structure.Item("raw_action", text=item.text)])
                return self.condition(condition, frontier, loop, data)
            return self.action(item.text, frontier, loop, data)
        if kind == "raw_action":
            return self.action(item.text, frontier, loop, data)
        if kind == "delay":
            seconds = item.seconds or 0
            step: Any = DelayStep(id=self.new_id(f"wait_{_duration_words(seconds)}"), seconds=seconds)
            self.summary.append(f"waits {_duration_words(seconds).replace('_', ' ')}")
            return self.emit(step, frontier, loop), data
        if kind == "approval":
            step = GuardrailStep(id=self.new_id("ask_for_approval"), kind="approval",
                                 config={"message": f"Approve the next step of '{self.trigger.name_hint or 'this workflow'}'?"},
                                 name="Ask for approval")
            self.summary.append("waits for approval")
            return self.emit(step, frontier, loop), data
        if kind == "continue":
            target = self._step(self.last_external or self.last_step)
            if target is not None:
                target.on_failure = "continue"
            return frontier, data
        if kind == "retry":
            target = self._named_step(item.text) or self._step(self.last_external or self.last_step)
            if target is not None:
                target.max_attempts = max(2, min(item.count or 3, 100))
                target.backoff = "fixed" if re.search(r"\b(fixed|constant|same|flat)\b", item.text, re.I) else "exponential"
                if delay := re.search(r"(\d+(?:\.\d+)?)\s*-?\s*(seconds?|secs?|s|minutes?|mins?)\b", item.text, re.I):
                    target.retry_delay_s = float(delay.group(1)) * (60 if delay.group(2).lower().startswith("m") else 1)
                self.summary.append(f"retries {target.id} up to {target.max_attempts} attempts")
            return frontier, data
        if kind == "failure":
            return self.failure(item, frontier, loop, data)
        if kind == "condition":
            return self.condition(item, frontier, loop, data)
        if kind == "switch":
            return self.switch(item, frontier, loop, data)
        if kind == "loop":
            return self.loop(item, frontier, loop, data)
        if kind == "parallel":
            leaves: Frontier = []
            for branch in item.then:
                out, _ = self.walk_one(branch, frontier, loop, data)
                leaves.extend(out)
            return leaves, data
        if kind == "concurrency":
            target = next((st for st in reversed(self.steps) if isinstance(st, LoopStep)), None)
            if target is not None and item.count:
                target.max_concurrency = item.count
            return frontier, data
        if kind == "merge":
            if len(frontier) > 1:
                step = MergeStep(id=self.new_id("first_result" if item.text == "first" else "combine_results"),
                                 mode="first" if item.text == "first" else "all")
                self.summary.append("combines the results")
                out = self.emit(step, frontier, loop)
                return out, DataRef(expr=f"nodes.{step.id}", source=step.id, operation="merge")
            return frontier, data
        return frontier, data

    def _label_filter(self, clause: str, data: DataRef) -> str | None:
        if data.operation != "llm.classify" or not data.labels or self.in_switch:
            return None
        lower = clause.lower()
        if re.search(r"\b(classify|categori[sz]e|label|tag)\b", lower):
            return None
        for label in data.labels:
            word = re.escape(label.lower())
            if re.search(rf"\b{word}(?:s|es)?\b\s*(?:ones?|items?|tickets?|reviews?|messages?|emails?|ones)?", lower) and re.search(
                    rf"\b(?:the\s+)?{word}(?:s|es)?\s+(?:ones?|items?|tickets?|reviews?|messages?|emails?|leads?)\b|\b{word}s\b|\bif\b", lower):
                return label
        return None

    def _named_step(self, text: str) -> Any:
        """The latest step a phrase names by what it does ('retry the query' → the database step)."""
        words = [(r"\b(query|sql|database|db)\b", "database"), (r"\b(api|call\w*|request\w*|fetch\w*|pull\w*|download\w*|endpoint|http|webhook call)\b", "http"),
                 (r"\b(e-?mail|mail)\b", "email"), (r"\b(slack|message|post)\b", "slack"), (r"\b(ai|model|llm|summary)\b", "llm")]
        for pattern, connector in words:
            if re.search(pattern, text, re.I):
                return next((st for st in reversed(self.steps) if getattr(st, "connector", None) == connector), None)
        return None

    def _step(self, step_id: str | None) -> Any:
        return next((s for s in self.steps if s.id == step_id), None)

    def action(self, clause: str, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        if structure._VERB_START.search(clause) is None and not re.search(r"⟦\d+⟧|#\w", clause):
            if not re.search(r"\b(slack|email|table|database|api|summary)\b", clause, re.I) and not clauses.wants(clause) \
                    and not _TELL_RE.match(clause):
                return frontier, data  # not an action: a remark
        if re.match(r"^(?:and\s+|then\s+)*(?:just\s+)?(?:stop|do nothing|nothing|skip(?: it)?|ignore(?: it| them)?|"
                    r"drop it|end|discard(?: it)?|that's it|done)\.?$", clause.strip(), re.I):
            return [], data
        restored = self.p.restore(clause)
        # one clause naming an email address and a channel → both
        emails = self.p.in_text(clause, "email")
        chans = channels(restored)
        if len(chans) > 1 and not emails and re.search(r"\b(both|and|all)\b", clause, re.I):
            # "post it to both #deploys and #releases": one message per channel
            leaves: Frontier = []
            out_data = data
            start = frontier
            for channel in chans:
                single = re.sub(r"#[\w.-]+(?:\s*(?:,|and|&)\s*#[\w.-]+)+", channel, clause)
                single = re.sub(r"\bboth\s+", "", single)
                known = len(self.steps)
                out, out_data = self._one_action(single, start, loop, data, force="slack.post_message")
                leaves.extend(out)
                written = next((st for st in self.steps[known:] if getattr(st, "connector", None) == "llm"), None)
                if written is not None:
                    start = [(written.id, None)]  # the summary written for the first channel serves them all
            return leaves, out_data
        if emails and chans:
            url_ref = re.search(r"\b(?:from|at|on|via|of|in)\s+(?:the\s+)?(⟦\d+⟧)", clause)
            if url_ref and self.p.in_text(url_ref.group(1), "url"):
                fetch_clause = f"fetch {object_noun(clause)} from {url_ref.group(1)}"
                frontier, data = self._one_action(fetch_clause, frontier, loop, data, force="http.request")
                clause = (clause[:url_ref.start()] + clause[url_ref.end():]).strip()
            known = len(self.steps)
            first, data1 = self._one_action(clause, frontier, loop, data, force="email.send")
            # a summary written for the email is shared by the Slack message
            written = next((st for st in self.steps[known:] if getattr(st, "connector", None) == "llm"), None)
            second, _ = self._one_action(clause, [(written.id, None)] if written else frontier, loop, data,
                                         force="slack.post_message")
            return first + second, data1
        return self._one_action(clause, frontier, loop, data)

    def _query_then_send(self, clause: str, frontier: Frontier, loop: str | None, data: DataRef,
                         key: str) -> tuple[str, Frontier, DataRef, str]:
        """'send the open invoices (SELECT ...) by email to x': the query runs, then what it returned
        is sent. Returns the clause left to build, and its operation."""
        restored = self.p.restore(clause)
        target = "email.send" if self.p.in_text(clause, "email") else "slack.post_message" if channels(restored) else None
        if target is None or not _SEND_LEAD_RE.match(clause) or not self.p.in_text(clause, "sql"):
            return clause, frontier, data, key
        frontier, data = self._one_action(clause, frontier, loop, data, force=key)
        rest = re.sub(r"\s*\b(?:from|on|in)\s+(?:the\s+|our\s+|my\s+)?(?:\w+\s+)?(?:database|db|postgres(?:ql)?|mysql|sqlite)\b", "", clause, flags=re.I)
        for placeholder in re.findall(r"⟦\d+⟧", rest):
            if self.p.in_text(placeholder, "sql"):
                rest = rest.replace(placeholder, "")
        rest = re.sub(r"\(\s*\)", "", rest)
        rest = re.sub(r"^\s*(?:(?:hi|hello|hallo|hey|ok|so|please|could you|can you|would you)\b[\s,!]*)+", "", rest, flags=re.I)
        return re.sub(r"\s+", " ", rest).strip(), frontier, data, target

    def _one_action(self, clause: str, frontier: Frontier, loop: str | None, data: DataRef,
                    force: str | None = None) -> tuple[Frontier, DataRef]:
        vector = None
        if force is None and self.index.embedder is not None:
            vector = self.index.embedder.embed([self.p.restore(clause)])[0]
        key, score = (force, 2.0) if force else choose_operation(clause, self.p, self.index, vector, self.request.allowed_ops)
        said = next((f"{st.connector}.{st.operation}" for st in reversed(self.steps)
                     if f"{getattr(st, 'connector', '')}.{getattr(st, 'operation', '')}" in ("email.send", "slack.post_message")), None)
        if score < 0.3 and said and _TELL_RE.match(clause):
            key, score = said, 1.0  # "..., and a week later ask for feedback": the same channel as the message before
        if score < 0.3:
            self.notes.append(f"ignored '{self.p.restore(clause)}' (no matching operation)")
            return frontier, data
        key = refine_operation(key, clause)
        if key.startswith("database.") and force is None:
            clause, frontier, data, key = self._query_then_send(clause, frontier, loop, data, key)
        connector, operation = key.split(".")
        # "summarize the orders from <url>": fetch first, then the operation on what came back
        url_ref = next((m for m in re.finditer(r"\b(?:from|at|on|via|of|in)\s+(?:the\s+)?(?:api\s+|endpoint\s+|url\s+)?(⟦\d+⟧)", clause)
                        if self.p.in_text(m.group(1), "url")), None)
        if url_ref is None and connector in ("datastore", "llm"):
            url_ref = re.search(r"(?<!\bto\s)(?<!\bto the\s)(⟦\d+⟧)", clause)
        if connector != "http" and url_ref and self.p.in_text(url_ref.group(1), "url"):
            before_url = re.search(r"([a-z][\w'-]*(?:\s+[a-z][\w'-]*)?)\s+(?:from|at|on|via|of|in)\s+(?:the\s+)?(?:api\s+|endpoint\s+|url\s+)?"
                                   + re.escape(url_ref.group(1)), clause, re.I)
            verb_noun = object_noun(f"x {before_url.group(1)}") if before_url else object_noun(clause)
            fetch_clause = f"fetch {verb_noun or object_noun(clause)} from {url_ref.group(1)}"
            frontier, data = self._one_action(fetch_clause, frontier, loop, data, force="http.request")
            clause = (clause[:url_ref.start()] + clause[url_ref.end():]).strip()
        # "post a digest of the datastore table signups to #growth": read the table first
        table_ref = re.search(r"\b(?:of|from|in)\s+(?:the\s+)?(?:datastore\s+table\s+\w+|table\s+\w+|\w+\s+(?:datastore\s+)?table)\b", clause, re.I)
        if table_ref is None and key.startswith("llm.") and not has_data(data):
            # "summarize the feedback table with AI": the table is the object
            table_ref = re.search(r"\b(?:the\s+)?(?:datastore\s+table\s+\w+|table\s+(?!with\b|using\b|as\b|into\b)\w+|(?!the\b|a\b|this\b|that\b)\w+\s+(?:datastore\s+)?table)\b",
                                  clause, re.I)
        url_to = re.search(r"\bto\s+(?:the\s+)?(?:api\s+|endpoint\s+|url\s+)?(⟦\d+⟧)", clause)
        if table_ref is None and url_to and self.p.in_text(url_to.group(1), "url"):
            table_ref = re.search(r"\b(?:the\s+)?(?:datastore\s+table\s+\w+|table\s+\w+|\w+\s+datastore\s+table)\b", clause, re.I)
        if table_ref and (key in ("email.send", "slack.post_message") or (url_to and self.p.in_text(url_to.group(1), "url"))
                          or key.startswith("llm.")):
            frontier, data = self._one_action(f"read all rows {table_ref.group(0)}", frontier, loop, data, force="datastore.query")
            clause = (clause[:table_ref.start()] + clause[table_ref.end():]).strip()
            if url_to and key.startswith("datastore"):
                key, connector, operation = "http.request", "http", "request"
        # "email a summary of it": summarize first when the data is not text yet
        if (key in ("email.send", "slack.post_message") and self.ai_text is None and has_data(data)
                and re.search(r"\b(?:a|the|short|brief|daily|weekly)\s+summary\b|\bsummary of\b|\bsummari[sz]ed?\b|"
                              r"\bdigest\b|\btl;?dr\b|\brecap\b", clause, re.I)):
            frontier, data = self._one_action(f"summarize {object_noun(clause) or 'it'}", frontier, loop, data,
                                              force="llm.summarize")
        values = build_config(key, clause, self.p, data, self.request.prefs, loop_noun=self._loop_noun(loop),
                              ai_text=self.ai_text, workflow_name=self.trigger.name_hint, index=self.index,
                              fields=self.trigger.fields, trigger_kind=self.trigger.kind)
        if key in ("email.send", "slack.post_message", "core.log"):
            base = data.expr if data.expr in ("trigger.body", "item") else None
            values = templates.apply(values, base, self.trigger.fields if base == "trigger.body" else [])
        values = self.index.adapt_config(connector, operation, values)
        noun = object_noun(clause)
        credential = None
        if connector == "database":
            from app.copilot.nlu.requests import database_credential

            credential = database_credential(clause, self.p)
        step = ActionStep(id=self.new_id(step_id_for(key, clause, noun, values)), connector=connector,
                          operation=operation, config=values, credential=credential)
        self.summary.append(f"{key} ({self.p.restore(clause)[:60]})")
        out = self.emit(step, frontier, loop)
        if connector in _EXTERNAL:
            self.last_external = step.id
        out_field = self.index.output_field(connector, operation)
        produces = key in ("http.request", "database.query", "datastore.query", "llm.extract", "llm.classify",
                           "core.transform", "core.set")
        if connector == "llm" and operation in ("summarize", "complete"):
            self.ai_text = f"nodes.{step.id}.{out_field}" if out_field else f"nodes.{step.id}"
            return out, data
        if key == "llm.classify":
            labels = tuple(values.get("labels") or values.get("categories") or ())
            return out, DataRef(expr=data.expr, source=step.id, operation=key, label_field=out_field or "label",
                                labels=labels)
        if produces and not (key == "http.request" and values.get("method", "GET") not in ("GET",)):
            return out, DataRef(expr=f"nodes.{step.id}.{out_field}" if out_field else f"nodes.{step.id}",
                                source=step.id, operation=key)
        return out, data

    def _loop_noun(self, loop: str | None) -> str | None:
        if loop is None:
            return None
        return loop.removeprefix("each_")

    def failure(self, item: structure.Item, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        source = self._named_step(item.text) or self._step(self.last_external or self.last_step)
        if source is None:
            return frontier, data
        saved = (self.last_external, self.last_step)
        start = len(self.steps)
        handler_frontier: Frontier = []
        failure_data = DataRef(expr="execution.error", source=None)
        for sub in item.then:
            handler_frontier, failure_data = self.walk_one(sub, handler_frontier or [], loop, failure_data)
        if len(self.steps) > start:
            first = self.steps[start]
            first.after = []
            first.branch = None
            source.on_failure = first.id
            self.summary.append(f"on failure of {source.id}: {first.id}")
        self.last_external, self.last_step = saved
        return frontier, data

    def condition(self, item: structure.Item, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        text = self.p.restore(item.text)
        judged = judgements.read(text, self.trigger.fields) if data.operation != "llm.classify" else None
        if judged is not None:
            # "if the AI thinks the customer is angry": the model classifies first, the branch reads its label
            frontier, data = self._one_action(f"classify {judged.subject} as {judged.label} or other", frontier, loop,
                                              data, force="llm.classify")
            text = f"it is {judged.label}"
        if self.last_subject and re.match(r"^(?:it|that|this)\s+(?:is|'s|was)\s+(?:above|over|below|under|at least|at most|more|less|greater|lower|higher|bigger|smaller|exactly|equal)", text, re.I):
            text = re.sub(r"^(?:it|that|this)\s+(?:'s|is|was)\s+", f"{self.last_subject} is ", text, flags=re.I)
        if subject := re.match(r"^(?:the\s+)?([a-z_][\w ]{0,30}?)\s+(?:is|are|was|exceeds|has)\b", text, re.I):
            if subject.group(1).lower() not in ("it", "that", "this", "there"):
                self.last_subject = subject.group(1)
        missing = re.match(r"^(?:there\s+is\s+no|there's\s+no|there\s+are\s+no|no)\s+(?:\w+\s+)?(\w+)$|"
                           r"^(?:the\s+)?(\w+)\s+(?:is|are)\s+(?:missing|absent|not set|not given|not provided)$", text.strip(), re.I)
        if missing and data.expr != "item" and data.source is None:
            # "if there is no amount, stop; otherwise store it": test for the value, swap the branches
            field_name = snake(missing.group(1) or missing.group(2))
            expression = f"$exists({data.expr}.{field_name})"
            item = structure.Item("condition", text=f"{field_name} is present", then=item.otherwise, otherwise=item.then,
                                  negate=item.negate)
        else:
            expression = condition_expression(text, data)
        if item.negate:
            expression = f"$not({expression})"
        expression = _parsable(expression, f"$boolean({data.expr})")
        name = snake(re.sub(r"\b(the|is|are|it|its|a|an|over|under|above|below|more|less|than|greater|there|any)\b", " ",
                            self.p.restore(item.text).lower()), 24) or "condition"
        step = ConditionStep(id=self.new_id(f"check_{name}"), expression=expression,
                             name=f"If {self.p.restore(item.text)}")
        self.summary.append(f"checks whether {self.p.restore(item.text)}")
        self.emit(step, frontier, loop)
        saved_ai = self.ai_text
        then_out, then_data = self.walk(item.then, [(step.id, "true")], loop, data)
        if item.otherwise:
            self.ai_text = saved_ai  # text written on one branch does not exist on the other
            else_out, _ = self.walk(item.otherwise, [(step.id, "false")], loop, data)
            self.ai_text = saved_ai
            leaves = [leaf for leaf in then_out if leaf != (step.id, "true")] + [
                leaf for leaf in else_out if leaf != (step.id, "false")]
            return leaves or then_out, data
        return then_out, then_data

    def switch(self, item: structure.Item, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        field_text = self.p.restore(item.text)
        if not field_text and data.operation != "llm.classify":
            generic = {"text", "body", "message", "subject", "email", "name", "title", "content", "description"}
            field_text = next((f for f in self.trigger.fields if f not in generic), "type")
            item = structure.Item("switch", text=field_text, cases=item.cases, otherwise=item.otherwise)
        value = _parsable(value_expression(field_text, data), data.expr)
        cases = []
        names: set[str] = set()
        item.cases = [(self.p.in_text(raw, "quoted")[0] if self.p.in_text(raw, "quoted") else raw, items)
                      for raw, items in item.cases]
        for raw, _ in item.cases:
            number = re.fullmatch(r"-?\d{1,9}", raw.strip())
            name = (f"{snake(field_text, 20) or 'value'}_{raw.strip().lstrip('-')}" if number else snake(raw, 30)) or "case"
            if name == "default" or name in names:
                name = f"{name}_case"
            names.add(name)
            # "1 → ..., 2 → ...": a webhook's JSON sends numbers, and a switch compares by type
            cases.append(SwitchCaseSpec(name=name, equals=int(raw) if number else raw))
        field_name = snake(item.text, 20) or "value"
        step = SwitchStep(id=self.new_id(f"route_by_{field_name}"), value=value, cases=cases,
                          name=f"Route by {self.p.restore(item.text) or 'value'}")
        source = self._step(data.source)
        if source is not None and data.operation == "llm.classify":
            labels_key = "labels" if "labels" in source.config else "categories" if "categories" in source.config else None
            if labels_key and not source.config.get(labels_key):
                source.config[labels_key] = [c.equals for c in cases]
        self.summary.append(f"routes by {self.p.restore(item.text) or 'value'}")
        self.emit(step, frontier, loop)
        leaves: Frontier = []
        self.in_switch += 1
        try:
            saved_ai = self.ai_text
            for case, (_, items) in zip(cases, item.cases, strict=True):
                self.ai_text = saved_ai
                out, _ = self.walk(items, [(step.id, case.name)], loop, data)
                leaves.extend(leaf for leaf in out if leaf[0] != step.id)
            if item.otherwise:
                self.ai_text = saved_ai
                out, _ = self.walk(item.otherwise, [(step.id, "default")], loop, data)
                leaves.extend(leaf for leaf in out if leaf[0] != step.id)
            self.ai_text = saved_ai
        finally:
            self.in_switch -= 1
        return leaves, data

    def loop(self, item: structure.Item, frontier: Frontier, loop: str | None, data: DataRef) -> tuple[Frontier, DataRef]:
        noun_text, _, source_expr = item.text.partition("|")
        noun = _singular(noun_text.split()[-1] if noun_text else "item")
        if noun in ("one", "them", "it") and not source_expr and data.source is None and not item.count:
            return self.walk(item.then, frontier, loop, data)  # "saves each one" of a single webhook payload
        if (not source_expr and not item.count and data.expr == "trigger.body" and data.source is None and self.trigger.fields
                and snake(_plural(noun)) not in self.trigger.fields
                and not any(f.endswith("s") and not f.endswith("ss") for f in self.trigger.fields if f not in ("status", "address"))):
            # "email each message to me" when the webhook sends (sender, message): each call is one message
            return self.walk(item.then, frontier, loop, data)
        if noun in ("one", "item", "them", "it") and data.source:
            noun = _singular(data.source.rsplit("_", 1)[-1]) or noun
        if source_expr:
            items_expr = f"{{{{ {source_expr} }}}}"
        elif data.source is None and data.expr.startswith("trigger"):
            if self.trigger.kind != "webhook" and self.trigger.kind != "manual":
                raise MissingValue(f"Where does the list of {_plural(noun)} come from (a URL, a table or a database)?",
                                   [f"source of the {_plural(noun)}"])
            items_expr = f"{{{{ {data.expr}.{snake(_plural(noun))} }}}}"
        elif data.operation in ("http.request",) and data.expr.endswith(".body"):
            items_expr = f"{{{{ {data.expr} }}}}"
        else:
            items_expr = f"{{{{ {data.expr} }}}}"
        step = LoopStep(id=self.new_id(f"each_{noun}"), items=items_expr, batch_size=item.count,
                        max_concurrency=item.concurrency or 1)
        if item.count:
            self.summary.append(f"for each batch of {item.count} {_plural(noun)}")
        else:
            self.summary.append(f"for each {noun}")
        self.emit(step, frontier, loop)
        saved_ai = self.ai_text
        inner = DataRef(expr="item", source=None, operation="loop")
        self.walk(item.then, [], step.id, inner)
        self.ai_text = saved_ai
        if not any(s.in_loop == step.id for s in self.steps):
            raise MissingValue(f"What should happen for each {noun}?", [f"action for each {noun}"])
        return [(step.id, None)], DataRef(expr=f"nodes.{step.id}", source=step.id, operation="loop")


_EITHER_WAY_RE = re.compile(r"\b(?:either way|in any case|in either case|in both cases|regardless(?: of the result)?|no matter what|"
                            r"whatever happens|anyway|in all cases)\b,?", re.I)
_TELL_RE = re.compile(r"^(?:and\s+|then\s+|also\s+)*(?:ask|remind|tell|thank|invite|nudge|follow\s+up|check\s+in|notify|let\s+\w+\s+know|"
                      r"congratulate|welcome|warn|inform|update)\b", re.I)


def _parsable(expression: str, fallback: str) -> str:
    """The expression, or a simple fallback when the words did not make valid JSONata."""
    from engine.expressions import ExpressionSyntaxError, compile_expression

    try:
        compile_expression(expression)
    except ExpressionSyntaxError:
        return fallback
    return expression


def _unlabelled_classify(steps: list[Any]) -> Question | None:
    for step in steps:
        if isinstance(step, ActionStep) and step.connector == "llm" and step.operation == "classify":
            labels = step.config.get("labels") or step.config.get("categories") or []
            if len(labels) < 2:
                return Question(question="Which categories should the model choose from (for example bug, billing, other)?",
                                missing=["classification labels"])
    return None


def _singular(word: str) -> str:
    word = word.lower()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy", "uy")):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _duration_words(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n}_{unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)}_seconds"
