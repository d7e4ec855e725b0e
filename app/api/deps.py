"""FastAPI wiring: collaborators come in as ``Annotated[..., Depends(...)]`` aliases.

The application's collaborators (database, stores, registry, vault, runtime) are built once
by the lifespan (``app.state.services``, see :mod:`app.wiring`); nothing is a module global.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from sqlalchemy.engine import Engine

from app.settings import Settings
from app.wiring import Services, build_services
from connectors.registry import Registry
from engine.errors import FlowwrightError
from engine.workflow_store import WorkflowStore

WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BadWorkspaceError(FlowwrightError):
    code = "workspace_invalid"
    status = 400


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:  # used without the lifespan (a bare TestClient): build on first use
        services = request.app.state.services = build_services(request.app.state.settings)
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_db(services: ServicesDep) -> Engine:
    engine: Engine = services.db
    return engine


def get_workflow_store(services: ServicesDep) -> WorkflowStore:
    store: WorkflowStore = services.workflow_store
    return store


def get_registry(services: ServicesDep) -> Registry:
    registry: Registry = services.registry
    return registry


def get_runtime(services: ServicesDep) -> Any:
    return services.runtime


def get_workspace(
    x_workspace: Annotated[str | None, Header()] = None,
    workspace: Annotated[str | None, Query(description="Workspace, for clients that cannot set headers "
                                                      "(EventSource); the X-Workspace header wins.")] = None,
) -> str:
    """The workspace every query is scoped to (``X-Workspace`` header, default ``default``)."""
    workspace = x_workspace or workspace or "default"
    if not WORKSPACE_RE.match(workspace):
        raise BadWorkspaceError(f"invalid X-Workspace header {workspace!r}: letters, digits, '_', '.', '-'",
                                field="X-Workspace")
    return workspace


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DbDep = Annotated[Engine, Depends(get_db)]
WorkflowStoreDep = Annotated[WorkflowStore, Depends(get_workflow_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
RuntimeDep = Annotated[Any, Depends(get_runtime)]
WorkspaceDep = Annotated[str, Depends(get_workspace)]
