// The workflow panel shared by the chat and the workflow page: graph, inserted guardrails with
// their reasons, the selected step, the JSON, and "run with input" / "dry run".

import { api } from "./api.js";
import { el, json } from "./dom.js";
import { allNodes, nodeLabel, renderGraph } from "./graph.js";

const LEGEND = [["trigger", "trigger"], ["action", "action"], ["condition", "condition / switch"], ["loop", "loop"],
  ["merge", "merge"], ["guardrail", "guardrail"]];

export function legend() {
  return el("ul", { class: "legend", "aria-label": "node colours" },
    LEGEND.map(([type, text]) => el("li", { class: `type-${type}` }, el("span", { class: "swatch", "aria-hidden": "true" }), text)),
    el("li", { class: "inserted" }, el("span", { class: "swatch", "aria-hidden": "true" }), "inserted for you"));
}

/** The guardrails and error handlers the passes inserted, each with its reason. */
export function insertedList(workflow) {
  const inserted = allNodes(workflow).filter(({ node }) => node.origin === "guardrail");
  if (!inserted.length) return el("p", { class: "muted" }, "No guardrails were inserted.");
  return el("ul", { class: "inserted-list", id: "inserted" },
    inserted.map(({ key, node }) => el("li", { "data-node-key": key },
      el("strong", {}, node.id), " ", el("span", { class: "kind" }, nodeLabel(node)), el("span", { class: "badge" }, "inserted"),
      el("span", { class: "reason" }, node.reason || ""))));
}

/** Parse the run-input box: empty is `{}`; bad JSON names the line and column. */
export function parseInput(text) {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`the input is not JSON: ${error.message}`);
  }
}

/**
 * The panel for `workflow` (stored as `workflowId`). `onSelect(key, node)` replaces the panel's
 * own "selected step" box; `showJson: false` leaves the JSON to the caller. Returns
 * `{ element, graph }`.
 */
export function workflowPanel(workflow, workflowId, { onSelect, runnable = true, showJson = true, navigate } = {}) {
  const graphBox = el("div", { class: "graph-box", id: "graph" });
  const detail = el("div", { class: "node-detail", id: "node-detail", "aria-live": "polite" },
    el("p", { class: "muted" }, "Select a step to see its settings."));
  let graph = null;
  const select = (key, node) => {
    graph.select(key);
    if (onSelect) { onSelect(key, node); return; }
    detail.replaceChildren(...[el("h4", {}, `${node.id} · ${nodeLabel(node)}`),
      node.reason ? el("p", { class: "reason" }, node.reason) : null,
      el("pre", {}, json(node))].filter(Boolean));
  };
  const element = el("div", { class: "panel" });
  const guards = allNodes(workflow).filter(({ node }) => node.origin === "guardrail").length;
  const meta = el("p", { class: "meta", id: "wf-meta" },
    `${allNodes(workflow).length} steps · ${guards} inserted guardrail${guards === 1 ? "" : "s"}`);
  // A big graph scrolls at full size (readable); "whole graph" shrinks it to fit for the overview.
  const fit = el("button", { type: "button", class: "link graph-fit", "aria-pressed": "false" }, "whole graph");
  fit.addEventListener("click", () => {
    const on = graphBox.classList.toggle("fit");
    fit.setAttribute("aria-pressed", String(on));
  });
  meta.append(" · ", fit);
  element.append(meta, graphBox, legend());
  if (runnable && workflowId) {
    const trigger = (workflow.nodes || []).find((n) => n.type === "trigger");
    element.append(runForm(workflowId, navigate, trigger ? trigger.kind : "manual"));
  }
  element.append(el("h3", {}, "Inserted for you"), insertedList(workflow));
  // With onSelect the caller shows the selected step somewhere of its own.
  if (!onSelect) element.append(el("h3", {}, "Selected step"), detail);
  if (showJson) element.append(el("details", { class: "json" }, el("summary", {}, "JSON"), el("pre", { id: "wf-json" }, json(workflow))));
  // Lay the graph out once the panel is in the document (dagre needs no DOM, the SVG does not
  // either, but the container's width decides the scale).
  graph = renderGraph(workflow, graphBox, { onSelect: select });
  return { element, graph };
}

const INPUT_LABEL = {
  webhook: "Run input (JSON: the request body; the run sees it as trigger.body)",
  schedule: "Run input (JSON, optional: a scheduled run gets none)",
};

function runForm(workflowId, navigate, kind) {
  const input = el("textarea", { id: "run-input", rows: 3, spellcheck: false, placeholder: '{"name": "Ada"}', "aria-describedby": "run-error" });
  const problem = el("p", { class: "problem", id: "run-error", role: "alert" });
  const start = async (dryRun) => {
    problem.textContent = "";
    let body;
    try {
      body = { input: parseInput(input.value), dry_run: dryRun };
    } catch (error) {
      problem.textContent = error.message;
      input.focus();
      return;
    }
    try {
      const started = await api("POST", `/v1/workflows/${encodeURIComponent(workflowId)}/run`, body);
      (navigate || ((path) => { location.hash = path; }))(`#/executions/${started.id}`);
    } catch (error) {
      problem.textContent = error.message;
    }
  };
  return el("form", { class: "run-form", id: "run-form", onsubmit: (event) => { event.preventDefault(); start(false); } },
    el("label", { for: "run-input" }, INPUT_LABEL[kind] || "Run input (JSON, the trigger's payload)"), input, problem,
    el("div", { class: "actions" },
      el("button", { type: "submit", id: "run" }, "Run"),
      el("button", { type: "button", id: "dry-run", class: "secondary", onclick: () => start(true) }, "Dry run")));
}

