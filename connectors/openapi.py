"""Connectors from OpenAPI 3.x documents.

:func:`build_connector` turns a document into a :class:`~connectors.contract.Connector`: one
operation per ``operationId`` (snake_cased: ``getPetById`` → ``get_pet_by_id``), whose input model
holds the path, query and header parameters (by their names in the spec) plus ``body`` for a JSON,
form or text request body, and whose output model is ``status``, ``headers`` and the ``body`` of
the first 2xx response's schema. Auth comes from ``securitySchemes`` (API key in a header, query
parameter or cookie; HTTP bearer; HTTP basic; OAuth 2.0 / OpenID Connect as a bearer access
token), the base URL from ``servers`` (variables take their defaults) unless one is given.

Calls go through the ``http`` connector's ``request`` operation, so every imported operation
keeps the SSRF guard, the response size cap, redirect handling and the error mapping (429 and 5xx
retryable, other 4xx permanent). The credential a step names is turned into what that operation
understands for the scheme the spec declares; it never reaches the input or the output.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from connectors.contract import AuthType, Connector, Operation, OperationContext
from connectors.errors import CredentialError, PermanentError
from connectors.http import CONNECTOR as HTTP
from connectors.http import RequestInput, RequestOutput
from connectors.openapi_schema import (
    SchemaConverter,
    SpecInvalidError,
    SpecProblem,
    child,
    field_definition,
    identifier,
    model_name,
    unique_identifier,
)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_OPERATIONS = 300
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
IGNORED_HEADERS = {"accept", "content-type", "authorization"}  # OpenAPI says these are not parameters
DESTRUCTIVE_METHODS = {"delete"}
_HTTP_REQUEST = HTTP.operation("request")
assert _HTTP_REQUEST is not None


@dataclass(frozen=True)
class ParamSpec:
    """Where an input field goes in the request."""

    field: str  # the Python attribute of the input model
    name: str  # the name in the spec
    location: str  # path | query | header | cookie


@dataclass(frozen=True)
class AuthSpec:
    """How a credential is sent, from one security scheme."""

    scheme: str  # the scheme's name in securitySchemes
    kind: str  # api_key | bearer | basic | oauth2
    location: str | None = None  # api_key: header | query | cookie
    param: str | None = None  # api_key: the header, query parameter or cookie name
    flows: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)  # oauth2: URLs, scopes


@dataclass(frozen=True)
class OperationSpec:
    """An imported operation as data: what :func:`_call` needs to build the request."""

    method: str
    path: str
    params: tuple[ParamSpec, ...]
    body: str | None  # json | form | text, when the operation takes a request body
    auth: AuthSpec | None
    body_field: str = "body"  # the input field holding the body (``body`` unless a parameter took it)


@dataclass(frozen=True)
class ImportResult:
    """The connector plus what was left out of it (operation path → reason)."""

    connector: Connector
    skipped: dict[str, str]
    base_url: str
    auth: tuple[AuthSpec, ...]


def build_connector(doc: dict[str, Any], *, name: str | None = None, base_url: str | None = None) -> ImportResult:
    """Build the connector a document describes; :class:`SpecInvalidError` lists every problem."""
    problems: list[SpecProblem] = []
    version = doc.get("openapi")
    if not isinstance(version, str) or not re.match(r"^3\.\d+", version):
        found = f"swagger {doc['swagger']!r}" if "swagger" in doc else repr(version)
        path = "$.swagger" if "swagger" in doc else "$.openapi"
        raise SpecInvalidError([SpecProblem(path, f"need an OpenAPI 3.x document (openapi: 3.0.x or 3.1.x), found {found}")])
    info = _obj(doc.get("info"))
    title = str(info.get("title") or name or "Imported API")
    connector_name = name or identifier(title)[:40]
    if not re.match(NAME_PATTERN, connector_name):
        problems.append(SpecProblem("$.info.title", f"connector name {connector_name!r} is not valid: use lower-case "
                                    "letters, digits and '_', starting with a letter (max 40); pass --name"))
    url = _base_url(doc, base_url, problems)
    schemes = _security_schemes(doc, problems)
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        problems.append(SpecProblem("$.paths", "need an object with at least one path"))
        raise SpecInvalidError(problems)
    inputs, outputs = SchemaConverter(doc, input=True), SchemaConverter(doc, input=False)
    operations: list[Operation] = []
    skipped: dict[str, str] = {}
    names: dict[str, str] = {}
    for path, item in paths.items():
        item_path = child("$.paths", path)
        if not isinstance(item, dict):
            problems.append(SpecProblem(item_path, "a path item must be an object"))
            continue
        for method in METHODS:
            if method not in item:
                continue
            op_path = child(item_path, method)
            built = _operation(doc, path, method, item, op_path, schemes, url, inputs, outputs, problems, skipped)
            if built is None:
                continue
            if built.name in names:
                problems.append(SpecProblem(child(op_path, "operationId"),
                                            f"operation name {built.name!r} is also used by {names[built.name]}"))
                continue
            names[built.name] = op_path
            operations.append(built)
    problems.extend(inputs.problems + outputs.problems)
    if not operations and not problems:
        problems.append(SpecProblem("$.paths", "no operation could be imported: " + "; ".join(
            f"{k}: {v}" for k, v in list(skipped.items())[:5])))
    if len(operations) > MAX_OPERATIONS:
        problems.append(SpecProblem("$.paths", f"{len(operations)} operations; the limit is {MAX_OPERATIONS}"))
    if problems:
        raise SpecInvalidError(_dedupe(problems))
    used_auth = tuple(schemes.values())
    connector = Connector(
        name=connector_name, title=title[:80],
        description=_text(info.get("description")) or f"{title} (imported from its OpenAPI document).",
        category="imported", icon="🧩", auth=_auth_type(used_auth), operations=tuple(operations),
        credential_fields=_credential_fields(used_auth),
    )
    return ImportResult(connector, skipped, url, used_auth)


def spec_digest(doc_bytes: bytes) -> str:
    """A short fingerprint of a document's bytes (shown in listings, to tell versions apart)."""
    return hashlib.sha256(doc_bytes).hexdigest()[:16]


# --- parts of the document --------------------------------------------------------------------


def _base_url(doc: dict[str, Any], given: str | None, problems: list[SpecProblem]) -> str:
    if given:
        if not re.match(r"^https?://[^/\s]+", given):
            problems.append(SpecProblem("$.servers", f"base URL {given!r} must be an absolute http(s) URL"))
        return given.rstrip("/")
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        problems.append(SpecProblem("$.servers", "no server URL; give one with --base-url"))
        return ""
    server = servers[0]
    url = str(server.get("url") or "")
    variables = _obj(server.get("variables"))
    for var, spec in variables.items():
        default = spec.get("default") if isinstance(spec, dict) else None
        if default is None:
            problems.append(SpecProblem(child(child("$.servers[0].variables", var), "default"), "a server variable needs a default"))
            continue
        url = url.replace("{" + var + "}", str(default))
    if not re.match(r"^https?://[^/\s{}]+", url):
        problems.append(SpecProblem("$.servers[0].url", f"{url!r} is not an absolute http(s) URL; give one with --base-url"))
    return url.rstrip("/")


def _security_schemes(doc: dict[str, Any], problems: list[SpecProblem]) -> dict[str, AuthSpec]:
    components = _obj(doc.get("components"))
    raw = components.get("securitySchemes") or {}
    out: dict[str, AuthSpec] = {}
    if not isinstance(raw, dict):
        problems.append(SpecProblem("$.components.securitySchemes", "must be an object"))
        return out
    for name, scheme in raw.items():
        path = child("$.components.securitySchemes", name)
        if isinstance(scheme, dict) and "$ref" in scheme:
            scheme = SchemaConverter(doc, input=True).resolve(scheme, path)[0]
        if not isinstance(scheme, dict):
            problems.append(SpecProblem(path, "a security scheme must be an object"))
            continue
        kind = scheme.get("type")
        if kind == "apiKey":
            where, param = scheme.get("in"), scheme.get("name")
            if where not in ("header", "query", "cookie") or not isinstance(param, str) or not param:
                problems.append(SpecProblem(path, "an apiKey scheme needs 'in' (header, query or cookie) and 'name'"))
                continue
            out[name] = AuthSpec(name, "api_key", where, param)
        elif kind == "http":
            http_scheme = str(scheme.get("scheme") or "").lower()
            if http_scheme not in ("bearer", "basic"):
                problems.append(SpecProblem(child(path, "scheme"), f"HTTP auth scheme {http_scheme!r} is not supported "
                                            "(bearer or basic)"))
                continue
            out[name] = AuthSpec(name, http_scheme)
        elif kind in ("oauth2", "openIdConnect"):
            flows = _obj(scheme.get("flows"))
            out[name] = AuthSpec(name, "oauth2", flows=flows)
        else:
            problems.append(SpecProblem(child(path, "type"), f"security scheme type {kind!r} is not supported"))
    return out


def _operation(doc: dict[str, Any], path: str, method: str, item: dict[str, Any], op_path: str,
               schemes: dict[str, AuthSpec], base_url: str, inputs: SchemaConverter, outputs: SchemaConverter,
               problems: list[SpecProblem], skipped: dict[str, str]) -> Operation | None:
    op = item[method]
    if not isinstance(op, dict):
        problems.append(SpecProblem(op_path, "an operation must be an object"))
        return None
    op_id = op.get("operationId")
    if op_id is None:
        skipped[op_path] = "no operationId"
        return None
    if not isinstance(op_id, str) or not op_id.strip():
        problems.append(SpecProblem(child(op_path, "operationId"), "must be a non-empty string"))
        return None
    op_name = identifier(op_id)[:64]
    hint = model_name(op_id)
    fields: dict[str, Any] = {}
    used: set[str] = set()
    params = _parameters(item, op, op_path.rsplit(".", 1)[0], op_path, inputs, fields, used, hint, problems)
    if params is None:
        skipped[op_path] = "a parameter could not be read"
        return None
    body_kind, body_field = _request_body(op, op_path, inputs, fields, used, hint, problems, skipped)
    if body_kind == "unsupported":
        return None
    missing = [m for m in re.findall(r"{([^}]+)}", path) if m not in {p.name for p in params if p.location == "path"}]
    if missing:
        problems.append(SpecProblem(child(op_path, "parameters"), f"path parameter(s) {', '.join(missing)} not declared"))
        return None
    input_model = create_model(f"{hint}Input", __config__=ConfigDict(extra="forbid", populate_by_name=True),
                               __doc__=f"Input of {op_id}.", **fields)
    output_model = _output_model(op, op_path, outputs, hint)
    auth = _operation_auth(doc, op, op_path, schemes, problems)
    spec = OperationSpec(method.upper(), path, tuple(params), body_kind, auth, body_field)
    summary = _text(op.get("summary")) or _text(op.get("description")) or f"{method.upper()} {path}"
    description = f"{summary} ({method.upper()} {path})"
    run = _runner(spec, base_url, output_model)
    return Operation(op_name, description[:600], input_model, output_model, run,
                     idempotent=method in ("get", "head", "options", "put", "delete"),
                     destructive=method in DESTRUCTIVE_METHODS)


def _parameters(item: dict[str, Any], op: dict[str, Any], item_path: str, op_path: str, inputs: SchemaConverter,
                fields: dict[str, Any], used: set[str], hint: str, problems: list[SpecProblem]) -> list[ParamSpec] | None:
    merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for raw, base in ((item.get("parameters"), child(item_path, "parameters")),
                      (op.get("parameters"), child(op_path, "parameters"))):
        if raw is None:
            continue
        if not isinstance(raw, list):
            problems.append(SpecProblem(base, "must be a list"))
            return None
        for i, param in enumerate(raw):
            p_path = child(base, i)
            param, _, _ = inputs.resolve(param, p_path)
            if not isinstance(param, dict) or not isinstance(param.get("name"), str) or \
                    param.get("in") not in ("path", "query", "header", "cookie"):
                problems.append(SpecProblem(p_path, "a parameter needs 'name' and 'in' (path, query, header or cookie)"))
                return None
            merged[(param["in"], param["name"])] = (param, p_path)
    out: list[ParamSpec] = []
    for (location, name), (param, p_path) in merged.items():
        if location == "header" and name.lower() in IGNORED_HEADERS:
            continue
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict):
            schema = _obj(next(iter(param["content"].values()), {})).get("schema")
        py = unique_identifier(name, used)
        typ = inputs.type_for(schema or {}, child(p_path, "schema"), hint=f"{hint}{model_name(name)}", depth=1)
        required = location == "path" or bool(param.get("required"))
        resolved = inputs.resolve(schema, child(p_path, "schema"))[0] if schema else {}
        described = {**(resolved if isinstance(resolved, dict) else {}), "description": param.get("description")
                     or (resolved.get("description") if isinstance(resolved, dict) else None)}
        fields[py] = field_definition(typ, described, described, alias=name, required=required)
        out.append(ParamSpec(py, name, location))
    return out


def _request_body(op: dict[str, Any], op_path: str, inputs: SchemaConverter,
                  fields: dict[str, Any], used: set[str], hint: str, problems: list[SpecProblem],
                  skipped: dict[str, str]) -> tuple[str | None, str]:
    raw = op.get("requestBody")
    if raw is None:
        return None, ""
    body_path = child(op_path, "requestBody")
    body, _, _ = inputs.resolve(raw, body_path)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict) or not content:
        problems.append(SpecProblem(child(body_path, "content"), "a request body needs a content object"))
        return "unsupported", ""
    kind, media = None, None
    for media_type, value in content.items():
        base = media_type.split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            kind, media = "json", value
            break
        if base == "application/x-www-form-urlencoded" and kind is None:
            kind, media = "form", value
        elif base.startswith("text/") and kind is None:
            kind, media = "text", value
    if kind is None:
        skipped[op_path] = f"request body type(s) {', '.join(content)} not supported (JSON, form or text)"
        return "unsupported", ""
    schema = media.get("schema", {}) if isinstance(media, dict) else {}
    name = unique_identifier("body", used)
    media_path = child(child(body_path, "content"), next(k for k, v in content.items() if v is media))
    typ = str if kind == "text" else inputs.type_for(schema, child(media_path, "schema"), hint=f"{hint}Body", depth=1)
    described = {"description": body.get("description") or "The request body."}
    fields[name] = field_definition(typ, described, described, alias=name, required=bool(body.get("required")))
    return kind, name


def _output_model(op: dict[str, Any], op_path: str, outputs: SchemaConverter, hint: str) -> type[BaseModel]:
    responses = _obj(op.get("responses"))
    body_type: Any = Any  # no JSON schema: whatever the server sends, parsed by its content type
    codes = sorted((str(c) for c in responses if str(c).startswith("2")), key=lambda c: (c == "2XX", c))
    for code in codes:
        resp_path = child(child(op_path, "responses"), code)
        resp, _, _ = outputs.resolve(responses[code], resp_path)
        content = resp.get("content") if isinstance(resp, dict) else None
        if not isinstance(content, dict):
            break
        json_media = next(((k, v) for k, v in content.items()
                           if k.split(";")[0].strip().lower() in ("application/json", "*/*") or k.endswith("+json")), None)
        if json_media and isinstance(json_media[1], dict) and "schema" in json_media[1]:
            schema_path = child(child(child(resp_path, "content"), json_media[0]), "schema")
            body_type = outputs.type_for(json_media[1]["schema"], schema_path, hint=f"{hint}Response", depth=1)
            body_type = Optional[body_type]  # noqa: UP045 - runtime type
        break
    return create_model(
        f"{hint}Output", __doc__="The response: status, headers and the parsed body.",
        status=(int, Field(description="The HTTP status.")),
        headers=(dict[str, str], Field(default_factory=dict)),
        body=(body_type, Field(None, description="The parsed response body (JSON, or text).")),
    )


def _operation_auth(doc: dict[str, Any], op: dict[str, Any], op_path: str, schemes: dict[str, AuthSpec],
                    problems: list[SpecProblem]) -> AuthSpec | None:
    requirement = op.get("security", doc.get("security"))
    if requirement is None:
        return next(iter(schemes.values()), None) if len(schemes) == 1 else None
    where = child(op_path, "security") if "security" in op else "$.security"
    if not isinstance(requirement, list):
        problems.append(SpecProblem(where, "must be a list of security requirements"))
        return None
    for alternative in requirement:
        if not isinstance(alternative, dict):
            problems.append(SpecProblem(where, "each security requirement must be an object"))
            return None
        if not alternative:
            return None  # {} means "no auth" is acceptable
        known = [schemes[n] for n in alternative if n in schemes]
        if len(known) == len(alternative):
            return known[0]
    unknown = [n for alt in requirement if isinstance(alt, dict) for n in alt if n not in schemes]
    if unknown:
        problems.append(SpecProblem(where, f"security scheme(s) {', '.join(sorted(set(unknown)))} are not in "
                                    "components.securitySchemes"))
    return None


def _auth_type(schemes: tuple[AuthSpec, ...]) -> AuthType:
    kinds = {s.kind for s in schemes}
    if "oauth2" in kinds:
        return AuthType.OAUTH2
    if kinds & {"api_key", "bearer"}:
        return AuthType.API_KEY
    if "basic" in kinds:
        return AuthType.BASIC
    return AuthType.NONE


def _credential_fields(schemes: tuple[AuthSpec, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in schemes:
        if s.kind == "api_key":
            out["api_key"] = f"API key, sent as the {s.location} {s.param!r} (scheme {s.scheme})"
        elif s.kind == "bearer":
            out["access_token"] = f"Bearer token (scheme {s.scheme}; `api_key` works too)"
        elif s.kind == "basic":
            out["username"] = f"HTTP Basic user, with `password` (scheme {s.scheme})"
        else:
            out["access_token"] = f"OAuth 2.0 access token (scheme {s.scheme}; `flowwright credentials connect`)"
    return out


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return " ".join(str(value).split())[:400] if isinstance(value, str) else ""


def _dedupe(problems: list[SpecProblem]) -> list[SpecProblem]:
    return list(dict.fromkeys(problems))


# --- calling an operation ---------------------------------------------------------------------


def http_credential(auth: AuthSpec | None, credential: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``http.request`` credential that sends ``credential`` the way ``auth`` says."""
    if auth is None or not credential:
        return None
    token = credential.get("access_token") or credential.get("token")
    key = credential.get("api_key")
    if auth.kind == "api_key":
        if not (key or token):
            raise CredentialError(f"scheme {auth.scheme} needs a credential with api_key", code="credential_invalid")
        value = str(key or token)
        if auth.location == "query":
            return {"api_key": value, "query_param": auth.param}
        if auth.location == "cookie":
            return {"headers": {"Cookie": f"{auth.param}={value}"}}
        return {"api_key": value, "header": auth.param}
    if auth.kind == "basic":
        if credential.get("username") is None or credential.get("password") is None:
            raise CredentialError(f"scheme {auth.scheme} needs a credential with username and password",
                                  code="credential_invalid")
        return {"username": credential["username"], "password": credential["password"]}
    if not (token or key):
        raise CredentialError(f"scheme {auth.scheme} needs a credential with access_token", code="credential_invalid")
    return {"access_token": str(token or key)}


class _WithCredential:
    """The step's context with the credential replaced by the one ``http.request`` reads."""

    def __init__(self, ctx: OperationContext, credential: Mapping[str, Any] | None) -> None:
        self._ctx = ctx
        self.credential = credential
        self.workspace_id = ctx.workspace_id
        self.execution_id = ctx.execution_id
        self.node_id = ctx.node_id
        self.services = ctx.services
        self.dry_run = ctx.dry_run
        self.resumed = ctx.resumed
        self.resume_at: datetime | None = ctx.resume_at
        self.idempotency_key = ctx.idempotency_key

    def log(self, level: str, message: str, **metadata: Any) -> None:
        self._ctx.log(level, message, **metadata)

    def evaluate(self, expression: str) -> Any:
        return self._ctx.evaluate(expression)

    async def run_workflow(self, workflow_id: str, version: int | None, input: Any, *, wait: bool) -> dict[str, Any]:
        """The step's own sub-workflow runner (an imported operation never starts one itself)."""
        return await self._ctx.run_workflow(workflow_id, version, input, wait=wait)


def request_for(spec: OperationSpec, base_url: str, inp: BaseModel) -> RequestInput:
    """The ``http.request`` input for one call of an imported operation."""
    values = inp.model_dump(mode="json", exclude_none=True, by_alias=True)  # keys: the spec's names
    url_path = spec.path
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for p in spec.params:
        if p.name not in values:
            continue
        value = values[p.name]
        if p.location == "path":
            url_path = url_path.replace("{" + p.name + "}", quote(_scalar(value), safe=""))
        elif p.location == "query":
            query[p.name] = [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)
        elif p.location == "header":
            headers[p.name] = _scalar(value)
        else:
            cookies.append(f"{p.name}={quote(_scalar(value), safe='')}")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    config: dict[str, Any] = {"method": spec.method, "url": base_url + url_path, "query": query, "headers": headers}
    body = values.get(spec.body_field) if spec.body else None
    if body is not None:
        if spec.body == "json":
            config["json"] = body
        elif spec.body == "form":
            config["form"] = {str(k): _scalar(v) for k, v in dict(body).items()}
        else:
            config["body"] = str(body)
    return RequestInput.model_validate(config)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _runner(spec: OperationSpec, base_url: str, output_model: type[BaseModel]) -> Any:
    async def run(inp: BaseModel, ctx: OperationContext) -> BaseModel:
        request = request_for(spec, base_url, inp)
        credential = http_credential(spec.auth, ctx.credential)
        assert _HTTP_REQUEST is not None
        response = await _HTTP_REQUEST.run(request, _WithCredential(ctx, credential))
        assert isinstance(response, RequestOutput)
        try:
            return output_model.model_validate({"status": response.status, "headers": response.headers,
                                                "body": response.body})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PermanentError(f"{spec.method} {spec.path}: the response does not match the spec at {where}: "
                                 f"{first['msg']}", code="openapi_response_invalid", status_code=response.status) from None

    return run


__all__ = ["AuthSpec", "ImportResult", "OperationSpec", "ParamSpec", "build_connector", "http_credential",
           "request_for", "spec_digest"]
