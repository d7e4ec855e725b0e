"""OAuth 2.0 providers as data: authorize and token URLs, default scopes, how the client
authenticates at the token endpoint.

A few common providers ship in ``oauth_providers.json``; a deployment adds its own (or
overrides these) with a JSON or YAML file named by ``FLOWWRIGHT_OAUTH_PROVIDERS_FILE``, and the
CLI takes ``--authorize-url`` / ``--token-url`` for a one-off provider.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from connectors.errors import CredentialError

SHIPPED = Path(__file__).with_name("oauth_providers.json")
TOKEN_AUTH_METHODS = ("client_secret_post", "client_secret_basic", "none")


@dataclass(frozen=True)
class Provider:
    """One OAuth 2.0 authorization server."""

    name: str
    title: str
    token_url: str
    authorize_url: str | None = None  # None: client-credentials only
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    token_auth: str = "client_secret_post"
    pkce: bool = True
    authorize_params: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def with_overrides(self, *, authorize_url: str | None = None, token_url: str | None = None,
                       scopes: tuple[str, ...] | None = None) -> Provider:
        """This provider with some fields replaced (CLI options)."""
        return replace(self, authorize_url=authorize_url or self.authorize_url, token_url=token_url or self.token_url,
                       scopes=scopes if scopes else self.scopes)

    def scope_text(self, scopes: tuple[str, ...] | None = None) -> str:
        """The scopes as the provider wants them in a request."""
        return self.scope_separator.join(scopes if scopes else self.scopes)

    def to_dict(self) -> dict[str, Any]:
        """What may be shown about the provider (it holds no secret)."""
        grants = (["authorization_code"] if self.authorize_url else []) + ["client_credentials"]
        return {"name": self.name, "title": self.title, "authorize_url": self.authorize_url,
                "token_url": self.token_url, "scopes": list(self.scopes), "token_auth": self.token_auth,
                "pkce": self.pkce, "grants": grants}


def _provider(name: str, data: Any, where: str) -> Provider:
    if not isinstance(data, dict):
        raise CredentialError(f"{where}: provider {name!r} must be an object", code="oauth_provider_invalid")
    unknown = set(data) - {"title", "authorize_url", "token_url", "scopes", "scope_separator", "token_auth", "pkce",
                           "authorize_params"}
    if unknown:
        raise CredentialError(f"{where}: provider {name!r} has unknown field(s) {', '.join(sorted(unknown))}",
                              code="oauth_provider_invalid")
    for key in ("authorize_url", "token_url"):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and re.match(r"^https?://[^/\s]+", value)):
            raise CredentialError(f"{where}: {name}.{key} must be an http(s) URL", code="oauth_provider_invalid")
    if not data.get("token_url"):
        raise CredentialError(f"{where}: provider {name!r} needs a token_url", code="oauth_provider_invalid")
    token_auth = str(data.get("token_auth", "client_secret_post"))
    if token_auth not in TOKEN_AUTH_METHODS:
        raise CredentialError(f"{where}: {name}.token_auth must be one of {', '.join(TOKEN_AUTH_METHODS)}",
                              code="oauth_provider_invalid")
    scopes = data.get("scopes") or []
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise CredentialError(f"{where}: {name}.scopes must be a list of strings", code="oauth_provider_invalid")
    params = data.get("authorize_params") or {}
    if not isinstance(params, dict):
        raise CredentialError(f"{where}: {name}.authorize_params must be an object", code="oauth_provider_invalid")
    return Provider(name=name, title=str(data.get("title") or name), token_url=str(data["token_url"]),
                    authorize_url=data.get("authorize_url"), scopes=tuple(scopes),
                    scope_separator=str(data.get("scope_separator", " ")), token_auth=token_auth,
                    pkce=bool(data.get("pkce", True)), authorize_params={str(k): str(v) for k, v in params.items()})


def load_providers(extra_file: Path | None = None) -> dict[str, Provider]:
    """The shipped providers, plus (overriding them) those of ``extra_file``."""
    raw: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    providers = {name: _provider(name, data, SHIPPED.name) for name, data in raw.items()}
    if extra_file is not None:
        try:
            text = extra_file.read_text(encoding="utf-8")
            extra = yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CredentialError(f"{extra_file}: cannot read OAuth providers: {exc}", code="oauth_provider_invalid") \
                from None
        if not isinstance(extra, dict):
            raise CredentialError(f"{extra_file}: must map provider names to objects", code="oauth_provider_invalid")
        for name, data in extra.items():
            providers[str(name)] = _provider(str(name), data, str(extra_file))
    return providers


def custom_provider(name: str, *, token_url: str, authorize_url: str | None = None,
                    scopes: tuple[str, ...] = ()) -> Provider:
    """A provider given on the command line."""
    return _provider(name, {"token_url": token_url, "authorize_url": authorize_url, "scopes": list(scopes)},
                     "command line")


__all__ = ["Provider", "custom_provider", "load_providers"]
