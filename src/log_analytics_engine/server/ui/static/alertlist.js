// The recent alerts of the alerts view, newest first: each row expands (click, Enter or Space) to its
// sample logs, labels, annotations and query. A refresh adds the new alerts at the top and updates the
// others in place, keeping what is expanded and focused.
import { badge, durationText, formatAgo } from "./alertformat.js";
import { formatCount, formatTime, h } from "./dom.js";
import { reconcile } from "./keyedlist.js";

const COLUMNS = ["", "Triggered", "Rule", "Severity", "Status", "Count", "Message"];
const keyOf = (alert) => `${alert.rule_name}\u0000${alert.triggered_at}`;
let serial = 0;

export class AlertList {
  /** `onFilter(name)`: list the alerts of rule `name` only ("" for every rule). */
  constructor(onFilter) {
    this.items = new Map();
    this.choices = null; // the rule names the filter offers, as drawn
    this.expanded = new Set();
    this.select = h("select", { id: "alert-rule-filter", onchange: () => onFilter(this.select.value) });
    this.table = h("table", { class: "alerts-table" }, h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", { scope: "col" }, name)))));
    this.empty = h("p", { class: "empty muted", hidden: true });
    this.count = h("span", { class: "muted count" });
    this.element = h(
      "section",
      { class: "recent-alerts panel", "aria-labelledby": "alerts-title" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", { id: "alerts-title" }, "Recent alerts ", this.count),
        h("span", { class: "filter" }, h("label", { for: "alert-rule-filter" }, "Rule"), this.select),
      ),
      h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Recent alerts table" }, this.table),
      this.empty,
    );
  }

  /** The filter's choices: every rule name known (rules and alerts), with `selected` chosen. */
  setRules(names, selected) {
    const all = [...new Set([...names, ...(selected ? [selected] : [])])].sort();
    const choices = all.join("\n");
    if (choices !== this.choices) {
      this.choices = choices;
      this.select.replaceChildren(h("option", { value: "" }, "All rules"), ...all.map((name) => h("option", { value: name }, name)));
    }
    this.select.value = selected;
  }

  /** Draw `alerts` (newest first); `rule` is the filter they were fetched with. */
  render(alerts, rule) {
    reconcile(this.table, this.items, alerts, keyOf, (alert) => this.create(alert), (group, alert) => this.update(group, alert));
    this.count.textContent = `(${alerts.length})`;
    this.empty.hidden = alerts.length > 0;
    this.empty.textContent = rule ? `No alerts of ${rule} yet.` : "No alerts fired yet.";
  }

  create(alert) {
    const key = keyOf(alert);
    const detailId = `alert-detail-${++serial}`;
    const group = h("tbody", { class: "alert" });
    group.ui = {}; // the group's parts
    group.ui.summary = h("tr", {
      class: "alert-summary",
      tabindex: "0",
      "aria-expanded": "false",
      "aria-controls": detailId,
      onclick: () => this.toggle(group, key),
      onkeydown: (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.toggle(group, key);
        } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          const next = event.key === "ArrowDown" ? group.nextElementSibling : group.previousElementSibling;
          next?.ui?.summary.focus();
        }
      },
    });
    group.ui.cells = COLUMNS.map(() => h("td"));
    group.ui.cells[0].append(h("span", { class: "chevron", "aria-hidden": "true" }, "▸"));
    group.ui.summary.append(...group.ui.cells);
    group.ui.detailCell = h("td", { colspan: String(COLUMNS.length) });
    group.ui.detail = h("tr", { class: "alert-detail", id: detailId, hidden: true }, group.ui.detailCell);
    group.append(group.ui.summary, group.ui.detail);
    this.update(group, alert);
    if (this.expanded.has(key)) this.toggle(group, key, true);
    return group;
  }

  update(group, alert) {
    const changed = group.ui.alert && (group.ui.alert.status !== alert.status || group.ui.alert.resolved_at !== alert.resolved_at);
    group.ui.alert = alert;
    const cells = group.ui.cells;
    group.dataset.status = alert.status;
    cells[1].replaceChildren(h("time", { datetime: alert.triggered_at }, formatTime(alert.triggered_at)), h("div", { class: "muted small" }, formatAgo(alert.triggered_at)));
    cells[2].replaceChildren(alert.rule_name);
    cells[3].replaceChildren(badge(alert.severity, "sev"));
    cells[4].replaceChildren(badge(alert.status, "status"));
    if (alert.resolved_at) cells[4].append(h("div", { class: "muted small", title: formatTime(alert.resolved_at) }, `resolved ${formatAgo(alert.resolved_at)}`));
    cells[5].replaceChildren(formatCount(alert.count));
    cells[5].className = "num";
    cells[6].replaceChildren(alert.message);
    cells[6].className = "message";
    if (changed && !group.ui.detail.hidden) group.ui.detailCell.replaceChildren(details(alert));
  }

  toggle(group, key, open = group.ui.detail.hidden) {
    group.ui.detail.hidden = !open;
    group.ui.summary.setAttribute("aria-expanded", String(open));
    group.classList.toggle("open", open);
    if (open) {
      this.expanded.add(key);
      group.ui.detailCell.replaceChildren(details(group.ui.alert));
    } else this.expanded.delete(key);
  }
}

/** An alert's sample logs, labels, annotations and what it matched. */
function details(alert) {
  const samples = alert.sample_logs || [];
  const rows = samples.map((log) =>
    h(
      "tr",
      {},
      h("td", { class: "time" }, formatTime(log.timestamp)),
      h("td", { class: `lv lv-${String(log.level).toUpperCase()}` }, log.level),
      h("td", {}, log.source),
      h("td", { class: "message" }, log.message),
    ),
  );
  return h(
    "div",
    { class: "alert-details" },
    h(
      "div",
      { class: "samples" },
      h("h3", {}, `Sample logs (${samples.length} of ${formatCount(alert.count)})`),
      samples.length
        ? h("table", { class: "samples-table" }, h("thead", {}, h("tr", {}, ["Time", "Level", "Source", "Message"].map((name) => h("th", { scope: "col" }, name)))), h("tbody", {}, rows))
        : h("p", { class: "muted" }, "No sample logs kept."),
    ),
    h(
      "dl",
      { class: "alert-facts" },
      fact("Query", alert.query ? h("code", {}, alert.query) : h("span", { class: "muted" }, "(conditions)")),
      fact("Window", alert.window ? `${durationText(alert.window)} (${alert.window} s)` : ""),
      fact("Labels", pairs(alert.labels)),
      fact("Annotations", pairs(alert.annotations)),
      alert.resolved_at ? fact("Resolved", formatTime(alert.resolved_at)) : null,
    ),
  );
}

const fact = (term, value) => [h("dt", {}, term), h("dd", {}, value)];

function pairs(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return h("span", { class: "muted" }, "none");
  return h("span", { class: "pairs" }, entries.map(([key, value]) => h("span", { class: "pair" }, h("b", {}, key), "=", value)));
}
