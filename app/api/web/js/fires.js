// What a workflow's trigger makes fire, as the server previews it (GET …/preview, or the `fires`
// of an activation): the next schedule times, the webhook's method and full URL, or "by hand".

import { api } from "./api.js";
import { el } from "./dom.js";

/** The preview of the version that fires: the active one while active, else the draft. */
export async function preview(row) {
  const version = row.status === "active" && row.active_version ? `?version=${row.active_version}` : "";
  return (await api("GET", `/v1/workflows/${encodeURIComponent(row.id)}/preview${version}`)).fires;
}

/** One short line for a list: the next time, the webhook URL, or "manual". */
export function firesShort(fires, active) {
  if (!fires) return el("span", { class: "muted" }, "—");
  if (fires.kind === "webhook") {
    return el("span", { class: "fires webhook" }, `${fires.method} `, el("code", { class: "webhook-url" }, fires.url || fires.path));
  }
  if (fires.kind === "schedule") {
    const next = (fires.next || [])[0];
    return el("span", { class: "fires schedule" }, el("span", { class: "muted small" }, active ? "next " : "would run "),
      next ? el("time", { dateTime: next.utc, title: fires.description }, next.words) : el("span", {}, fires.description));
  }
  if (fires.kind === "poll") {
    return el("span", { class: "fires poll" }, `polls ${fires.connector}.${fires.operation} every ${fires.interval_s} s`);
  }
  return el("span", { class: "fires manual muted" }, "by hand");
}

/** The full box for a workflow page: the schedule in words and its next times, or the webhook. */
export function firesBox(fires, active) {
  const box = el("div", { class: "trigger-info", id: "fires", "data-kind": fires ? fires.kind : "" });
  if (!fires) return box;
  const when = active ? "" : " once activated";
  if (fires.kind === "webhook") {
    box.append(el("p", {}, `Webhook: ${fires.method} `, el("code", { id: "webhook-url" }, fires.url || fires.path),
      active ? " — live now." : " — answers 404 until the workflow is activated."));
  } else if (fires.kind === "schedule") {
    box.append(el("p", {}, "Schedule: ", el("strong", {}, fires.description), ` — next runs${when}:`),
      el("ol", { class: "next-times", id: "next-times" }, (fires.next || []).map((t) =>
        el("li", {}, el("time", { dateTime: t.utc }, t.words)))));
    if (!(fires.next || []).length) box.append(el("p", { class: "muted" }, "It will not fire again."));
  } else if (fires.kind === "poll") {
    box.append(el("p", {}, "Polling: ", el("strong", {}, fires.description), active ? " — polling now." : " — starts once activated."));
  } else {
    box.append(el("p", {}, "Manual trigger: runs when you press Run (or call the API)."));
  }
  return box;
}
