// Credentials: the workspace's vault — add one (the secret goes in and is never shown again),
// list them with the workflows that use each, delete. Adding and deleting need an admin key;
// listing an editor's.

import { api, session } from "./api.js";
import { el, when } from "./dom.js";

// The fields each type asks for (the vault checks the required ones); `secret` ones are
// password inputs. Anything else a type takes goes in "more fields (JSON)".
const TYPES = {
  api_key: [["api_key", "API key", true]],
  basic: [["username", "Username", false], ["password", "Password", true]],
  smtp: [["host", "Host", false], ["port", "Port", false], ["username", "Username", false], ["password", "Password", true]],
  url: [["url", "URL (may carry a token)", true]],
  oauth2: [["access_token", "Access token", true]],
  none: [],
};

function usedBy(list) {
  if (!list.length) return el("span", { class: "muted" }, "no workflow");
  return el("ul", { class: "used-by" }, list.map((u) => el("li", {},
    el("a", { href: `#/workflows/${u.workflow_id}` }, u.name), el("span", { class: "muted small" }, ` (${u.nodes.join(", ")})`))));
}

function deleteButton(name, onDeleted) {
  const button = el("button", { type: "button", class: "secondary danger delete", "aria-label": `Delete ${name}` }, "Delete");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {  // two steps instead of a dialog: the first click asks
      armed = true;
      button.textContent = "Confirm delete";
      button.setAttribute("aria-label", `Confirm deleting ${name}`);
      return;
    }
    button.disabled = true;
    try {
      await api("DELETE", `/v1/credentials/${encodeURIComponent(name)}`);
      onDeleted();
    } catch (error) {
      button.disabled = false;
      button.after(el("span", { class: "problem", role: "alert" }, error.message));
    }
  });
  return button;
}

function addForm(onSaved) {
  const name = el("input", { id: "cred-name", required: true, autocomplete: "off", spellcheck: false, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}", placeholder: "slack" });
  const type = el("select", { id: "cred-type" }, Object.keys(TYPES).map((t) => el("option", { value: t }, t.replace("_", " "))));
  const fields = el("div", { class: "cred-fields" });
  const extra = el("textarea", { id: "cred-extra", class: "code", rows: 2, spellcheck: false, placeholder: '{"starttls": true}' });
  const problem = el("p", { class: "problem", id: "cred-problem", role: "alert" });
  const status = el("p", { role: "status", id: "cred-status", class: "muted small" });
  const drawFields = () => {
    fields.replaceChildren(...TYPES[type.value].map(([key, label, secret]) => el("p", {},
      el("label", { for: `cred-${key}` }, label), el("input", { id: `cred-${key}`, "data-field": key, type: secret ? "password" : "text", autocomplete: "off", spellcheck: false }))));
  };
  type.addEventListener("change", drawFields);
  drawFields();
  const form = el("form", { id: "cred-form", class: "cred-form" },
    el("p", {}, el("label", { for: "cred-name" }, "Name"), name),
    el("p", {}, el("label", { for: "cred-type" }, "Type"), type),
    fields,
    el("details", {}, el("summary", {}, "More fields (JSON)"), extra),
    problem, el("div", { class: "actions" }, el("button", { type: "submit", id: "cred-save" }, "Save credential")), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    let secret = {};
    if (extra.value.trim()) {
      try {
        secret = JSON.parse(extra.value);
      } catch (error) {
        problem.textContent = `more fields: not JSON (${error.message})`;
        return;
      }
    }
    for (const input of fields.querySelectorAll("input")) {
      if (input.value === "") continue;
      secret[input.dataset.field] = input.dataset.field === "port" && /^\d+$/.test(input.value) ? Number(input.value) : input.value;
    }
    try {
      const saved = await api("PUT", `/v1/credentials/${encodeURIComponent(name.value.trim())}`, { type: type.value, secret });
      // The secret is gone from the page: it is never shown again, here or anywhere.
      form.reset();
      drawFields();
      status.textContent = `Saved ${saved.name} (${saved.type}). Its secret is stored encrypted and will not be shown again.`;
      onSaved();
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  return form;
}

export async function credentialsView(root) {
  const body = el("tbody");
  const admin = session.me && session.me.role === "admin";
  const draw = async () => {
    const rows = await api("GET", "/v1/credentials");
    body.replaceChildren(...(rows.length ? rows.map((c) => el("tr", { "data-name": c.name },
      el("th", { scope: "row" }, c.name),
      el("td", { "data-label": "Type" }, c.type, c.oauth ? el("span", { class: "muted small" }, ` · OAuth ${c.oauth.provider || ""} ${c.oauth.status || ""}`) : null),
      el("td", { "data-label": "Used by" }, usedBy(c.used_by || [])),
      el("td", { "data-label": "Updated" }, when(c.updated_at)),
      el("td", {}, admin ? deleteButton(c.name, draw) : null)))
      : [el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No credentials yet."))]));
  };
  root.replaceChildren(el("section", { class: "wide", "aria-label": "credentials" },
    el("div", { class: "bar" }, el("h2", {}, "Credentials")),
    el("p", { class: "muted" }, "Secrets are encrypted in the vault and never leave it: not here, not in logs, events or runs. A step names its credential with ",
      el("code", {}, '"credential": "NAME"'), "."),
    el("div", { class: "table-wrap" }, el("table", { id: "credentials", class: "cards" }, el("thead", {}, el("tr", {},
      ["Name", "Type", "Used by", "Updated"].map((h) => el("th", { scope: "col" }, h)), el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Delete")))), body)),
    el("h3", {}, "Add or replace a credential"),
    admin ? addForm(draw) : el("p", { class: "muted", id: "cred-admin-only" }, "Adding and deleting credentials needs an admin key.")));
  await draw();
}
