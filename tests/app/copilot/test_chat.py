"""Conversations: persisted turns, versions, diffs, guardrails, usage, undo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.copilot.chat import ChatStore
from app.copilot.service import NothingToUndoError
from app.llm.fake_provider import FakeModel
from engine.errors import NotFoundError
from engine.workflow_store import WorkflowStore
from tests.app.copilot.scripted import copilot, fake, reply, support_triage, weekly_sales

__all__ = ["fake"]

ADD_SLACK = reply("edit", explanation="Also posted to #sales.", edits=[{"op": "add_step", "step": {
    "type": "action", "id": "post_sales", "after": ["fetch_sales"], "connector": "slack", "operation": "post_message",
    "config": {"channel": "#sales", "text": "{{ $string(nodes.fetch_sales.body.total) }}"}}}])
FRIDAYS = reply("edit", explanation="Fridays now.", edits=[{"op": "change_trigger", "trigger": {
    "kind": "schedule", "cron": "0 9 * * 5"}}])


def test_generate_stores_version_one_with_details(tmp_path: Any, fake: FakeModel) -> None:
    fake.enqueue(support_triage())
    c = copilot(tmp_path)
    turn = c.generate("summarize tickets into #support", workspace_id="w1", user_id="ann")
    assert turn.kind == "workflow" and turn.version == 1 and turn.base_version is None and turn.valid
    assert turn.workflow is not None and turn.workflow == c.current(turn.conversation_id)
    assert {g["kind"] for g in turn.guardrails} == {"schema", "pii_redaction", "content_filter", "core.log"}
    assert all(g["reason"] for g in turn.guardrails)
    assert "summarize" in turn.diff["added"] and turn.diff["removed"] == []
    assert "Guardrails added" in turn.message
    assert turn.usage["total_tokens"] > 0 and turn.cache == "miss" and turn.latency_ms > 0
    stored = c.workflows.version("w1", turn.workflow_id, 1)
    assert stored.source == "chat" and stored.created_by == "ann"
    assert [m.role for m in c.chat.messages(turn.conversation_id)] == ["user", "assistant"]


def test_refine_diff_and_undo_chain(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(weekly_sales(), ADD_SLACK, FRIDAYS)
    first = c.generate("weekly sales to alice@example.com", workspace_id="w")
    cid = first.conversation_id
    second = c.send(cid, "also post it to #sales")
    assert (second.version, second.base_version) == (2, 1)
    assert second.diff["added"] == ["post_sales"]
    history = [m["content"] for m in fake.requests[1].messages if m["role"] == "assistant"]
    assert history == ["Fetches the sales every Monday and emails the total to alice@example.com."]
    assert set(second.diff["changed"]) <= {"report_failure"}  # only the error handler learns of the new step
    third = c.send(cid, "make it Fridays instead")
    assert third.diff["changed"] == {"trigger": ["config"]} and third.diff["added"] == []
    assert c.current(cid).trigger.config.cron == "0 9 * * 5"

    back = c.undo(cid)
    assert back.kind == "undo" and back.version == 2 and c.current(cid).trigger.config.cron == "0 9 * * 1"
    assert c.undo(cid).version == 1
    with pytest.raises(NothingToUndoError):
        c.undo(cid)

    # a new turn after undo builds on version 1; undoing it returns to 1, not to the undone 2 or 3
    fake.enqueue(FRIDAYS)
    fourth = c.send(cid, "make it Fridays instead")
    assert (fourth.version, fourth.base_version) == (4, 1)
    assert c.undo(cid).version == 1


def test_question_turn_then_answer_uses_history(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(reply("question", question="Who should get it?", missing=["recipient"]), weekly_sales())
    asked = c.generate("send the weekly sales", workspace_id="w")
    assert asked.kind == "question" and asked.question == "Who should get it?" and asked.workflow is None
    assert c.current(asked.conversation_id) is None
    answered = c.send(asked.conversation_id, "alice@example.com")
    assert answered.kind == "workflow" and answered.version == 1
    history = fake.requests[1].messages
    assert [m["content"] for m in history if m["role"] in ("user", "assistant")] == [
        "send the weekly sales", "Who should get it?", "alice@example.com"]


def test_error_turn_stores_nothing(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(FakeModel.auth_error())
    turn = c.generate("anything", workspace_id="w")
    assert turn.kind == "error" and turn.workflow is None and turn.error["code"] == "model_auth_failed"
    assert c.workflows.list("w") == []
    with pytest.raises(NothingToUndoError):
        c.undo(turn.conversation_id)


def test_conversations_persist_across_processes(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(weekly_sales())
    turn = c.generate("weekly sales", workspace_id="w")
    engine = c.workflows.engine
    engine.dispose()
    reopened = ChatStore(engine)
    rows = reopened.messages(turn.conversation_id)
    assert [(r.role, r.kind, r.workflow_version) for r in rows] == [("user", "message", None), ("assistant", "workflow", 1)]
    payload = rows[1].payload_dict()
    assert payload["valid"] is True and payload["guardrails"] and payload["usage"]["total_tokens"] > 0
    assert WorkflowStore(engine).version("w", turn.workflow_id).workflow() == turn.workflow
    with pytest.raises(NotFoundError):
        reopened.get(turn.conversation_id, "another-workspace")


def test_same_name_twice_gets_a_suffix_and_duplicates_are_flagged(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(weekly_sales(), weekly_sales())
    first = c.generate("weekly sales email", workspace_id="w")
    second = c.generate("weekly sales email", workspace_id="w")
    assert first.workflow.name == "Weekly sales email"
    assert second.workflow.name == "Weekly sales email (2)"
    assert second.duplicates == ["Weekly sales email"]
    context = fake.requests[1].messages[1]["content"]
    assert "## Existing workflows in this workspace" in context and "Possible duplicates" in context


def test_turn_serialises(tmp_path: Any, fake: FakeModel) -> None:
    fake.enqueue(weekly_sales())
    turn = copilot(tmp_path).generate("weekly sales", workspace_id="w")
    data = json.loads(json.dumps(turn.to_dict()))
    assert data["cache"] == "miss" and data["workflow"]["name"] == "Weekly sales email"


def test_a_refinement_renaming_onto_another_workflows_name_gets_a_suffix(tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(weekly_sales(), support_triage(),
                 reply("edit", edits=[{"op": "rename", "name": "Weekly sales email"}]))
    c.generate("weekly sales", workspace_id="w")
    other = c.generate("triage", workspace_id="w")
    renamed = c.send(other.conversation_id, "call it Weekly sales email")
    assert renamed.kind == "workflow" and renamed.workflow.name == "Weekly sales email (2)"
    assert sorted(r.name for r in c.workflows.list("w")) == ["Weekly sales email", "Weekly sales email (2)"]


def run_a_workflow(target: str) -> str:
    return reply("workflow", name="Then notify", explanation="Runs the notify workflow.", steps=[
        {"type": "action", "id": "notify_team", "connector": "core", "operation": "run_workflow",
         "config": {"workflow_id": target}}])


def test_a_sub_workflow_call_the_workspace_cannot_satisfy_is_an_error_turn_not_a_500(
        tmp_path: Any, fake: FakeModel) -> None:
    c = copilot(tmp_path)
    fake.enqueue(run_a_workflow("wf_nowhere"))
    turn = c.generate("when done, run the 'notify team' workflow", workspace_id="w")
    assert turn.kind == "error" and turn.workflow_id is None and not turn.valid
    assert [(p["code"], p["path"]) for p in turn.problems] == [("subworkflow_not_found", "$.nodes[1].config.workflow_id")]
    assert "does not exist in this workspace" in turn.message
    assert c.workflows.list("w") == []  # nothing was stored
    assert [m.role for m in c.chat.messages(turn.conversation_id)] == ["user", "assistant"]

    fake.enqueue(weekly_sales())
    target = c.generate("weekly sales to alice@example.com", workspace_id="w").workflow_id
    fake.enqueue(run_a_workflow(target))
    ok = c.generate("when done, run the weekly sales workflow", workspace_id="w")
    assert ok.kind == "workflow" and ok.version == 1, ok.message
