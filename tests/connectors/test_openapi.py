"""OpenAPI documents → connectors: the models built from the spec, the problems reported with their
JSON paths, and calls to a real loopback server that implements the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.errors import PermanentError, SsrfBlockedError
from connectors.openapi import build_connector
from connectors.openapi_schema import SpecInvalidError, load_document
from connectors.services import ConnectorServices, HttpClients
from tests.connectors.conftest import Ctx, LoopbackServer

DATA = Path(__file__).parent.parent / "data" / "openapi"
ALLOW = ConnectorServices(http=HttpClients.allowing(["127.0.0.1"]))


def petstore(base_url: str | None = None) -> Any:
    return build_connector(load_document((DATA / "petstore.yaml").read_bytes()), base_url=base_url)


def github(base_url: str | None = None) -> Any:
    return build_connector(load_document((DATA / "github-issues.json").read_bytes()), name="github", base_url=base_url)


def problems_of(doc: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalidError) as info:
        build_connector(doc if isinstance(doc, dict) else load_document(doc), **kwargs)
    assert info.value.code == "openapi_invalid" and info.value.status == 422
    return [(p.path, p.message) for p in info.value.problems]


def minimal(**paths: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "Mini", "version": "1"}, "servers": [{"url": "https://api.example.com"}],
            "paths": paths or {"/ping": {"get": {"operationId": "ping", "responses": {"204": {"description": "ok"}}}}}}


def test_petstore_operations_models_and_auth() -> None:
    result = petstore()
    c = result.connector
    assert c.name == "swagger_petstore" and c.category == "imported"
    assert result.base_url == "https://petstore3.swagger.io/api/v3"
    assert [op.name for op in c.operations] == ["add_pet", "find_pets_by_status", "get_pet_by_id", "delete_pet",
                                               "get_inventory"]
    assert str(c.auth) == "oauth2" and {"api_key", "access_token"} <= set(c.credential_fields)
    get_pet = c.operation("get_pet_by_id")
    assert get_pet is not None and get_pet.idempotent and not get_pet.destructive
    schema = get_pet.input_model.model_json_schema()
    assert schema["required"] == ["petId"] and schema["properties"]["petId"]["type"] == "integer"
    assert schema["additionalProperties"] is False
    with pytest.raises(ValidationError):
        get_pet.input_model.model_validate({"petId": "ten"})
    with pytest.raises(ValidationError):
        get_pet.input_model.model_validate({"petId": 1, "typo": 2})
    status = c.operation("find_pets_by_status")
    assert status is not None
    assert status.input_model.model_validate({}).model_dump()["status"] == "available"  # the spec's default
    with pytest.raises(ValidationError):
        status.input_model.model_validate({"status": "lost"})  # enum
    add = c.operation("add_pet")
    assert add is not None and add.input_model.model_json_schema()["required"] == ["body"]
    with pytest.raises(ValidationError):
        add.input_model.model_validate({"body": {"name": "Rex"}})  # photoUrls is required by Pet
    delete = c.operation("delete_pet")
    assert delete is not None and delete.destructive
    out = get_pet.output_model.model_json_schema()
    assert set(out["properties"]) == {"status", "headers", "body"}
    assert "Pet" in json.dumps(out["$defs"])


def test_a_real_world_spec_with_shared_parameters_and_refs() -> None:
    c = github().connector
    assert str(c.auth) == "api_key"  # bearer token
    names = [op.name for op in c.operations]
    assert names == ["issues_list_for_repo", "issues_create", "issues_get"]
    listing = c.operation("issues_list_for_repo")
    assert listing is not None
    props = listing.input_model.model_json_schema()["properties"]
    assert list(props) == ["owner", "repo", "state", "labels", "per_page"]  # path-item parameters included
    assert props["per_page"]["default"] == 30
    create = c.operation("issues_create")
    assert create is not None and create.input_model.model_validate(
        {"owner": "o", "repo": "r", "body": {"title": 7}}).model_dump()["body"]["title"] == 7  # oneOf string|integer


async def test_a_workflow_step_calls_the_loopback_server(http_server: LoopbackServer) -> None:
    pets = {10: {"id": 10, "name": "doggie", "photoUrls": [], "status": "available"}}

    def pet(r: Any) -> Any:
        if r.method == "DELETE":
            return 200, {}, ""
        return (200, {}, pets[10]) if r.headers.get("api_key") == "k-1" else (401, {}, {"message": "no key"})

    http_server.routes["/api/v3/pet/10"] = pet
    http_server.routes["/api/v3/pet"] = lambda r: (200, {}, {**json.loads(r.body), "id": 11})
    http_server.routes["/api/v3/pet/findByStatus"] = lambda r: (200, {}, [pets[10]])
    c = petstore(base_url=f"{http_server.url}/api/v3").connector

    get_pet = c.operation("get_pet_by_id")
    assert get_pet is not None
    out = await get_pet.run(get_pet.input_model.model_validate({"petId": 10}),
                            Ctx(services=ALLOW, credential={"api_key": "k-1"}))
    assert out.model_dump()["status"] == 200
    assert out.model_dump()["body"]["name"] == "doggie"
    assert http_server.requests[-1].headers["api_key"] == "k-1"

    add = c.operation("add_pet")
    assert add is not None
    body = {"name": "Rex", "photoUrls": ["https://x/1.png"], "tags": [{"id": 1, "name": "good"}]}
    out = await add.run(add.input_model.model_validate({"body": body}),
                        Ctx(services=ALLOW, credential={"access_token": "oauth-tok"}))
    assert out.model_dump()["body"]["id"] == 11
    sent = http_server.requests[-1]
    assert sent.method == "POST" and json.loads(sent.body) == body
    assert sent.headers["authorization"] == "Bearer oauth-tok"  # addPet asks for petstore_auth (OAuth 2.0)

    find = c.operation("find_pets_by_status")
    assert find is not None
    await find.run(find.input_model.model_validate({"status": "sold"}), Ctx(services=ALLOW))
    assert http_server.requests[-1].query == {"status": ["sold"]}

    # 401 from the server: a permanent error, as with http.request
    with pytest.raises(PermanentError, match="401"):
        await get_pet.run(get_pet.input_model.model_validate({"petId": 10}),
                          Ctx(services=ALLOW, credential={"api_key": "wrong"}))


async def test_path_values_are_escaped_and_the_response_is_checked(http_server: LoopbackServer) -> None:
    http_server.routes["/repos/a%2Fb/r/issues/3"] = lambda r: (200, {}, {"id": 1, "number": 3, "state": "open",
                                                                       "title": "t", "extra": "kept"})
    http_server.routes["/repos/o/r/issues/4"] = lambda r: (200, {}, {"id": "not a number"})
    c = github(base_url=http_server.url).connector
    get = c.operation("issues_get")
    assert get is not None
    ctx = Ctx(services=ALLOW, credential={"access_token": "ghp_x"})
    out = await get.run(get.input_model.model_validate({"owner": "a/b", "repo": "r", "issue_number": 3}), ctx)
    assert out.model_dump()["body"]["extra"] == "kept"
    assert http_server.requests[-1].headers["authorization"] == "Bearer ghp_x"
    with pytest.raises(PermanentError, match=r"does not match the spec at body\.id") as info:
        await get.run(get.input_model.model_validate({"owner": "o", "repo": "r", "issue_number": 4}), ctx)
    assert info.value.code == "openapi_response_invalid"


async def test_calls_keep_the_ssrf_guard(http_server: LoopbackServer) -> None:
    http_server.routes["/ping"] = lambda r: (204, {}, "")
    c = build_connector(minimal(), base_url=http_server.url).connector
    ping = c.operation("ping")
    assert ping is not None
    with pytest.raises(SsrfBlockedError):
        await ping.run(ping.input_model.model_validate({}), Ctx())
    assert http_server.requests == []
    out = await ping.run(ping.input_model.model_validate({}), Ctx(services=ALLOW))
    assert out.model_dump()["status"] == 204


def test_problems_name_their_json_path() -> None:
    assert problems_of({"swagger": "2.0", "paths": {}}) == [
        ("$.swagger", "need an OpenAPI 3.x document (openapi: 3.0.x or 3.1.x), found swagger '2.0'")]
    doc = minimal(**{
        "/pets/{petId}": {"get": {"operationId": "getPet", "parameters": [{"name": "petId", "in": "body"}],
                                  "responses": {}}},
        "/a": {"get": {"operationId": "listA", "responses": {"200": {"description": "x", "content": {
            "application/json": {"schema": {"$ref": "https://elsewhere.example/a.json"}}}}}}},
        "/b": {"get": {"operationId": "list_a", "responses": {}}},
        "/c": {"post": {"operationId": "c", "requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Missing"}}}}, "responses": {}}},
        "/d": {"get": {"operationId": "d", "security": [{"nope": []}], "responses": {}}},
    })
    doc["components"] = {"securitySchemes": {"weird": {"type": "mutualTLS"}}}
    found = problems_of(doc)
    assert ("$.paths['/pets/{petId}'].get.parameters[0]",
            "a parameter needs 'name' and 'in' (path, query, header or cookie)") in found
    assert ("$.paths['/b'].get.operationId", "operation name 'list_a' is also used by $.paths['/a'].get") in found
    assert ("$.paths['/a'].get.responses['200'].content['application/json'].schema['$ref']",
            "only local references (#/...) are supported, not 'https://elsewhere.example/a.json'") in found
    assert ("$.paths['/c'].post.requestBody.content['application/json'].schema['$ref']",
            "'#/components/schemas/Missing' points at nothing") in found
    assert ("$.paths['/d'].get.security", "security scheme(s) nope are not in components.securitySchemes") in found
    assert ("$.components.securitySchemes.weird.type", "security scheme type 'mutualTLS' is not supported") in found


def test_servers_and_names() -> None:
    doc = minimal()
    doc["servers"] = [{"url": "/relative"}]
    assert problems_of(doc) == [("$.servers[0].url", "'/relative' is not an absolute http(s) URL; give one with --base-url")]
    assert build_connector(doc, base_url="https://h.example/v1/").base_url == "https://h.example/v1"
    doc["servers"] = [{"url": "https://{region}.api.example.com/{v}", "variables": {"region": {"default": "eu"},
                                                                                  "v": {"default": "v2"}}}]
    assert build_connector(doc).base_url == "https://eu.api.example.com/v2"
    assert problems_of(minimal(), name="Bad Name!")[0][0] == "$.info.title"
    undeclared = minimal(**{"/x/{id}": {"get": {"operationId": "x", "responses": {}}}})
    assert problems_of(undeclared) == [("$.paths['/x/{id}'].get.parameters", "path parameter(s) id not declared")]


def test_unsupported_bodies_are_skipped_not_fatal() -> None:
    doc = minimal(**{
        "/upload": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {}}},
                             "responses": {}}},
        "/ping": {"get": {"operationId": "ping", "responses": {}}},
        "/anon": {"get": {"responses": {}}},
    })
    result = build_connector(doc)
    assert [op.name for op in result.connector.operations] == ["ping"]
    assert result.skipped == {"$.paths['/upload'].post": "request body type(s) multipart/form-data not supported "
                              "(JSON, form or text)", "$.paths['/anon'].get": "no operationId"}


def test_recursive_schemas_and_caps() -> None:
    doc = minimal(**{"/tree": {"get": {"operationId": "tree", "responses": {"200": {"description": "x", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}}}})
    doc["components"] = {"schemas": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}}}
    op = build_connector(doc).connector.operation("tree")
    assert op is not None
    value = op.output_model.model_validate({"status": 200, "body": {"name": "a", "children": [{"name": "b"}]}})
    assert value.model_dump()["body"]["children"][0]["name"] == "b"
    with pytest.raises(SpecInvalidError, match="limit is 1024"):
        load_document(b"openapi: 3.0.0\n" + b"#" * 2000, max_bytes=1024)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(SpecInvalidError, match="more than"):
        load_document(bomb)
    with pytest.raises(SpecInvalidError, match=r"not valid YAML: line 3, column 1: expected"):
        load_document("openapi: 3.0.0\npaths: [unclosed\n")
    with pytest.raises(SpecInvalidError, match="must be an object"):
        load_document("- just\n- a list\n")
