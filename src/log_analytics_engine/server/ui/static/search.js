// The search view: query box and time range, hits over time by level, the results table with the
// fields sidebar, live tail, and the stats view of a pipe query; the query, range, columns and
// expanded row live in the URL (pushState when a query runs; update() follows back/forward).
import { ApiError, get } from "./api.js";
import { csvName, download, toCsv } from "./csv.js";
import { formatCount, h } from "./dom.js";
import { fieldsSidebar } from "./fields.js";
import { histogram } from "./histogram.js";
import { queryBox } from "./querybox.js";
import { fieldValue, resultsTable } from "./results.js";
import { statsView } from "./stats.js";
import { startTail } from "./tail.js";
import { addClause, messageTerms, termsRegex } from "./terms.js";
import { timeRange } from "./timerange.js";
import { isoSeconds, rangeBounds, readState, stateUrl } from "./urlstate.js";

const FIRST_PAGE = 50; // what the first render shows: ≤ 100 ms after the answer (issue 14)
const NEXT_PAGE = 1000; // the API's largest page: fewer round trips while scrolling
const ROW_CAP = 10_000; // rows the table holds: scrolling stops there, a live tail's oldest leave it

let view = null;

export function mount(root, app) {
  view = searchView(root, app);
}
export const update = () => view?.update();
export function unmount() {
  view?.destroy();
  view = null;
}

/** Run `fn` once the rows just added have been laid out and painted. */
const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
const record = (figures) => {
  window.__uiTimings = { ...window.__uiTimings, ...figures };
};
const isTyping = (target) => target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));

function searchView(root, app) {
  let state = readState();
  let mode = "logs";
  let controller = null;
  let generation = 0;
  let pendingRun = false;
  let params = {};
  let cursor = null;
  let paging = 0; // bumped when a tail trims the table: a page loading then is dropped
  let capped = false; // scrolling stopped at ROW_CAP rows
  let loadingMore = false;
  let tail = null;

  const go = (change) => {
    pendingRun = true;
    app.navigate(stateUrl({ ...state, ...change, open: null }));
  };
  const box = queryBox({ onRun: (q) => go({ q }) });
  const range = timeRange({ onChange: (r) => go({ last: r.last ?? null, from: r.from ?? null, to: r.to ?? null }) });
  const chart = histogram({ onZoom: (from, to) => go({ last: null, from: isoSeconds(from), to: isoSeconds(to) }) });
  const results = resultsTable({
    onOpen: (seq) => {
      state = { ...state, open: seq };
      history.replaceState(null, "", stateUrl(state));
    },
    onNearEnd: () => loadMore(),
  });
  const sidebar = fieldsSidebar({
    onClause: (clause) => go({ q: addClause(state.q, clause) }),
    onColumns: (cols) => {
      state = { ...state, cols };
      history.replaceState(null, "", stateUrl(state));
      results.setColumns(cols);
    },
  });
  const stats = statsView();

  const total = h("span", { class: "total", id: "total", "aria-live": "polite" });
  const shown = h("span", { class: "shown muted" });
  const tailStatus = h("span", { class: "tail-status", "aria-live": "off" });
  const liveButton = h("button", { type: "button", class: "live-button", "aria-pressed": "false", onclick: () => (tail ? stopTail() : beginTail()) }, "Live tail");
  const pauseButton = h("button", { type: "button", class: "pause-button", hidden: true, "aria-pressed": "false", onclick: () => togglePause() }, "Pause");
  const csvButton = h("button", { type: "button", class: "csv-button", onclick: () => downloadCsv() }, "Download CSV");
  const alertButton = h("button", { type: "button", class: "alert-button", onclick: () => app.navigate(`/alerts?new=1&query=${encodeURIComponent(filterText())}`) }, "Create alert rule");
  const fieldsToggle = h("button", { type: "button", class: "fields-toggle", "aria-expanded": "false", "aria-controls": "fields-sidebar" }, "Fields");
  const main = h("div", { class: "search-main" }, h("div", { class: "summary" }, total, shown, tailStatus, h("span", { class: "spacer" }), csvButton), chart.el, results.el, stats.el);
  const bodyEl = h("div", { class: "search-body" }, sidebar.el, main);
  const el = h(
    "section",
    { class: "search-view", "aria-label": "Search", dataset: { status: "idle" } },
    h("div", { class: "search-top" }, box.el, range.el, liveButton, pauseButton, alertButton, fieldsToggle),
    box.error,
    bodyEl,
  );
  root.append(el);
  fieldsToggle.addEventListener("click", () => {
    const open = bodyEl.classList.toggle("fields-open");
    fieldsToggle.setAttribute("aria-expanded", String(open));
  });

  let ranFilter = null; // the last run query's filter, as the server prints it (no pipes)
  const filterText = () => ranFilter ?? state.q.split("|")[0].trim();
  const access = () => {
    alertButton.disabled = !app.can("admin");
    alertButton.title = app.needs("admin") || "A rule that fires on logs matching this query";
  };
  addEventListener("la:access", access);
  const slash = (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    event.preventDefault();
    box.focus();
  };
  document.addEventListener("keydown", slash);

  function failed(error, gen) {
    if (error?.name === "AbortError" || gen !== generation) return;
    el.dataset.status = "error";
    box.showError(error instanceof ApiError && error.expected ? error : error.message || String(error));
  }

  function setMode(next) {
    mode = next;
    const logs = mode === "logs";
    chart.el.hidden = !logs;
    results.el.hidden = !logs;
    sidebar.el.hidden = !logs;
    fieldsToggle.hidden = !logs;
    stats.el.hidden = logs;
    liveButton.disabled = !logs;
    liveButton.title = logs ? "Stream new matching logs as they arrive" : "Live tail follows a filter, not a pipe query";
  }

  const showShown = () => {
    const note = capped ? ` (scrolling stops at ${formatCount(ROW_CAP)}: narrow the query or the range for older logs)` : "";
    shown.textContent = mode === "logs" && results.count() ? `showing ${formatCount(results.count())}${note}` : "";
  };

  async function run() {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    const gen = ++generation;
    stopTail();
    box.showError(null);
    el.dataset.status = "running";
    try {
      const check = await get("/api/v1/validate", { q: state.q || "*" }, signal);
      if (gen !== generation) return;
      if (!check.valid) {
        ranFilter = null; // the alert editor gets the text as typed, and shows its error
        box.showError(check.error?.expected ? check.error : check.error?.detail || "invalid query");
        total.textContent = "Query not run: it has an error";
        el.dataset.status = "invalid";
        return;
      }
      ranFilter = check.filter;
      const { start, end } = rangeBounds(state);
      params = { q: state.q || undefined, start, end };
      setMode(check.pipes ? "stats" : "logs");
      if (check.pipes) await runStats(check.stats, signal, gen);
      else await runLogs(start, end, signal, gen);
      if (gen === generation && el.dataset.status === "running") el.dataset.status = "done";
    } catch (error) {
      failed(error, gen);
    }
  }

  async function runStats(description, signal, gen) {
    total.textContent = "Running…";
    const answer = await get("/api/v1/query", params, signal);
    if (gen !== generation) return;
    stats.show(answer, description);
    total.textContent = `${formatCount(answer.rows.length)} rows`;
    showShown();
  }

  async function runLogs(start, end, signal, gen) {
    results.reset({ columns: state.cols, regex: termsRegex(messageTerms(state.q)) });
    cursor = null;
    capped = false;
    total.textContent = "Searching…";
    showShown();
    sidebar.loading();
    const requested = performance.now();
    const page = get("/api/v1/search", { ...params, limit: FIRST_PAGE }, signal).then((answer) => {
      if (gen !== generation) return;
      const parsed = performance.now();
      results.append(answer.logs);
      cursor = answer.cursor;
      total.textContent = `${formatCount(answer.total)} logs`;
      showShown();
      afterPaint(() => record({ api: parsed - requested, render50: performance.now() - parsed, rows: answer.logs.length }));
      if (state.open) results.open(state.open);
      results.setMore(Boolean(cursor));
    });
    const hits = get("/api/v1/hits", { ...params, field: "level", step: "auto" }, signal).then((answer) => gen === generation && chart.draw(answer, start, end));
    const fields = get("/api/v1/fields", params, signal).then((answer) => gen === generation && sidebar.show(answer, state.cols));
    const outcomes = await Promise.allSettled([page, hits, fields]);
    for (const outcome of outcomes) if (outcome.status === "rejected") failed(outcome.reason, gen);
  }

  async function loadMore() {
    if (loadingMore || !cursor || mode !== "logs") return;
    loadingMore = true;
    const gen = generation;
    const pagingGen = paging;
    try {
      const requested = performance.now();
      const answer = await get("/api/v1/search", { ...params, limit: NEXT_PAGE, cursor }, controller.signal);
      if (gen !== generation) return;
      const parsed = performance.now();
      if (pagingGen !== paging) return; // a live tail trimmed the table meanwhile: no page fits below it
      results.append(answer.logs);
      // at ROW_CAP rows scrolling stops: more would slow the page (the total still counts them all)
      cursor = results.count() >= ROW_CAP ? null : answer.cursor;
      capped = answer.cursor !== null && cursor === null;
      showShown();
      const figures = { rows: answer.logs.length, loaded: results.count(), api: parsed - requested };
      afterPaint(() => record({ append: { ...figures, ms: performance.now() - parsed } }));
    } catch (error) {
      failed(error, gen);
    } finally {
      loadingMore = false;
      if (gen === generation) results.setMore(Boolean(cursor));
    }
  }

  function beginTail() {
    tail = startTail(state.q, {
      deliver(logs) {
        results.prepend(logs);
        if (results.trim(ROW_CAP)) {
          cursor = null; // rows left the bottom: paging on from there would leave a gap
          paging += 1; // and a page on its way is dropped
          results.setMore(false);
        }
        showShown();
      },
      status({ count, rate, paused, buffered, dropped, live }) {
        if (!live) {
          tailStatus.textContent = "Connecting…";
          return;
        }
        const parts = [`${paused ? "Paused" : "Live"}: ${formatCount(count)} new`, `${rate.toFixed(1)} logs/s`];
        if (paused) parts.push(`${formatCount(buffered)} buffered`);
        if (dropped) parts.push(`${formatCount(dropped)} dropped`);
        tailStatus.textContent = parts.join(" · ");
      },
      failed(error) {
        stopTail();
        box.showError(`Live tail stopped: ${error.message}`);
      },
    });
    liveButton.setAttribute("aria-pressed", "true");
    liveButton.textContent = "Stop live tail";
    pauseButton.hidden = false;
    el.classList.add("tailing");
  }

  function stopTail() {
    if (!tail) return;
    tail.stop();
    tail = null;
    liveButton.setAttribute("aria-pressed", "false");
    liveButton.textContent = "Live tail";
    pauseButton.hidden = true;
    pauseButton.textContent = "Pause";
    pauseButton.setAttribute("aria-pressed", "false");
    tailStatus.textContent = "";
    el.classList.remove("tailing");
  }

  function togglePause() {
    if (!tail) return;
    const paused = !tail.state().paused;
    if (paused) tail.pause();
    else tail.resume();
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
  }

  function downloadCsv() {
    if (mode === "stats") {
      const table = stats.csv();
      download(csvName("stats"), toCsv(table.columns, table.rows));
      return;
    }
    const columns = ["timestamp", "level", "source", ...state.cols, "message"];
    download(csvName("logs"), toCsv(columns, results.logs().map((log) => columns.map((name) => fieldValue(log, name)))));
  }

  const sync = () => {
    box.set(state.q);
    range.set(state);
  };
  sync();
  access();
  run();
  if (!state.q) box.focus();

  return {
    update() {
      const next = readState();
      const rerun = pendingRun || next.q !== state.q || next.last !== state.last || next.from !== state.from || next.to !== state.to;
      const columnsChanged = next.cols.join("\n") !== state.cols.join("\n");
      pendingRun = false;
      state = next;
      sync();
      if (rerun) return run();
      if (columnsChanged) {
        results.setColumns(state.cols);
        sidebar.setColumns(state.cols);
      }
      if (state.open) results.open(state.open);
      return undefined;
    },
    destroy() {
      controller?.abort();
      stopTail();
      chart.destroy();
      results.destroy();
      stats.destroy();
      range.destroy();
      removeEventListener("la:access", access);
      document.removeEventListener("keydown", slash);
    },
  };
}
