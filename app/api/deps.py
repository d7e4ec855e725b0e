"""FastAPI wiring: the container's parts come in as typed ``Annotated[..., Depends(...)]`` aliases.

The container (``app.wiring.Container``) is opened and closed by the lifespan
(``app.state.container``); nothing is built here and nothing is a module global. A test swaps one
part by overriding one dependency (``app.dependency_overrides[get_runtime] = ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from app.auth.errors import ForbiddenError, UnauthenticatedError
from app.auth.keys import KeyStore
from app.auth.models import Caller, Role
from app.copilot.service import Copilot
from app.settings import Settings
from app.wiring import Container
from connectors.connector_store import ConnectorStore
from connectors.registry import Registry
from connectors.vault import Vault
from engine.audit_log import Actor, AuditTrail
from engine.circuit_breaker import CircuitBreakers
from engine.dead_letters import DeadLetters
from engine.errors import FlowwrightError
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore


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


def get_breakers(container: ContainerDep) -> CircuitBreakers:
    """The circuit breakers."""
    return container.breakers


def get_dead_letters(container: ContainerDep) -> DeadLetters:
    """The dead-letter queue."""
    return container.dead_letters


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


def get_key_store(container: ContainerDep) -> KeyStore:
    """Workspaces, users and API keys."""
    return container.api_keys


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fw_…`.")


def get_caller(container: ContainerDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """The caller the request's ``Authorization: Bearer fw_…`` key stands for (401 without a valid
    one; 429 past the key's rate limit). The key decides the workspace."""
    if credentials is None:
        raise UnauthenticatedError("an API key is required: send the header Authorization: Bearer fw_…")
    caller = container.api_keys.authenticate(credentials.credentials)
    container.request_limiter.hit(caller.key_id)
    return caller


def _requiring(role: Role) -> Callable[[Caller], Caller]:
    def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.allows(role):
            raise ForbiddenError(f"this needs an {role} key or above; this key is {caller.role}",
                                 required=role, role=caller.role)
        return caller

    check.__name__ = f"require_{role}"
    check.__doc__ = f"The caller, if its key's role is {role} or above (403 otherwise)."
    return check


require_viewer = _requiring("viewer")
require_editor = _requiring("editor")
require_admin = _requiring("admin")


def get_audit(container: ContainerDep, caller: Annotated[Caller, Depends(get_caller)]) -> AuditTrail:
    """The audit trail of this request: its key's workspace, user and key id."""
    return AuditTrail(container.audit_log, caller.workspace, Actor(user=caller.user, via="api", key_id=caller.key_id))


def get_registry(container: ContainerDep, caller: Annotated[Caller, Depends(get_caller)]) -> Registry:
    """The connector catalog as the caller's workspace sees it (with its imported connectors)."""
    return container.registry.for_workspace(caller.workspace)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DbDep = Annotated[Engine, Depends(get_db)]
WorkflowStoreDep = Annotated[WorkflowStore, Depends(get_workflow_store)]
ExecutionStoreDep = Annotated[ExecutionStore, Depends(get_execution_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ConnectorStoreDep = Annotated[ConnectorStore, Depends(get_connector_store)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DeadLettersDep = Annotated[DeadLetters, Depends(get_dead_letters)]
BreakersDep = Annotated[CircuitBreakers, Depends(get_breakers)]
VaultDep = Annotated[Vault, Depends(get_vault)]
CopilotDep = Annotated[Copilot, Depends(get_copilot)]
KeyStoreDep = Annotated[KeyStore, Depends(get_key_store)]
AuditDep = Annotated[AuditTrail, Depends(get_audit)]
"""Records what this request's caller did (``audit("workflow.activated", "workflow", id, version=3)``)."""
ViewerDep = Annotated[Caller, Depends(require_viewer)]
"""Any valid key (read)."""
EditorDep = Annotated[Caller, Depends(require_editor)]
"""An editor or admin key (create, change, run, approve, retry, resume, cancel)."""
AdminDep = Annotated[Caller, Depends(require_admin)]
"""An admin key (API keys, credentials, workspace settings)."""
