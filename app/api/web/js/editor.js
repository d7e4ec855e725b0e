// The workflow's JSON, editable: validate against the server (every problem with its JSON path,
// and a click on a problem puts the caret on its line), then save as a new version.

import { api } from "./api.js";
import { el } from "./dom.js";

/**
 * `value` as JSON.stringify(value, null, 2) writes it, with the line (0-based) where each JSON
 * path (`$.nodes[2].config.url`, the server's notation) starts.
 */
export function jsonWithLines(value) {
  const lines = [];
  const where = new Map();
  const walk = (v, path, depth, prefix, suffix) => {
    where.set(path, lines.length);
    const pad = "  ".repeat(depth);
    const isArray = Array.isArray(v);
    const entries = isArray ? v.map((item, i) => [i, item]) : v && typeof v === "object" ? Object.entries(v) : null;
    if (!entries || !entries.length) {
      lines.push(`${pad}${prefix}${JSON.stringify(v)}${suffix}`);
      return;
    }
    lines.push(`${pad}${prefix}${isArray ? "[" : "{"}`);
    entries.forEach(([key, item], i) => {
      const comma = i < entries.length - 1 ? "," : "";
      if (isArray) walk(item, `${path}[${key}]`, depth + 1, "", comma);
      else walk(item, /^[A-Za-z_][\w-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, depth + 1, `${JSON.stringify(key)}: `, comma);
    });
    lines.push(`${pad}${isArray ? "]" : "}"}${suffix}`);
  };
  walk(value, "$", 0, "", "");
  return { text: lines.join("\n"), where };
}

// The order a person reads a workflow in (the store keeps keys sorted): known keys first.
const ORDER = ["schema_version", "id", "name", "description", "type", "kind", "connector", "operation", "credential",
  "origin", "reason", "config", "retry", "timeout_s", "on_error", "body", "nodes", "edges", "source", "target", "branch"];

/** A copy of `value` with object keys in reading order (ORDER first, the rest as they were). */
export function readingOrder(value) {
  if (Array.isArray(value)) return value.map(readingOrder);
  if (!value || typeof value !== "object") return value;
  const keys = Object.keys(value).sort((a, b) => {
    const [i, j] = [ORDER.indexOf(a), ORDER.indexOf(b)];
    return (i < 0 ? ORDER.length : i) - (j < 0 ? ORDER.length : j);
  });
  return Object.fromEntries(keys.map((k) => [k, k === "config" ? value[k] : readingOrder(value[k])]));
}

/** The line of `path`, or of its nearest parent that is in the document (a missing field). */
export function lineOf(where, path) {
  let p = path;
  while (p) {
    if (where.has(p)) return where.get(p);
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) break;
    p = p.slice(0, cut);
  }
  return 0;
}

/** Where a JSON syntax error is (1-based line), from the parser's message. */
function syntaxLine(text, error) {
  const m = /line (\d+)/.exec(error.message);
  if (m) return Number(m[1]);
  const pos = /position (\d+)/.exec(error.message);
  return pos ? text.slice(0, Number(pos[1])).split("\n").length : 1;
}

function selectLine(area, line) {
  const rows = area.value.split("\n");
  const start = rows.slice(0, line).reduce((n, r) => n + r.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (rows[line] || "").length);
  const height = area.scrollHeight / Math.max(rows.length, 1);
  area.scrollTop = Math.max(0, (line - 3) * height);
}

/**
 * The editor for workflow `workflowId`'s `definition`; `onSaved(row)` after a new version is stored.
 */
export function jsonEditor(definition, workflowId, { onSaved, canEdit = true } = {}) {
  let layout = jsonWithLines(readingOrder(definition));
  const area = el("textarea", { id: "wf-editor", class: "code", rows: 18, spellcheck: false, "aria-label": "workflow JSON",
    "aria-describedby": "wf-problems", readOnly: !canEdit });
  area.value = layout.text;
  const status = el("p", { id: "wf-editor-status", role: "status", class: "muted small" });
  const problems = el("ul", { id: "wf-problems", class: "problems", "aria-label": "problems" });

  const show = (list) => {
    problems.replaceChildren(...list.map((p) => {
      const line = p.line !== undefined ? p.line : lineOf(layout.where, p.path || "$");
      return el("li", { "data-path": p.path || "", "data-line": line + 1 },
        el("button", { type: "button", class: "link", onclick: () => selectLine(area, line) }, `line ${line + 1}`),
        " ", el("code", {}, p.path || "$"), ` ${p.message}`);
    }));
    area.setAttribute("aria-invalid", list.length ? "true" : "false");
  };

  // Parse, re-lay out (so the lines match the paths the server names) and return the document.
  const parsed = () => {
    let doc;
    try {
      doc = JSON.parse(area.value);
    } catch (error) {
      const line = syntaxLine(area.value, error) - 1;
      show([{ path: "", line, message: `not JSON: ${error.message}` }]);
      status.textContent = "The JSON does not parse.";
      return null;
    }
    layout = jsonWithLines(doc);
    if (area.value !== layout.text) area.value = layout.text;
    return doc;
  };

  const validate = async () => {
    const doc = parsed();
    if (!doc) return false;
    const result = await api("POST", `/v1/workflows/validate?workflow_id=${encodeURIComponent(workflowId)}`, doc);
    show(result.problems);
    status.textContent = result.valid ? "Valid." : `${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}.`;
    return result.valid ? doc : false;
  };

  const save = async () => {
    const doc = await validate();
    if (!doc) return;
    try {
      const row = await api("PUT", `/v1/workflows/${encodeURIComponent(workflowId)}`, doc);
      status.textContent = `Saved as version ${row.current_version}.`;
      if (onSaved) onSaved(row);
    } catch (error) {
      show(error.problems && error.problems.length ? error.problems : [{ path: "", message: error.message }]);
      status.textContent = "Not saved.";
    }
  };

  const buttons = canEdit ? el("div", { class: "actions" },
    el("button", { type: "button", id: "wf-validate", class: "secondary", onclick: () => validate().catch((e) => { status.textContent = e.message; }) }, "Validate"),
    el("button", { type: "button", id: "wf-save", onclick: () => save().catch((e) => { status.textContent = e.message; }) }, "Save as new version")) : null;
  return el("div", { class: "editor" }, area, buttons, status, problems);
}
