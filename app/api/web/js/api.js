// The service's API, scoped to the workspace chosen in the header (kept across reloads).

const KEY = "flowwright.workspace";

export function workspace() {
  return localStorage.getItem(KEY) || "default";
}

export function setWorkspace(value) {
  localStorage.setItem(KEY, value.trim() || "default");
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
    headers: { "content-type": "application/json", "x-workspace": workspace() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || { code: `http_${response.status}`, message: data && data.detail ? JSON.stringify(data.detail) : response.statusText };
    throw new ApiError(response.status, error);
  }
  return data;
}

/** The SSE address of an execution's events (EventSource cannot send headers). */
export function eventsUrl(executionId) {
  return `/v1/executions/${encodeURIComponent(executionId)}/events?workspace=${encodeURIComponent(workspace())}`;
}
