"""The response model the copilot asks models for, and its compiler into workflow format v1.

Models are bad at nested graphs and good at flat lists, so a plan is a flat list of steps: each
step names the steps it follows (``after``), the branch it takes when it follows a condition or a
switch, and the loop it belongs to (``in_loop``). ``compile_plan`` turns that into format v1
(nodes, edges, nested loop bodies, merges for fan-in, error routes); ``plan_from_workflow`` goes
back, so a refinement (an ``EditPlan``) is applied to the current plan and the parts the user did
not mention never change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic.json_schema import SkipJsonSchema

from engine.errors import WorkflowInvalidError

TRIGGER_REF = "trigger"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FAILURE_KEYWORDS = ("continue", "fail")


class PlanInvalidError(WorkflowInvalidError):
    """A plan cannot be compiled (a step in an unknown loop, an edit naming an unknown step...)."""

    code = "plan_invalid"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, data: Any) -> Any:
        # Hosted models answer in the strict schema's form: JSON objects as text, null for "not
        # given" (app.copilot.response_schema). The plain form passes through unchanged.
        from app.copilot.response_schema import wire_input

        return wire_input(cls, data)


# --- trigger --------------------------------------------------------------------------------


class TriggerSpec(_Model):
    """How the workflow starts."""

    kind: Literal["manual", "webhook", "schedule"] = Field(
        "manual", description="schedule: runs on a cron or once at 'at'; webhook: an HTTP call starts it; manual: a person starts it."
    )
    id: str | None = Field(None, description="Node id of the trigger; default derived from the kind.")
    cron: str | None = Field(None, description="schedule: five-field cron, e.g. '0 9 * * 1' for Mondays 09:00.")
    timezone: str | None = Field(None, description="schedule: IANA time zone such as 'Asia/Tokyo'; omit for UTC.")
    at: str | None = Field(None, description="schedule: ISO 8601 date-time for a single run (instead of cron).")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = Field(None, description="webhook: HTTP method.")
    path: str | None = Field(None, description="webhook: optional path suffix.")
    fields: list[str] = Field(default_factory=list, description="webhook/manual: names of the input fields the request mentions.")
    input_schema: dict[str, Any] | None = Field(None, description="webhook/manual: full JSON Schema of the input, if known.")


# --- steps ----------------------------------------------------------------------------------


class _StepBase(_Model):
    id: str = Field(description="Short snake_case id, unique in the plan, e.g. 'fetch_orders'.")
    name: str | None = Field(None, description="Human-readable name.")
    description: str | None = None
    after: list[str] | None = Field(
        None,
        description=(
            "Ids of the steps this one follows; 'trigger' for the trigger; inside a loop, the loop's id "
            "for the body's first step. Omit to follow the previous step at the same level."
        ),
    )
    branch: str | None = Field(
        None, description="When following a condition: 'true' or 'false'; a switch: a case name or 'default'."
    )
    in_loop: str | None = Field(None, description="Id of the loop step whose body this step belongs to.")
    max_attempts: int | None = Field(
        None, ge=1, le=100, description="Total attempts including the first ('retry up to 5 times' → 5)."
    )
    backoff: Literal["fixed", "exponential"] | None = Field(None, description="Retry backoff; default exponential.")
    retry_delay_s: float | None = Field(None, ge=0, le=86_400, description="First retry delay in seconds.")
    timeout_s: float | None = Field(None, gt=0, le=7 * 86_400)
    on_failure: str | None = Field(
        None, description="When this step finally fails: id of a step to route the error to, or 'continue', or 'fail'."
    )
    origin: SkipJsonSchema[Literal["user", "generated", "guardrail"] | None] = None
    reason: SkipJsonSchema[str | None] = None


class ActionStep(_StepBase):
    """Calls one connector operation; ``config`` follows that operation's input model."""

    type: Literal["action"] = "action"
    connector: str = Field(description="Connector name from the catalog, e.g. 'http', 'email', 'slack'.")
    operation: str = Field(description="Operation of that connector, e.g. 'request', 'send', 'post_message'.")
    config: dict[str, Any] = Field(default_factory=dict, description="Operation input; '{{ expr }}' for JSONata values.")
    credential: str | None = Field(None, description="Name of a credential in the workspace vault.")


class ConditionStep(_StepBase):
    """Two-way branch: following steps set ``branch`` to 'true' or 'false'."""

    type: Literal["condition"] = "condition"
    expression: str = Field(description="Bare JSONata boolean, e.g. 'nodes.fetch.body.total > 1000'.")


class SwitchCaseSpec(_Model):
    name: str = Field(description="Branch name used by following steps' 'branch'.")
    equals: Any = Field(None, description="Value compared with the switch value.")


class SwitchStep(_StepBase):
    """Multi-way routing: following steps set ``branch`` to a case name or 'default'."""

    type: Literal["switch"] = "switch"
    value: str = Field(description="Bare JSONata whose result is compared with each case.")
    cases: list[SwitchCaseSpec] = Field(min_length=1)


class LoopStep(_StepBase):
    """Runs its body (the steps whose ``in_loop`` is this id) once per item or per batch (``items``),
    or again and again while a condition holds (``while`` with ``max_iterations``: polling)."""

    # ``while`` is a Python keyword: the field is ``while_`` and every dump spells it ``while``, so a
    # plan's JSON (the current plan a model reads, an edit's dict) names it one way only
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    type: Literal["loop"] = "loop"
    items: str | None = Field(None, description="For each: the list, e.g. '{{ nodes.fetch_customers.rows }}'.")
    max_concurrency: int = Field(1, ge=1, le=1000)
    max_items: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, description="'10 at a time' → 10.")
    while_: str | None = Field(None, alias="while", description="Instead of items: bare JSONata over 'previous' "
                                                                "(last iteration's result); repeats while true.")
    max_iterations: int | None = Field(None, ge=1, le=10_000, description="Required with while.")
    delay_s: float | None = Field(None, ge=0, le=366 * 86_400, description="while: wait between iterations.")
    output: Literal["list", "last"] | None = None
    on_max_iterations: Literal["fail", "stop"] | None = None


class MergeStep(_StepBase):
    """Waits for several branches (fan-in) and combines their outputs."""

    type: Literal["merge"] = "merge"
    mode: Literal["all", "first"] = "all"


class DelayStep(_StepBase):
    """Waits ('wait 2 days' → seconds 172800); compiled to core.delay."""

    type: Literal["delay"] = "delay"
    seconds: float | None = Field(None, ge=0, le=366 * 86_400)
    until: str | None = Field(None, description="ISO 8601 date-time to wait for.")


class AiStep(_StepBase):
    """A model step: complete, classify, extract or summarize; compiled to the llm connector."""

    type: Literal["ai"] = "ai"
    task: Literal["complete", "classify", "extract", "summarize"]
    input: str = Field(description="Text to work on, usually an expression like '{{ trigger.body.message }}'.")
    instructions: str | None = Field(None, description="Extra instructions or the prompt.")
    labels: list[str] | None = Field(None, description="classify: the labels to choose from.")
    fields: list[str] | None = Field(None, description="extract: the field names to pull out.")
    config: dict[str, Any] = Field(default_factory=dict, description="Other llm operation inputs.")


class GuardrailStep(_StepBase):
    """An explicit guardrail the user asked for ('ask me before refunding' → approval)."""

    type: Literal["guardrail"] = "guardrail"
    kind: Literal["schema", "pii_redaction", "approval", "content_filter", "rate_limit", "budget"]
    config: dict[str, Any] = Field(default_factory=dict)


Step = Annotated[
    ActionStep | ConditionStep | SwitchStep | LoopStep | MergeStep | DelayStep | AiStep | GuardrailStep,
    Field(discriminator="type"),
]
STEP_ADAPTER: TypeAdapter[Any] = TypeAdapter(Step)


# --- replies --------------------------------------------------------------------------------


class WorkflowPlan(_Model):
    """A new workflow."""

    kind: Literal["workflow"] = "workflow"
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, description="One sentence saying what the workflow does.")
    explanation: str = Field("", description="Plain words for the user: what it does and any assumption made.")
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    steps: list[Step] = Field(min_length=1)


class Question(_Model):
    """A clarifying question, when a required value is missing or the request is ambiguous."""

    kind: Literal["question"] = "question"
    question: str = Field(min_length=1, description="One clear question for the user.")
    missing: list[str] = Field(default_factory=list, description="What is missing, e.g. ['email recipient'].")


class AddStep(_Model):
    op: Literal["add_step"] = "add_step"
    step: Step
    before: str | None = Field(None, description="Insert in front of this step id (it then follows the new step).")


class RemoveStep(_Model):
    op: Literal["remove_step"] = "remove_step"
    id: str = Field(description="Step to remove; its followers are reconnected to its predecessors.")


class UpdateStep(_Model):
    op: Literal["update_step"] = "update_step"
    id: str
    config: dict[str, Any] = Field(default_factory=dict, description="Merge patch of the step's config (null removes a key).")
    append: dict[str, list[Any]] = Field(
        default_factory=dict, description="Values appended to list fields of the config, e.g. {'to': ['bob@example.com']}."
    )
    changes: dict[str, Any] = Field(default_factory=dict, description="Other step fields to set (name, connector, max_attempts...).")


class ChangeTrigger(_Model):
    op: Literal["change_trigger"] = "change_trigger"
    trigger: TriggerSpec = Field(description="Fields to change; with the same kind, unset fields keep their value.")


class Rename(_Model):
    op: Literal["rename"] = "rename"
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None


Edit = Annotated[AddStep | RemoveStep | UpdateStep | ChangeTrigger | Rename, Field(discriminator="op")]


class EditPlan(_Model):
    """Changes to the current workflow; everything not named stays as it is."""

    kind: Literal["edit"] = "edit"
    explanation: str = Field("", description="Plain words: what changed.")
    edits: list[Edit] = Field(min_length=1)


class CopilotResponse(_Model):
    """What the copilot asks a model for: a new workflow, a clarifying question, or edits."""

    reply: Annotated[WorkflowPlan | Question | EditPlan, Field(discriminator="kind")]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The schema models are asked to fill: OpenAI's strict form (``app.copilot.response_schema``),
        derived from these models. The models also read the plain form."""
        from app.copilot.response_schema import strict_schema

        return strict_schema(super().model_json_schema(*args, **kwargs))


def response_schema() -> dict[str, Any]:
    """The JSON Schema of ``CopilotResponse`` (what the local model recognises by its title)."""
    return CopilotResponse.model_json_schema()


def load_plan(data: Any) -> WorkflowPlan:
    """A ``WorkflowPlan`` from JSON that may lack defaulted discriminators.

    ``model_dump(exclude_defaults=True)`` drops ``kind: "workflow"`` and each step's ``type``
    (they are defaults); this puts them back from the fields each step type has.
    """
    if isinstance(data, str | bytes):
        import json

        data = json.loads(data)
    data = dict(data)
    data.setdefault("kind", "workflow")
    steps = []
    for step in data.get("steps") or []:
        if isinstance(step, dict) and "type" not in step:
            step = dict(step)
            step["type"] = _infer_type(step)
        steps.append(step)
    data["steps"] = steps
    return WorkflowPlan.model_validate(data)


def _infer_type(step: dict[str, Any]) -> str:
    if "connector" in step or "operation" in step:
        return "action"
    for key, kind in (("expression", "condition"), ("cases", "switch"), ("items", "loop"), ("while", "loop"),
                      ("while_", "loop"), ("max_iterations", "loop"), ("task", "ai"),
                      ("kind", "guardrail"), ("seconds", "delay"), ("until", "delay")):
        if key in step:
            return kind
    return "merge"


# The compiler (plan_compile) and the edit functions (plan_edit) live in their own modules and are
# part of this module's API; they import the models above, so they are loaded on first use.
_LAZY = {"compile_plan": "app.copilot.plan_compile", "fields_schema": "app.copilot.plan_compile",
         "apply_edits": "app.copilot.plan_edit", "plan_from_workflow": "app.copilot.plan_edit"}

if TYPE_CHECKING:
    from app.copilot.plan_compile import compile_plan, fields_schema
    from app.copilot.plan_edit import apply_edits, plan_from_workflow


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = [
    "ActionStep", "AddStep", "AiStep", "ChangeTrigger", "ConditionStep", "CopilotResponse", "DelayStep",
    "EditPlan", "GuardrailStep", "LoopStep", "MergeStep", "PlanInvalidError", "Question", "RemoveStep",
    "Rename", "Step", "SwitchCaseSpec", "SwitchStep", "TriggerSpec", "UpdateStep", "WorkflowPlan",
    "apply_edits", "compile_plan", "fields_schema", "load_plan", "plan_from_workflow", "response_schema",
]
