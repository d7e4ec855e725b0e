// Workflows: the list with an on/off switch, and one workflow's page (graph and JSON side by
// side, trigger details with the webhook URL, versions, run with input, recent executions).

import { api } from "./api.js";
import { el, json, ms, outcome, pill, when } from "./dom.js";
import { workflowPanel } from "./panel.js";

function toggleButton(row, onChange) {
  const active = row.status === "active";
  return el("button", {
    type: "button", class: active ? "secondary toggle" : "toggle", "data-workflow-id": row.id,
    "aria-label": `${active ? "Deactivate" : "Activate"} ${row.name}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        onChange(await api("POST", `/v1/workflows/${row.id}/status`, { status: active ? "inactive" : "active" }));
      } catch (error) {
        event.target.disabled = false;
        event.target.after(el("span", { class: "problem", role: "alert" }, error.message));
      }
    },
  }, active ? "Deactivate" : "Activate");
}

export async function workflowsView(root) {
  const body = el("tbody");
  root.replaceChildren(el("section", { class: "wide", "aria-label": "workflows" },
    el("div", { class: "bar" }, el("h2", {}, "Workflows"), el("a", { href: "#/chat", class: "button" }, "New from chat")),
    el("div", { class: "table-wrap" }, el("table", { id: "workflows" }, el("thead", {}, el("tr", {}, el("th", {}, "Name"),
      el("th", {}, "Status"), el("th", {}, "Version"), el("th", {}, el("span", { class: "sr-only" }, "Switch")))), body))));
  const rows = await api("GET", "/v1/workflows");
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "No workflows yet — describe one in the chat.")));
    return;
  }
  const draw = (row) => {
    const tr = el("tr", { "data-workflow-id": row.id },
      el("td", {}, el("a", { href: `#/workflows/${row.id}` }, row.name)),
      el("td", {}, pill(row.status)),
      el("td", {}, row.current_version ? `v${row.current_version}` : "—"),
      el("td", {}, toggleButton(row, (updated) => tr.replaceWith(draw(updated)))));
    return tr;
  };
  for (const row of rows) body.append(draw(row));
}

function triggerInfo(workflow, workflowId) {
  const trigger = (workflow.nodes || []).find((n) => n.type === "trigger");
  if (!trigger) return null;
  const c = trigger.config || {};
  if (trigger.kind === "webhook") {
    const url = `${location.origin}/v1/hooks/${workflowId}`;
    return el("p", { class: "trigger-info" }, `Webhook (${c.method || "POST"}): `, el("code", { id: "webhook-url" }, url),
      " — runs while the workflow is active.");
  }
  if (trigger.kind === "schedule") {
    return el("p", { class: "trigger-info" }, "Schedule: ", el("code", {}, c.cron || c.at || ""),
      c.timezone ? ` (${c.timezone})` : " (UTC)", " — fires while the workflow is active.");
  }
  return el("p", { class: "trigger-info" }, "Manual trigger: runs when you press Run.");
}

export async function workflowView(root, workflowId, params) {
  const version = params.get("version");
  const [row, versions, runs] = await Promise.all([
    api("GET", `/v1/workflows/${workflowId}${version ? `?version=${encodeURIComponent(version)}` : ""}`),
    api("GET", `/v1/workflows/${workflowId}/versions`),
    api("GET", `/v1/executions?workflow_id=${encodeURIComponent(workflowId)}&limit=10`),
  ]);
  const status = el("span", { id: "wf-status" }, pill(row.status));
  const toggleSlot = el("span");
  const setRow = (updated) => {
    status.replaceChildren(pill(updated.status));
    toggleSlot.replaceChildren(toggleButton(updated, setRow));
  };
  setRow(row);
  const { element } = workflowPanel(row.definition, workflowId, { showJson: false });
  const versionList = el("ol", { class: "versions", id: "versions", reversed: true },
    [...versions].reverse().map((v) => el("li", {},
      el("a", { href: `#/workflows/${workflowId}?version=${v.version}`, "aria-current": String(v.version) === (version || String(row.current_version)) ? "true" : null }, `v${v.version}`),
      ` · ${v.source} · ${when(v.created_at)}`)));
  const runList = el("ul", { class: "runs", id: "wf-runs" }, runs.length ? runs.map((r) => el("li", {},
    el("a", { href: `#/executions/${r.id}` }, r.id), " ", pill(outcome(r), r.status), ` · ${when(r.created_at)} · ${ms(r.duration_ms)}`))
    : el("li", { class: "muted" }, "No runs yet."));
  root.replaceChildren(el("section", { class: "wide", "aria-label": "workflow" },
    el("div", { class: "bar" }, el("h2", { id: "wf-name" }, row.name), status, toggleSlot),
    triggerInfo(row.definition, workflowId),
    version && String(row.current_version) !== version ? el("p", { class: "note" }, `Showing version ${version}; the current one is v${row.current_version}.`) : null,
    el("div", { class: "columns" }, element,
      el("aside", {}, el("h3", {}, "Versions"), versionList, el("h3", {}, "Recent runs"), runList,
        el("details", { class: "json", open: true }, el("summary", {}, "JSON"), el("pre", { id: "wf-json" }, json(row.definition)))))));
}
