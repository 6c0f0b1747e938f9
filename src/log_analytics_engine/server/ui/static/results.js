// The results table: one row per log (time, level, source, chosen columns, message with the query's
// words marked), appended or prepended in batches (never rebuilt while paging or tailing), a
// roving focus moved by the arrow keys, and a row expanded into all its fields (table or JSON) with
// the same source's surrounding logs. Rows are divs in a CSS grid, held in chunks of CHUNK rows
// with content-visibility: auto, so ten thousand rows cost layout and paint only for the chunks on
// screen (per row, Chromium's visibility observers alone took ~25 ms a frame at 10,000 rows).
import { get } from "./api.js";
import { formatTime, h } from "./dom.js";
import { highlighted } from "./terms.js";

const CHUNK = 250; // rows per content-visibility chunk: ~40 chunks for 10,000 rows
const ROW_PX = 25; // a row's height before it is first drawn (a chunk's placeholder size)
const MESSAGE_CHARS = 2000; // a row shows this much of a message; the expanded row shows it all
const CORE = ["timestamp", "level", "source", "message", "thread_id", "request_id", "user_id", "tags", "seq"];

/** A field's value of a log: a column, or a metadata key (`metadata.x` names the key `x`). */
export function fieldValue(log, name) {
  if (name in log && name !== "metadata") return log[name];
  const metadata = log.metadata || {};
  if (name in metadata) return metadata[name];
  return name.startsWith("metadata.") ? metadata[name.slice(9)] : undefined;
}

/** A value as cell text: lists joined, objects as JSON, absent empty. */
export function valueText(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(valueText).join(", ");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

const cell = (className, ...content) => {
  const div = document.createElement("div");
  div.className = className;
  div.setAttribute("role", "gridcell");
  div.append(...content);
  return div;
};

const levelBadge = (level) => {
  const span = document.createElement("span");
  span.className = `lv lv-${String(level || "").toUpperCase()}`;
  span.textContent = level || "";
  return span;
};

/** The table. `onOpen(seq | null)` says which row is expanded; `onNearEnd()` asks for more rows. */
export function resultsTable({ onOpen, onNearEnd }) {
  const head = h("div", { class: "row head", role: "row" });
  const body = h("div", { class: "rows-body", role: "rowgroup" });
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const empty = h("p", { class: "muted empty", hidden: true }, "No logs match.");
  const grid = h("div", { class: "rows", role: "grid", "aria-label": "Logs", "aria-readonly": "true" }, head, body);
  const el = h("div", { class: "results-scroll", tabindex: "-1" }, grid, empty, sentinel);
  const logOf = new WeakMap();
  let columns = [];
  let regex = null;
  let count = 0;
  let selected = null;
  let more = false;

  function setHead() {
    const names = ["Time", "Level", "Source", ...columns, "Message"];
    head.replaceChildren(...names.map((name) => h("div", { role: "columnheader" }, name)));
    grid.style.setProperty("--cols", `12.5em 5.5em 9em ${columns.map(() => "9em").join(" ")} minmax(16em, 1fr)`);
  }
  setHead();

  function rowFor(log) {
    const row = document.createElement("div");
    row.className = "row log";
    row.setAttribute("role", "row");
    row.setAttribute("aria-expanded", "false");
    row.tabIndex = -1;
    if (log.seq !== undefined) row.dataset.seq = log.seq;
    const message = String(log.message ?? "");
    row.append(
      cell("c-time", formatTime(log.timestamp)),
      cell("c-level", levelBadge(log.level)),
      cell("c-source", log.source || ""),
      ...columns.map((name) => cell("c-extra", valueText(fieldValue(log, name)))),
      cell("c-message", highlighted(message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS)}…` : message, regex)),
    );
    logOf.set(row, log);
    return row;
  }

  function newChunk() {
    const chunk = document.createElement("div");
    chunk.className = "chunk";
    chunk.setAttribute("role", "rowgroup");
    return chunk;
  }

  const chunkRows = (chunk) => chunk.querySelectorAll(":scope > .row.log").length;
  const sized = (chunk) => chunk.style.setProperty("contain-intrinsic-size", `auto ${chunkRows(chunk) * ROW_PX}px`);

  /** Add rows at the end (`atStart`: at the start, `logs` newest first either way), filling the
   * edge chunk before starting new ones. */
  function add(logs, atStart) {
    let at = 0;
    while (at < logs.length) {
      let chunk = atStart ? body.firstElementChild : body.lastElementChild;
      let room = chunk ? CHUNK - chunkRows(chunk) : 0;
      if (room <= 0) {
        chunk = newChunk();
        body[atStart ? "prepend" : "append"](chunk);
        room = CHUNK;
      }
      const part = atStart ? logs.slice(Math.max(0, logs.length - at - room), logs.length - at) : logs.slice(at, at + room);
      const fragment = document.createDocumentFragment();
      for (const log of part) fragment.append(rowFor(log));
      chunk[atStart ? "prepend" : "append"](fragment);
      sized(chunk);
      at += part.length;
    }
    count += logs.length;
    afterChange();
  }

  function afterChange() {
    empty.hidden = count > 0;
    if (!selected || !selected.isConnected) select(body.querySelector(".row.log"), false);
  }

  function select(row, focus = true) {
    if (selected && selected !== row) {
      selected.tabIndex = -1;
      selected.removeAttribute("aria-selected");
    }
    selected = row;
    if (!row) return;
    row.tabIndex = 0;
    row.setAttribute("aria-selected", "true");
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  const isOpen = (row) => row.getAttribute("aria-expanded") === "true";

  function toggle(row, open = !isOpen(row)) {
    if (open === isOpen(row)) return;
    if (!open) {
      row.nextElementSibling?.classList.contains("detail") && row.nextElementSibling.remove();
      row.setAttribute("aria-expanded", "false");
      onOpen(null);
      return;
    }
    for (const other of body.querySelectorAll('.row.log[aria-expanded="true"]')) toggle(other, false);
    row.after(detailFor(logOf.get(row)));
    row.setAttribute("aria-expanded", "true");
    onOpen(row.dataset.seq ?? null);
  }

  const sibling = (el, forward) => (forward ? el.nextElementSibling : el.previousElementSibling);
  /** The log row after (or before) `row`, across chunks, skipping expanded parts. */
  function step(row, forward) {
    let chunk = row.parentElement;
    let next = sibling(row, forward);
    for (;;) {
      while (next && !next.classList.contains("log")) next = sibling(next, forward);
      if (next) return next;
      chunk = sibling(chunk, forward);
      if (!chunk) return null;
      next = forward ? chunk.firstElementChild : chunk.lastElementChild;
    }
  }

  body.addEventListener("click", (event) => {
    const row = event.target.closest(".row.log");
    if (!row || window.getSelection()?.toString()) return;
    select(row);
    toggle(row);
  });
  body.addEventListener("keydown", (event) => {
    const row = event.target.closest(".row.log");
    if (!row || event.target !== row) return;
    let target = null;
    if (event.key === "ArrowDown") target = step(row, true);
    else if (event.key === "ArrowUp") target = step(row, false);
    else if (event.key === "Home") target = body.querySelector(".row.log");
    else if (event.key === "End") target = [...(body.lastElementChild?.querySelectorAll(".row.log") ?? [])].at(-1);
    else if (event.key === "Enter" || event.key === " ") toggle(row);
    else if (event.key === "Escape") toggle(row, false);
    else return;
    event.preventDefault();
    if (target) select(target);
  });

  const observer = new IntersectionObserver((entries) => {
    if (more && entries.some((entry) => entry.isIntersecting)) onNearEnd();
  }, { root: el, rootMargin: "0px 0px 300px 0px" });
  observer.observe(sentinel);

  return {
    el,
    /** Empty the table for a new result: its columns and the regex marking the query's words. */
    reset(options) {
      columns = options.columns;
      regex = options.regex;
      count = 0;
      selected = null;
      more = false;
      body.replaceChildren();
      setHead();
      el.scrollTop = 0;
      empty.hidden = true;
    },
    /** Add rows after the last (the next page, older logs). */
    append: (logs) => add(logs, false),
    /** Add rows before the first (logs newer than every row, newest first). */
    prepend: (logs) => add(logs, true),
    /** Remove the oldest rows beyond `cap`; says how many went. */
    trim(cap) {
      let removed = 0;
      while (count > cap) {
        const chunk = body.lastElementChild;
        const last = chunk.lastElementChild;
        if (!last) {
          chunk.remove();
          continue;
        }
        if (last.classList.contains("log")) {
          count -= 1;
          removed += 1;
          logOf.delete(last);
        }
        last.remove();
        if (!chunk.firstElementChild) chunk.remove();
      }
      if (removed) {
        if (body.lastElementChild) sized(body.lastElementChild);
        afterChange();
      }
      return removed;
    },
    /** Whether the cursor has more rows: then the sentinel's approach asks for them. */
    setMore(value) {
      more = value;
      observer.unobserve(sentinel);
      observer.observe(sentinel); // reports at once if it is still in sight after the new rows
    },
    /** The extra columns changed: draw every row again with them. */
    setColumns(names) {
      const logs = this.logs();
      const open = body.querySelector('.row.log[aria-expanded="true"]')?.dataset.seq;
      const scroll = el.scrollTop;
      this.reset({ columns: names, regex });
      this.append(logs);
      if (open) this.open(open);
      el.scrollTop = scroll;
    },
    /** Expand the row of `seq` when it is loaded; says whether it was. */
    open(seq) {
      const row = body.querySelector(`.row.log[data-seq="${CSS.escape(String(seq))}"]`);
      if (!row) return false;
      select(row, false);
      toggle(row, true);
      return true;
    },
    logs: () => [...body.querySelectorAll(".row.log")].map((row) => logOf.get(row)),
    count: () => count,
    columns: () => columns,
    destroy: () => observer.disconnect(),
  };
}

/** The fields of a log in order: the columns, then its metadata keys. */
function fieldRows(log) {
  const rows = CORE.filter((name) => log[name] !== undefined && log[name] !== null && !(Array.isArray(log[name]) && !log[name].length)).map((name) => [name, log[name]]);
  for (const [key, value] of Object.entries(log.metadata || {})) rows.push([CORE.includes(key) ? `metadata.${key}` : key, value]);
  return rows;
}

/** The expanded row: every field as a table or as JSON, and "show surrounding logs". */
function detailFor(log) {
  const fields = h(
    "table",
    { class: "fields-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Value"))),
    h("tbody", {}, fieldRows(log).map(([name, value]) => h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, valueText(value))))),
  );
  const json = h("pre", { class: "log-json", hidden: true }, JSON.stringify(log, null, 2));
  const surrounding = h("div", { class: "surrounding" });
  const asTable = h("button", { type: "button", "aria-pressed": "true" }, "Table");
  const asJson = h("button", { type: "button", "aria-pressed": "false" }, "JSON");
  const show = (jsonShown) => {
    json.hidden = !jsonShown;
    fields.hidden = jsonShown;
    asTable.setAttribute("aria-pressed", String(!jsonShown));
    asJson.setAttribute("aria-pressed", String(jsonShown));
  };
  asTable.addEventListener("click", () => show(false));
  asJson.addEventListener("click", () => show(true));
  const context = h("button", { type: "button", class: "context-button", disabled: log.seq === undefined }, "Show surrounding logs");
  context.addEventListener("click", async () => {
    context.disabled = true;
    surrounding.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      surrounding.replaceChildren(contextList(await get("/api/v1/context", { seq: log.seq, before: 20, after: 20 })));
    } catch (error) {
      surrounding.replaceChildren(h("p", { class: "error", role: "alert" }, `Surrounding logs: ${error.message}`));
    }
    context.disabled = false;
  });
  const detail = h(
    "div",
    { class: "detail", role: "row" },
    h(
      "div",
      { role: "gridcell", class: "detail-cell" },
      h("div", { class: "detail-bar", role: "group", "aria-label": "Show the log as" }, asTable, asJson, h("span", { class: "spacer" }), context),
      fields,
      json,
      surrounding,
    ),
  );
  // clicks and keys inside the expanded part are its own, not the table's
  detail.addEventListener("click", (event) => event.stopPropagation());
  detail.addEventListener("keydown", (event) => event.stopPropagation());
  return detail;
}

/** The anchor's neighbours from the same source, oldest first, the anchor marked. */
function contextList(answer) {
  const line = (log, anchor) =>
    h(
      "li",
      { class: anchor ? "anchor" : "", "aria-current": anchor ? "true" : null, dataset: { seq: log.seq } },
      h("span", { class: "c-time" }, formatTime(log.timestamp)),
      " ",
      levelBadge(log.level),
      " ",
      h("span", { class: "ctx-message" }, String(log.message ?? "")),
    );
  return h(
    "section",
    { "aria-label": "Surrounding logs" },
    h("h3", {}, `Surrounding logs of ${answer.anchor.source || "(no source)"}: ${answer.before.length} before, ${answer.after.length} after`),
    h("ol", { class: "context-list" }, answer.before.map((log) => line(log, false)), line(answer.anchor, true), answer.after.map((log) => line(log, false))),
  );
}
