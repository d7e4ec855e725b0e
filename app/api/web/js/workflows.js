// Workflows: the list (status, health score, what fires, an on/off switch), and one workflow's
// page (graph and editable JSON side by side, what fires, versions with their diff and roll
// back, run with input, recent executions).

import { api } from "./api.js";
import { el, ms, outcome, pill, when } from "./dom.js";
import { jsonEditor } from "./editor.js";
import { firesBox, firesShort, preview } from "./fires.js";
import { workflowPanel } from "./panel.js";

function toggleButton(row, onChange) {
  const active = row.status === "active";
  return el("button", {
    type: "button", class: active ? "secondary toggle" : "toggle", "data-workflow-id": row.id,
    "aria-label": `${active ? "Deactivate" : "Activate"} ${row.name}`,
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        onChange(await api("POST", `/v1/workflows/${row.id}/status`, { status: active ? "inactive" : "active" }));
      } catch (error) {
        button.disabled = false;
        const problem = el("span", { class: "problem", role: "alert" }, error.message);
        button.after(problem);
      }
    },
  }, active ? "Deactivate" : "Activate");
}

/** The health score of each workflow over the last 7 days (the insights report), by id. */
async function healthById() {
  try {
    const report = await api("GET", "/v1/insights?days=7");
    return new Map(report.workflows.filter((w) => w.workflow_id).map((w) => [w.workflow_id, w]));
  } catch {
    return new Map();  // a viewer without insights still gets the list
  }
}

export function healthPill(stats) {
  if (!stats || !stats.runs || !stats.health) return el("span", { class: "health none muted", title: "no runs in the last 7 days" }, "—");
  const h = stats.health;
  return el("span", { class: `health ${h.band.replace(/\s+/g, "-")}`, title: `${stats.runs} runs in 7 days; ${Object.entries(h.components).map(([k, v]) => `${k} ${v}`).join(", ")}` },
    el("strong", {}, String(Math.round(h.score))), `/100 · ${h.band}`);
}

export async function workflowsView(root) {
  const body = el("tbody");
  root.replaceChildren(el("section", { class: "wide", "aria-label": "workflows" },
    el("div", { class: "bar" }, el("h2", {}, "Workflows"), el("a", { href: "#/chat", class: "button" }, "New from chat")),
    el("div", { class: "table-wrap" }, el("table", { id: "workflows", class: "cards" }, el("thead", {}, el("tr", {},
      ["Name", "Status", "Health (7 days)", "Fires", "Version"].map((h) => el("th", { scope: "col" }, h)),
      el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Switch")))), body))));
  const [rows, health] = await Promise.all([api("GET", "/v1/workflows"), healthById()]);
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "No workflows yet — describe one in the chat.")));
    return;
  }
  // One entry per workflow: the latest row and preview; a row is redrawn from it whenever either
  // changes (a preview answering after a switch must not bring back the old status).
  const state = new Map(rows.map((row) => [row.id, { row, fires: null, tr: null }]));
  const render = (id) => {
    const entry = state.get(id);
    const { row, fires } = entry;
    const active = row.status === "active";
    const tr = el("tr", { "data-workflow-id": row.id, "data-status": row.status },
      el("th", { scope: "row" }, el("a", { href: `#/workflows/${row.id}` }, row.name)),
      el("td", { "data-label": "Status" }, pill(row.status)),
      el("td", { "data-label": "Health" }, healthPill(health.get(row.id))),
      el("td", { class: "fires-cell", "data-label": "Fires" }, firesShort(fires, active)),
      el("td", { "data-label": "Version" }, row.current_version ? `v${row.current_version}` : "—",
        active && row.active_version && row.active_version !== row.current_version
          ? el("span", { class: "muted small" }, ` (v${row.active_version} runs)`) : null),
      el("td", {}, toggleButton(row, (updated) => {
        entry.row = { ...entry.row, ...updated };
        if (updated.fires) entry.fires = updated.fires;
        render(id);
      })));
    if (entry.tr) entry.tr.replaceWith(tr);
    entry.tr = tr;
    return tr;
  };
  for (const row of rows) body.append(render(row.id));
  // What fires comes from the server's preview (the schedule's next times in the workflow's zone).
  await Promise.all(rows.map(async (row) => {
    try {
      const fires = await preview(row);
      const entry = state.get(row.id);
      if (!entry.fires) {
        entry.fires = fires;
        render(row.id);
      }
    } catch {
      // leave "—": a stored version the server cannot preview is shown on its own page
    }
  }));
}

function versionsList(workflowId, row, versions, shown, refresh) {
  const diffBox = el("div", { id: "version-diff", "aria-live": "polite" });
  const showDiff = async (from, to) => {
    const diff = await api("GET", `/v1/workflows/${workflowId}/diff?from=${from}&to=${to}`);
    diffBox.replaceChildren(el("h4", {}, `v${diff.from} → v${diff.to}: ${diff.summary}`),
      diff.lines.length ? el("pre", { class: "diff-lines" }, diff.lines.map((line) =>
        el("span", { class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "" }, `${line}\n`)))
        : el("p", { class: "muted" }, "No change."));
  };
  const rollback = async (version, button) => {
    button.disabled = true;
    try {
      await api("POST", `/v1/workflows/${workflowId}/rollback`, { version });
      refresh();
    } catch (error) {
      button.disabled = false;
      diffBox.replaceChildren(el("p", { class: "problem", role: "alert" }, error.message));
    }
  };
  const list = el("ol", { class: "versions", id: "versions", reversed: true },
    [...versions].reverse().map((v) => el("li", { "data-version": v.version },
      el("a", { href: `#/workflows/${workflowId}?version=${v.version}`, "aria-current": String(v.version) === shown ? "true" : null }, `v${v.version}`),
      v.current ? el("span", { class: "badge" }, "draft") : null, v.active ? el("span", { class: "badge" }, "active") : null,
      el("span", { class: "muted small" }, ` ${v.source} · ${when(v.created_at)}`),
      el("span", { class: "actions inline" },
        v.version > 1 ? el("button", { type: "button", class: "link diff", onclick: () => showDiff(v.version - 1, v.version), "aria-label": `What changed in v${v.version}` }, "diff") : null,
        !v.current ? el("button", { type: "button", class: "link rollback", onclick: (e) => rollback(v.version, e.currentTarget), "aria-label": `Roll back to v${v.version}` }, "roll back") : null))));
  return [list, diffBox];
}

export async function workflowView(root, workflowId, params) {
  const version = params.get("version");
  const [row, versions, runs] = await Promise.all([
    api("GET", `/v1/workflows/${workflowId}${version ? `?version=${encodeURIComponent(version)}` : ""}`),
    api("GET", `/v1/workflows/${workflowId}/versions`),
    api("GET", `/v1/executions?workflow_id=${encodeURIComponent(workflowId)}&limit=10`),
  ]);
  const refresh = () => workflowView(root, workflowId, new URLSearchParams());
  const status = el("span", { id: "wf-status" }, pill(row.status));
  const toggleSlot = el("span");
  const firesSlot = el("div");
  const showFires = async (current, fires) => {
    try {
      firesSlot.replaceChildren(firesBox(fires || await preview(current), current.status === "active"));
    } catch (error) {
      firesSlot.replaceChildren(el("p", { class: "problem" }, error.message));
    }
  };
  const setRow = (updated) => {
    const merged = { ...row, ...updated };
    status.replaceChildren(pill(merged.status));
    toggleSlot.replaceChildren(toggleButton(merged, setRow));
    showFires(merged, updated.fires);
  };
  setRow(row);
  const shown = version || String(row.current_version);
  const [versionList, diffBox] = versionsList(workflowId, row, versions, shown, refresh);
  const runList = el("ul", { class: "runs", id: "wf-runs" }, runs.length ? runs.map((r) => el("li", {},
    el("a", { href: `#/executions/${r.id}` }, r.id), " ", pill(outcome(r), r.status), ` · ${when(r.created_at)} · ${ms(r.duration_ms)}`))
    : el("li", { class: "muted" }, "No runs yet."));
  const definition = row.definition;
  const panel = definition ? workflowPanel(definition, workflowId, { showJson: false }).element
    : el("p", { class: "problem" }, (row.problems || []).map((p) => `${p.path}: ${p.message}`).join("\n") || "This version cannot be shown.");
  const editor = definition ? el("details", { class: "json", open: true, id: "wf-json-box" },
    el("summary", {}, version && String(row.current_version) !== version ? `JSON of v${version}` : "JSON (edit and save as a new version)"),
    jsonEditor(definition, workflowId, { onSaved: refresh })) : null;
  root.replaceChildren(el("section", { class: "wide", "aria-label": "workflow" },
    el("div", { class: "bar" }, el("h2", { id: "wf-name" }, row.name), status, toggleSlot),
    firesSlot,
    version && String(row.current_version) !== version ? el("p", { class: "note" }, `Showing version ${version}; the current one is v${row.current_version}.`) : null,
    el("div", { class: "columns" }, panel,
      el("aside", {}, editor, el("h3", {}, "Versions"), versionList, diffBox, el("h3", {}, "Recent runs"), runList))));
}
