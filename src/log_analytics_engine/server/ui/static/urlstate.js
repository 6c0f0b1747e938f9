// The search view's state as the URL holds it, so a view can be reloaded and shared:
// q (query text), last=15m (a relative range) or from/to (absolute, RFC 3339 UTC), cols (extra
// columns, comma-separated field names) and open (the seq of the expanded row).

export const PRESETS = ["5m", "15m", "1h", "6h", "24h", "7d", "30d"];
export const DEFAULT_LAST = "15m";
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const UNIT_NAME = { s: "second", m: "minute", h: "hour", d: "day", w: "week" };

/** `45m` → milliseconds; null when the text is not a positive number and a unit (s, m, h, d, w). */
export function durationMs(text) {
  const match = /^\s*(\d+)\s*([smhdw])\s*$/i.exec(text || "");
  if (!match || Number(match[1]) <= 0) return null;
  return Number(match[1]) * UNIT_MS[match[2].toLowerCase()];
}

/** `45m` in words: "Last 45 minutes". */
export function durationLabel(text) {
  const match = /^(\d+)([smhdw])$/i.exec(text);
  if (!match) return text;
  const n = Number(match[1]);
  return `Last ${n === 1 ? "" : `${n} `}${UNIT_NAME[match[2].toLowerCase()]}${n === 1 ? "" : "s"}`;
}

/** A time as RFC 3339 in UTC when it has no offset of its own (`2025-07-21T12:00` or a date alone):
 * the server reads such a time as UTC, and `Date.parse` would read it in the browser's zone. */
function utc(text) {
  if (!text) return text;
  const value = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00` : text;
  return /T[\d:.]+$/.test(value) ? `${value}Z` : value;
}

/** The view's state from a query string (default: the last 15 minutes, every log). */
export function readState(search = location.search) {
  const params = new URLSearchParams(search);
  const from = utc(params.get("from"));
  const to = utc(params.get("to"));
  const absolute = Boolean(from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)));
  const last = params.get("last");
  return {
    q: params.get("q") || "",
    last: absolute ? null : durationMs(last) ? last.trim().toLowerCase() : last === "all" ? "all" : DEFAULT_LAST,
    from: absolute ? from : null,
    to: absolute ? to : null,
    cols: (params.get("cols") || "").split(",").filter(Boolean),
    open: params.get("open") || null,
  };
}

/** The URL (path and query string) of a state. */
export function stateUrl(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.from && state.to) {
    params.set("from", state.from);
    params.set("to", state.to);
  } else params.set("last", state.last || DEFAULT_LAST);
  if (state.cols.length) params.set("cols", state.cols.join(","));
  if (state.open) params.set("open", state.open);
  return `/?${params}`;
}

/** The range as the API's start/end (RFC 3339), relative ranges counted back from `now`. */
export function rangeBounds(state, now = Date.now()) {
  if (state.from && state.to) return { start: state.from, end: state.to };
  if (state.last === "all") return { start: undefined, end: undefined };
  const span = durationMs(state.last) ?? durationMs(DEFAULT_LAST);
  return { start: new Date(now - span).toISOString(), end: new Date(now).toISOString() };
}

/** A time as RFC 3339 in UTC without milliseconds when they are zero. */
export const isoSeconds = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
