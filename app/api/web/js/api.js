// The service's API. The page signs in with an API key kept in sessionStorage (gone when the tab
// closes) and sent as a header on every request — no cookies, so nothing a cross-site request
// could ride on. The key decides the workspace.

import { readEvents } from "./stream.js";

const KEY = "flowwright.key";

/** Who is signed in (GET /v1/me: user, role, workspace), set by main.js on sign-in. */
export const session = { me: null };

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value.trim());
  else sessionStorage.removeItem(KEY);
}

export function authHeaders() {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** An API error with the server's code, and every problem's JSON path when it sent them. */
export class ApiError extends Error {
  constructor(status, error) {
    const problems = (error.details && error.details.problems) || [];
    super(error.message + problems.map((p) => `\n${p.path}: ${p.message}`).join(""));
    this.status = status;
    this.code = error.code;
    this.problems = problems;
  }
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", ...authHeaders() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer(response);
}

async function answer(response) {
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || { code: `http_${response.status}`, message: data && data.detail ? JSON.stringify(data.detail) : response.statusText };
    if (response.status === 401) window.dispatchEvent(new CustomEvent("flowwright:signed-out", { detail: error }));
    throw new ApiError(response.status, error);
  }
  return data;
}

/**
 * A request whose answer streams as server-sent events (a chat turn): onEvent(type, data) for each
 * event before the last; resolves with the data of the `turn` event, or throws the ApiError of a
 * `failed` event (the server never names an event `error`). A server answering plain JSON (an
 * error found before the stream began) is read as api() reads it.
 */
export async function apiStream(method, path, body, onEvent) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", accept: "text/event-stream", ...authHeaders() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok || !(response.headers.get("content-type") || "").startsWith("text/event-stream") || !response.body) {
    return answer(response);
  }
  let result = null;
  await readEvents(response.body.getReader(), (type, data) => {
    let value = null;
    try { value = data ? JSON.parse(data) : null; } catch { value = null; }
    if (type === "turn") { result = { value }; return false; }
    if (type === "failed") {
      const error = (value && value.error) || { code: "stream_failed", message: "the turn failed" };
      result = { error: new ApiError((value && value.status) || 500, error) };
      return false;
    }
    if (value) onEvent(type, value);
    return true;
  });
  if (!result) throw new ApiError(0, { code: "stream_ended", message: "the connection ended before the answer came; reload to see it" });
  if (result.error) throw result.error;
  return result.value;
}

/** The SSE address of an execution's events (read with EventStream, which sends the key as a header). */
export function eventsUrl(executionId, after) {
  const base = `/v1/executions/${encodeURIComponent(executionId)}/events`;
  return after ? `${base}?after=${after}` : base;
}
