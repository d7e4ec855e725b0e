"""The copilot pipeline: one chat message in, a question or a guarded, validated workflow out.

::

    prompts (copilot.system + copilot.context, versioned files) with the context of the request
        → Gateway.generate(CopilotResponse)          # cache, usage, budgets, backoff
            the response model's validator compiles the plan and runs engine validation; its
            problems go back to the model as a re-ask (``copilot.reask``), at most ``max_reasks``
        → deterministic repair when the re-asks are used up (``app.copilot.repair``)
        → graph passes (``engine.passes``): guardrails and error handling, always, after the model
        → final validation

The pipeline stores nothing; ``app.copilot.chat`` persists turns and versions.
"""

from __future__ import annotations

import contextvars
import copy
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, ValidationError, ValidationInfo, model_validator

from app.copilot.context import ContextBuilder, OperationEntry, WorkflowSummary, catalog_entries
from app.copilot.credentials import CredentialNote, CredentialRef, bind_credentials
from app.copilot.plan import (
    CopilotResponse,
    EditPlan,
    PlanInvalidError,
    Question,
    WorkflowPlan,
    apply_edits,
    compile_plan,
    plan_from_workflow,
)
from app.copilot.progress import ProgressCallback, Stages
from app.copilot.repair import repair
from engine.errors import FlowwrightError, Problem
from engine.passes import PassChange, run_passes
from engine.passes.strip import strip_inserted
from engine.validation import validate_workflow
from engine.workflow import Workflow, iter_graph_nodes
from prompts.loader import PromptTemplate, load

Message = dict[str, Any]
Checker = Callable[[Any], tuple[WorkflowPlan | None, dict[str, Any] | None, list[Problem]]]
PURPOSE = "copilot.generate"
# a request that takes the planner through retrieval, a trigger, an action and a notification
WARM_UP_REQUEST = "Every Monday at 9:00 fetch https://example.com/report.json and email the summary to ops@example.com"


class CopilotError(FlowwrightError):
    """The copilot could not produce a valid workflow (problems listed in ``details``)."""

    code = "copilot_failed"
    status = 422


# The check of the call in progress. Not passed as instructor's ``validation_context``: instructor
# renders every message as a Jinja template when a context is given, and the prompts carry
# ``{{ }}`` JSONata expressions. A context variable follows the call into the gateway's thread.
_CHECK: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("copilot_check", default=None)


# ``CopilotResponse`` whose plan must compile and validate; problems make the model re-ask.
# Its JSON Schema is the parent's (same title and description: the docstring is copied), so
# models, the local planner and the cache see no difference. The check is the current call's
# (``_CHECK``); every checked reply is appended to its ``replies`` so the last one can be
# repaired when the re-asks run out.
class CheckedCopilotResponse(CopilotResponse):
    __doc__ = CopilotResponse.__doc__

    model_config = ConfigDict(title="CopilotResponse")

    @model_validator(mode="after")
    def _compiles(self, info: ValidationInfo) -> CheckedCopilotResponse:
        context = info.context if isinstance(info.context, dict) and "check" in info.context else _CHECK.get()
        if not context:
            return self
        _, _, problems = context["check"](self.reply)
        context.setdefault("replies", []).append(self)
        if problems:
            raise ValueError(context["reask"].render(problems=[p.to_dict() for p in problems[:20]]))
        return self


@dataclass
class PipelineResult:
    """What one message produced."""

    kind: Literal["workflow", "question", "error"]
    workflow: Workflow | None = None
    plan: WorkflowPlan | None = None
    question: str | None = None
    missing: list[str] = field(default_factory=list)
    explanation: str = ""
    reply_kind: str | None = None  # workflow | edit | question (what the model answered)
    changes: list[PassChange] = field(default_factory=list)
    valid: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    reasks: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False
    latency_ms: float = 0.0
    model: str = ""
    error: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage: context, model, finish
    credentials: list[CredentialNote] = field(default_factory=list)  # attached, or how to add the missing

    @property
    def guardrails(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.changes if c.action == "inserted"]


class Pipeline:
    """Runs one message through prompts, model, validation, repair and passes.

    Args:
        gateway: ``app.llm.gateway.Gateway`` (anything with the same ``generate``).
        catalog: the connector registry.
        context: builds the request's context within a token budget.
        max_reasks: how many times validation problems go back to the model.
    """

    def __init__(self, gateway: Any, catalog: Any, context: ContextBuilder, *, max_reasks: int = 2,
                 use_cache: bool = True, clock: Callable[[], float] = time.perf_counter) -> None:
        self.gateway = gateway
        self.catalog = catalog
        self.context_builder = context
        self.max_reasks = max_reasks
        self.use_cache = use_cache
        self.clock = clock
        self.system = load("copilot.system")
        self.context_template = load("copilot.context")
        self.reask = load("copilot.reask")

    @property
    def template_ref(self) -> tuple[str, str]:
        """The prompt version the cache partition and the usage rows record."""
        return "copilot", f"system@{self.system.version}+context@{self.context_template.version}"

    def run(
        self,
        message: str,
        *,
        workspace_id: str,
        user_id: str | None = None,
        conversation_id: str | None = None,
        workflow_id: str | None = None,
        history: Sequence[Message] = (),
        current: Workflow | None = None,
        workflows: Sequence[WorkflowSummary] = (),
        preferences: dict[str, str] | None = None,
        credentials: Sequence[CredentialRef] | None = None,
        progress: ProgressCallback | None = None,
    ) -> PipelineResult:
        """One message through the pipeline. ``credentials`` (names and types of the workspace's
        credentials; ``None``: unknown, nothing is attached) are offered to the model and attached to
        the steps that need them (``app.copilot.credentials``). ``progress`` is told each stage as it
        starts and ends (``app.copilot.progress``), from the thread running this call."""
        started = self.clock()
        stages = Stages(progress, self.clock)
        base_plan = self._base_plan(current)
        prefs = dict(preferences or {})
        with stages.stage("context", "retrieve context") as found:
            catalog, extra = self._workspace_catalog(workspace_id)
            ctx = self.context_builder.build(
                message, workflows=workflows, preferences=prefs, credentials=credentials or (),
                current_plan=base_plan.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                if base_plan is not None else None, extra_operations=extra,
            )
            messages = self.messages(message, ctx.variables(), history, prefs)
            found.update(operations=len(ctx.operations), tokens=ctx.tokens, similar=len(ctx.duplicates))
        validation_context: dict[str, Any] = {"check": self._checker(base_plan, catalog, stages),
                                              "reask": self.reask, "replies": []}
        cacheable = self.use_cache and current is None and not history
        result = PipelineResult(kind="error", context={
            "retrieval": ctx.retrieval, "tokens": ctx.tokens, "duplicates": ctx.duplicates,
            "operations": [f"{o.connector}.{o.operation}" for o in ctx.operations], "left_out": ctx.left_out,
        })
        reply: Any = None
        token = _CHECK.set(validation_context)
        try:
            with stages.stage("model", "plan (call the model)") as called:
                try:
                    answer = self.gateway.generate(
                        messages, CheckedCopilotResponse, purpose=PURPOSE, workspace_id=workspace_id,
                        user_id=user_id, conversation_id=conversation_id, workflow_id=workflow_id,
                        template=self.template_ref, max_retries=self.max_reasks, cache=cacheable,
                        entity_text=message,
                        strict=True,  # its schema keeps OpenAI's strict rules (tests/app/copilot/test_response_schema.py)
                    )
                except FlowwrightError as exc:
                    called.update(error=exc.code)
                    raise
                called.update(model=answer.model, cache_hit=bool(answer.cache_hit), attempts=answer.attempts)
            reply = answer.value.reply
            result.usage = _usage(answer)
            result.cache_hit = bool(answer.cache_hit)
            result.model = answer.model
            result.reasks = max(0, answer.attempts - 1)
        except FlowwrightError as exc:
            replies = validation_context.get("replies") or []
            if exc.code != "model_output_invalid" or not replies:
                result.error = exc.to_dict()
                result.usage = _usage_from_error(exc)
                result.timings = dict(stages.timings)
                result.latency_ms = (self.clock() - started) * 1000
                return result
            reply = replies[-1].reply  # the model's last answer: repair it deterministically
            result.usage = _usage_from_error(exc)
            result.reasks = self.max_reasks
        finally:
            _CHECK.reset(token)
        mark = self.clock()
        self._finish(result, reply, base_plan, catalog, _Binding(credentials, workspace_id, current), stages)
        result.timings = dict(stages.timings)
        result.timings["finish_ms"] = round((self.clock() - mark) * 1000, 2)
        result.latency_ms = (self.clock() - started) * 1000
        return result

    def warm_up(self, preferences: dict[str, str] | None = None) -> None:
        """Do once what a first message would do before it is answered (embed the catalog and the
        examples, render the prompts, load the model's code and data) without storing or tracking
        anything, so the first person to chat does not wait for it."""
        prefs = dict(preferences or {})
        ctx = self.context_builder.build(WARM_UP_REQUEST, preferences=prefs)
        self.gateway.warm_up(self.messages(WARM_UP_REQUEST, ctx.variables(), (), prefs), CheckedCopilotResponse)

    def messages(self, message: str, context: dict[str, Any], history: Sequence[Message],
                 preferences: dict[str, str]) -> list[Message]:
        """System prompt, context, earlier turns, then the message itself (last, as the cache key)."""
        system = _render(self.system, today=datetime.now(UTC).date().isoformat(),
                         timezone=preferences.get("timezone") or "UTC")
        out: list[Message] = [{"role": "system", "content": system},
                              {"role": "system", "content": _render(self.context_template, **context)}]
        out.extend({"role": m["role"], "content": m["content"]} for m in history)
        out.append({"role": "user", "content": message})
        return out

    # --- checking, repair and passes -------------------------------------------------------

    @staticmethod
    def _base_plan(current: Any) -> WorkflowPlan | None:
        """The plan of the workflow being refined; a CopilotError (422) when the plan cannot hold
        it (a polling trigger: edit such a workflow's JSON, the copilot does not write them yet)."""
        if current is None:
            return None
        try:
            return plan_from_workflow(strip_inserted(current))
        except ValidationError as exc:
            where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
            raise CopilotError(f"the copilot cannot refine this workflow ({where} is not something it writes yet, "
                               "e.g. a poll trigger); edit its JSON instead",
                               problems=[{"path": "$", "message": str(e["msg"])} for e in exc.errors()[:3]]) from None

    def _workspace_catalog(self, workspace_id: str) -> tuple[Any, list[OperationEntry]]:
        """The catalog as the workspace sees it, and the operations it adds (its imported connectors)."""
        for_workspace = getattr(self.catalog, "for_workspace", None)
        catalog = for_workspace(workspace_id) if for_workspace is not None else self.catalog
        if catalog is self.catalog:
            return catalog, []
        known = {c.name for c in self.catalog}
        return catalog, catalog_entries(c for c in catalog if c.name not in known)

    def _checker(self, base: WorkflowPlan | None, catalog: Any, stages: Stages | None = None) -> Checker:
        attempts = 0

        def check(reply: Any) -> tuple[WorkflowPlan | None, dict[str, Any] | None, list[Problem]]:
            nonlocal attempts
            attempts += 1
            checked = _check(reply)
            if stages is not None:  # each answer of the model, checked: its problems go back to it
                stages.note("check", "check the model's answer", attempt=attempts, problems=len(checked[2]),
                            reply=getattr(reply, "kind", None))
            return checked

        def _check(reply: Any) -> tuple[WorkflowPlan | None, dict[str, Any] | None, list[Problem]]:
            if isinstance(reply, Question):
                return None, None, []
            try:
                plan = self._plan_of(reply, base)
                document = compile_plan(plan, catalog)
            except PlanInvalidError as exc:
                return None, None, list(exc.problems)
            return plan, document, _name_steps(document, validate_workflow(document, catalog).problems)

        return check

    @staticmethod
    def _plan_of(reply: Any, base: WorkflowPlan | None) -> WorkflowPlan:
        if isinstance(reply, EditPlan):
            if base is None:
                raise PlanInvalidError([Problem("plan_no_current_workflow", "$.reply",
                                                "an edit needs a current workflow; answer with a new workflow")])
            return apply_edits(base, reply)
        assert isinstance(reply, WorkflowPlan)
        return reply

    def _finish(self, result: PipelineResult, reply: Any, base: WorkflowPlan | None, catalog: Any,
                binding: _Binding, stages: Stages) -> None:
        result.reply_kind = getattr(reply, "kind", None)
        if isinstance(reply, Question):
            result.kind, result.question, result.missing = "question", reply.question, list(reply.missing)
            result.explanation = reply.question
            result.valid = True
            return
        result.explanation = getattr(reply, "explanation", "") or ""
        with stages.stage("repair", "compile and repair") as repaired:
            try:
                plan = self._plan_of(reply, base)
                document = compile_plan(plan, catalog)
            except PlanInvalidError as exc:
                result.problems = [p.to_dict() for p in exc.problems]
                result.error = CopilotError("the model's plan cannot be compiled", problems=result.problems).to_dict()
                repaired.update(problems=len(result.problems))
                return
            result.plan = plan
            fixed = repair(document, catalog)
            result.repaired = fixed.fixed
            repaired.update(fixed=len(fixed.fixed), problems=len(fixed.problems))
        if not fixed.ok and (asked := _field_question(fixed.problems)) is not None:
            # a test of data the webhook does not send: ask which field it is, never fail the turn
            result.kind, result.question, result.missing = "question", asked, ["trigger field"]
            result.explanation, result.valid = asked, True
            return
        if not fixed.ok:
            result.problems = [p.to_dict() for p in fixed.problems]
            result.error = CopilotError(
                f"the generated workflow is invalid: {fixed.problems[0].path}: {fixed.problems[0].message}",
                problems=result.problems).to_dict()
            return
        if binding.credentials is not None:
            with stages.stage("credentials", "attach credentials") as attached:
                result.credentials = bind_credentials(fixed.document, catalog, binding.credentials,
                                                      workspace_id=binding.workspace_id, already=binding.seen())
                attached.update(notes=len(result.credentials))
        with stages.stage("passes", "guardrail passes") as passed:
            authored = Workflow.model_validate(_as_authored(fixed.document))
            passes = run_passes(authored, catalog)
            passed.update(inserted=sum(1 for c in passes.changes if c.action == "inserted"))
        with stages.stage("validate", "validate") as validated:
            final = validate_workflow(passes.workflow.to_json_dict(), catalog)
            validated.update(valid=final.ok, problems=len(final.problems))
        result.changes = passes.changes
        result.workflow = passes.workflow
        result.valid = final.ok
        result.problems = [p.to_dict() for p in final.problems]
        result.kind = "workflow"


def _field_question(problems: list[Problem]) -> str | None:
    """The question to ask when the only problems are reads of webhook fields nobody declared."""
    if not problems or any(p.code != "undeclared_trigger_field" for p in problems):
        return None
    unknown = list(dict.fromkeys(str(p.extra.get("field")) for p in problems))
    declared = [str(f) for f in problems[0].extra.get("fields") or []]
    named = ", ".join(f"'{f.replace('_', ' ')}'" for f in unknown)
    return (f"Which field of the webhook's data holds {named}? It receives: {', '.join(declared)}. "
            f"(Or tell me the field's name, and I will add it to what the webhook accepts.)")


@dataclass(frozen=True)
class _Binding:
    """What attaching credentials needs to know: the workspace's, and the version being refined."""

    credentials: Sequence[CredentialRef] | None
    workspace_id: str
    current: Workflow | None

    def seen(self) -> frozenset[str]:
        """Ids of the current version's steps that already named a credential (not announced again)."""
        if self.current is None:
            return frozenset()
        return frozenset(n.id for _, n in iter_graph_nodes(self.current.nodes) if getattr(n, "credential", None))


_NODE_PATH = re.compile(r"^(\$(?:\.nodes\[\d+\](?:\.body)?)*\.nodes\[\d+\])")


def _name_steps(document: dict[str, Any], problems: list[Problem]) -> list[Problem]:
    """Problems whose path points into a node also name the step (the model knows step ids, not
    node indices)."""
    out = []
    for problem in problems:
        match = _NODE_PATH.match(problem.path)
        node = _at(document, match.group(1)) if match else None
        if isinstance(node, dict) and node.get("id"):
            problem = Problem(problem.code, problem.path, f"step {node['id']!r}: {problem.message}", problem.hint,
                              problem.extra)
        out.append(problem)
    return out


def _at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key, index in re.findall(r"\.(\w+)(?:\[(\d+)\])?", path):
        value = value.get(key) if isinstance(value, dict) else None
        if index and isinstance(value, list):
            value = value[int(index)] if int(index) < len(value) else None
    return value


def _render(template: PromptTemplate, **variables: Any) -> str:
    return template.render(**variables)


def _usage(answer: Any) -> dict[str, Any]:
    usage = answer.usage
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens, "cost_usd": round(float(answer.cost_usd), 8),
            "cost_unknown": bool(answer.cost_unknown), "attempts": answer.attempts, "model": answer.model}


def _usage_from_error(exc: FlowwrightError) -> dict[str, Any]:
    usage = exc.details.get("usage") if isinstance(exc.details, dict) else None
    if not isinstance(usage, dict):
        return {}
    prompt = int(usage.get("gen_ai.usage.input_tokens", 0))
    completion = int(usage.get("gen_ai.usage.output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "cost_usd": None, "attempts": exc.details.get("attempts")}


def reply_json(reply: Any) -> str:
    return json.dumps(reply.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


__all__ = ["CheckedCopilotResponse", "CopilotError", "Pipeline", "PipelineResult"]


def _as_authored(document: dict[str, Any]) -> dict[str, Any]:
    """Nothing the model wrote counts as pass-inserted: an ``origin: guardrail`` it claims is
    demoted to ``generated`` so the passes always insert their own guardrails (the current
    version's inserted nodes were stripped before the model saw it)."""

    def demote(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node.get("origin") == "guardrail":
                node["origin"] = "generated"
            if isinstance(node.get("body"), dict):
                demote(node["body"].get("nodes", []))

    document = copy.deepcopy(document)
    demote(document.get("nodes", []))
    return document
