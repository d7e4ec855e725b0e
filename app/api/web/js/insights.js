// Insights: the workspace's report over the last N days (#/insights?days=7) — totals, a chart of
// each workflow's runs by outcome and of its health score, the per-workflow figures, findings
// with their evidence, accepting a proposed fix as a new version, and the report to download.

import { api, authHeaders } from "./api.js";
import { el, ms, pill } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const DAYS = [1, 7, 30, 90];
const OUTCOMES = [["clean", "completed"], ["with_errors", "completed with errors"], ["failed", "failed"], ["other", "other"]];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function usd(value) {
  if (value === null || value === undefined) return "—";
  return value >= 1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`;
}

function pct(value) {
  return `${Math.round((value || 0) * 1000) / 10}%`;
}

function outcomes(w) {
  const clean = Math.max(0, w.completed - w.completed_with_errors);
  return { clean, with_errors: w.completed_with_errors, failed: w.failed, other: Math.max(0, w.runs - w.completed - w.failed) };
}

/** Horizontal bars, one row per workflow: `segments(w)` → [[key, value], …], `max` the scale. */
function barChart(id, label, rows, segments, max, valueText, width) {
  const rowH = 26;
  const labelW = width < 420 ? 110 : 150;
  const chars = width < 420 ? 15 : 22;
  const chart = svg("svg", { id, class: "chart", viewBox: `0 0 ${width} ${rows.length * rowH + 8}`, role: "img", "aria-label": label });
  chart.append(svg("title", {}, label));
  rows.forEach((w, i) => {
    const y = 4 + i * rowH;
    const name = w.name || w.workflow_id || "file runs";
    chart.append(svg("text", { x: 0, y: y + 16, class: "chart-label" }, name.length > chars ? `${name.slice(0, chars - 1)}…` : name));
    let x = labelW;
    for (const [key, value] of segments(w)) {
      if (!value) continue;
      const wBar = ((width - labelW - 130) * value) / (max || 1);
      const bar = svg("rect", { x, y: y + 3, width: Math.max(wBar, 1), height: rowH - 8, class: `bar ${key}`, "data-workflow-id": w.workflow_id || "" });
      bar.append(svg("title", {}, `${name}: ${value} ${key.replace("_", " ")}`));
      chart.append(bar);
      x += wBar;
    }
    chart.append(svg("text", { x: x + 6, y: y + 16, class: "chart-value" }, valueText(w)));
  });
  return chart;
}

function tile(label, value, id) {
  return el("div", { class: "tile", id }, el("span", { class: "tile-value" }, value), el("span", { class: "tile-label" }, label));
}

function evidence(f) {
  const figures = Object.entries((f.evidence && f.evidence.figures) || {});
  const runs = (f.evidence && f.evidence.execution_ids) || [];
  return el("div", { class: "evidence" },
    figures.length ? el("dl", {}, figures.map(([k, v]) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])) : null,
    runs.length ? el("p", { class: "small" }, "Runs: ", runs.map((id, i) => [i ? ", " : "", el("a", { href: `#/executions/${id}` }, id)])) : null);
}

function proposalBox(f, days) {
  const p = f.proposal;
  const result = el("p", { role: "status", class: "small" });
  const accept = el("button", { type: "button", class: "accept", "aria-label": `Accept the proposed fix: ${p.summary}` }, "Accept as a new version");
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    try {
      const done = await api("POST", `/v1/insights/proposals/${encodeURIComponent(p.id)}/accept?days=${days}`);
      result.replaceChildren(`Saved as version ${done.version} of `, el("a", { href: `#/workflows/${done.workflow_id}` }, "the workflow"),
        " (a draft: activate it to make it run).");
    } catch (error) {
      accept.disabled = false;
      result.replaceChildren(el("span", { class: "problem" }, error.message));
    }
  });
  return el("div", { class: "proposal" }, el("h5", {}, `Proposed fix: ${p.summary}`),
    el("ul", {}, p.changes.map((c) => el("li", {}, c))), accept, result);
}

function findingItem(f, days) {
  return el("li", { class: `finding ${f.severity}`, "data-finding-id": f.id },
    el("p", {}, pill(f.severity, `sev-${f.severity}`), " ", el("strong", {}, f.title), el("span", { class: "muted small" }, ` · ${f.type.replace(/_/g, " ")}`),
      f.workflow_id ? [" · ", el("a", { href: `#/workflows/${f.workflow_id}` }, "workflow")] : null, f.node_id ? el("code", { class: "small" }, ` ${f.node_id}`) : null),
    el("p", {}, f.detail), f.impact ? el("p", { class: "muted" }, `Impact: ${f.impact}`) : null,
    el("p", {}, el("strong", {}, "Fix: "), f.fix), evidence(f), f.proposal ? proposalBox(f, days) : null);
}

async function download(path, filename, button) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: filename, hidden: true });
  button.after(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(url); link.remove(); }, 1000);
}

export async function insightsView(root, params) {
  const days = DAYS.includes(Number(params.get("days"))) ? Number(params.get("days")) : 7;
  const select = el("select", { id: "insights-days", "aria-label": "period" },
    DAYS.map((d) => el("option", { value: d, selected: d === days }, d === 1 ? "last day" : `last ${d} days`)));
  select.addEventListener("change", () => { location.hash = `#/insights?days=${select.value}`; });
  const report = await api("GET", `/v1/insights?days=${days}`);
  const t = report.totals;
  const rows = report.workflows;
  const problem = el("p", { class: "problem", role: "alert" });
  const md = el("button", { type: "button", class: "secondary", id: "download-md" }, "Report (Markdown)");
  const csv = el("button", { type: "button", class: "secondary", id: "download-csv" }, "Findings (CSV)");
  const pdf = el("button", { type: "button", class: "secondary", id: "download-pdf" }, "Report (PDF)");
  const html = el("button", { type: "button", class: "secondary", id: "download-html" }, "Report (HTML)");
  pdf.addEventListener("click", () => download(`/v1/insights/report.pdf?days=${days}`, `flowwright-insights-${days}d.pdf`, pdf).catch((e) => { problem.textContent = e.message; }));
  html.addEventListener("click", () => download(`/v1/insights/report.html?days=${days}`, `flowwright-insights-${days}d.html`, html).catch((e) => { problem.textContent = e.message; }));
  md.addEventListener("click", () => download(`/v1/insights/report.md?days=${days}`, `flowwright-insights-${days}d.md`, md).catch((e) => { problem.textContent = e.message; }));
  csv.addEventListener("click", () => download(`/v1/insights/report.csv?days=${days}`, `flowwright-insights-${days}d.csv`, csv).catch((e) => { problem.textContent = e.message; }));

  const maxRuns = Math.max(1, ...rows.map((w) => w.runs));
  // Drawn at the width it will be shown at (capped), so its text stays 12 px on a phone too.
  const chartWidth = Math.max(300, Math.min(520, root.clientWidth - 40));
  const charts = rows.length ? el("div", { class: "charts" },
    el("figure", {}, el("figcaption", {}, "Runs by outcome"),
      barChart("chart-runs", "Runs of each workflow by outcome", rows, (w) => Object.entries(outcomes(w)), maxRuns, (w) => String(w.runs), chartWidth),
      el("ul", { class: "legend" }, OUTCOMES.map(([k, text]) => el("li", { class: `out-${k}` }, el("span", { class: "swatch", "aria-hidden": "true" }), text)))),
    el("figure", {}, el("figcaption", {}, "Health score (0–100)"),
      barChart("chart-health", "Health score of each workflow", rows, (w) => [[`health-${(w.health && w.health.band || "none").replace(/\s+/g, "-")}`, w.health ? w.health.score : 0]], 100,
        (w) => (w.health ? `${Math.round(w.health.score)} ${w.health.band}` : "—"), chartWidth)))
    : el("p", { class: "muted" }, "No runs in this period.");

  const table = el("div", { class: "table-wrap" }, el("table", { id: "insights-workflows", class: "cards" },
    el("thead", {}, el("tr", {}, ["Workflow", "Runs", "Failed", "With errors", "Success", "p95", "Cost / month", "Health"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((w) => el("tr", { "data-workflow-id": w.workflow_id || "" },
      el("th", { scope: "row" }, w.workflow_id ? el("a", { href: `#/workflows/${w.workflow_id}` }, w.name || w.workflow_id) : (w.name || "file runs")),
      el("td", { "data-label": "Runs" }, String(w.runs)), el("td", { "data-label": "Failed" }, String(w.failed)),
      el("td", { "data-label": "With errors" }, String(w.completed_with_errors)), el("td", { "data-label": "Success" }, pct(w.success_rate)),
      el("td", { "data-label": "p95" }, ms(w.p95_ms)), el("td", { "data-label": "Cost / month" }, usd(w.cost && w.cost.per_month)),
      el("td", { "data-label": "Health" }, w.health ? `${Math.round(w.health.score)} · ${w.health.band}` : "—"))))));

  root.replaceChildren(el("section", { class: "wide", "aria-label": "insights" },
    el("div", { class: "bar" }, el("h2", {}, "Insights"), el("label", {}, "Period ", select), el("span", { class: "actions downloads" }, md, html, pdf, csv)),
    problem,
    el("div", { class: "tiles", id: "insights-totals" },
      tile("runs", String(t.runs), "total-runs"), tile("failed", `${t.failed} (${pct(t.failure_rate)})`, "total-failed"),
      tile("completed with errors", String(t.completed_with_errors), "total-with-errors"),
      tile("health score", t.health_score === null || t.health_score === undefined ? "—" : String(Math.round(t.health_score)), "total-health"),
      tile("model tokens", String(t.model_tokens), "total-tokens"), tile("model cost", usd(t.model_cost_usd), "total-model-cost"),
      tile("run cost / month (modelled)", usd(t.modelled_cost_per_month_usd), "total-run-cost"),
      tile("findings", String(t.findings), "total-findings")),
    charts,
    el("h3", {}, "Workflows"), table,
    el("h3", {}, `Findings (${report.findings.length})`),
    report.findings.length ? el("ol", { class: "findings", id: "findings" }, report.findings.map((f) => findingItem(f, days)))
      : el("p", { class: "muted", id: "findings" }, "Nothing to report: no rule found a problem in this period.")));
}
