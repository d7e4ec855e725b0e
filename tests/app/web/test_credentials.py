"""The credentials screen in a real browser against the real service: an admin adds one (the
secret is never shown again, nowhere on the page), sees which workflows use it, gets a clear
message for a missing field, deletes it in two steps; an editor only reads; another workspace
sees none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import NARROW, Service
from tests.app.web.test_runs import create

pytestmark = pytest.mark.timeout(300)

SECRET = "https://hooks.example.com/services/T0/B0/s3cr3t-t0ken-4242"


def uses(credential: str) -> dict[str, Any]:
    return {"schema_version": "1", "name": "Ping ops",
            "nodes": [{"id": "start", "type": "trigger", "kind": "manual"},
                      {"id": "ping", "type": "action", "connector": "slack", "operation": "post_message",
                       "credential": credential, "config": {"channel": "#ops", "text": "ping"}}],
            "edges": [{"source": "start", "target": "ping"}]}


def test_add_see_usage_and_delete_a_credential(open_page: Any, service: Service, workspace: str, shots: Path) -> None:
    page = open_page("/#/credentials", role="admin")
    page.locator("#credentials td.muted:text('No credentials yet.')").wait_for()
    page.fill("#cred-name", "ops-hook")
    page.select_option("#cred-type", "url")
    assert page.locator("#cred-url").get_attribute("type") == "password"
    page.fill("#cred-url", SECRET)
    page.click("#cred-save")
    page.locator("#credentials tr[data-name=ops-hook]").wait_for()
    assert "will not be shown again" in (page.text_content("#cred-status") or "")
    assert page.locator("#cred-name").input_value() == ""
    assert SECRET not in page.content() and "s3cr3t" not in page.content()
    assert page.locator("#credentials tr[data-name=ops-hook] td").first.text_content() == "url"
    assert "no workflow" in (page.text_content("#credentials tr[data-name=ops-hook]") or "")

    workflow_id = create(service, workspace, uses("ops-hook"))
    page.reload()
    used = page.locator("#credentials tr[data-name=ops-hook] .used-by a")
    used.wait_for()
    assert used.text_content() == "Ping ops" and used.get_attribute("href") == f"#/workflows/{workflow_id}"
    assert "(ping)" in (page.text_content("#credentials tr[data-name=ops-hook] .used-by") or "")
    page.screenshot(path=str(shots / "credentials-1400.png"), full_page=True)

    page.fill("#cred-name", "login")
    page.select_option("#cred-type", "basic")
    page.fill("#cred-username", "ada")
    page.click("#cred-save")  # no password: the vault's message, nothing stored
    page.wait_for_function("document.querySelector('#cred-problem').textContent.includes('password')")
    assert [c["name"] for c in service.call("GET", "/v1/credentials", workspace=workspace)] == ["ops-hook"]

    page.click("#credentials tr[data-name=ops-hook] button.delete")
    assert page.locator("#credentials tr[data-name=ops-hook] button.delete").text_content() == "Confirm delete"
    assert service.call("GET", "/v1/credentials", workspace=workspace) != []  # one click asks, nothing more
    page.click("#credentials tr[data-name=ops-hook] button.delete")
    page.locator("#credentials td.muted:text('No credentials yet.')").wait_for()
    assert service.call("GET", "/v1/credentials", workspace=workspace) == []


def test_an_editor_reads_and_another_workspace_sees_none(open_page: Any, service: Service, workspace: str,
                                                        shots: Path) -> None:
    admin = service.key(workspace, "admin")
    import json
    import urllib.request

    request = urllib.request.Request(f"{service.base}/v1/credentials/mail", method="PUT",
                                     data=json.dumps({"type": "smtp", "secret": {"host": "127.0.0.1", "port": 2525}}).encode(),
                                     headers={"content-type": "application/json", "authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    page = open_page("/#/credentials", viewport=NARROW)  # an editor
    page.locator("#credentials tr[data-name=mail]").wait_for()
    assert page.locator("#cred-form").count() == 0 and page.locator("#cred-admin-only").is_visible()
    assert page.locator("button.delete").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(shots / "credentials-400.png"), full_page=True)

    page.click("#sign-out")
    page.fill("#api-key", service.key(f"{workspace}-other"))
    page.click("#sign-in button")
    page.locator("#credentials td.muted:text('No credentials yet.')").wait_for()
