// Executions: the filterable list (with the approvals waiting for a person), and the live view of
// one execution over SSE — each step lights up as it starts, completes, retries, fails, waits or
// is skipped; pause, resume, cancel, retry; approve or reject; inspect each step's input/output.

import { api, eventsUrl } from "./api.js";
import { el, json, ms, outcome, pill, when } from "./dom.js";
import { allNodes, nodeLabel } from "./graph.js";
import { workflowPanel } from "./panel.js";
import { CLOSED, EventStream } from "./stream.js";

const TRIGGERS = ["manual", "webhook", "schedule", "poll"];
const STATUSES = ["pending", "running", "paused", "waiting", "completed", "failed", "cancelled", "timed_out"];
const TERMINAL = new Set(["execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out"]);
// Every event is named by its type; none is named "error", which EventSource keeps for its own
// connection errors.
const EVENT_TYPES = ["execution.started", "execution.resumed", "execution.paused", "execution.waiting",
  "execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out", "node.started",
  "node.retrying", "node.completed", "node.failed", "node.skipped", "node.suspended", "node.waiting", "log"];
const NODE_STATE = { "node.started": "running", "node.retrying": "retrying", "node.completed": "completed",
  "node.failed": "failed", "node.skipped": "skipped", "node.waiting": "waiting", "node.suspended": "waiting" };
// Which controls make sense in which state (the server still decides: 409 otherwise).
const CONTROLS = { pause: ["running", "pending"], resume: ["paused"], cancel: ["pending", "running", "paused", "waiting"],
  retry: ["failed", "cancelled", "timed_out"] };

let current = null;  // the live view's EventStream, closed when the view changes

export function leaveExecution() {
  if (current) current.close();
  current = null;
}

function decisionButtons(approval, onDone) {
  const decide = async (decision, button) => {
    button.disabled = true;
    try {
      await api("POST", `/v1/executions/${approval.execution_id}/approvals/${encodeURIComponent(approval.node_id)}/${decision}`,
        { by: "web", loop_path: approval.loop_path || null });
      onDone(decision);
    } catch (error) {
      button.disabled = false;
      button.parentElement.append(el("span", { class: "problem", role: "alert" }, error.message));
    }
  };
  const approve = el("button", { type: "button", class: "approve", "aria-label": `Approve ${approval.node_id}` }, "Approve");
  const reject = el("button", { type: "button", class: "reject danger", "aria-label": `Reject ${approval.node_id}` }, "Reject");
  approve.addEventListener("click", () => decide("approve", approve));
  reject.addEventListener("click", () => decide("reject", reject));
  return el("span", { class: "actions" }, approve, reject);
}

function approvalItem(approval, { showExecution }) {
  const details = approval.details || {};
  const item = el("li", { class: "approval", "data-node-id": approval.node_id, "data-execution-id": approval.execution_id },
    el("strong", {}, approval.node_id), approval.loop_path ? ` (${approval.loop_path})` : "",
    showExecution ? [" in ", el("a", { href: `#/executions/${approval.execution_id}` }, approval.execution_id)] : null,
    el("span", { class: "reason" }, details.message || approval.reason || "waiting for a person"),
    approval.reason && details.message && approval.reason !== details.message ? el("span", { class: "muted small" }, approval.reason) : null);
  item.append(decisionButtons(approval, (decision) => {
    item.replaceChildren(el("strong", {}, approval.node_id), ` — ${decision === "approve" ? "approved" : "rejected"}`);
    item.classList.add("decided");
  }));
  return item;
}

export async function executionsView(root, params) {
  // The filters live in the address (#/executions?status=failed&trigger=webhook&since=24h&q=digest).
  const status = params.get("status") || "";
  const trigger = params.get("trigger") || "";
  const since = params.get("since") || "";
  const text = params.get("q") || "";
  const filter = el("select", { id: "status-filter", "aria-label": "filter by status" },
    el("option", { value: "" }, "all statuses"), STATUSES.map((s) => el("option", { value: s, selected: s === status }, s.replace("_", " "))));
  const triggerFilter = el("select", { id: "trigger-filter", "aria-label": "filter by trigger" },
    el("option", { value: "" }, "any trigger"), TRIGGERS.map((t) => el("option", { value: t, selected: t === trigger }, t)));
  const sinceFilter = el("select", { id: "since-filter", "aria-label": "started within" },
    [["", "any time"], ["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"]].map(([v, t]) => el("option", { value: v, selected: v === since }, t)));
  const search = el("input", { id: "exec-search", type: "search", value: text, placeholder: "name, id or error", "aria-label": "search runs" });
  const apply = () => {
    const next = new URLSearchParams();
    for (const [key, input] of [["status", filter], ["trigger", triggerFilter], ["since", sinceFilter], ["q", search]]) {
      if (input.value.trim()) next.set(key, input.value.trim());
    }
    const query = next.toString();
    location.hash = query ? `#/executions?${query}` : "#/executions";
  };
  for (const input of [filter, triggerFilter, sinceFilter]) input.addEventListener("change", apply);
  const filters = el("form", { class: "filters", id: "exec-filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
    filter, triggerFilter, sinceFilter, search, el("button", { type: "submit", class: "secondary" }, "Search"));
  const query = new URLSearchParams({ limit: "100" });
  if (status) query.set("status", status);
  if (trigger) query.set("trigger", trigger);
  if (since) query.set("since", since);
  if (text) query.set("q", text);
  const [rows, approvals] = await Promise.all([api("GET", `/v1/executions?${query}`), api("GET", "/v1/approvals")]);
  const body = el("tbody", {}, rows.length ? rows.map((r) => el("tr", { "data-execution-id": r.id, class: r.status },
    el("td", {}, el("a", { href: `#/executions/${r.id}` }, r.id)),
    el("td", { "data-label": "Workflow" }, r.workflow_id ? el("a", { href: `#/workflows/${r.workflow_id}` }, r.workflow_name || r.workflow_id) : (r.workflow_name || "—"),
      r.workflow_version ? ` v${r.workflow_version}` : ""),
    el("td", { "data-label": "Status" }, pill(outcome(r), r.status), r.dry_run ? el("span", { class: "muted small" }, " dry run") : null),
    el("td", { "data-label": "Trigger" }, r.trigger || "—"), el("td", { "data-label": "Started" }, when(r.created_at)),
    el("td", { "data-label": "Took" }, ms(r.duration_ms))))
    : el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "No executions match.")));
  root.replaceChildren(el("section", { class: "wide", "aria-label": "executions" },
    el("div", { class: "bar" }, el("h2", {}, "Executions"), filters),
    el("h3", {}, "Waiting for approval"),
    el("ul", { id: "approvals", class: "approvals" }, approvals.length ? approvals.map((a) => approvalItem(a, { showExecution: true }))
      : el("li", { class: "muted" }, "Nothing is waiting for a person.")),
    el("h3", {}, "Runs"),
    el("div", { class: "table-wrap" }, el("table", { id: "executions", class: "cards" }, el("thead", {}, el("tr", {}, ["Execution", "Workflow", "Status", "Trigger", "Started", "Took"].map((h) => el("th", {}, h)))), body))));
}

function keyFor(nodeId, loopPath) {
  if (!loopPath) return nodeId;
  return `${loopPath.replace(/\[\d+\]/g, "").split(".").join("/")}/${nodeId}`;
}

export async function executionView(root, executionId) {
  leaveExecution();
  const execution = await api("GET", `/v1/executions/${executionId}`);
  let workflow = null;
  if (execution.workflow_id) {
    const query = execution.workflow_version ? `?version=${execution.workflow_version}` : "";
    workflow = (await api("GET", `/v1/workflows/${execution.workflow_id}${query}`)).definition;
  }
  let steps = execution.steps || [];
  let status = execution.status;
  let failedSteps = steps.filter((s) => s.status === "failed").length;
  const statusBox = el("p", { id: "exec-status", class: status, role: "status" });
  const controls = {};
  const controlBar = el("div", { class: "actions", id: "controls" });
  for (const action of Object.keys(CONTROLS)) {
    controls[action] = el("button", { type: "button", class: action === "cancel" ? "secondary danger" : "secondary", "data-action": action },
      action[0].toUpperCase() + action.slice(1));
    controls[action].addEventListener("click", async () => {
      controls[action].disabled = true;
      try {
        const result = await api("POST", `/v1/executions/${executionId}/${action}`);
        setStatus(result.status);
        if (action === "retry" || action === "resume") {
          if (!current || current.readyState === CLOSED) retryHook();
        }
      } catch (error) {
        statusBox.textContent = `${action}: ${error.message}`;
      }
    });
    controlBar.append(controls[action]);
  }
  const runAgain = el("button", { type: "button", class: "secondary", "data-action": "rerun",
    title: "A new run with the same input on the workflow's current version" }, "Run again");
  runAgain.addEventListener("click", () => rerun(null, runAgain));
  controlBar.append(runAgain);
  const approvals = el("ul", { id: "exec-approvals", class: "approvals" });
  const log = el("ol", { id: "events", class: "events", "aria-label": "events", "aria-live": "off" });
  const stepsBody = el("tbody");
  const inspector = el("div", { id: "step-detail", class: "node-detail", "aria-live": "polite" },
    el("p", { class: "muted" }, "Select a step (in the graph or the table) to see its input and output."));

  const setStatus = (value, error) => {
    status = value;
    const shown = outcome({ status: value, failed_steps: failedSteps });
    statusBox.className = value;
    statusBox.dataset.status = value;
    statusBox.replaceChildren(pill(shown, value), execution.dry_run ? " (dry run)" : "",
      error ? el("span", { class: "problem" }, ` — ${error.message}${error.node_id ? ` (at ${error.node_id})` : ""}`) : "");
    for (const [action, allowed] of Object.entries(CONTROLS)) controls[action].disabled = !allowed.includes(value);
    runAgain.disabled = !finished();
  };

  const finished = () => ["completed", "failed", "cancelled", "timed_out"].includes(status);
  const rerun = async (fromNode, button) => {
    button.disabled = true;
    try {
      const started = await api("POST", `/v1/executions/${executionId}/rerun`, fromNode ? { from_node: fromNode } : {});
      location.hash = `#/executions/${started.id}`;
    } catch (error) {
      button.disabled = false;
      button.after(el("span", { class: "problem", role: "alert" }, error.message));
    }
  };
  const inspect = (nodeId) => {
    const attempts = steps.filter((s) => s.node_id === nodeId);
    const node = workflow ? allNodes(workflow).find((n) => n.node.id === nodeId) : null;
    const again = finished() && node && node.node.type !== "trigger" && !node.parent
      ? el("button", { type: "button", class: "secondary rerun-from", onclick: (e) => rerun(nodeId, e.currentTarget) }, `Run again from ${nodeId}`) : null;
    inspector.replaceChildren(el("h4", {}, nodeId, node ? ` · ${nodeLabel(node.node)}` : ""), again,
      ...(attempts.length ? attempts.map((s) => el("div", { class: "attempt" },
        el("p", {}, pill(s.status), ` attempt ${s.attempt}${s.loop_path ? ` · ${s.loop_path}` : ""} · ${when(s.started_at)}${s.duration_ms !== undefined ? ` · ${ms(s.duration_ms)}` : ""}`),
        s.input !== undefined ? [el("h5", {}, "Input"), el("pre", { class: "step-input" }, json(s.input))] : null,
        s.error ? [el("h5", {}, "Error"), el("pre", { class: "step-error" }, json(s.error))] : null,
        [el("h5", {}, "Output"), el("pre", { class: "step-output" }, json(s.output))]))
        : [el("p", { class: "muted" }, "This step has not run.")]));
  };

  const drawSteps = () => {
    stepsBody.replaceChildren(...(steps.length ? steps.map((s) => el("tr", { "data-node-id": s.node_id, class: s.status },
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => inspect(s.node_id) }, s.node_id)),
      el("td", {}, pill(s.status)), el("td", {}, String(s.attempt)), el("td", {}, s.loop_path || ""),
      el("td", {}, ms(s.duration_ms !== undefined ? s.duration_ms : null))))
      : [el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No step has run yet."))]));
  };
  // Answers can come back out of order (a debounced refresh sent while the run was going, then
  // the one sent at its end): only the newest request draws, so older rows never overwrite newer.
  // The table says which execution status its rows are from (data-status), for readers and tests.
  let refreshes = 0;
  const refreshSteps = async () => {
    const mine = ++refreshes;
    const fresh = await api("GET", `/v1/executions/${executionId}`);
    if (mine !== refreshes) return fresh;
    steps = fresh.steps || [];
    failedSteps = fresh.failed_steps !== undefined ? fresh.failed_steps : steps.filter((s) => s.status === "failed").length;
    drawSteps();
    stepsBody.dataset.status = fresh.status;
    return fresh;
  };

  let graph = null;
  let panel = el("p", { class: "muted" }, "The workflow of this run is not stored (a file run).");
  if (workflow) {
    const built = workflowPanel(workflow, null, { runnable: false, onSelect: (key, node) => inspect(node.id) });
    graph = built.graph;
    panel = built.element;
  }
  const name = (workflow && workflow.name) || execution.workflow_name || "Execution";
  root.replaceChildren(el("section", { class: "wide", "aria-label": "execution" },
    el("div", { class: "bar" }, el("h2", {}, name), el("code", { class: "small", id: "exec-id" }, executionId),
      execution.workflow_id ? el("a", { href: `#/workflows/${execution.workflow_id}`, class: "small" }, "workflow") : null),
    statusBox, controlBar, approvals,
    el("div", { class: "columns" }, panel,
      el("aside", {}, el("h3", {}, "Live events"), log, el("h3", {}, "Step"), inspector)),
    el("h3", {}, "Steps"),
    el("div", { class: "table-wrap" }, el("table", { id: "steps" }, el("thead", {}, el("tr", {}, ["Step", "Status", "Attempt", "Loop item", "Took"].map((h) => el("th", {}, h)))), stepsBody))));
  setStatus(status, execution.error);
  drawSteps();
  stepsBody.dataset.status = execution.status;

  const pending = new Map();
  const showApproval = (approval) => {
    const key = `${approval.loop_path || ""}|${approval.node_id}`;
    if (pending.has(key)) return;
    const item = approvalItem(approval, { showExecution: false });
    pending.set(key, item);
    approvals.append(item);
  };
  if (status === "waiting") {
    for (const a of await api("GET", "/v1/approvals")) if (a.execution_id === executionId) showApproval(a);
  }

  // Replay every event from the first, then follow live: the same code draws a finished run and
  // a running one, and a reload lands where the run stands.
  let lastSeq = 0;
  const handle = (message) => {
    const event = JSON.parse(message.data);
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    const data = event.data || {};
    const where = event.node_id ? ` ${event.node_id}${data.loop_path ? ` [${data.loop_path}]` : ""}` : "";
    const detail = data.error ? ` — ${data.error.message}` : data.message ? ` — ${data.message}` : "";
    log.append(el("li", { "data-seq": event.seq, class: event.type.replace(".", "-") }, `#${event.seq} ${event.type}${where}${detail}`));
    log.scrollTop = log.scrollHeight;
    if (event.node_id && NODE_STATE[event.type] && graph) {
      const key = keyFor(event.node_id, data.loop_path);
      const box = root.querySelector(`[data-node-key="${CSS.escape(key)}"]`);
      // In a loop body a failure of one item stays visible while later items run.
      if (!(box && box.dataset.state === "failed" && data.loop_path)) graph.setState(key, NODE_STATE[event.type]);
    }
    if (event.type === "node.failed") failedSteps += 1;
    if (event.type === "node.waiting") {
      showApproval({ execution_id: executionId, node_id: event.node_id, loop_path: data.loop_path, reason: data.reason, details: data.details });
    }
    if (event.type.startsWith("execution.")) {
      const next = { "execution.started": "running", "execution.resumed": "running" }[event.type] || event.type.slice("execution.".length);
      if (next === "running") {
        approvals.querySelectorAll("li.decided").forEach((li) => li.remove());
        for (const [key, item] of pending) if (item.classList.contains("decided")) pending.delete(key);
      }
      setStatus(next, data.error);
    }
    if (TERMINAL.has(event.type)) {
      // The server ends the stream here; close it so the stream does not reconnect. A retried
      // run goes on after its first end: then follow from this event on.
      source.close();
      clearTimeout(handle.timer);
      refreshSteps().then((fresh) => {
        if (["completed", "failed", "cancelled", "timed_out"].includes(fresh.status)) setStatus(fresh.status, fresh.error);
        else if (current === source) follow(lastSeq);
      });
    } else if (event.type === "node.completed" || event.type === "node.failed") {
      clearTimeout(handle.timer);
      handle.timer = setTimeout(refreshSteps, 250);
    }
  };
  let source = null;
  // Long polling when the SSE stream cannot stay open (a proxy that buffers or cuts it): the same
  // events, in order, from /events/poll; `current` tells a superseded follower to stop.
  const pollToken = () => ({ readyState: 1, close() { this.readyState = CLOSED; } });
  const poll = async (token) => {
    statusBox.dataset.transport = "poll";
    while (current === token && token.readyState !== CLOSED) {
      let answer;
      try {
        answer = await api("GET", `/v1/executions/${encodeURIComponent(executionId)}/events/poll?after=${lastSeq}&wait=20`);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        continue;
      }
      if (current !== token) return;
      for (const event of answer.events) handle({ data: JSON.stringify(event) });
      if (answer.ended) {
        token.close();
        return;
      }
    }
  };
  const follow = (after) => {
    source = new EventStream(eventsUrl(executionId, after));
    current = source;
    statusBox.dataset.transport = "sse";
    let failures = 0;
    const opened = source;
    for (const type of EVENT_TYPES) source.addEventListener(type, (message) => { failures = 0; handle(message); });
    source.onerror = () => {
      // A connection error, never a step failure. EventStream reconnects by itself (with
      // Last-Event-ID); when it gives up, or fails twice running, poll instead.
      failures += 1;
      if (current !== opened) return;
      if (opened.readyState === CLOSED || failures >= 2) {
        opened.close();
        current = source = pollToken();
        poll(current);
      }
    };
  };
  follow(0);
  retryHook = () => follow(lastSeq);
}

let retryHook = () => {};