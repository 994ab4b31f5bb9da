// Talking to the service: JSON calls, streamed calls, and problem+json errors.

/** An error the service (or the network) reported, with a message fit for people. */
export class ProblemError extends Error {
  constructor(problem) {
    super(describe(problem));
    this.name = "ProblemError";
    this.problem = problem;
  }
}

function describe(problem) {
  const title = problem.title || "Request failed";
  const detail = problem.detail ? String(problem.detail) : "";
  const status = problem.status ? ` (HTTP ${problem.status})` : "";
  return detail ? `${title}: ${capitalize(detail)}${status}` : `${title}${status}`;
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The problem+json body of a failed response, or a stand-in for other bodies. */
async function problemOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") return new ProblemError({ status: response.status, ...body });
  } catch {
    // Not JSON (a proxy's HTML page, say): fall through to a generic message.
  }
  return new ProblemError({
    status: response.status,
    title: response.statusText || "Request failed",
    detail: text.slice(0, 200),
  });
}

// The API key a person entered, kept for this tab only (sessionStorage): never in the
// URL, never in localStorage, gone when the tab closes.
const KEY = "grounded.apiKey";
let keyInMemory = ""; // where storage is disabled: the key lasts until the page reloads

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY) || keyInMemory;
  } catch {
    return keyInMemory;
  }
}

export function setApiKey(value) {
  keyInMemory = value;
  try {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage disabled: keyInMemory serves.
  }
}

async function send(path, { method = "GET", body, accept = "application/json", signal } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ProblemError({
      title: "The service cannot be reached",
      detail: "check that it is running, then try again",
    });
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

/** A JSON call; resolves to the parsed body. */
export async function requestJSON(path, options = {}) {
  const response = await send(path, options);
  return response.json();
}

/**
 * A streamed call (EventSource cannot POST, so fetch + a stream reader):
 * onDelta(text) gets each `delta` event as the model writes; resolves to the
 * `result` event's body, or throws the `error` event's problem.
 */
export async function requestStream(path, body, onDelta, signal) {
  const response = await send(path, { method: "POST", body, accept: "text/event-stream", signal });
  if (!(response.headers.get("content-type") || "").includes("text/event-stream")) {
    return response.json(); // A server that does not stream answers with the body at once.
  }
  for await (const { event, data } of serverSentEvents(response.body)) {
    if (event === "delta") onDelta(JSON.parse(data).text ?? "");
    else if (event === "result") return JSON.parse(data);
    else if (event === "error") throw new ProblemError(JSON.parse(data));
  }
  throw new ProblemError({
    title: "Connection lost",
    detail: "the stream ended before the result arrived; try again",
  });
}

/** Parse a text/event-stream body into {event, data} messages. */
async function* serverSentEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // Normalise CRLF over the whole buffer: a CR and its LF may arrive in two chunks.
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue; // comments keep the connection alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") message.event = text;
        else if (field === "data") message.data.push(text);
      }
      if (message.data.length) yield { event: message.event, data: message.data.join("\n") };
    }
  }
}
