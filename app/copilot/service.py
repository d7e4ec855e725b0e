"""The copilot's in-process API: conversations that turn messages into workflow versions.

::

    copilot = Container.open(get_settings()).copilot     # app/wiring.py builds it
    turn = copilot.generate("Every Monday 9:00 email the sales to alice@example.com", workspace_id="w1")
    turn = copilot.send(turn.conversation_id, "also post it to #sales")
    turn = copilot.undo(turn.conversation_id)

Each call returns a :class:`~app.copilot.chat.Turn`: a clarifying question, or a new workflow
version (stored with source ``chat``) with its explanation, the diff against the previous version,
the guardrails inserted and why, the validation status and the usage/cost of the turn.
The API and the CLI use the ``a*`` variants / the sync ones; the eval runner calls ``generate``
and ``send``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.copilot.chat import ChatStore, Turn
from app.copilot.context import ContextBuilder, Retriever, WorkflowSummary
from app.copilot.credentials import CredentialRef
from app.copilot.diff import diff_workflows
from app.copilot.nlu.intents import intent_of
from app.copilot.pasted_secrets import Redacted, offers, redact_secrets, reply
from app.copilot.pipeline import Pipeline, PipelineResult
from app.copilot.progress import ProgressCallback, Stages
from engine.errors import ConflictError, FlowwrightError, WorkflowInvalidError
from engine.workflow import Workflow
from engine.workflow_store import WorkflowRow, WorkflowStore, WorkflowVersionRow

if TYPE_CHECKING:
    from app.llm.embeddings import Embedder
    from app.llm.gateway import Gateway
    from app.settings import Settings
    from connectors.registry import Registry

DEFAULT_WORKSPACE = "default"
MAX_SUMMARIES = 50
log = logging.getLogger(__name__)


class CredentialLister(Protocol):
    """Names and types of a workspace's credentials (``connectors.vault.Vault`` is one)."""

    def list(self, workspace_id: str) -> Sequence[CredentialRef]: ...


class NothingToUndoError(FlowwrightError):
    code = "nothing_to_undo"
    status = 409


class Copilot:
    """Conversations, the pipeline and the stores, wired together.

    Args:
        pipeline: runs one message (prompts → model → validation → repair → passes).
        workflows: where versions go.
        chat: where conversations and turns go.
        preferences: workspace preferences offered to the model (time zone, default email...).
        credentials: the vault (only names and types are read): steps get the workspace's
            credentials attached, or the reply says how to add a missing one. ``None``: no vault,
            nothing is attached (the eval runner).
    """

    def __init__(self, pipeline: Pipeline, workflows: WorkflowStore, chat: ChatStore, *,
                 preferences: dict[str, str] | None = None, credentials: CredentialLister | None = None) -> None:
        self.pipeline = pipeline
        self.workflows = workflows
        self.chat = chat
        self.preferences = {k: v for k, v in (preferences or {}).items() if v}
        self.credentials = credentials

    # --- conversations ---------------------------------------------------------------------

    def start(self, workspace_id: str = DEFAULT_WORKSPACE, *, user_id: str | None = None,
              workflow_id: str | None = None, title: str = "") -> str:
        """A new conversation (optionally about an existing workflow); returns its id. The title
        (the first message, say) is stored with its secrets cut out, then cut to 80 characters."""
        if workflow_id is not None:
            self.workflows.get(workspace_id, workflow_id)  # 404 before anything is written
        row = self.chat.create(workspace_id, user_id=user_id, title=redact_secrets(title).text[:80])
        if workflow_id is not None:
            self.chat.set_workflow(row.id, workflow_id)
        return row.id

    def generate(self, prompt: str, *, workspace_id: str = DEFAULT_WORKSPACE, user_id: str | None = None) -> Turn:
        """One message in a new conversation."""
        conversation_id = self.start(workspace_id, user_id=user_id, title=prompt)
        return self.send(conversation_id, prompt, user_id=user_id)

    def send(self, conversation_id: str, message: str, *, user_id: str | None = None,
             progress: ProgressCallback | None = None) -> Turn:
        """The assistant's turn after ``message``: a question, a new version, or an error.

        Secrets in the message (keys, tokens, passwords) are replaced by ``***`` before anything
        sees it — the stored history, the model, the semantic cache, the workflow — and the reply
        says how to store each as a credential instead (``turn.secrets``). ``progress`` is told
        each stage as it starts and ends (the pipeline's, then ``store``)."""
        started = time.perf_counter()
        conversation = self.chat.get(conversation_id)
        workspace_id = conversation.workspace_id
        pasted = redact_secrets(message)
        message = pasted.text
        if pasted.only_secrets:
            return self._secrets_only(conversation_id, workspace_id, pasted, started)
        history = self.chat.history(conversation_id)
        if conversation.workflow_id is not None and intent_of(message) == "undo":
            self.chat.add(conversation_id, "user", message)
            return self.undo(conversation_id)  # "undo", "revert that", "go back" typed as words
        self.chat.add(conversation_id, "user", message)
        current, current_version = self._current(workspace_id, conversation.workflow_id)
        result = self.pipeline.run(
            message, workspace_id=workspace_id, user_id=user_id or conversation.user_id,
            conversation_id=conversation_id, workflow_id=conversation.workflow_id, history=history,
            current=current, workflows=self._summaries(workspace_id, exclude=conversation.workflow_id),
            preferences=self.preferences, credentials=self._credentials(workspace_id), progress=progress,
        )
        stored_as = None
        if result.kind == "workflow" and result.workflow is not None:
            stages = Stages(progress)
            with stages.stage("store", "store the version") as kept:
                try:
                    stored_as = self._store(workspace_id, conversation.workflow_id, result, user_id)
                    kept.update(version=stored_as[1])
                except WorkflowInvalidError as exc:  # its sub-workflow calls, checked against the workspace
                    result.kind, result.valid, result.error = "error", False, exc.to_dict()
                    result.problems = [p.to_dict() for p in exc.problems]
                    kept.update(problems=len(result.problems))
            result.timings.update(stages.timings)
        turn = self._turn(conversation_id, result)
        if stored_as is not None:
            workflow_id, version = stored_as
            if conversation.workflow_id is None:
                self.chat.set_workflow(conversation_id, workflow_id)
            turn.workflow_id, turn.version, turn.base_version = workflow_id, version, current_version
            stored = self.workflows.version(workspace_id, workflow_id, version).workflow()
            turn.workflow = stored
            diff = diff_workflows(current, stored)
            turn.diff = diff.to_dict()
            turn.message = _describe(result, diff.summary(), version, set(diff.added))
        if pasted.found:
            turn.secrets = offers(pasted.found, workspace_id)
            turn.message = "\n".join(filter(None, [turn.message, reply(pasted.found, workspace_id)]))
        turn.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        row = self.chat.add(conversation_id, "assistant", turn.message, kind=turn.kind, workflow_id=turn.workflow_id,
                            version=turn.version, base_version=turn.base_version, payload=turn.payload())
        turn.seq = row.seq
        return turn

    def _secrets_only(self, conversation_id: str, workspace_id: str, pasted: Redacted, started: float) -> Turn:
        """The turn for a message that was nothing but secrets: nothing to plan, so the reply only
        offers to store them as credentials (the message is kept as ``***``)."""
        self.chat.add(conversation_id, "user", pasted.text)
        question = reply(pasted.found, workspace_id) + "\nWhat should the workflow do with it?"
        turn = Turn(conversation_id=conversation_id, seq=0, kind="question", message=question, question=question,
                    valid=True, secrets=offers(pasted.found, workspace_id))
        turn.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        row = self.chat.add(conversation_id, "assistant", turn.message, kind=turn.kind, payload=turn.payload())
        turn.seq = row.seq
        return turn

    def undo(self, conversation_id: str) -> Turn:
        """Return the conversation's workflow to the version the current one was derived from."""
        conversation = self.chat.get(conversation_id)
        workspace_id, workflow_id = conversation.workspace_id, conversation.workflow_id
        if workflow_id is None:
            raise NothingToUndoError("this conversation has no workflow yet")
        current, version = self._current(workspace_id, workflow_id)
        producer = self.chat.producer_of(conversation_id, version) if version is not None else None
        if producer is None or producer.base_version is None:
            raise NothingToUndoError(f"version {version} is the first version of this conversation")
        self.workflows.set_current(workspace_id, workflow_id, producer.base_version)
        previous = self.workflows.version(workspace_id, workflow_id, producer.base_version).workflow()
        diff = diff_workflows(current, previous)
        turn = Turn(conversation_id=conversation_id, seq=0, kind="undo",
                    message=f"Back to version {producer.base_version} ({diff.summary()}).",
                    workflow=previous, workflow_id=workflow_id, version=producer.base_version,
                    base_version=version, diff=diff.to_dict(), valid=True)
        row = self.chat.add(conversation_id, "assistant", turn.message, kind="undo", workflow_id=workflow_id,
                            version=turn.version, base_version=version, payload=turn.payload())
        turn.seq = row.seq
        return turn

    def warm_up(self) -> None:
        """Load everything the first message would (see :meth:`Pipeline.warm_up`); stores nothing."""
        self.pipeline.warm_up(self.preferences)

    def current(self, conversation_id: str) -> Workflow | None:
        """The conversation's workflow at its current version (None before the first version)."""
        conversation = self.chat.get(conversation_id)
        return self._current(conversation.workspace_id, conversation.workflow_id)[0]

    def current_ref(self, conversation_id: str) -> tuple[str | None, int | None]:
        conversation = self.chat.get(conversation_id)
        return conversation.workflow_id, self._current(conversation.workspace_id, conversation.workflow_id)[1]

    async def agenerate(self, prompt: str, **kwargs: Any) -> Turn:
        return await asyncio.to_thread(self.generate, prompt, **kwargs)

    async def asend(self, conversation_id: str, message: str, **kwargs: Any) -> Turn:
        return await asyncio.to_thread(self.send, conversation_id, message, **kwargs)

    # --- internals -------------------------------------------------------------------------

    def _credentials(self, workspace_id: str) -> list[CredentialRef] | None:
        if self.credentials is None:
            return None
        try:
            return list(self.credentials.list(workspace_id))
        except Exception:  # an unreadable vault must not cost the person their workflow
            log.warning("copilot: could not list the credentials of workspace %s", workspace_id, exc_info=True)
            return None

    def _current(self, workspace_id: str, workflow_id: str | None) -> tuple[Workflow | None, int | None]:
        if workflow_id is None:
            return None, None
        row = self.workflows.version(workspace_id, workflow_id)
        return row.workflow(), row.version

    def _summaries(self, workspace_id: str, *, exclude: str | None) -> list[WorkflowSummary]:
        with Session(self.workflows.engine) as session:
            query = (
                select(WorkflowRow.id, WorkflowRow.name, WorkflowVersionRow.definition)
                .join(WorkflowVersionRow, (WorkflowVersionRow.workflow_id == WorkflowRow.id)  # type: ignore[arg-type]
                      & (WorkflowVersionRow.version == WorkflowRow.current_version))
                .where(WorkflowRow.workspace_id == workspace_id, WorkflowRow.status != "archived")
                .order_by(WorkflowRow.updated_at.desc()).limit(MAX_SUMMARIES)  # type: ignore[attr-defined]
            )
            rows = list(session.exec(query))
        out = []
        for wf_id, name, definition in rows:
            if wf_id == exclude:
                continue
            out.append(WorkflowSummary(wf_id, name, _one_line(definition)))
        return out

    def _store(self, workspace_id: str, workflow_id: str | None, result: PipelineResult,
               user_id: str | None) -> tuple[str, int]:
        workflow = result.workflow
        assert workflow is not None
        note = (result.explanation or "")[:500] or None
        if workflow_id is not None:
            taken = {row.name for row in self.workflows.list(workspace_id, include_archived=True, include_deleted=True) if row.id != workflow_id}
            workflow = workflow.model_copy(update={"name": _free_name(workflow.name, taken)})
            version = self.workflows.add_version(workspace_id, workflow_id, workflow, source="chat",
                                                 created_by=user_id, note=note)
            return workflow_id, version.version
        for _ in range(3):  # another writer may take the name between the check and the insert
            taken = {row.name for row in self.workflows.list(workspace_id, include_archived=True, include_deleted=True)}
            workflow = workflow.model_copy(update={"name": _free_name(workflow.name, taken)})
            try:
                row, version = self.workflows.create(workspace_id, workflow, source="chat", created_by=user_id,
                                                     note=note)
                return row.id, version.version
            except ConflictError:
                continue
        raise ConflictError(f"could not find a free name for workflow {workflow.name!r}")

    @staticmethod
    def _turn(conversation_id: str, result: PipelineResult) -> Turn:
        turn = Turn(
            conversation_id=conversation_id, seq=0, kind=result.kind, message="", question=result.question,
            missing=list(result.missing),
            explanation=result.explanation, guardrails=result.guardrails,
            changes=[c.to_dict() for c in result.changes], valid=result.valid, problems=result.problems,
            repaired=result.repaired, reasks=result.reasks, usage=result.usage, cache_hit=result.cache_hit,
            latency_ms=round(result.latency_ms, 1), error=result.error,
            duplicates=list(result.context.get("duplicates", [])), timings=dict(result.timings),
            credentials=[n.to_dict() for n in result.credentials],
        )
        if result.kind == "question":
            turn.message = result.question or ""
        elif result.kind == "error":
            turn.message = f"I could not build a valid workflow: {(result.error or {}).get('message', 'unknown error')}"
        return turn


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... — the first one no other workflow uses."""
    base = re.sub(r" \(\d+\)$", "", name) if name in taken else name
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{base[:190]} ({n})"
        n += 1
    return candidate


def _one_line(definition: str) -> str:
    import json

    try:
        data = json.loads(definition)
    except ValueError:
        return ""
    if data.get("description"):
        return str(data["description"]).splitlines()[0][:160]
    steps = [f"{n.get('connector')}.{n.get('operation')}" for n in data.get("nodes", []) if n.get("type") == "action"]
    trigger = next((n.get("kind") for n in data.get("nodes", []) if n.get("type") == "trigger"), "manual")
    return f"{trigger} trigger; {', '.join(steps[:6])}"[:160]


def _describe(result: PipelineResult, diff_summary: str, version: int, added: set[str]) -> str:
    lines = [result.explanation or f"Here is version {version}."]
    lines.append(f"Version {version}: {diff_summary}.")
    inserted = [c for c in result.changes if c.action == "inserted"]
    new = [c for c in inserted if c.node_id in added]
    if new:
        lines.append("Guardrails added: " + "; ".join(f"{c.node_id} ({c.kind}): {c.reason}" for c in new))
    if len(inserted) > len(new):
        lines.append(f"Guardrails kept: {', '.join(c.node_id for c in inserted if c.node_id not in added)}.")
    if result.repaired:
        lines.append("Repaired: " + "; ".join(result.repaired))
    lines.extend(note.message for note in result.credentials)
    if result.context.get("duplicates"):
        lines.append("Similar existing workflows: " + ", ".join(result.context["duplicates"]))
    return "\n".join(lines)


def build_copilot(settings: Settings, *, gateway: Gateway, db: Engine, catalog: Registry, embedder: Embedder | None,
                  use_cache: bool, credentials: CredentialLister | None = None) -> Copilot:
    """The copilot over these parts (``app.wiring.Container.copilot`` calls it; nothing else should)."""
    from app.llm.local_provider import count_text_tokens
    from prompts.loader import load_examples

    retriever = Retriever(embedder, settings.data_dir / "cache")
    context = ContextBuilder(catalog, retriever, examples=load_examples("copilot"),
                             count_tokens=lambda text: count_text_tokens(settings.model, text) or 1,
                             budget_tokens=settings.copilot_context_tokens)
    pipeline = Pipeline(gateway, catalog, context, max_reasks=settings.copilot_max_reasks, use_cache=use_cache)
    preferences = {"timezone": settings.default_timezone, "default email": settings.default_email or "",
                   "default Slack channel": settings.default_slack_channel or ""}
    return Copilot(pipeline, WorkflowStore(db), ChatStore(db), preferences=preferences, credentials=credentials)


__all__ = ["Copilot", "NothingToUndoError", "build_copilot"]
