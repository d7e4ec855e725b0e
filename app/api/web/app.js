// Flowwright's web page: the copilot chat, the workflow it produced, and live executions.
// Plain DOM code, no build step. Every text from the server goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { conversation: null, workflowId: null, workflow: null, source: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function workspace() { return $("workspace").value.trim() || "default"; }
// The workspace survives a reload.
$("workspace").value = localStorage.getItem("flowwright.workspace") || "default";
$("workspace").addEventListener("change", () => localStorage.setItem("flowwright.workspace", workspace()));

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-workspace": workspace() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (data && data.error) || { message: response.statusText };
    const problems = (error.details && error.details.problems) || [];
    throw new Error(error.message + problems.map((p) => `\n${p.path}: ${p.message}`).join(""));
  }
  return data;
}

function say(role, text, extra) {
  const item = el("li", { class: role }, text);
  if (extra) item.append(extra);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function describeTurn(turn) {
  const extra = el("span");
  const usage = turn.usage || {};
  const parts = [];
  if (turn.version) parts.push(`version ${turn.version}`);
  parts.push(turn.valid ? "valid" : turn.kind === "question" ? "question" : "not valid");
  if (usage.total_tokens !== undefined) parts.push(`${usage.total_tokens} tokens`);
  if (usage.cost_usd !== undefined) parts.push(`$${Number(usage.cost_usd).toFixed(4)}`);
  parts.push(`cache ${turn.cache}`);
  parts.push(`${Math.round(turn.latency_ms)} ms`);
  extra.append(el("span", { class: "meta" }, parts.join(" · ")));
  return extra;
}

function nodeLabel(node) {
  if (node.type === "action") return `${node.connector}.${node.operation}`;
  if (node.type === "trigger") {
    const c = node.config || {};
    return `${node.kind} trigger${c.cron ? ` · ${c.cron}${c.timezone ? ` (${c.timezone})` : ""}` : ""}${c.at ? ` · at ${c.at}` : ""}`;
  }
  if (node.type === "guardrail") return `guardrail · ${node.kind}`;
  if (node.type === "condition") return `if ${node.config.expression}`;
  if (node.type === "switch") return `switch on ${node.config.value}`;
  if (node.type === "loop") return `for each in ${node.config.items}`;
  return node.type;
}

function renderGraph(graph, into) {
  const outgoing = {};
  for (const e of graph.edges || []) (outgoing[e.source] ||= []).push(e.branch ? `${e.target} (${e.branch})` : e.target);
  for (const node of graph.nodes) {
    const item = el("li", { class: `${node.type} ${node.origin || "user"}`, "data-node-id": node.id },
      el("strong", {}, node.id), el("span", { class: "kind" }, nodeLabel(node)));
    if (node.origin === "guardrail") item.append(el("span", { class: "badge" }, "inserted"));
    if (node.reason) item.append(el("span", { class: "reason" }, node.reason));
    if (outgoing[node.id]) item.append(el("span", { class: "next" }, `→ ${outgoing[node.id].join(", ")}`));
    if (node.type === "loop" && node.body) {
      const body = el("ol");
      renderGraph(node.body, body);
      item.append(body);
    }
    into.append(item);
  }
}

function showWorkflow(workflow) {
  state.workflow = workflow;
  $("nodes").replaceChildren();
  if (!workflow) return;
  $("wf-name").textContent = workflow.name;
  const guards = JSON.stringify(workflow).split('"origin":"guardrail"').length - 1;
  $("wf-meta").textContent = `${workflow.nodes.length} nodes · ${guards} inserted guardrail(s)`;
  renderGraph(workflow, $("nodes"));
  $("wf-json").textContent = JSON.stringify(workflow, null, 2);
  $("run").disabled = $("dry-run").disabled = !state.workflowId;
}

async function send(message) {
  say("user", message);
  $("send").disabled = true;
  try {
    const turn = state.conversation
      ? await api("POST", `/v1/conversations/${state.conversation}/messages`, { message })
      : await api("POST", "/v1/conversations", { message });
    state.conversation = turn.conversation_id;
    applyTurn(turn);
  } catch (error) {
    say("error", error.message);
  } finally {
    $("send").disabled = false;
  }
}

function applyTurn(turn) {
  if (turn.kind === "question") {
    say("question", turn.question || turn.message, describeTurn(turn));
    return;
  }
  if (turn.kind === "error") {
    say("error", turn.message || (turn.error && turn.error.message) || "the copilot failed");
    return;
  }
  say("assistant", turn.message, describeTurn(turn));
  state.workflowId = turn.workflow_id || state.workflowId;
  showWorkflow(turn.workflow);
  $("undo").disabled = !turn.version || turn.version <= 1;
}

async function undo() {
  try {
    applyTurn(await api("POST", `/v1/conversations/${state.conversation}/undo`));
  } catch (error) {
    say("error", error.message);
  }
}

function markNode(nodeId, cls) {
  const item = document.querySelector(`#nodes li[data-node-id="${CSS.escape(nodeId)}"]`);
  if (item) { item.classList.remove("done", "failed"); item.classList.add(cls); }
}

async function run(dryRun) {
  if (state.source) state.source.close();
  $("events").replaceChildren();
  document.querySelectorAll("#nodes li").forEach((li) => li.classList.remove("done", "failed"));
  const status = $("exec-status");
  try {
    const started = await api("POST", `/v1/workflows/${state.workflowId}/run`, { input: {}, dry_run: dryRun });
    status.textContent = `${started.id}: running${dryRun ? " (dry run)" : ""}`;
    status.className = "running";
    follow(started.id, dryRun);
  } catch (error) {
    status.textContent = error.message;
    status.className = "failed";
  }
}

const TERMINAL = new Set(["execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out"]);
// Every event the server streams is named by its type; none is named "error", which EventSource
// keeps for its own connection errors (a dropped stream, a refused request).
const EVENT_TYPES = ["execution.started", "execution.resumed", "execution.paused", "execution.waiting",
  "execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out", "node.started",
  "node.retrying", "node.completed", "node.failed", "node.skipped", "node.suspended", "node.waiting", "log"];

function showStatus(executionId, status, dryRun, failedSteps) {
  const box = $("exec-status");
  const shown = status === "completed" && failedSteps > 0 ? `completed with errors (${failedSteps} failed step${failedSteps > 1 ? "s" : ""})` : status;
  box.textContent = `${executionId}: ${shown}${dryRun ? " (dry run)" : ""}`;
  box.className = status;
}

function follow(executionId, dryRun) {
  const source = new EventSource(`/v1/executions/${executionId}/events?workspace=${encodeURIComponent(workspace())}`);
  state.source = source;
  let failedSteps = 0;
  let finished = false;
  const handle = (message) => {
    const event = JSON.parse(message.data);
    const where = event.node_id ? ` ${event.node_id}` : "";
    const detail = event.data && event.data.error ? ` — ${event.data.error.message}` : "";
    $("events").append(el("li", { "data-seq": event.seq }, `#${event.seq} ${event.type}${where}${detail}`));
    if (event.type === "node.completed" && event.node_id) markNode(event.node_id, "done");
    if (event.type === "node.failed" && event.node_id) {
      markNode(event.node_id, "failed");
      failedSteps += 1;
    }
    if (event.type.startsWith("execution.") && event.type !== "execution.started" && event.type !== "execution.resumed") {
      showStatus(executionId, event.type.slice("execution.".length), dryRun, failedSteps);
    }
    if (TERMINAL.has(event.type)) {
      finished = true;
      source.close();  // the server ends the stream here; do not let EventSource reconnect
    }
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, handle);
  source.onerror = () => {
    // A connection error, never a step failure. EventSource reconnects by itself (sending
    // Last-Event-ID); if it gave up, say so instead of showing "running" forever.
    if (!finished && source.readyState === EventSource.CLOSED) {
      $("exec-status").textContent = `${executionId}: lost the live stream; reload to see where it stands`;
      $("exec-status").className = "failed";
    }
  };
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const message = $("prompt").value.trim();
  if (!message) return;
  $("prompt").value = "";
  send(message);
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) $("composer").requestSubmit();
});
$("undo").addEventListener("click", undo);
$("new").addEventListener("click", () => {
  Object.assign(state, { conversation: null, workflowId: null, workflow: null });
  $("messages").replaceChildren();
  $("wf-name").textContent = "No workflow yet";
  $("wf-meta").textContent = "";
  showWorkflow(null);
  $("undo").disabled = $("run").disabled = $("dry-run").disabled = true;
});
$("run").addEventListener("click", () => run(false));
$("dry-run").addEventListener("click", () => run(true));
