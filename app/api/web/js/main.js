// Flowwright's web page: a hash router over the views. Every view has its own address
// (#/chat/ID, #/workflows/ID, #/executions/ID), so a reload, a bookmark or the back button
// lands on the same place.

import { setWorkspace, workspace } from "./api.js";
import { chatView } from "./chat.js";
import { $, el } from "./dom.js";
import { executionView, executionsView, leaveExecution } from "./executions.js";
import { workflowView, workflowsView } from "./workflows.js";

const ROUTES = [
  [/^#\/chat(?:\/([\w-]+))?$/, (root, m) => chatView(root, m[1]), "chat"],
  [/^#\/workflows\/([\w-]+)$/, (root, m, q) => workflowView(root, m[1], q), "workflows"],
  [/^#\/workflows$/, (root) => workflowsView(root), "workflows"],
  [/^#\/executions\/([\w-]+)$/, (root, m) => executionView(root, m[1]), "executions"],
  [/^#\/executions$/, (root, m, q) => executionsView(root, q), "executions"],
];

let generation = 0;

export async function route() {
  const [path, query = ""] = (location.hash || "#/chat").split("?");
  const params = new URLSearchParams(query);
  const root = $("view");
  leaveExecution();
  const mine = ++generation;
  for (const [pattern, view, tab] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("nav a")) {
      link.setAttribute("aria-current", link.dataset.tab === tab ? "page" : "false");
    }
    root.setAttribute("aria-busy", "true");
    try {
      await view(root, match, params);
    } catch (error) {
      if (mine === generation) {
        root.replaceChildren(el("section", { class: "wide" }, el("h2", {}, "This page could not be shown"),
          el("p", { class: "problem", role: "alert" }, error.message), el("p", {}, el("a", { href: "#/chat" }, "Back to the chat"))));
      }
    } finally {
      root.removeAttribute("aria-busy");
    }
    return;
  }
  location.replace("#/chat");
}

const picker = $("workspace");
picker.value = workspace();
picker.addEventListener("change", () => {
  setWorkspace(picker.value);
  // Another workspace's conversation, workflow or execution is not ours to show.
  if (location.hash.startsWith("#/chat/") || /^#\/(workflows|executions)\/./.test(location.hash)) {
    location.hash = location.hash.startsWith("#/chat") ? "#/chat" : location.hash.split("/").slice(0, 2).join("/");
  } else {
    route();
  }
});
window.addEventListener("hashchange", route);
route();
