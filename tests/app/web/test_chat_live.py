"""The chat's live stages in a real browser against the real service: the turn's stages stream in
(SSE) and show while the turn runs, then stay with the answer; a turn that fails says so."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.app.web.conftest import NARROW, WIDE

pytestmark = pytest.mark.timeout(300)

# Records, at every change of the conversation, which stages the working notice shows and whether
# the answer is there yet: a stream read live shows stages before the answer exists.
OBSERVE = """() => {
  window.__snapshots = [];
  const messages = document.querySelector('#messages');
  new MutationObserver(() => {
    window.__snapshots.push({
      working: [...messages.querySelectorAll('li.working .stages li')].map((li) => li.dataset.stage + ':' + li.dataset.state),
      answered: messages.querySelector('li.assistant') !== null,
    });
  }).observe(messages, { childList: true, subtree: true, characterData: true });
}"""

# For the screenshot of a turn in progress: the page's fetch of a streamed turn passes the
# service's events through as they come, but holds back everything from the model stage's end
# until the test calls window.__release() (the service itself is not slowed or changed).
HOLD = """(() => {
  const realFetch = window.fetch.bind(window);
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  window.__release = () => release();
  window.fetch = async (input, init) => {
    const response = await realFetch(input, init);
    const accept = init && init.headers && init.headers.accept;
    if (accept !== 'text/event-stream' || !response.body) return response;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let held = null;
    const body = new ReadableStream({
      async pull(controller) {
        for (;;) {  // a pull must enqueue or close, or the stream stalls
          const { value, done } = await reader.read();
          if (done) {
            if (held !== null) { await released; controller.enqueue(encoder.encode(held)); }
            controller.close();
            return;
          }
          let text = decoder.decode(value, { stream: true });
          if (held !== null) { held += text; continue; }
          const at = text.search(/data: \\{"stage": "model", "state": "done"/);
          if (at >= 0) {
            const cut = text.lastIndexOf('event:', at);
            held = text.slice(cut);
            text = text.slice(0, cut);
          }
          if (text) { controller.enqueue(encoder.encode(text)); return; }
        }
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
})();"""


def send(page: Any, message: str) -> None:
    page.fill("#prompt", message)
    page.click("#send")


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "400"])
def test_the_stages_show_live_while_the_turn_runs(open_page: Any, shots: Path, viewport: dict[str, int]) -> None:
    page = open_page(viewport=viewport)
    page.locator("#prompt").wait_for()
    page.evaluate(OBSERVE)
    # a request nobody sent before: the model runs (no cached answer), so the turn takes a while
    send(page, f"Every day at 7:{uuid.uuid4().int % 50 + 10} fetch https://api.example.com/status and post it to #ops")
    page.locator("#messages li.assistant").first.wait_for()
    snapshots = page.evaluate("window.__snapshots")
    before = [s["working"] for s in snapshots if not s["answered"] and s["working"]]
    assert before, "no stage was shown before the answer came"
    assert "context:started" in before[0] or "context:done" in before[0]
    assert any("model:started" in s for s in before), before
    # the answer keeps what the turn went through, in the order it happened
    done = page.locator("#messages li.assistant .stages li")
    texts = done.all_text_contents()
    assert texts[0].startswith("retrieved context (") and texts[1].startswith("called the model")
    assert any(t.startswith("the model's answer 1") for t in texts)
    assert any(t.startswith("inserted ") and "guardrail" in t for t in texts)
    assert texts[-1].startswith("stored version 1 (")
    assert set(done.evaluate_all("els => els.map(e => e.dataset.state)")) == {"done"}
    assert page.locator("#messages li.working").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.screenshot(path=str(shots / f"chat-stages-{viewport['width']}.png"), full_page=True)


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "400"])
def test_a_turn_in_progress_shows_the_running_stage(open_page: Any, shots: Path, viewport: dict[str, int]) -> None:
    page = open_page(viewport=viewport)
    page.add_init_script(HOLD)
    page.reload()
    send(page, f"every day at 6:{uuid.uuid4().int % 50 + 10} log 'hello'")
    running = page.locator("#messages li.working .stages li.running")
    page.locator("#messages li.working .stages li[data-stage=check]").wait_for()  # held just after this
    assert running.count() == 1 and running.get_attribute("data-stage") == "model"
    assert running.text_content() == "calling the model…"
    assert page.locator("#messages li.working").get_attribute("role") == "status"
    shown = page.locator("#messages li.working .stages li").all_text_contents()
    assert shown[0].startswith("retrieved context (") and "the model's answer 1 checked: no problems" in shown
    assert page.locator("#send").is_disabled()
    page.screenshot(path=str(shots / f"chat-running-{viewport['width']}.png"), full_page=True)
    page.evaluate("window.__release()")
    page.locator("#messages li.assistant").first.wait_for()
    assert page.locator("#messages li.working").count() == 0 and page.locator("#send").is_enabled()


def test_a_failed_turn_is_shown_as_an_error(open_page: Any, service: Any, workspace: str) -> None:
    """The chat's workflow was changed to a polling trigger (its JSON edited, which the copilot does
    not write): the next message's stream ends with a ``failed`` event, shown as an error."""
    turn = service.call("POST", "/v1/conversations", {"message": "every day at 8:00 log 'hi'"}, workspace=workspace)
    wf = {"schema_version": "1.1", "name": "Polls items", "nodes": [
        {"id": "start", "type": "trigger", "kind": "poll", "connector": "http", "operation": "new_items",
         "config": {"interval_s": 60, "input": {"url": "https://api.example.com/items"}}},
        {"id": "say", "type": "action", "connector": "core", "operation": "log", "config": {"message": "new"}}],
        "edges": [{"source": "start", "target": "say"}]}
    service.call("PUT", f"/v1/workflows/{turn['workflow_id']}", wf, workspace=workspace)
    page = open_page(f"/#/chat/{turn['conversation_id']}")
    page.locator("#messages li.assistant").first.wait_for()
    send(page, "also log 'bye'")
    error = page.locator("#messages li.error")
    error.wait_for()
    assert "the copilot cannot refine this workflow" in (error.text_content() or "")
    assert page.locator("#messages li.working").count() == 0 and page.locator("#send").is_enabled()
