// The rules table of the alerts view: each rule's state, its current count against the threshold, its
// window, cooldown and last firing, and (admin scope) its enable switch, edit and delete buttons.
// A refresh updates the rows in place, so the focus stays where it was. On a narrow screen each rule is
// a card of labelled lines (alerts.css).
import { badge, durationText, timeAgo } from "./alertformat.js";
import { formatTime, h } from "./dom.js";
import { reconcile } from "./keyedlist.js";

const COLUMNS = ["State", "Rule", "Severity", "Query", "Count / threshold", "Window", "Cooldown", "Last fired", "Enabled", "Actions"];

/** What a rule matches, as text: its query, and its dict conditions when it has any. */
export function ruleMatchText(rule) {
  const parts = [];
  if (rule.query) parts.push(rule.query);
  const conditions = Object.entries(rule.conditions || {});
  if (conditions.length) parts.push(conditions.map(([field, value]) => `${field}=${JSON.stringify(value)}`).join(" "));
  return parts.join(" · ") || "every log";
}

export class RuleList {
  /** `actions`: {filter(name), edit(rule), toggle(rule, enabled), remove(rule)}. */
  constructor(actions) {
    this.actions = actions;
    this.rows = new Map();
    this.body = h("tbody");
    this.count = h("span", { class: "muted count" });
    this.empty = h("p", { class: "empty muted", hidden: true }, "No rules yet. A rule fires when its query matches at least its threshold of logs within its window.");
    this.element = h(
      "section",
      { class: "rules panel", "aria-labelledby": "rules-title" },
      h("h2", { id: "rules-title" }, "Rules ", this.count),
      h(
        "div",
        { class: "scroll", tabindex: "0", role: "region", "aria-label": "Rules table" },
        h("table", { class: "rules-table" }, h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", { scope: "col" }, name === "Actions" ? h("span", { class: "visually-hidden" }, name) : name)))), this.body),
      ),
      this.empty,
    );
  }

  /** Draw `rules` (GET /rules) with their `statuses` (GET /rules/status, by name); `selected` is the
   * rule whose alerts are listed (or ""). */
  render(rules, statuses, selected) {
    const items = rules.map((rule) => ({ rule, status: statuses.get(rule.name) ?? null, selected: rule.name === selected }));
    reconcile(this.body, this.rows, items, (item) => item.rule.name, (item) => this.create(item), (row, item) => this.update(row, item));
    this.count.textContent = `(${rules.length})`;
    this.empty.hidden = rules.length > 0;
  }

  create(item) {
    const name = item.rule.name;
    const row = h("tr", { dataset: { rule: name } });
    row.ui = {}; // the row's parts (a <tr> has its own `cells`)
    row.ui.filterButton = h("button", { type: "button", class: "link rule-name", title: `Show the alerts of ${name}`, onclick: () => this.actions.filter(row.ui.item.rule.name) }, name);
    row.ui.toggle = h("input", {
      type: "checkbox",
      role: "switch",
      class: "rule-toggle",
      "aria-label": `Enabled: ${name}`,
      dataset: { needs: "admin" },
      onchange: () => this.actions.toggle(row.ui.item.rule, row.ui.toggle.checked, row.ui.toggle),
    });
    row.ui.editButton = h("button", { type: "button", "aria-label": `Edit ${name}`, dataset: { needs: "admin" }, onclick: () => this.actions.edit(row.ui.item.rule) }, "Edit");
    row.ui.deleteButton = h("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, dataset: { needs: "admin" }, onclick: () => this.actions.remove(row.ui.item.rule) }, "Delete");
    // each cell's content sits in one box, so a narrow screen can show the column's name before it
    row.ui.cells = COLUMNS.map(() => h("div", { class: "cell" }));
    row.ui.description = h("div", { class: "muted small" });
    row.ui.cells[1].append(row.ui.filterButton, row.ui.description); // kept, not redrawn: focus stays
    row.ui.cells[8].append(row.ui.toggle);
    row.ui.cells[9].append(h("span", { class: "row-actions" }, row.ui.editButton, row.ui.deleteButton));
    row.append(...row.ui.cells.map((cell, index) => h("td", { dataset: { label: COLUMNS[index] } }, cell)));
    this.update(row, item);
    return row;
  }

  update(row, item) {
    row.ui.item = item;
    const { rule, status } = item;
    const state = status?.state ?? (rule.enabled ? "ok" : "disabled");
    const cells = row.ui.cells;
    row.dataset.state = state;
    row.classList.toggle("selected", item.selected);
    row.ui.filterButton.setAttribute("aria-pressed", String(item.selected));
    cells[0].replaceChildren(badge(state, "state"));
    if (status?.firing_since) cells[0].append(h("div", { class: "muted small", title: formatTime(status.firing_since) }, "since ", timeAgo(status.firing_since)));
    row.ui.description.textContent = rule.description;
    row.ui.description.hidden = !rule.description;
    cells[2].replaceChildren(badge(rule.severity, "sev"));
    cells[3].replaceChildren(h("code", { class: "rule-query" }, ruleMatchText(rule)));
    cells[4].replaceChildren(countCell(status, rule));
    cells[5].replaceChildren(durationText(rule.time_window));
    cells[5].parentElement.title = `${rule.time_window} s`;
    cells[6].replaceChildren(durationText(rule.cooldown));
    cells[6].parentElement.title = `${rule.cooldown} s`;
    const last = status?.last_fired;
    cells[7].replaceChildren(last ? h("span", {}, timeAgo(last), h("div", { class: "muted small" }, formatTime(last))) : h("span", { class: "muted" }, "never"));
    if (row.ui.toggle.dataset.busy !== "true") row.ui.toggle.checked = rule.enabled;
  }
}

/** "23 / 20" and a bar filled to the share of the threshold reached (full and red at or past it). */
function countCell(status, rule) {
  if (!status) return h("span", { class: "muted" }, `… / ${rule.threshold}`);
  if (status.current === null) return h("span", { class: "muted", title: "a disabled rule counts nothing" }, `– / ${status.threshold}`);
  const share = Math.min(1, status.current / Math.max(1, status.threshold));
  const bar = h("span", { class: "meter-fill" });
  bar.style.width = `${Math.round(share * 100)}%`;
  return h(
    "span",
    { class: `count-cell${status.current >= status.threshold ? " over" : ""}`, title: `${status.current} matching logs in the last ${status.time_window} s; fires at ${status.threshold}` },
    h("span", { class: "count-text" }, `${status.current} / ${status.threshold}`),
    h("span", { class: "meter", "aria-hidden": "true" }, bar),
  );
}
