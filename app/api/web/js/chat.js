// The chat: talk to the copilot, see the workflow it wrote, refine, undo. The conversation is in
// the address (#/chat/ID), so a reload brings it back.

import { api, apiStream } from "./api.js";
import { el } from "./dom.js";
import { workflowPanel } from "./panel.js";

function turnMeta(turn, seen) {
  const usage = turn.usage || {};
  const parts = [];
  if (turn.version) parts.push(`version ${turn.version}`);
  parts.push(turn.valid ? "valid" : turn.kind === "question" ? "question" : "not valid");
  if (usage.total_tokens !== undefined) parts.push(`${usage.total_tokens} tokens`);
  if (usage.cost_usd !== undefined) parts.push(`$${Number(usage.cost_usd).toFixed(4)}`);
  if (turn.cache) parts.push(`cache ${turn.cache}`);
  if (turn.latency_ms !== undefined) parts.push(`${Math.round(turn.latency_ms)} ms`);
  return el("span", { class: "meta" }, parts.join(" · "), seen && seen.size ? seen.list(false) : stages(turn));
}

// What each stage of a turn is called while it runs and once it is done (the stream's `stage`
// events name them; the texts of a finished stage say what came of it).
const STAGE_TEXT = {
  context: ["retrieving context", () => "retrieved context"],
  model: ["calling the model", (d) => `called the model${d.cache_hit ? " (cached answer)" : ""}`],
  check: ["checking the model's answer", (d) => d.problems
    ? `the model's answer ${d.attempt} had ${d.problems} problem${d.problems === 1 ? "" : "s"}: asked again`
    : `the model's answer ${d.attempt} checked: no problems`],
  repair: ["compiling the plan", (d) => d.fixed ? `compiled and repaired ${d.fixed} thing${d.fixed === 1 ? "" : "s"}` : "compiled the plan"],
  credentials: ["checking credentials", (d) => d.notes ? `checked credentials: ${d.notes} note${d.notes === 1 ? "" : "s"}` : "checked credentials"],
  passes: ["inserting guardrails", (d) => `inserted ${d.inserted || 0} guardrail${d.inserted === 1 ? "" : "s"}`],
  validate: ["validating", (d) => d.valid === false ? `validated: ${d.problems} problem${d.problems === 1 ? "" : "s"}` : "validated"],
  store: ["storing the version", (d) => d.version ? `stored version ${d.version}` : "not stored"],
};

/** The stages of a turn as they stream in: one list item per stage, redrawn as it ends. */
class LiveStages {
  constructor() {
    this.items = [];  // {key, stage, state, text, ms}
  }

  get size() { return this.items.length; }

  add(event) {
    const [running, done] = STAGE_TEXT[event.stage] || [event.label, () => event.label];
    const detail = event.detail || {};
    const key = event.stage === "check" ? `check-${detail.attempt}` : event.stage;
    let item = this.items.find((i) => i.key === key);
    if (!item) {
      item = { key, stage: event.stage };
      this.items.push(item);
    }
    item.state = event.state;
    item.ms = event.ms;
    item.text = event.state === "started" ? `${running}…`
      : event.state === "failed" ? `${running}: failed` : done(detail);
  }

  list(live) {
    return el("ol", { class: "stages", "aria-label": live ? "what the copilot is doing" : "what the copilot did" },
      this.items.map((i) => el("li", { "data-stage": i.stage, "data-state": i.state, class: i.state === "started" ? "running" : null },
        i.ms !== undefined && i.ms !== null ? `${i.text} (${Math.round(i.ms)} ms)` : i.text)));
  }
}

// A turn read back from the conversation has no stream: its stages come from the times it kept.
const STAGES = [["context_ms", "retrieved context"], ["model_ms", "called the model"], ["finish_ms", "validated and inserted guardrails"]];

function stages(turn) {
  const t = turn.timings || {};
  const done = STAGES.filter(([key]) => t[key] !== undefined);
  if (!done.length) return null;
  const extra = [];
  if (turn.reasks) extra.push(`${turn.reasks} re-ask${turn.reasks === 1 ? "" : "s"} after validation errors`);
  if (turn.repaired && turn.repaired.length) extra.push(`repaired: ${turn.repaired.join(", ")}`);
  return el("ol", { class: "stages", "aria-label": "what the copilot did" },
    done.map(([key, text]) => el("li", { "data-stage": key }, `${text} (${Math.round(t[key])} ms)`)),
    extra.map((x) => el("li", {}, x)));
}

function diffLine(diff) {
  if (!diff) return null;
  const parts = [];
  if (diff.added && diff.added.length) parts.push(`+ ${diff.added.join(", ")}`);
  if (diff.removed && diff.removed.length) parts.push(`− ${diff.removed.join(", ")}`);
  const changed = Object.keys(diff.changed || {});
  if (changed.length) parts.push(`~ ${changed.join(", ")}`);
  return parts.length ? el("span", { class: "diff" }, parts.join("  ")) : null;
}

export async function chatView(root, conversationId) {
  const state = { conversation: conversationId || null, workflowId: null, version: null };
  const messages = el("ol", { id: "messages", "aria-live": "polite", "aria-label": "conversation" });
  const prompt = el("textarea", {
    id: "prompt", rows: 3, "aria-label": "message",
    placeholder: "Every Monday at 9, fetch https://api.example.com/sales and email a summary to alice@example.com",
  });
  const send = el("button", { type: "submit", id: "send" }, "Send");
  const undo = el("button", { type: "button", id: "undo", class: "secondary", disabled: true }, "Undo");
  const fresh = el("button", { type: "button", id: "new", class: "secondary" }, "New chat");
  const composer = el("form", { id: "composer" }, prompt,
    el("p", { class: "hint" }, "Ctrl+Enter sends."), el("div", { class: "actions" }, send, undo, fresh));
  const title = el("h2", { id: "wf-name" }, "No workflow yet");
  const open = el("a", { id: "wf-open", class: "small", hidden: true }, "open workflow page");
  const side = el("div", { id: "wf-panel" }, el("p", { class: "muted" }, "Describe an automation and the workflow appears here as a graph."));
  root.replaceChildren(el("div", { class: "split" },
    el("section", { id: "chat", "aria-label": "chat" }, el("h2", { class: "sr-only" }, "Chat"), messages, composer),
    el("section", { id: "workflow", "aria-label": "workflow" }, el("div", { class: "bar" }, title, open), side)));

  const say = (role, text, extra) => {
    const item = el("li", { class: role }, text, extra);
    messages.append(item);
    item.scrollIntoView({ block: "end" });
    return item;
  };

  const showWorkflow = (workflow) => {
    if (!workflow) return;
    title.textContent = workflow.name;
    open.hidden = !state.workflowId;
    if (state.workflowId) open.href = `#/workflows/${state.workflowId}`;
    side.replaceChildren(workflowPanel(workflow, state.workflowId).element);
  };

  const applyTurn = (turn, seen) => {
    if (turn.kind === "question") {
      say("question", turn.question || turn.message, turnMeta(turn, seen));
      return;
    }
    if (turn.kind === "error") {
      say("error", turn.message || (turn.error && turn.error.message) || "the copilot failed", seen && seen.size ? seen.list(false) : null);
      return;
    }
    say("assistant", turn.message, el("span", {}, diffLine(turn.diff), turnMeta(turn, seen)));
    state.workflowId = turn.workflow_id || state.workflowId;
    state.version = turn.version;
    showWorkflow(turn.workflow);
    undo.disabled = !turn.version || turn.version <= 1;
  };

  const submit = async (message) => {
    say("user", message);
    send.disabled = true;
    // The stages stream in as the service reaches them (SSE): each shows running, then how it ended.
    const seen = new LiveStages();
    const live = el("div", { class: "live" });
    const working = say("working", el("span", {}, "Working…"), live);
    working.setAttribute("role", "status");
    const onEvent = (type, event) => {
      if (type !== "stage") return;
      seen.add(event);
      live.replaceChildren(seen.list(true));
    };
    try {
      const turn = state.conversation
        ? await apiStream("POST", `/v1/conversations/${state.conversation}/messages`, { message }, onEvent)
        : await apiStream("POST", "/v1/conversations", { message }, onEvent);
      if (!state.conversation) {
        state.conversation = turn.conversation_id;
        history.replaceState(null, "", `#/chat/${turn.conversation_id}`);
      }
      applyTurn(turn, seen);
    } catch (error) {
      say("error", error.message);
    } finally {
      working.remove();
      send.disabled = false;
    }
  };

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = prompt.value.trim();
    if (!message) return;
    prompt.value = "";
    submit(message);
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) composer.requestSubmit();
  });
  undo.addEventListener("click", async () => {
    try {
      applyTurn(await api("POST", `/v1/conversations/${state.conversation}/undo`));
    } catch (error) {
      say("error", error.message);
    }
  });
  fresh.addEventListener("click", () => { location.hash = "#/chat"; });

  if (state.conversation) await restore(state, say, showWorkflow, undo);
  prompt.focus();
}

async function restore(state, say, showWorkflow, undo) {
  let conversation;
  try {
    conversation = await api("GET", `/v1/conversations/${state.conversation}`);
  } catch (error) {
    say("error", `this conversation cannot be opened: ${error.message}`);
    state.conversation = null;
    return;
  }
  for (const message of conversation.messages) {
    const role = message.role === "user" ? "user" : message.kind === "question" ? "question" : message.kind === "error" ? "error" : "assistant";
    say(role, message.content, message.version ? el("span", { class: "meta" }, `version ${message.version}`) : null);
    if (message.workflow_id && message.version) {
      state.workflowId = message.workflow_id;
      state.version = message.version;
    }
  }
  state.workflowId = state.workflowId || conversation.workflow_id;
  if (state.workflowId) {
    const query = state.version ? `?version=${state.version}` : "";
    const workflow = await api("GET", `/v1/workflows/${state.workflowId}${query}`);
    showWorkflow(workflow.definition);
    undo.disabled = !state.version || state.version <= 1;
  }
}
