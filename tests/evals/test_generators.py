"""The copilot adapter: Turns (workflow, question or error; usage; cache; latency) become Answers,
and a copilot that raises makes a failed case, not a crashed eval."""

from __future__ import annotations

from typing import Any

from app.copilot.chat import Turn
from engine.workflow import Workflow
from evals.dataset import Case
from evals.generators import CopilotGenerator, ReferenceGenerator

WORKFLOW = {"schema_version": "1", "name": "x", "nodes": [{"id": "start", "type": "trigger", "kind": "manual"}],
            "edges": []}
CASE = Case.model_validate({"id": "c", "version": 1, "category": "manual", "turns": [
    {"message": "one", "reference": WORKFLOW, "expect": {}},
    {"message": "two", "reference": None, "expect": {"question": True}}]})


class ScriptedCopilot:
    """Answers from a script, recording which conversation each message went to."""

    def __init__(self, turns: list[Any]) -> None:
        self.turns = turns
        self.calls: list[tuple[str, str]] = []

    def generate(self, prompt: str, *, workspace_id: str) -> Any:
        self.calls.append(("generate", workspace_id))
        return self._next()

    def send(self, conversation_id: str, message: str) -> Any:
        self.calls.append(("send", conversation_id))
        return self._next()

    def _next(self) -> Any:
        turn = self.turns.pop(0)
        if isinstance(turn, Exception):
            raise turn
        return turn


def test_turns_become_answers_and_follow_the_conversation() -> None:
    first = Turn(conversation_id="cv1", seq=1, kind="workflow", message="ok", workflow=Workflow.model_validate(WORKFLOW),
                 usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost_usd": 0.001},
                 cache_hit=True, latency_ms=12.5)
    second = Turn(conversation_id="cv1", seq=2, kind="question", message="?", question="Which channel?")
    copilot = ScriptedCopilot([first, second])
    conversation = CopilotGenerator("fake/model", factory=lambda model, cache: copilot).conversation(CASE)
    one = conversation.send("one")
    assert one.workflow == WORKFLOW and one.tokens == 15 and one.cost_usd == 0.001
    assert one.cache_hit and one.latency_ms == 12.5 and one.error is None
    two = conversation.send("two")
    assert two.workflow is None and two.question == "Which channel?"
    assert copilot.calls == [("generate", "evals"), ("send", "cv1")]


def test_errors_are_answers() -> None:
    failed = Turn(conversation_id="cv2", seq=1, kind="error", message="",
                  error={"code": "copilot_failed", "message": "the generated workflow is invalid"})
    copilot = ScriptedCopilot([failed, RuntimeError("model went away")])
    generator = CopilotGenerator("fake/model", factory=lambda model, cache: copilot)
    assert generator.conversation(CASE).send("one").error == "copilot_failed: the generated workflow is invalid"
    crashed = generator.conversation(CASE).send("one")
    assert crashed.error == "RuntimeError: model went away" and crashed.workflow is None


def test_the_reference_generator_replays_references_and_questions() -> None:
    conversation = ReferenceGenerator().conversation(CASE)
    assert conversation.send("one").workflow == WORKFLOW
    assert conversation.send("two").question
