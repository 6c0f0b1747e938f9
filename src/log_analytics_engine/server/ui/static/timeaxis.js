// A time axis for the view's SVG charts: tick times at a round interval and their labels (UTC).
import { svg } from "./dom.js";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const INTERVALS = [S, 5 * S, 10 * S, 30 * S, M, 5 * M, 10 * M, 15 * M, 30 * M, H, 3 * H, 6 * H, 12 * H, D, 2 * D, 7 * D, 14 * D, 30 * D];
const pad = (n) => String(n).padStart(2, "0");

/** Round times between `from` and `to` (ms) for about `count` ticks. */
export function timeTicks(from, to, count = 6) {
  const span = Math.max(1, to - from);
  const every = INTERVALS.find((ms) => span / ms <= count) ?? INTERVALS.at(-1);
  const ticks = [];
  for (let t = Math.ceil(from / every) * every; t <= to; t += every) ticks.push(t);
  return { ticks, every };
}

/** A tick's label: the clock time, with the date once ticks are days apart or span several days. */
export function tickLabel(ms, every, span) {
  const d = new Date(ms);
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${every < M ? `:${pad(d.getUTCSeconds())}` : ""}`;
  const date = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (every >= D) return date;
  return span > D ? `${date} ${clock}` : clock;
}

/** The axis under a plot `width` wide at `y`: a tick and a label at each round time. */
export function timeAxis(from, to, width, y, x = (t) => ((t - from) / (to - from)) * width) {
  const { ticks, every } = timeTicks(from, to, Math.max(2, Math.floor(width / 110)));
  return svg(
    "g",
    { class: "axis" },
    ticks.map((t) =>
      svg(
        "g",
        {},
        svg("line", { x1: x(t), x2: x(t), y1: y, y2: y + 4 }),
        svg("text", { x: x(t), y: y + 15, "text-anchor": "middle" }, document.createTextNode(tickLabel(t, every, to - from))),
      ),
    ),
  );
}

/** A round number at or above `n` (1, 2 or 5 times a power of ten) for the top of a y axis. */
export function niceCeil(n) {
  if (n <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((f) => f * power).find((v) => v >= n);
}

/** A y value's label: 1.2k, 3M. */
export function shortNumber(n) {
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  if (abs >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
