// Small DOM helpers. Every text from the server goes in through text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);

/** `el("li", {class: "x", "data-id": 1, onclick: fn}, "text", child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "for") node.setAttribute(key, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  if (value < 3_600_000) return `${(value / 60_000).toFixed(1)} min`;
  return `${(value / 3_600_000).toFixed(1)} h`;
}

/** A status as a person reads it ("completed with errors", "timed out"). */
export function outcome(execution) {
  if (execution.outcome) return execution.outcome;
  if (execution.status === "completed" && execution.failed_steps > 0) return "completed with errors";
  return String(execution.status || "").replace("_", " ");
}

export function pill(text, kind) {
  return el("span", { class: `pill ${kind || text}`.replace(/\s+/g, " ") }, text);
}
