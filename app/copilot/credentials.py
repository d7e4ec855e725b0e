"""Credentials for the steps of a generated workflow: the workspace's own are attached, and a
missing one comes with the exact command that adds it.

A step needs a credential when its connector's ``auth`` is not ``none`` (slack, email, database);
an ``http`` step may use one (an API's key or token). For each action step without one:

* one workspace credential of a type the connector reads → attached, and the reply says so;
* several → the one whose name names the connector (for http: the URL's host) is attached; when
  none or several do, nothing is attached and the reply lists them;
* none (and the step needs one) → the step names the credential the person is told to add, so the
  workflow runs as soon as it exists, and the reply gives the CLI command and the API call.

A step that names a credential the workspace does not have, or one of a type its connector does
not read, is reported the same way. Only names and types are read (``Vault.list``), never secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from connectors.contract import AuthType, Connector

Status = Literal["attached", "missing", "ambiguous", "wrong_type"]
DEFAULT_WORKSPACE = "default"
_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = {AuthType.API_KEY: "<api key>", AuthType.OAUTH2: "<access token>", AuthType.URL: "<url>"}
_HOST_NOISE = {"api", "www", "com", "org", "net", "io", "co", "app", "dev", "v1", "v2"}


class CredentialRef(Protocol):
    """What the copilot may know of a stored credential (``connectors.vault.CredentialInfo``)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class CredentialNote:
    """One line of the reply about a step's credential."""

    node_id: str
    status: Status
    message: str
    credential: str | None = None
    add: dict[str, str] = field(default_factory=dict)  # cli, api: how to add the missing one

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node_id": self.node_id, "status": self.status, "message": self.message,
                               "credential": self.credential}
        if self.add:
            out["add"] = dict(self.add)
        return out


def bind_credentials(document: dict[str, Any], catalog: Any, available: Sequence[CredentialRef], *,
                     workspace_id: str = DEFAULT_WORKSPACE, already: frozenset[str] = frozenset()) -> list[CredentialNote]:
    """Attach credentials to ``document``'s action nodes (in place, loop bodies included) and say
    what was done. ``already``: node ids whose credential the person has seen before (an earlier
    version), so an attachment that merely stays is not announced again."""
    notes: list[CredentialNote] = []
    for node in _action_nodes(document.get("nodes") or []):
        connector = catalog.get(str(node.get("connector"))) if hasattr(catalog, "get") else None
        if not isinstance(connector, Connector) or not connector.reads_credentials:
            continue
        note = _bind(node, connector, available, workspace_id)
        if note is not None and not (note.status == "attached" and node["id"] in already):
            notes.append(note)
    return notes


def _action_nodes(nodes: list[Any]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        if not isinstance(node, dict):
            continue
        if node.get("type") == "action" and isinstance(node.get("id"), str):
            yield node
        body = node.get("body")
        if isinstance(body, dict):
            yield from _action_nodes(body.get("nodes") or [])


def _bind(node: dict[str, Any], connector: Connector, available: Sequence[CredentialRef],
          workspace_id: str) -> CredentialNote | None:
    node_id, types = str(node["id"]), connector.reads_credentials
    named = node.get("credential")
    if isinstance(named, str) and named:
        found = next((c for c in available if c.name == named), None)
        if found is None:
            return _missing(node_id, connector, named, workspace_id, f"names the credential `{named}`, which this "
                            "workspace does not have")
        if found.type not in types:
            return CredentialNote(node_id, "wrong_type", f"Step `{node_id}` uses the credential `{named}` "
                                  f"({found.type}), but {connector.title} reads {_kinds(types)}.", named)
        return CredentialNote(node_id, "attached", f"Step `{node_id}` uses the credential `{named}` ({found.type}).",
                              named)
    fitting = [c for c in available if c.type in types]
    chosen = _choose(fitting, connector, node)
    if chosen is not None:
        node["credential"] = chosen.name
        return CredentialNote(node_id, "attached", f"Step `{node_id}` uses the workspace's credential "
                              f"`{chosen.name}` ({chosen.type}).", chosen.name)
    if connector.auth is AuthType.NONE:
        return None  # the credential is optional (http) and none is named after the host: nothing to say
    if fitting:
        names = ", ".join(f"`{c.name}` ({c.type})" for c in fitting)
        return CredentialNote(node_id, "ambiguous", f"Step `{node_id}` ({connector.title}) could use {names}; "
                              "none was attached: name the one to use.")
    name = _free_name(connector.name, available)
    node["credential"] = name
    return _missing(node_id, connector, name, workspace_id, f"needs a credential ({_kinds(types)}) for "
                    f"{connector.title} and this workspace has none; it will use `{name}` once you add it")


def _choose(fitting: list[CredentialRef], connector: Connector, node: dict[str, Any]) -> CredentialRef | None:
    """The one credential that fits, or the one whose name names the connector or the URL's host."""
    if connector.auth is not AuthType.NONE and len(fitting) == 1:
        return fitting[0]
    hints = _words(f"{connector.name} {connector.title}")
    if connector.auth is AuthType.NONE:  # optional (http): only a credential named after the host
        hints = _host_words(node)
    matching = [c for c in fitting if _words(c.name) & hints]
    return matching[0] if len(matching) == 1 else None


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 1}


def _host_words(node: dict[str, Any]) -> set[str]:
    url = (node.get("config") or {}).get("url")
    try:
        host = urlsplit(url).hostname or "" if isinstance(url, str) else ""
    except ValueError:
        return set()
    return {w for w in _words(host.replace(".", " ")) if w not in _HOST_NOISE}


def _kinds(types: Sequence[AuthType]) -> str:
    return " or ".join(t.value for t in types)


def _free_name(base: str, available: Sequence[CredentialRef]) -> str:
    taken = {c.name for c in available}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _missing(node_id: str, connector: Connector, name: str, workspace_id: str, what: str) -> CredentialNote:
    kind = connector.auth if connector.auth is not AuthType.NONE else connector.reads_credentials[0]
    add = add_commands(name, kind, workspace_id, fields=connector.credential_fields)
    return CredentialNote(node_id, "missing", f"Step `{node_id}` {what}. Add it: `{add['cli']}` "
                          f"(or `{add['api']}`).", name, add)


def add_commands(name: str, kind: AuthType, workspace_id: str = DEFAULT_WORKSPACE, *,
                 fields: dict[str, str] | Any = None) -> dict[str, str]:
    """The CLI command and the API call that store credential ``name`` of type ``kind``, with
    placeholders where the secret goes (the secret is read from stdin, never from argv)."""
    from connectors.vault import REQUIRED_FIELDS

    workspace = f" -w {workspace_id}" if workspace_id != DEFAULT_WORKSPACE else ""
    secret: Any = _PLACEHOLDER.get(kind)
    if secret is None:  # an object: its required fields, plus the optional ones the connector describes
        names = [*REQUIRED_FIELDS[kind], *(f for f in (fields or {}) if f not in REQUIRED_FIELDS[kind])]
        secret = {f: f"<{f}>" for f in names}
    text = secret if isinstance(secret, str) else json.dumps(secret)
    cli = f"echo '{text}' | flowwright credentials set {name} --type {kind.value}{workspace}"
    api = f"PUT /v1/credentials/{name} {json.dumps({'type': kind.value, 'secret': secret})}"
    return {"cli": cli, "api": api}


__all__ = ["CredentialNote", "CredentialRef", "add_commands", "bind_credentials"]
