// Flowwright's web page: a hash router over the views. Every view has its own address
// (#/chat/ID, #/workflows/ID, #/executions/ID), so a reload, a bookmark or the back button
// lands on the same place.

import { api, apiKey, session, setApiKey } from "./api.js";
import { chatView } from "./chat.js";
import { credentialsView } from "./credentials.js";
import { $, el } from "./dom.js";
import { executionView, executionsView, leaveExecution } from "./executions.js";
import { insightsView } from "./insights.js";
import { workflowView, workflowsView } from "./workflows.js";

const ROUTES = [
  [/^#\/chat(?:\/([\w-]+))?$/, (root, m) => chatView(root, m[1]), "chat"],
  [/^#\/workflows\/([\w-]+)$/, (root, m, q) => workflowView(root, m[1], q), "workflows"],
  [/^#\/workflows$/, (root) => workflowsView(root), "workflows"],
  [/^#\/executions\/([\w-]+)$/, (root, m) => executionView(root, m[1]), "executions"],
  [/^#\/executions$/, (root, m, q) => executionsView(root, q), "executions"],
  [/^#\/credentials$/, (root) => credentialsView(root), "credentials"],
  [/^#\/insights$/, (root, m, q) => insightsView(root, q), "insights"],
];

let generation = 0;

export async function route() {
  if (!apiKey()) return signInView();
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

// Signing in: the key is checked with GET /v1/me, then kept in sessionStorage for this tab only.
function signInView(message) {
  leaveExecution();
  const root = $("view");
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", size: "40", placeholder: "fw_…" });
  const problem = el("p", { class: "problem", role: "alert", id: "sign-in-problem" }, message || "");
  const form = el("form", { id: "sign-in" },
    el("label", { for: "api-key" }, "API key"), " ", input, " ", el("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setApiKey(input.value);
    await start();
  });
  root.replaceChildren(el("section", { class: "wide" }, el("h2", {}, "Sign in"),
    el("p", {}, "Paste an API key (the first one is in the data dir's admin.key; make more with ",
      el("code", {}, "flowwright api-keys create"), "). It is kept in this tab only."), form, problem));
  $("who").textContent = "";
  $("sign-out").hidden = true;
  input.focus();
}

async function start() {
  if (!apiKey()) return signInView();
  let me;
  try {
    me = await api("GET", "/v1/me");
  } catch (error) {
    setApiKey("");
    return signInView(error.message);
  }
  session.me = me;
  $("who").textContent = `${me.user} (${me.role}) · ${me.workspace}`;
  $("who").dataset.workspace = me.workspace;
  $("sign-out").hidden = false;
  if (!started) {
    started = true;
    window.addEventListener("hashchange", route);
  }
  return route();
}

let started = false;
$("sign-out").addEventListener("click", () => {
  setApiKey("");
  signInView();
});
window.addEventListener("flowwright:signed-out", (event) => {
  setApiKey("");
  signInView(event.detail.message);
});
start();
