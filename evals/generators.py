"""What the runner evaluates: something that answers a conversation, one message at a time.

``ReferenceGenerator`` answers with each case's own reference (it must score 100%: that checks
the dataset and the metrics). ``CopilotGenerator`` drives the real copilot in-process with any
model litellm can reach, the built-in local model by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evals.dataset import Case


@dataclass
class Answer:
    """One assistant turn as the eval sees it."""

    workflow: dict[str, Any] | None = None
    question: str | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0
    tokens: int = 0
    latency_ms: float = 0.0
    cache_hit: bool = False


class Conversation(Protocol):
    def send(self, message: str) -> Answer: ...


class Generator(Protocol):
    """Opens one conversation per case."""

    name: str

    def conversation(self, case: Case) -> Conversation: ...


class _Replay:
    def __init__(self, case: Case) -> None:
        self._turns = iter(case.all_turns())

    def send(self, message: str) -> Answer:  # noqa: ARG002 - the reference ignores the wording
        start = time.perf_counter()
        turn = next(self._turns)
        if turn.reference is None:
            named = ", ".join(turn.expect.mentions)
            return Answer(question=f"(reference) which one do you mean? {named}".strip(), latency_ms=_ms(start))
        return Answer(workflow=turn.reference, latency_ms=_ms(start))


class ReferenceGenerator:
    """Answers every turn with the case's reference: the perfect model."""

    name = "reference"

    def conversation(self, case: Case) -> Conversation:
        return _Replay(case)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute or key among ``names`` (Turn objects and dicts alike)."""
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if not isinstance(obj, dict) and hasattr(obj, name):
            return getattr(obj, name)
    return default


def answer_from_turn(turn: Any, elapsed_ms: float) -> Answer:
    """Read the copilot's Turn (workflow or question, usage, cache hit, latency) into an Answer."""
    workflow = _get(turn, "workflow")
    if workflow is not None and hasattr(workflow, "to_json_dict"):
        workflow = workflow.to_json_dict()
    elif workflow is not None and hasattr(workflow, "model_dump"):
        workflow = workflow.model_dump(mode="json", exclude_unset=True, by_alias=True)
    usage = _get(turn, "usage", default=None) or {}
    if hasattr(usage, "model_dump"):
        usage = usage.model_dump(mode="json")
    elif not isinstance(usage, dict):
        usage = dict(vars(usage)) if hasattr(usage, "__dict__") else {}
    tokens = usage.get("total_tokens")
    if tokens is None:
        tokens = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0) + int(
            usage.get("completion_tokens") or usage.get("output_tokens") or 0
        )
    cache = _get(turn, "cache_hit", "cache", default=False)
    latency = _get(turn, "latency_ms", default=None)
    error = _get(turn, "error")
    if isinstance(error, dict):
        error = f"{error.get('code', 'error')}: {error.get('message', '')}"
    return Answer(
        workflow=workflow if isinstance(workflow, dict) else None,
        question=_get(turn, "question"),
        error=str(error)[:500] if error else None,
        usage=usage,
        cost_usd=float(usage.get("cost_usd") or usage.get("cost") or 0.0),
        tokens=int(tokens or 0),
        latency_ms=float(latency) if latency is not None else elapsed_ms,
        cache_hit=bool(cache is True or cache == "hit"),
    )


class _CopilotConversation:
    def __init__(self, copilot: Any, workspace_id: str) -> None:
        self._copilot = copilot
        self._workspace_id = workspace_id
        self._conversation_id: str | None = None

    def send(self, message: str) -> Answer:
        start = time.perf_counter()
        try:
            if self._conversation_id is None:
                turn = self._copilot.generate(message, workspace_id=self._workspace_id)
                self._conversation_id = _get(turn, "conversation_id")
            else:
                turn = self._copilot.send(self._conversation_id, message)
        except Exception as exc:  # a model or pipeline failure is a failed case, not a crashed eval
            return Answer(error=f"{type(exc).__name__}: {exc}"[:500], latency_ms=_ms(start))
        return answer_from_turn(turn, _ms(start))


class CopilotGenerator:
    """The real copilot, in this process, with ``model`` (a litellm model string).

    ``factory`` builds the copilot (so tests and other front ends can pass their own); the default
    one reads the settings, with the model overridden and, unless ``cache`` is true, the semantic
    cache off, so every case measures an uncached generation.
    """

    def __init__(
        self,
        model: str,
        *,
        cache: bool = False,
        factory: Callable[[str, bool], Any] | None = None,
        workspace_id: str = "evals",
    ) -> None:
        self.name = model
        self._copilot = (factory or default_copilot_factory)(model, cache)
        self._workspace_id = workspace_id

    def conversation(self, case: Case) -> Conversation:  # noqa: ARG002
        return _CopilotConversation(self._copilot, self._workspace_id)


def default_copilot_factory(model: str, cache: bool) -> Any:
    """Build ``app.copilot.service.Copilot`` for ``model`` from the settings (imported lazily)."""
    from app.settings import get_settings
    from app.wiring import Container

    settings = get_settings().model_copy(update={"model": model, "cache_enabled": cache})
    return Container(settings, vault=False).copilot  # no vault: eval workflows get no credentials attached
