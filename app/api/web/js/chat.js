// The chat: talk to the copilot, see the workflow it wrote, refine, undo. The conversation is in
// the address (#/chat/ID), so a reload brings it back.

import { api } from "./api.js";
import { el } from "./dom.js";
import { workflowPanel } from "./panel.js";

function turnMeta(turn) {
  const usage = turn.usage || {};
  const parts = [];
  if (turn.version) parts.push(`version ${turn.version}`);
  parts.push(turn.valid ? "valid" : turn.kind === "question" ? "question" : "not valid");
  if (usage.total_tokens !== undefined) parts.push(`${usage.total_tokens} tokens`);
  if (usage.cost_usd !== undefined) parts.push(`$${Number(usage.cost_usd).toFixed(4)}`);
  if (turn.cache) parts.push(`cache ${turn.cache}`);
  if (turn.latency_ms !== undefined) parts.push(`${Math.round(turn.latency_ms)} ms`);
  return el("span", { class: "meta" }, parts.join(" · "), stages(turn));
}

// The stages the turn went through, with the time each took (the service measures them).
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

  const applyTurn = (turn) => {
    if (turn.kind === "question") {
      say("question", turn.question || turn.message, turnMeta(turn));
      return;
    }
    if (turn.kind === "error") {
      say("error", turn.message || (turn.error && turn.error.message) || "the copilot failed");
      return;
    }
    say("assistant", turn.message, el("span", {}, diffLine(turn.diff), turnMeta(turn)));
    state.workflowId = turn.workflow_id || state.workflowId;
    state.version = turn.version;
    showWorkflow(turn.workflow);
    undo.disabled = !turn.version || turn.version <= 1;
  };

  const submit = async (message) => {
    say("user", message);
    send.disabled = true;
    const working = say("working", "Working: reading your request, retrieving context, calling the model, validating…");
    working.setAttribute("role", "status");
    try {
      const turn = state.conversation
        ? await api("POST", `/v1/conversations/${state.conversation}/messages`, { message })
        : await api("POST", "/v1/conversations", { message });
      if (!state.conversation) {
        state.conversation = turn.conversation_id;
        history.replaceState(null, "", `#/chat/${turn.conversation_id}`);
      }
      applyTurn(turn);
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
