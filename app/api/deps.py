"""FastAPI wiring: collaborators come in as ``Annotated[..., Depends(...)]`` aliases."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine

from app.settings import Settings
from connectors.registry import Registry, default_registry
from engine.db import make_engine
from engine.errors import FlowwrightError
from engine.workflow_store import WorkflowStore

WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BadWorkspaceError(FlowwrightError):
    code = "workspace_invalid"
    status = 400


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request, settings: Annotated[Settings, Depends(get_app_settings)]) -> Engine:
    """One database engine per application (created on first use, kept on ``app.state``)."""
    engine: Engine | None = getattr(request.app.state, "db", None)
    if engine is None:
        settings.ensure_data_dir()
        engine = request.app.state.db = make_engine(settings.resolved_database_url)
    return engine


def get_workflow_store(db: Annotated[Engine, Depends(get_db)]) -> WorkflowStore:
    return WorkflowStore(db)


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return default_registry()


def get_registry() -> Registry:
    return _registry()


def get_workspace(x_workspace: Annotated[str | None, Header()] = None) -> str:
    """The workspace every query is scoped to (``X-Workspace`` header, default ``default``)."""
    workspace = x_workspace or "default"
    if not WORKSPACE_RE.match(workspace):
        raise BadWorkspaceError(f"invalid X-Workspace header {workspace!r}: letters, digits, '_', '.', '-'",
                                field="X-Workspace")
    return workspace


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DbDep = Annotated[Engine, Depends(get_db)]
WorkflowStoreDep = Annotated[WorkflowStore, Depends(get_workflow_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
WorkspaceDep = Annotated[str, Depends(get_workspace)]
