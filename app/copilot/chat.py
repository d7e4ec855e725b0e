"""Conversations with the copilot, persisted (SQLModel): conversations, their messages, and the
workflow version each assistant turn produced.

An assistant message records the version it produced and the version it started from
(``base_version``), so ``undo`` returns to exactly the version the undone turn was derived from,
however turns and undos interleave.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from engine.errors import NotFoundError
from engine.workflow import Workflow

TurnKind = Literal["workflow", "question", "error", "undo"]


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class ConversationRow(SQLModel, table=True):
    __tablename__ = "copilot_conversations"

    id: str = Field(default_factory=lambda: _new_id("conv"), primary_key=True)
    workspace_id: str = Field(index=True)
    user_id: str | None = None
    workflow_id: str | None = Field(default=None, index=True)
    title: str = ""
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class MessageRow(SQLModel, table=True):
    __tablename__ = "copilot_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq", name="uq_copilot_message_seq"),)

    id: str = Field(default_factory=lambda: _new_id("msg"), primary_key=True)
    conversation_id: str = Field(foreign_key="copilot_conversations.id", index=True)
    seq: int
    role: str  # user | assistant
    kind: str = "message"  # message (user) | workflow | question | error | undo
    content: str = Field(sa_column=Column(Text, nullable=False))
    workflow_id: str | None = None
    workflow_version: int | None = None
    base_version: int | None = None
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=_now)

    def payload_dict(self) -> dict[str, Any]:
        return dict(json.loads(self.payload or "{}"))


@dataclass
class Turn:
    """One assistant turn, as the service, the CLI, the API and the eval runner see it."""

    conversation_id: str
    seq: int
    kind: TurnKind
    message: str  # what the assistant says, in plain words
    workflow: Workflow | None = None
    workflow_id: str | None = None
    version: int | None = None
    base_version: int | None = None
    question: str | None = None
    missing: list[str] = field(default_factory=list)
    explanation: str = ""
    diff: dict[str, Any] = field(default_factory=dict)
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    valid: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    reasks: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool = False
    latency_ms: float = 0.0
    error: dict[str, Any] | None = None
    duplicates: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    credentials: list[dict[str, Any]] = field(default_factory=list)  # attached, or how to add the missing
    secrets: list[dict[str, Any]] = field(default_factory=list)  # removed from the message: how to store them instead

    @property
    def cache(self) -> str:
        return "hit" if self.cache_hit else "miss"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["workflow"] = self.workflow.to_json_dict() if self.workflow is not None else None
        data["cache"] = self.cache
        return data

    def payload(self) -> dict[str, Any]:
        """What is stored with the message (everything but the workflow, which is a version)."""
        data = self.to_dict()
        for key in ("workflow", "conversation_id", "seq", "kind", "message", "workflow_id", "version", "base_version"):
            data.pop(key, None)
        return data


class ChatStore:
    """Conversations and messages, every query scoped to a workspace."""

    TABLES = (ConversationRow.__table__, MessageRow.__table__)  # type: ignore[attr-defined]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine, tables=list(self.TABLES))

    def create(self, workspace_id: str, *, user_id: str | None = None, title: str = "") -> ConversationRow:
        with Session(self.engine) as session:
            row = ConversationRow(workspace_id=workspace_id, user_id=user_id, title=title[:200])
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def get(self, conversation_id: str, workspace_id: str | None = None) -> ConversationRow:
        with Session(self.engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
                raise NotFoundError(f"conversation {conversation_id} not found")
            return row

    def conversations(self, workspace_id: str, *, limit: int = 50) -> list[ConversationRow]:
        with Session(self.engine) as session:
            query = (select(ConversationRow).where(ConversationRow.workspace_id == workspace_id)
                     .order_by(ConversationRow.updated_at.desc()).limit(limit))  # type: ignore[attr-defined]
            return list(session.exec(query))

    def set_workflow(self, conversation_id: str, workflow_id: str) -> None:
        with Session(self.engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFoundError(f"conversation {conversation_id} not found")
            row.workflow_id = workflow_id
            row.updated_at = _now()
            session.add(row)
            session.commit()

    def add(self, conversation_id: str, role: str, content: str, *, kind: str = "message",
            workflow_id: str | None = None, version: int | None = None, base_version: int | None = None,
            payload: dict[str, Any] | None = None) -> MessageRow:
        with Session(self.engine) as session:
            last = session.exec(select(MessageRow.seq).where(MessageRow.conversation_id == conversation_id)
                                .order_by(MessageRow.seq.desc())).first()  # type: ignore[attr-defined]
            row = MessageRow(conversation_id=conversation_id, seq=(last or 0) + 1, role=role, kind=kind,
                             content=content, workflow_id=workflow_id, workflow_version=version,
                             base_version=base_version, payload=json.dumps(payload or {}, default=str))
            session.add(row)
            conversation = session.get(ConversationRow, conversation_id)
            if conversation is not None:
                conversation.updated_at = _now()
                session.add(conversation)
            session.commit()
            session.refresh(row)
            return row

    def messages(self, conversation_id: str) -> list[MessageRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(MessageRow).where(MessageRow.conversation_id == conversation_id)
                                     .order_by(MessageRow.seq)))  # type: ignore[arg-type]

    def producer_of(self, conversation_id: str, version: int) -> MessageRow | None:
        """The latest assistant turn that produced ``version`` (not an undo that returned to it)."""
        with Session(self.engine) as session:
            return session.exec(
                select(MessageRow).where(MessageRow.conversation_id == conversation_id,
                                         MessageRow.kind == "workflow", MessageRow.workflow_version == version)
                .order_by(MessageRow.seq.desc())  # type: ignore[attr-defined]
            ).first()

    def history(self, conversation_id: str, *, limit: int = 12) -> list[dict[str, str]]:
        """Earlier messages as model messages: the user's words; the assistant's questions, and its
        plain explanation for workflow turns (not the diff and guardrail report shown to people)."""
        out = []
        for row in self.messages(conversation_id)[-limit:]:
            content = row.content
            if row.role == "assistant" and row.kind in ("workflow", "undo"):
                content = row.payload_dict().get("explanation") or content.splitlines()[0] if content else ""
            if content:
                out.append({"role": "user" if row.role == "user" else "assistant", "content": content})
        return out


__all__ = ["ChatStore", "ConversationRow", "MessageRow", "Turn"]
