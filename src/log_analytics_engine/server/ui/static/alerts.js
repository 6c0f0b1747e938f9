// The alerts view (`/alerts`): the rules with their state (ok, firing, disabled), current count against
// the threshold and last firing; the recent alerts with their sample logs; a rule editor (new, edit, or
// from a query: `/alerts?new=1&query=…`); enable, disable and delete for the admin scope, disabled with
// the reason otherwise. `?rule=NAME` lists that rule's alerts only. Refreshes every few seconds while
// the page is visible, in place (focus, expanded rows and an open editor stay).
import { AlertList } from "./alertlist.js";
import { get, request } from "./api.js";
import { confirmDialog } from "./confirmdialog.js";
import { h } from "./dom.js";
import { RuleEditor, suggestName } from "./ruleeditor.js";
import { RuleList } from "./rulelist.js";

const REFRESH_MS = 3000;
const ALERTS_LIMIT = 100;

let view = null;

export async function mount(root, app) {
  view = new AlertsView(root, app);
  await view.start();
}

export const update = () => view?.fromUrl();

export function unmount() {
  view?.stop();
  view = null;
}

class AlertsView {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.rules = [];
    this.filter = "";
    this.editor = null;
    this.opener = null;
    this.refreshing = null;
    this.again = false;
    this.lastProblem = "";
    this.stopped = new AbortController();
    this.ruleList = new RuleList({
      filter: (name) => this.setFilter(this.filter === name ? "" : name),
      edit: (rule) => this.openEditor(rule),
      toggle: (rule, enabled, input) => this.toggle(rule, enabled, input),
      remove: (rule) => this.remove(rule),
    });
    this.alertList = new AlertList((name) => this.setFilter(name));
    this.newButton = h("button", { type: "button", class: "primary", dataset: { needs: "admin" }, onclick: (event) => this.openEditor(null, {}, event.currentTarget) }, "New rule");
    this.updated = h("span", { class: "muted small updated" });
    this.live = h("p", { class: "live", role: "status", "aria-live": "polite" });
    this.problem = h("p", { class: "error problem", hidden: true });
    this.editorSlot = h("div", { class: "editor-slot" });
    this.element = h(
      "section",
      { class: "alerts-view", "aria-labelledby": "alerts-view-title" },
      h("header", { class: "alerts-head" }, h("h1", { id: "alerts-view-title" }, "Alerts"), this.updated, h("span", { class: "spacer" }), this.newButton),
      this.live,
      this.problem,
      this.editorSlot,
      this.ruleList.element,
      this.alertList.element,
    );
    root.append(this.element);
  }

  async start() {
    const { signal } = this.stopped;
    addEventListener("la:access", () => this.accessChanged(), { signal });
    document.addEventListener("visibilitychange", () => document.hidden || this.refresh(), { signal });
    // Escape closes the editor wherever the focus is (the editor handles it first when it has focus)
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented && this.editor && !document.querySelector("dialog[open]")) this.closeEditor();
    }, { signal });
    this.timer = setInterval(() => document.hidden || this.refresh(), REFRESH_MS);
    this.applyAccess();
    await this.fromUrl();
  }

  stop() {
    clearInterval(this.timer);
    this.stopped.abort();
  }

  /** Apply the URL: `rule` filters the alerts, `new=1` (with `query`) opens a new rule's editor. */
  async fromUrl() {
    const params = new URLSearchParams(location.search);
    this.filter = params.get("rule") || "";
    await this.refresh();
    if (params.get("new") === "1" && !this.editor) {
      if (this.app.can("admin")) this.openEditor(null, { query: params.get("query") || "" });
      else this.say(`Creating a rule ${this.app.needs("admin")}.`);
    }
  }

  /** Show `rule`'s alerts only ("" for all), kept in the URL. */
  setFilter(rule) {
    const url = new URL(location.href);
    if (rule) url.searchParams.set("rule", rule);
    else url.searchParams.delete("rule");
    return this.app.navigate(url.pathname + url.search);
  }

  /** Fetch the rules, their states and the recent alerts and redraw them (one fetch at a time). */
  refresh() {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.load().finally(() => {
      this.refreshing = null;
      if (this.again && !this.stopped.signal.aborted) {
        this.again = false;
        this.refresh();
      }
    });
    return this.refreshing;
  }

  async load() {
    if (!this.app.can("query")) {
      this.showProblem(`Rules and alerts: reading them ${this.app.needs("query")}.`);
      return;
    }
    const { signal } = this.stopped;
    const filter = this.filter;
    let rules, statuses, alerts;
    try {
      [rules, statuses, alerts] = await Promise.all([
        get("/api/v1/rules", {}, signal),
        get("/api/v1/rules/status", {}, signal),
        get("/api/v1/alerts", { limit: ALERTS_LIMIT, rule: filter }, signal),
      ]);
    } catch (error) {
      if (error.name !== "AbortError") this.showProblem(`Could not refresh: ${error.message}`);
      return;
    }
    if (signal.aborted) return;
    this.showProblem("");
    this.rules = rules;
    this.ruleList.render(rules, new Map(statuses.map((status) => [status.name, status])), this.filter);
    if (filter === this.filter) this.alertList.render(alerts, filter);
    else this.again = true; // the filter changed while this was on its way
    this.alertList.setRules([...rules.map((rule) => rule.name), ...alerts.map((alert) => alert.rule_name)], this.filter);
    this.updated.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC, every ${REFRESH_MS / 1000} s`;
    this.applyAccess();
  }

  showProblem(text) {
    this.problem.hidden = !text;
    if (text !== this.lastProblem) this.problem.textContent = text;
    this.lastProblem = text;
  }

  /** Say something in the polite live region (the result of a save, a switch, a delete). */
  say(text, kind = "info") {
    this.live.textContent = text;
    this.live.className = `live ${kind}`;
  }

  accessChanged() {
    this.applyAccess();
    this.refresh();
  }

  /** Disable what the session's key may not do, with the reason as the control's title. */
  applyAccess() {
    for (const control of this.root.querySelectorAll("[data-needs]")) {
      const reason = this.app.needs(control.dataset.needs);
      control.disabled = control.dataset.busy === "true" || Boolean(reason);
      if (reason) control.title = reason;
      else control.removeAttribute("title");
    }
  }

  openEditor(rule, prefill = {}, opener = document.activeElement) {
    if (!this.app.can("admin")) return;
    this.closeEditor({ keepUrl: true });
    const taken = new Set(this.rules.map((each) => each.name));
    if (!rule && prefill.query && !prefill.name) prefill = { ...prefill, name: suggestName(prefill.query, taken) };
    this.opener = opener;
    this.editor = new RuleEditor({ app: this.app, rule, prefill, taken, onSaved: (saved) => this.saved(saved), onClose: () => this.closeEditor() });
    this.editorSlot.replaceChildren(this.editor.element);
    this.applyAccess();
    this.editor.element.scrollIntoView({ block: "nearest" });
    this.editor.focus();
  }

  /** Close the editor; the `new`/`query` parameters that opened it leave the URL (replacing it). */
  closeEditor({ keepUrl = false } = {}) {
    if (!this.editor) return;
    this.editor = null;
    this.editorSlot.replaceChildren();
    if (this.opener?.isConnected) this.opener.focus();
    this.opener = null;
    const url = new URL(location.href);
    if (!keepUrl && (url.searchParams.has("new") || url.searchParams.has("query"))) {
      url.searchParams.delete("new");
      url.searchParams.delete("query");
      this.app.navigate(url.pathname + url.search, { replace: true });
    }
  }

  async saved(rule) {
    this.closeEditor();
    this.say(`Saved rule ${rule.name}.`, "ok");
    await this.refresh();
  }

  async toggle(rule, enabled, input) {
    input.dataset.busy = "true";
    input.disabled = true;
    try {
      await request("POST", `/api/v1/rules/${encodeURIComponent(rule.name)}/${enabled ? "enable" : "disable"}`);
      this.say(`${enabled ? "Enabled" : "Disabled"} rule ${rule.name}.`, "ok");
    } catch (error) {
      input.checked = !enabled;
      this.say(`Could not ${enabled ? "enable" : "disable"} ${rule.name}: ${error.message}`, "error");
    } finally {
      delete input.dataset.busy;
      this.applyAccess();
    }
    await this.refresh();
  }

  async remove(rule) {
    const yes = await confirmDialog(this.root, {
      title: "Delete rule",
      question: `Delete the rule ${rule.name}?`,
      detail: "It stops being evaluated; the alerts it fired stay listed.",
      yes: "Delete",
      danger: true,
    });
    if (!yes) return;
    try {
      await request("DELETE", `/api/v1/rules/${encodeURIComponent(rule.name)}`);
      this.say(`Deleted rule ${rule.name}.`, "ok");
      this.ruleList.element.querySelector(".scroll").focus(); // its row (and Delete button) are gone
      if (this.editor?.original?.name === rule.name) this.closeEditor();
    } catch (error) {
      this.say(`Could not delete ${rule.name}: ${error.message}`, "error");
    }
    await this.refresh();
  }
}
