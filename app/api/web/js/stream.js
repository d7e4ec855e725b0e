// Server-sent events over fetch, so the API key travels in the Authorization header — never in
// the URL, where server and proxy logs would keep it (EventSource cannot send headers). The shape
// follows EventSource: addEventListener(type, fn), onerror, close(), readyState; a dropped stream
// reconnects from the last event id, as EventSource does.

import { authHeaders } from "./api.js";

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;

export class EventStream {
  constructor(url, { retryMs = 1000, maxRetries = 5 } = {}) {
    this.url = url;
    this.readyState = CONNECTING;
    this.lastEventId = "";
    this.onerror = null;
    this.listeners = new Map();
    this.retryMs = retryMs;
    this.retriesLeft = maxRetries;
    this.controller = null;
    this.connect();
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  close() {
    this.readyState = CLOSED;
    if (this.controller) this.controller.abort();
  }

  async connect() {
    this.controller = new AbortController();
    const headers = { ...authHeaders(), accept: "text/event-stream" };
    if (this.lastEventId) headers["last-event-id"] = this.lastEventId;
    try {
      const response = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
      if (!response.ok || !response.body) {
        // 401/403/404 do not get better by retrying
        this.fail(response.status >= 400 && response.status < 500);
        return;
      }
      this.readyState = OPEN;
      await this.read(response.body.getReader());
    } catch (error) {
      if (this.readyState === CLOSED) return;
    }
    if (this.readyState !== CLOSED) this.fail(false);
  }

  fail(final) {
    if (this.readyState === CLOSED) return;
    if (final || this.retriesLeft <= 0) {
      this.readyState = CLOSED;
    } else {
      this.retriesLeft -= 1;
      this.readyState = CONNECTING;
      setTimeout(() => { if (this.readyState !== CLOSED) this.connect(); }, this.retryMs);
    }
    if (this.onerror) this.onerror(new Event("error"));
  }

  async read(reader) {
    await readEvents(reader, (type, data, id) => {
      if (id !== null) this.lastEventId = id;
      if (data !== null) this.dispatch(type, data);
      return this.readyState !== CLOSED;
    });
  }

  dispatch(type, data) {
    this.retriesLeft = 5;
    const message = { type, data, lastEventId: this.lastEventId };
    for (const fn of this.listeners.get(type) || []) fn(message);
  }
}

/**
 * Reads server-sent events from a stream reader until it ends or onEvent returns false.
 * onEvent(type, data, id) is called once per event (data null for an event with an id only).
 */
export async function readEvents(reader, onEvent) {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { type: "message", data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(buffer[cut] === "\r" && buffer[cut + 1] === "\n" ? cut + 2 : cut + 1);
      if (line === "") {
        const go = event.id !== null || event.data.length
          ? onEvent(event.type, event.data.length ? event.data.join("\n") : null, event.id) : true;
        event = { type: "message", data: [], id: null };
        if (go === false) { reader.cancel().catch(() => {}); return; }
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event.type = text;
      else if (field === "data") event.data.push(text);
      else if (field === "id") event.id = text;
    }
  }
}
