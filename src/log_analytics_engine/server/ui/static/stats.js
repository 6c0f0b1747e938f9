// The stats view of a pipe query (GET /api/v1/query): its columns and rows as a table sortable by
// any column, and when a time bucket is among the `stats by` keys a line chart: x the bucket,
// one series per combination of the other keys, y the first numeric function column.
import { formatCount, formatTime, h, svg } from "./dom.js";
import { valueText } from "./results.js";
import { niceCeil, shortNumber, timeAxis } from "./timeaxis.js";

const HEIGHT = 220;
const AXIS = 20;
const LEFT = 48;
const SERIES_COLOURS = 10; // .series-0 … .series-9 in search.css

const compare = (a, b) => {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), "en", { numeric: true });
};

/** The chart's series: [{name, points: [[ms, y]]}] or null when the answer has no time key. */
export function chartSeries(answer, stats) {
  if (!stats?.time_key || !answer.columns.includes(stats.time_key)) return null;
  const others = stats.by.filter((name) => name !== stats.time_key);
  const y = stats.funcs.find((name) => answer.rows.some((row) => typeof row[name] === "number"));
  if (!y) return null;
  const series = new Map();
  for (const row of answer.rows) {
    const t = Date.parse(row[stats.time_key]);
    if (Number.isNaN(t) || typeof row[y] !== "number") continue;
    const name = others.length ? others.map((key) => valueText(row[key]) || "(empty)").join(", ") : y;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([t, row[y]]);
  }
  for (const points of series.values()) points.sort((a, b) => a[0] - b[0]);
  return { y, x: stats.time_key, series: [...series].map(([name, points]) => ({ name, points })) };
}

function chart(model, width) {
  const times = model.series.flatMap((s) => s.points.map(([t]) => t));
  const values = model.series.flatMap((s) => s.points.map(([, v]) => v));
  const from = Math.min(...times);
  const to = Math.max(...times, from + 1);
  const low = Math.min(0, ...values);
  const high = niceCeil(Math.max(...values, 1));
  const inner = width - LEFT - 12;
  const x = (t) => LEFT + ((t - from) / (to - from)) * inner;
  const y = (v) => HEIGHT - ((v - low) / (high - low || 1)) * (HEIGHT - 10);
  const lines = model.series.map((series, i) =>
    svg(
      "g",
      { class: `series series-${i % SERIES_COLOURS}`, "data-series": series.name },
      svg("path", { d: series.points.map(([t, v], j) => `${j ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("") }),
      series.points.map(([t, v]) => svg("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 3 }, svg("title", {}, document.createTextNode(`${series.name} · ${formatTime(t)}: ${v}`)))),
    ),
  );
  return svg(
    "svg",
    { width, height: HEIGHT + AXIS, viewBox: `0 0 ${width} ${HEIGHT + AXIS}`, role: "img", "aria-label": `${model.y} over ${model.x}: ${model.series.length} series` },
    svg("line", { class: "grid", x1: LEFT, x2: LEFT + inner, y1: y(high), y2: y(high) }),
    svg("line", { class: "grid", x1: LEFT, x2: LEFT + inner, y1: HEIGHT, y2: HEIGHT }),
    svg("text", { class: "ylabel", x: LEFT - 6, y: y(high) + 4, "text-anchor": "end" }, document.createTextNode(shortNumber(high))),
    svg("text", { class: "ylabel", x: LEFT - 6, y: HEIGHT, "text-anchor": "end" }, document.createTextNode(shortNumber(low))),
    timeAxis(from, to, inner, HEIGHT, x),
    lines,
  );
}

/** The stats view; `show(answer, stats)` draws an answer with validate's `stats` description. */
export function statsView() {
  const plot = h("div", { class: "stats-plot" });
  const legend = h("ul", { class: "stats-legend", "aria-label": "Series" });
  const chartBox = h("section", { class: "stats-chart", "aria-label": "Chart", hidden: true }, plot, legend);
  const table = h("table", { class: "stats-table" });
  const warnings = h("ul", { class: "warnings", role: "status" });
  const el = h("div", { class: "stats-view", hidden: true }, chartBox, warnings, h("div", { class: "stats-scroll" }, table));
  let answer = null;
  let model = null;
  let sort = null; // {column, descending}
  let timeKey = null; // the column of the time bucket, shown as times

  function drawTable() {
    const rows = [...answer.rows];
    if (sort) rows.sort((a, b) => compare(a[sort.column], b[sort.column]) * (sort.descending ? -1 : 1));
    const header = answer.columns.map((column) => {
      const state = sort?.column === column ? (sort.descending ? "descending" : "ascending") : "none";
      const button = h("button", { type: "button", class: "sort" }, column, h("span", { class: "sort-mark", "aria-hidden": "true" }, state === "none" ? "" : state === "ascending" ? " ▲" : " ▼"));
      button.addEventListener("click", () => {
        sort = { column, descending: sort?.column === column ? !sort.descending : false };
        drawTable();
        table.querySelector(`th[data-column="${CSS.escape(column)}"] button`)?.focus();
      });
      return h("th", { scope: "col", "aria-sort": state, dataset: { column } }, button);
    });
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const column of answer.columns) {
        const td = document.createElement("td");
        const value = row[column];
        if (column === timeKey && typeof value === "string") {
          td.textContent = formatTime(value); // the bucket's start, as the results table shows times
          td.title = value;
        } else td.textContent = valueText(value);
        if (typeof value === "number") td.className = "num";
        tr.append(td);
      }
      fragment.append(tr);
    }
    table.replaceChildren(h("thead", {}, h("tr", {}, header)), h("tbody", {}, fragment));
  }

  function drawChart() {
    if (!model) return;
    plot.replaceChildren(chart(model, Math.max(300, plot.clientWidth || 800)));
  }
  const resize = new ResizeObserver(() => drawChart());
  resize.observe(plot);

  return {
    el,
    show(result, stats) {
      answer = result;
      timeKey = stats?.time_key ?? null;
      sort = null;
      model = chartSeries(result, stats);
      chartBox.hidden = !model;
      legend.replaceChildren(...(model?.series ?? []).map((series, i) => h("li", {}, h("i", { class: `swatch series-bg-${i % SERIES_COLOURS}` }), `${series.name} (${formatCount(series.points.length)})`)));
      warnings.replaceChildren(...result.warnings.map((text) => h("li", {}, text)));
      drawTable();
      drawChart();
    },
    csv: () => ({ columns: answer?.columns ?? [], rows: (answer?.rows ?? []).map((row) => answer.columns.map((c) => row[c])) }),
    destroy: () => resize.disconnect(),
  };
}
