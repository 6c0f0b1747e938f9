// Hits over time stacked by level (GET /api/v1/hits?field=level&step=auto), drawn as SVG: hover
// shows a bucket's time and counts, a drag across it zooms into that range (snapped to buckets).
import { formatCount, formatTime, h, svg } from "./dom.js";
import { niceCeil, shortNumber, timeAxis } from "./timeaxis.js";
import { durationMs } from "./urlstate.js";

// Bottom to top: the levels that matter most sit on the baseline, where they are easiest to see.
export const LEVELS = ["FATAL", "CRITICAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG", "TRACE"];
const HEIGHT = 120;
const AXIS = 20;
const LEFT = 40;

const levelOf = (name) => {
  const upper = String(name ?? "").toUpperCase();
  return LEVELS.includes(upper) ? upper : "OTHER";
};

/** The histogram: `draw(answer, start, end)` with the API's answer and the range (RFC 3339 or
 * undefined); `onZoom(fromMs, toMs)` when a range is dragged across it. */
export function histogram({ onZoom }) {
  const plot = h("div", { class: "histogram-plot" });
  const tip = h("div", { class: "histogram-tip", role: "tooltip", hidden: true });
  const legend = h("div", { class: "histogram-legend", "aria-hidden": "true" });
  const el = h("section", { class: "histogram", "aria-label": "Hits over time" }, plot, tip, legend);
  let last = null;
  let model = null;

  function build(answer, start, end) {
    const step = durationMs(answer.step) ?? 60_000;
    const buckets = new Map();
    const totals = new Map();
    for (const row of answer.buckets) {
      const t = Date.parse(row._time);
      const level = levelOf(row.level);
      const bucket = buckets.get(t) ?? { t, total: 0, levels: new Map() };
      bucket.levels.set(level, (bucket.levels.get(level) ?? 0) + row.hits);
      bucket.total += row.hits;
      buckets.set(t, bucket);
      totals.set(level, (totals.get(level) ?? 0) + row.hits);
    }
    const times = [...buckets.keys()];
    const from = start ? Date.parse(start) : Math.min(...times);
    const to = end ? Date.parse(end) : Math.max(...times) + step;
    return { step, buckets, totals, from, to, stepText: answer.step };
  }

  function render() {
    if (!last) return;
    const started = performance.now();
    model = build(...last);
    const { step, buckets, totals, from, to } = model;
    const width = Math.max(200, plot.clientWidth || 600);
    const inner = width - LEFT;
    const top = niceCeil(Math.max(0, ...[...buckets.values()].map((b) => b.total)));
    const x = (t) => LEFT + ((t - from) / Math.max(1, to - from)) * inner;
    const y = (n) => HEIGHT - (n / top) * (HEIGHT - 8);
    const barWidth = Math.max(1, (step / Math.max(1, to - from)) * inner - 1);
    const bars = [];
    for (const bucket of buckets.values()) {
      let base = 0;
      for (const level of [...LEVELS, "OTHER"]) {
        const hits = bucket.levels.get(level);
        if (!hits) continue;
        bars.push(
          svg("rect", {
            class: `bar lvfill-${level}`,
            x: x(bucket.t).toFixed(1),
            y: y(base + hits).toFixed(1),
            width: barWidth.toFixed(1),
            height: Math.max(0.5, y(base) - y(base + hits)).toFixed(1),
            "data-level": level,
          }),
        );
        base += hits;
      }
    }
    const total = [...totals.values()].reduce((a, b) => a + b, 0);
    const chart = svg(
      "svg",
      {
        width,
        height: HEIGHT + AXIS,
        viewBox: `0 0 ${width} ${HEIGHT + AXIS}`,
        role: "img",
        "aria-label": `Hits over time: ${formatCount(total)} logs in ${buckets.size} buckets of ${model.stepText}`,
        "data-step": model.stepText,
      },
      svg("line", { class: "grid", x1: LEFT, x2: width, y1: y(top), y2: y(top) }),
      svg("line", { class: "grid", x1: LEFT, x2: width, y1: HEIGHT, y2: HEIGHT }),
      svg("text", { class: "ylabel", x: LEFT - 6, y: y(top) + 4, "text-anchor": "end" }, document.createTextNode(shortNumber(top))),
      svg("text", { class: "ylabel", x: LEFT - 6, y: HEIGHT, "text-anchor": "end" }, document.createTextNode("0")),
      svg("g", { class: "bars" }, bars),
      timeAxis(from, to, inner, HEIGHT, x),
      svg("rect", { class: "selection", x: 0, y: 0, width: 0, height: HEIGHT, visibility: "hidden" }),
    );
    plot.replaceChildren(chart);
    legend.replaceChildren(
      ...[...LEVELS, "OTHER"]
        .filter((level) => totals.has(level))
        .map((level) => h("span", { class: "legend-item" }, h("i", { class: `swatch lvbg-${level}` }), `${level.toLowerCase()} ${formatCount(totals.get(level))}`)),
      h("span", { class: "muted" }, `step ${model.stepText}`),
    );
    window.__uiTimings = { ...window.__uiTimings, histogram: performance.now() - started };
  }

  const timeAt = (clientX) => {
    const box = plot.firstChild.getBoundingClientRect();
    const inner = box.width - LEFT;
    const fraction = Math.min(1, Math.max(0, (clientX - box.left - LEFT) / inner));
    return model.from + fraction * (model.to - model.from);
  };

  function showTip(event) {
    const t = timeAt(event.clientX);
    const start = Math.floor(t / model.step) * model.step;
    const bucket = model.buckets.get(start);
    const lines = [h("strong", {}, `${formatTime(start)} – ${formatTime(start + model.step)}`), h("div", {}, `${formatCount(bucket?.total ?? 0)} logs`)];
    for (const level of [...LEVELS, "OTHER"]) {
      const hits = bucket?.levels.get(level);
      if (hits) lines.push(h("div", {}, h("i", { class: `swatch lvbg-${level}` }), `${level}: ${formatCount(hits)}`));
    }
    tip.replaceChildren(...lines);
    tip.hidden = false;
    const box = el.getBoundingClientRect();
    const left = Math.min(event.clientX - box.left + 12, box.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = "4px";
  }

  let dragFrom = null;
  plot.addEventListener("pointerdown", (event) => {
    if (!model || event.button !== 0) return;
    dragFrom = event.clientX;
    plot.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  plot.addEventListener("pointermove", (event) => {
    if (!model) return;
    showTip(event);
    if (dragFrom === null) return;
    const box = plot.firstChild.getBoundingClientRect();
    const selection = plot.querySelector(".selection");
    const a = Math.max(LEFT, Math.min(dragFrom, event.clientX) - box.left);
    const b = Math.min(box.width, Math.max(dragFrom, event.clientX) - box.left);
    selection.setAttribute("x", a);
    selection.setAttribute("width", Math.max(0, b - a));
    selection.setAttribute("visibility", "visible");
  });
  plot.addEventListener("pointerup", (event) => {
    if (dragFrom === null) return;
    const a = Math.min(dragFrom, event.clientX);
    const b = Math.max(dragFrom, event.clientX);
    dragFrom = null;
    plot.querySelector(".selection")?.setAttribute("visibility", "hidden");
    if (b - a < 4) return;
    const from = Math.floor(timeAt(a) / model.step) * model.step;
    const to = Math.ceil(timeAt(b) / model.step) * model.step;
    if (to > from) onZoom(from, to);
  });
  plot.addEventListener("pointerleave", () => {
    tip.hidden = true;
  });
  const resize = new ResizeObserver(() => render());
  resize.observe(plot);

  return {
    el,
    draw(answer, start, end) {
      last = [answer, start, end];
      if (!answer.buckets.length && !start) {
        model = null;
        plot.replaceChildren(h("p", { class: "muted empty" }, "No logs to chart."));
        legend.replaceChildren();
        return;
      }
      render();
    },
    clear() {
      last = null;
      model = null;
      plot.replaceChildren();
      legend.replaceChildren();
    },
    destroy: () => resize.disconnect(),
  };
}
