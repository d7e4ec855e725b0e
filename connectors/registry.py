"""The connector registry: built-ins plus entry-point plugins (group ``flowwright.connectors``)."""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any, Protocol

from connectors.contract import Connector, Operation

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flowwright.connectors"

# Built-in connector modules; each exposes ``CONNECTOR``. Modules not written yet are skipped.
BUILTIN_MODULES = (
    "connectors.core",
    "connectors.http",
    "connectors.email",
    "connectors.slack",
    "connectors.database",
    "connectors.datastore",
    "connectors.llm",
)


class ImportedSource(Protocol):
    """Where a workspace's imported connectors come from (``connectors.connector_store``)."""

    def connectors(self, workspace_id: str) -> list[Connector]: ...


class Registry:
    """Connectors by name. Also the operation catalog that validation and the copilot read.

    The registry itself holds the built-ins and plugins, which every workspace sees; a
    workspace's imported connectors (OpenAPI documents) are added by :meth:`for_workspace`.
    """

    def __init__(self, connectors: Iterable[Connector] = (), *, imported: ImportedSource | None = None) -> None:
        self._connectors: dict[str, Connector] = {}
        self.imported = imported
        for connector in connectors:
            self.add(connector)

    def for_workspace(self, workspace_id: str) -> Registry:
        """This registry plus the workspace's imported connectors (itself when there are none)."""
        extra = self.imported.connectors(workspace_id) if self.imported is not None else []
        if not extra:
            return self
        view = Registry(self._connectors.values(), imported=self.imported)
        for connector in extra:
            if connector.name not in view._connectors:  # a built-in always wins
                view.add(connector)
        return view

    def without(self, *names: str) -> Registry:
        """This registry less the connectors ``names`` (imported ones still come in per workspace)."""
        return Registry((c for n, c in self._connectors.items() if n not in names), imported=self.imported)

    def add(self, connector: Connector) -> None:
        if connector.name in self._connectors:
            raise ValueError(f"connector {connector.name!r} is registered twice")
        self._connectors[connector.name] = connector

    def get(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def operation(self, connector: str, operation: str) -> Operation | None:
        found = self._connectors.get(connector)
        return found.operation(operation) if found else None

    def names(self) -> list[str]:
        return sorted(self._connectors)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._connectors[n] for n in self.names())

    def suggest_connector(self, name: str) -> str | None:
        match = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.5)
        return match[0] if match else None

    def suggest_operation(self, connector: str, operation: str) -> str | None:
        found = self._connectors.get(connector)
        if not found:
            return None
        names = [op.name for op in found.operations]
        match = difflib.get_close_matches(operation, names, n=1, cutoff=0.4)
        return match[0] if match else None

    def catalog(self) -> list[dict[str, Any]]:
        """The catalog as data (names, descriptions, JSON Schemas) for the prompt engine and web page."""
        out = []
        for c in self:
            out.append(
                {
                    "name": c.name,
                    "title": c.title,
                    "description": c.description,
                    "category": c.category,
                    "icon": c.icon,
                    "auth": str(c.auth),
                    "credential_types": [str(t) for t in c.reads_credentials],
                    "operations": [
                        {
                            "name": op.name,
                            "description": op.description,
                            "idempotent": op.idempotent,
                            "external": op.external,
                            "destructive": op.destructive,
                            "input_schema": op.input_model.model_json_schema(),
                            "output_schema": op.output_model.model_json_schema(),
                        }
                        for op in c.operations
                    ],
                }
            )
        return out


def _load_builtins() -> list[Connector]:
    found = []
    for module_name in BUILTIN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written yet
            raise
        found.append(module.CONNECTOR)
    return found


def _load_plugins() -> list[Connector]:
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            connector = obj() if callable(obj) and not isinstance(obj, Connector) else obj
        except Exception:  # a broken plugin must not take the service down
            log.exception("could not load connector plugin %s", ep.name)
            continue
        if isinstance(connector, Connector):
            found.append(connector)
        else:
            log.error("entry point %s did not give a Connector", ep.name)
    return found


def default_registry(*, plugins: bool = True) -> Registry:
    """Built-in connectors plus, unless ``plugins`` is false, every installed plugin."""
    registry = Registry(_load_builtins())
    if plugins:
        for connector in _load_plugins():
            if registry.get(connector.name):
                log.error("plugin connector %r clashes with a built-in; ignored", connector.name)
                continue
            registry.add(connector)
    return registry
