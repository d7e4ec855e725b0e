// The workflow as a graph: laid out by dagre (vendored, /app/vendor/dagre.min.js), drawn as SVG.
// Nodes are coloured by type; guardrails the passes inserted carry a badge and their reason;
// edges carry their branch; a loop's body is a labelled group. Every text goes in as a text node.
/* global dagre */

const SVG = "http://www.w3.org/2000/svg";
const CHAR = 7.1;   // px per character of the 12 px label font (a conservative average)
const NODE_H = 44;
const GUARD_H = 58;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A short description of what a node does (the second line of its box). */
export function nodeLabel(node) {
  const c = node.config || {};
  if (node.type === "action") return `${node.connector}.${node.operation}`;
  if (node.type === "trigger") {
    if (node.kind === "schedule") return `schedule · ${c.cron || c.at || ""}${c.timezone ? ` (${c.timezone})` : ""}`;
    if (node.kind === "poll") return `poll · ${node.connector}.${node.operation} every ${c.interval_s || 60} s`;
    return `${node.kind} trigger`;
  }
  if (node.type === "guardrail") return `guardrail · ${node.kind}`;
  if (node.type === "condition") return `if ${c.expression || ""}`;
  if (node.type === "switch") return `switch on ${c.value || ""}`;
  if (node.type === "loop") return `for each ${c.items || ""}`;
  if (node.type === "merge") return `merge (${c.mode || "all"})`;
  return node.type;
}

function isInserted(node) {
  return node.origin === "guardrail";
}

/** Every node of the workflow with its graph key (`id`, or `loop/id` inside a loop body). */
export function allNodes(workflow) {
  const out = [];
  const walk = (graph, prefix, parent) => {
    for (const node of graph.nodes || []) {
      const key = `${prefix}${node.id}`;
      out.push({ key, node, parent });
      if (node.type === "loop" && node.body) walk(node.body, `${key}/`, key);
    }
  };
  walk(workflow, "", null);
  return out;
}

function layout(workflow) {
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 44, edgesep: 14, marginx: 12, marginy: 12 });
  const add = (graph, prefix, cluster) => {
    for (const node of graph.nodes || []) {
      const key = `${prefix}${node.id}`;
      const lines = [node.name || node.id, nodeLabel(node)];
      const width = Math.max(150, Math.min(280, 26 + CHAR * Math.max(...lines.map((l) => l.length))));
      g.setNode(key, { width, height: isInserted(node) ? GUARD_H : NODE_H, node });
      if (cluster) g.setParent(key, cluster);
      if (node.type === "loop" && node.body) {
        const group = `${key}::body`;
        g.setNode(group, { label: `each item of ${node.id}`, group: true, loop: key });
        if (cluster) g.setParent(group, cluster);
        add(node.body, `${key}/`, group);
        const targets = new Set((node.body.edges || []).map((e) => e.target));
        for (const inner of node.body.nodes || []) {
          if (!targets.has(inner.id)) {
            g.setEdge(key, `${key}/${inner.id}`, { body: true, label: "each", width: 34, height: 16, labelpos: "c" }, `${key}>${inner.id}`);
          }
        }
      }
    }
    for (const [i, edge] of (graph.edges || []).entries()) {
      const label = edge.branch || "";
      const attrs = { branch: edge.branch || null, labelpos: "c" };
      if (label) Object.assign(attrs, { label, width: 10 + CHAR * label.length, height: 16 });
      g.setEdge(`${prefix}${edge.source}`, `${prefix}${edge.target}`, attrs, `${prefix}${i}`);
    }
  };
  add(workflow, "", null);
  dagre.layout(g);
  return g;
}

function pathFor(points) {
  if (!points.length) return "";
  let d = `M${points[0].x},${points[0].y}`;
  if (points.length === 2) return `${d}L${points[1].x},${points[1].y}`;
  for (let i = 1; i < points.length - 1; i += 1) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${i === points.length - 2 ? `${points[i + 1].x},${points[i + 1].y}` : `${mid.x},${mid.y}`}`;
  }
  return d;
}

/**
 * Draw `workflow` into `container` (replacing what was there). `onSelect(key, node)` is called
 * when a node is clicked or chosen with Enter/Space. Returns `{ setState(key, state), select(key) }`.
 */
export function renderGraph(workflow, container, { onSelect } = {}) {
  container.replaceChildren();
  const g = layout(workflow);
  const { width, height } = g.graph();
  const root = svg("svg", {
    class: "graph", viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, width: Math.ceil(width),
    height: Math.ceil(height), role: "group", "aria-label": `workflow graph, ${g.nodes().filter((k) => !g.node(k).group).length} steps`,
  });
  const defs = svg("defs");
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-error", "arrow error"]]) {
    const marker = svg("marker", { id: `fw-${id}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
    defs.append(marker);
  }
  root.append(defs);

  const groups = svg("g", { class: "groups" });
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  root.append(groups, edges, nodes);

  for (const key of g.nodes()) {
    const item = g.node(key);
    if (!item.group) continue;
    const box = svg("g", { class: "group", "data-loop": item.loop });
    box.append(svg("rect", { x: item.x - item.width / 2, y: item.y - item.height / 2, width: item.width, height: item.height, rx: 10 }));
    box.append(svg("text", { x: item.x - item.width / 2 + 10, y: item.y - item.height / 2 + 14, class: "group-label" }, item.label));
    groups.append(box);
  }

  for (const e of g.edges()) {
    const edge = g.edge(e);
    const cls = ["edge", edge.branch === "error" ? "error" : "", edge.body ? "body" : "", edge.branch ? "branch" : ""].filter(Boolean).join(" ");
    const line = svg("g", { class: cls, "data-source": e.v, "data-target": e.w, "data-branch": edge.branch || "" });
    line.append(svg("path", { d: pathFor(edge.points || []), "marker-end": `url(#fw-${edge.branch === "error" ? "arrow-error" : "arrow"})` }));
    if (edge.label) {
      const w = 10 + CHAR * edge.label.length;
      line.append(svg("rect", { class: "edge-label-bg", x: edge.x - w / 2, y: edge.y - 8, width: w, height: 16, rx: 8 }));
      line.append(svg("text", { class: "edge-label", x: edge.x, y: edge.y + 4, "text-anchor": "middle" }, edge.label));
    }
    edges.append(line);
  }

  const byKey = new Map();
  for (const key of g.nodes()) {
    const item = g.node(key);
    if (item.group) continue;
    const node = item.node;
    const x = item.x - item.width / 2;
    const y = item.y - item.height / 2;
    const title = node.name || node.id;
    const cls = `node type-${node.type}${isInserted(node) ? " inserted" : ""}`;
    const label = `${title}: ${nodeLabel(node)}${isInserted(node) ? `; inserted guardrail: ${node.reason || ""}` : ""}`;
    const box = svg("g", { class: cls, "data-node-key": key, "data-node-id": node.id, tabindex: 0, role: "button", "aria-label": label });
    box.append(svg("title", {}, label));
    box.append(svg("rect", { x, y, width: item.width, height: item.height, rx: 7, class: "body" }));
    box.append(svg("rect", { x, y, width: 5, height: item.height, rx: 2, class: "stripe" }));
    const chars = Math.floor((item.width - 24) / CHAR);
    box.append(svg("text", { x: x + 13, y: y + 18, class: "title" }, clip(title, chars)));
    box.append(svg("text", { x: x + 13, y: y + 34, class: "kind" }, clip(nodeLabel(node), chars)));
    if (isInserted(node)) {
      box.append(svg("text", { x: x + 13, y: y + 50, class: "reason" }, clip(`inserted: ${node.reason || "guardrail"}`, chars + 2)));
    }
    box.append(svg("circle", { cx: x + item.width - 10, cy: y + 10, r: 4, class: "state-dot" }));
    const choose = () => onSelect && onSelect(key, node);
    box.addEventListener("click", choose);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(); }
    });
    nodes.append(box);
    byKey.set(key, box);
  }
  container.append(root);

  return {
    setState(key, state) {
      const box = byKey.get(key);
      if (!box) return;
      box.classList.remove("state-running", "state-completed", "state-failed", "state-retrying", "state-skipped", "state-waiting", "state-cancelled");
      if (state) box.classList.add(`state-${state}`);
      box.dataset.state = state || "";
    },
    select(key) {
      for (const [k, box] of byKey) box.classList.toggle("selected", k === key);
    },
    keys() { return [...byKey.keys()]; },
  };
}
