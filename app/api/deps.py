"""FastAPI wiring: the container's parts come in as typed ``Annotated[..., Depends(...)]`` aliases.

The container (``app.wiring.Container``) is opened and closed by the lifespan
(``app.state.container``); nothing is built here and nothing is a module global. A test swaps one
part by overriding one dependency (``app.dependency_overrides[get_runtime] = ...``).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.engine import Engine

from app.copilot.service import Copilot
from app.settings import Settings
from app.wiring import Container
from connectors.connector_store import ConnectorStore
from connectors.registry import Registry
from connectors.vault import Vault
from engine.errors import FlowwrightError
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore

WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BadWorkspaceError(FlowwrightError):
    code = "workspace_invalid"
    status = 400


class VaultUnavailableError(FlowwrightError):
    status = 503
    code = "vault_unavailable"


def get_app_settings(request: Request) -> Settings:
    """The settings the application was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_container(request: Request) -> Container:
    """The application's container (opened by the lifespan; on first use without one, e.g. a
    ``TestClient`` used without ``with``)."""
    container: Container | None = getattr(request.app.state, "container", None)
    if container is None:
        container = request.app.state.container = Container.open(request.app.state.settings)
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_db(container: ContainerDep) -> Engine:
    """Flowwright's database engine."""
    return container.db


def get_workflow_store(container: ContainerDep) -> WorkflowStore:
    """Workflows and their versions."""
    return container.workflow_store


def get_execution_store(container: ContainerDep) -> ExecutionStore:
    """Executions, steps, events and approvals."""
    return container.execution_store


def get_connector_store(container: ContainerDep) -> ConnectorStore:
    """The workspaces' imported connectors."""
    return container.connector_store


def get_runtime(container: ContainerDep) -> Runtime:
    """The workflow runtime."""
    return container.runtime


def get_vault(container: ContainerDep) -> Vault:
    """The credential vault (503 when this process runs without one)."""
    if container.vault is None:
        raise VaultUnavailableError("the credential vault is not available")
    return container.vault


def get_copilot(container: ContainerDep) -> Copilot:
    """The copilot (built on first use: it loads the embedder and the semantic cache)."""
    return container.copilot


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


def get_registry(container: ContainerDep, workspace: Annotated[str, Depends(get_workspace)]) -> Registry:
    """The connector catalog as the caller's workspace sees it (with its imported connectors)."""
    return container.registry.for_workspace(workspace)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DbDep = Annotated[Engine, Depends(get_db)]
WorkflowStoreDep = Annotated[WorkflowStore, Depends(get_workflow_store)]
ExecutionStoreDep = Annotated[ExecutionStore, Depends(get_execution_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ConnectorStoreDep = Annotated[ConnectorStore, Depends(get_connector_store)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
VaultDep = Annotated[Vault, Depends(get_vault)]
CopilotDep = Annotated[Copilot, Depends(get_copilot)]
WorkspaceDep = Annotated[str, Depends(get_workspace)]
