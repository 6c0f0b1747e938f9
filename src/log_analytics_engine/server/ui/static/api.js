// The HTTP API as the page uses it: every call carries the session's key, answers are JSON, and an
// answer that is not 2xx becomes an ApiError with the server's detail (and, for a query syntax error,
// where it is and what was expected).

const KEY = "log-analytics-key";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail : body;
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.position = body?.position ?? null;
    this.expected = body?.expected ?? null;
    this.found = body?.found ?? null;
  }
}

/** The key kept for this browser session (sessionStorage: gone when the tab closes). */
export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key) => sessionStorage.setItem(KEY, key);
export const forgetKey = () => sessionStorage.removeItem(KEY);

/** The headers of a call: the key, when there is one. */
export function authHeaders(extra = {}) {
  const key = getKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

/** A URL of this server with `params` (empty values left out). */
export function apiUrl(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

/** Call the API; resolves to the JSON answer (null for 204), rejects with ApiError. */
export async function request(method, path, { params, body, signal } = {}) {
  const init = { method, signal, headers: authHeaders(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const answer = await fetch(apiUrl(path, params), init);
  if (answer.status === 204) return null;
  const type = answer.headers.get("content-type") || "";
  const data = type.includes("json") ? await answer.json() : await answer.text();
  if (!answer.ok) {
    if (answer.status === 401) dispatchEvent(new CustomEvent("la:unauthorized"));
    throw new ApiError(answer.status, data);
  }
  return data;
}

export const get = (path, params, signal) => request("GET", path, { params, signal });
