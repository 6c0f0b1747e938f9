// Alert values as the alerts view shows and reads them: durations ("5m" ⇄ 300 s), times relative to
// now ("3 min ago"), state and severity badges, and key=value lines (labels, annotations).
import { formatTime, h } from "./dom.js";

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds from "300", "5m", "1h30m", "2d" (units s m h d w); null when the text is none of these. */
export function parseDuration(text) {
  const value = String(text ?? "").trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value));
  const compact = value.replace(/\s+/g, "");
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(compact)) return null;
  const parts = compact.match(/\d+(?:\.\d+)?[smhdw]/g);
  return Math.round(parts.reduce((sum, part) => sum + Number(part.slice(0, -1)) * UNITS[part.slice(-1)], 0));
}

/** 300 → "5m", 5400 → "1h30m", 61 → "61s": the shortest exact text parseDuration reads back. */
export function durationText(seconds) {
  let rest = Number(seconds);
  if (!Number.isFinite(rest) || rest <= 0 || !Number.isInteger(rest)) return String(seconds ?? "");
  if (rest < 60 || rest % 60) return `${rest}s`;
  let out = "";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

/** How long before `now` a time was: "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago". */
export function formatAgo(value, now = Date.now()) {
  const then = new Date(value).getTime();
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 0) return "in the future";
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A <time> with the relative text and the absolute UTC time as its title (and machine value). */
export function timeAgo(value) {
  return h("time", { datetime: value, title: formatTime(value) }, formatAgo(value));
}

/** A coloured badge: `badge("firing", "state")` → <span class="badge state-firing">firing</span>. */
export const badge = (value, kind) => h("span", { class: `badge ${kind}-${value}` }, value);

/** {key: value} as "key=value" lines. */
export const pairsText = (pairs) =>
  Object.entries(pairs || {})
    .map(([key, value]) => `${key}=${value}`)
    .join("\n");

/** "key=value" lines as {key: value}; throws Error("line N: …") for a line without "=". Blank lines skip. */
export function parsePairs(text) {
  const pairs = {};
  String(text || "")
    .split("\n")
    .forEach((line, index) => {
      if (!line.trim()) return;
      const at = line.indexOf("=");
      if (at < 1) throw new Error(`line ${index + 1}: expected key=value, got "${line.trim()}"`);
      pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
  return pairs;
}
