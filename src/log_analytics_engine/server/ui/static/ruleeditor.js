// The rule editor of the alerts view: an in-page form for one rule (new, or an existing one with its name
// fixed). It checks the rule as the API does — POST /api/v1/rules/_validate, debounced while typing and
// again before saving — shows the verdict beside the form (a query's syntax error with a caret at its
// position), and saves with PUT /api/v1/rules/{name}. Escape or Cancel closes it.
import { durationText, pairsText, parseDuration, parsePairs } from "./alertformat.js";
import { ApiError, request } from "./api.js";
import { debounce, h } from "./dom.js";

const SEVERITIES = ["low", "medium", "high", "critical"];
const CHECK_DELAY_MS = 350;
// which field an error of the API names (its text says "field: problem"), for aria-invalid
const FIELD_WORDS = [
  ["query", "query"],
  ["threshold", "threshold"],
  ["time_window", "time_window"],
  ["cooldown", "cooldown"],
  ["labels", "labels"],
  ["annotations", "annotations"],
  ["severity", "severity"],
  ["name", "name"],
];

/** A rule name from a query: `level:ERROR source:api` → `level-error-source-api`, not one of `taken`. */
export function suggestName(query, taken) {
  const base = String(query || "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48).replace(/-+$/, "") || "new-rule";
  let name = base;
  for (let n = 2; taken.has(name); n += 1) name = `${base}-${n}`;
  return name;
}

export class RuleEditor {
  /**
   * `rule`: the rule to edit (null: a new one); `prefill`: fields of a new one (query, name);
   * `taken`: the names in use; `onSaved(rule)` after a save; `onClose()` on Cancel or Escape.
   */
  constructor({ app, rule = null, prefill = {}, taken = new Set(), onSaved, onClose }) {
    this.app = app;
    this.original = rule;
    this.taken = taken;
    this.onSaved = onSaved;
    this.onClose = onClose;
    this.checkSerial = 0;
    this.checking = null;
    this.fields = {};
    const start = rule ?? { name: prefill.name ?? "", description: "", query: prefill.query ?? "", severity: "medium", threshold: 1, time_window: 300, cooldown: 600, enabled: true };

    const field = (key, label, control, hint) => {
      control.id = `rule-${key}`;
      control.name = key;
      this.fields[key] = control;
      return h("div", { class: `field field-${key}` }, h("label", { for: control.id }, label), control, hint ?? null);
    };
    const durationField = (key, label, seconds) => {
      const input = h("input", { type: "text", inputmode: "text", autocomplete: "off", value: durationText(seconds), placeholder: "300, 5m, 1h", "aria-describedby": `rule-${key}-seconds` });
      const shown = h("span", { class: "muted small seconds", id: `rule-${key}-seconds` });
      const show = () => {
        const value = parseDuration(input.value);
        shown.textContent = value === null ? "seconds, or 30s, 5m, 1h, 1d" : `= ${value} s`;
      };
      input.addEventListener("input", show);
      show();
      return field(key, label, input, shown);
    };

    const name = h("input", { type: "text", autocomplete: "off", required: true, value: start.name, readOnly: rule !== null, spellcheck: false });
    const query = h("input", { type: "text", class: "mono", autocomplete: "off", value: start.query ?? "", spellcheck: false, placeholder: "level:ERROR source:api" });
    const severity = h("select", {}, SEVERITIES.map((value) => h("option", { value }, value)));
    severity.value = start.severity;
    const threshold = h("input", { type: "number", min: "1", step: "1", value: String(start.threshold) });
    const labels = h("textarea", { rows: "3", class: "mono", spellcheck: false, placeholder: "team=api" });
    labels.value = pairsText(start.labels);
    const annotations = h("textarea", { rows: "3", class: "mono", spellcheck: false, placeholder: "runbook=https://…" });
    annotations.value = pairsText(start.annotations);
    const enabled = h("input", { type: "checkbox", checked: start.enabled !== false });
    this.enabled = enabled;

    this.verdict = h("p", { class: "verdict muted", id: "rule-verdict" }, "Not checked yet.");
    this.caret = h("pre", { class: "caret", hidden: true, "aria-hidden": "true" });
    this.summary = h("p", { class: "summary", hidden: true });
    this.preview = h("p", { class: "preview muted", hidden: true });
    this.saveButton = h("button", { type: "submit", class: "primary", dataset: { needs: "admin" } }, "Save rule");
    const title = rule ? `Edit rule ${rule.name}` : "New rule";
    const conditions = Object.keys(rule?.conditions ?? {}).length ? h("p", { class: "muted small" }, `Its conditions ${JSON.stringify(rule.conditions)} are kept (set them in a rules file).`) : null;

    this.form = h(
      "form",
      { class: "editor-form", novalidate: true, "aria-labelledby": "rule-editor-title", onsubmit: (event) => { event.preventDefault(); this.save(); } },
      h(
        "div",
        { class: "editor-grid" },
        field("name", "Name", name, rule ? h("span", { class: "muted small" }, "A rule's name cannot change.") : null),
        field("severity", "Severity", severity),
        field("description", "Description", h("input", { type: "text", autocomplete: "off", value: start.description ?? "" })),
        field("query", "Query (a filter of the query language)", query, conditions),
        field("threshold", "Threshold (matching logs)", threshold),
        durationField("time_window", "Time window", start.time_window),
        durationField("cooldown", "Cooldown", start.cooldown),
        h("div", { class: "field field-enabled" }, h("label", { class: "check" }, enabled, " Enabled")),
        field("labels", "Labels (key=value, one a line)", labels),
        field("annotations", "Annotations (key=value, one a line)", annotations),
      ),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => this.onClose() }, "Cancel"), this.saveButton),
    );
    this.element = h(
      "section",
      { class: "rule-editor panel", "aria-labelledby": "rule-editor-title" },
      h("h2", { id: "rule-editor-title" }, title),
      h(
        "div",
        { class: "editor-body" },
        this.form,
        h("aside", { class: "editor-feedback", "aria-label": "Rule check" }, h("h3", {}, "Check"), h("div", { "aria-live": "polite" }, this.verdict, this.caret, this.summary, this.preview)),
      ),
    );
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.preventDefault();
        this.onClose();
      }
    });
    const later = debounce(() => this.element.isConnected && this.check(), CHECK_DELAY_MS);
    this.form.addEventListener("input", later);
    this.form.addEventListener("change", later);
    if (start.name || start.query) this.check();
  }

  focus() {
    (this.original ? this.fields.query : this.fields.name.value ? this.fields.query : this.fields.name).focus();
  }

  /** The rule the form holds, or {problem, field} for what only the page can tell (a duration unread). */
  collect() {
    const f = this.fields;
    const rule = { name: f.name.value.trim(), description: f.description.value.trim(), severity: f.severity.value, enabled: this.enabled.checked };
    const query = f.query.value.trim();
    if (query) rule.query = query;
    if (this.original && Object.keys(this.original.conditions ?? {}).length) rule.conditions = this.original.conditions;
    rule.threshold = f.threshold.value === "" ? null : Number(f.threshold.value);
    for (const key of ["time_window", "cooldown"]) {
      const seconds = parseDuration(f[key].value);
      if (seconds === null) return { problem: `${key}: expected seconds or a duration like 30s, 5m, 1h, got "${f[key].value}"`, field: key };
      rule[key] = seconds;
    }
    for (const key of ["labels", "annotations"]) {
      try {
        const pairs = parsePairs(f[key].value);
        if (Object.keys(pairs).length) rule[key] = pairs;
      } catch (error) {
        return { problem: `${key}: ${error.message}`, field: key };
      }
    }
    if (!rule.name) return { problem: "name: a rule needs a name", field: "name" };
    if (!this.original && this.taken.has(rule.name)) return { problem: `name: a rule named ${rule.name} exists already (edit it instead)`, field: "name" };
    return { rule };
  }

  /** Ask the API whether the form's rule is valid; resolves to the checked rule, or null (shown). */
  async check() {
    const serial = ++this.checkSerial;
    const { rule, problem, field } = this.collect();
    if (!rule) {
      this.show(problem, field);
      return null;
    }
    this.checking?.abort();
    const controller = new AbortController();
    this.checking = controller;
    let answer;
    try {
      answer = await request("POST", "/api/v1/rules/_validate", { body: rule, signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return null;
      if (serial === this.checkSerial) this.show(error.message, null);
      return null;
    }
    if (serial !== this.checkSerial) return null;
    if (!answer.valid) {
      this.show(answer.error, fieldOf(answer.error), rule.query);
      return null;
    }
    this.show(null);
    this.summary.hidden = false;
    this.summary.textContent = describe(answer.rule ?? rule);
    this.showPreview(rule, serial);
    return rule;
  }

  /** How many logs the rule's query matches in its window now (not for dict conditions: the search
   * API takes query text only). */
  async showPreview(rule, serial) {
    this.preview.hidden = true;
    if (rule.conditions) return;
    const now = Date.now() / 1000;
    let answer;
    try {
      answer = await request("GET", "/api/v1/search", { params: { q: rule.query || "*", start: (now - rule.time_window).toFixed(3), end: now.toFixed(3), limit: 1 }, signal: this.checking?.signal });
    } catch (error) {
      if (error instanceof ApiError || error.name === "AbortError") return; // a hint only: the check said what matters
      throw error;
    }
    if (serial !== this.checkSerial) return;
    const would = answer.total >= rule.threshold ? "it would fire now" : "it would not fire now";
    this.preview.textContent = `Now: ${answer.total} matching logs in the last ${durationText(rule.time_window)}; ${would}.`;
    this.preview.hidden = false;
  }

  /** Show a problem (null: the rule is valid) and mark the field it names. */
  show(problem, field = null, query = "") {
    for (const [key, control] of Object.entries(this.fields)) {
      if (key === field) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
      if (key === field) control.setAttribute("aria-errormessage", "rule-verdict");
      else control.removeAttribute("aria-errormessage");
    }
    this.summary.hidden = true;
    this.preview.hidden = true;
    this.verdict.className = problem ? "verdict error" : "verdict ok";
    this.verdict.textContent = problem ? String(problem).replace(/^request body: /, "") : "The rule is valid.";
    const at = field === "query" && problem ? /\bat (\d+)\b/.exec(problem) : null;
    this.caret.hidden = !at;
    if (at) this.caret.textContent = `${query}\n${" ".repeat(Math.min(Number(at[1]), query.length))}^`;
  }

  /** Check, then save; the rule stays in the form when it is not valid or the save fails. */
  async save() {
    if (!this.app.can("admin")) return;
    this.saveButton.dataset.busy = "true";
    this.saveButton.disabled = true;
    try {
      const rule = await this.check();
      if (!rule) return;
      const saved = await request("PUT", `/api/v1/rules/${encodeURIComponent(rule.name)}`, { body: rule });
      this.onSaved(saved);
    } catch (error) {
      this.show(error instanceof ApiError ? error.message : String(error), null);
    } finally {
      delete this.saveButton.dataset.busy;
      this.saveButton.disabled = !this.app.can("admin");
    }
  }
}

/** The rule in words: when it fires and how long it then waits. */
function describe(rule) {
  const what = rule.query ? `matching ${rule.query}` : "matching its conditions";
  const wait = rule.cooldown ? `then waits ${durationText(rule.cooldown)} (${rule.cooldown} s) before firing again` : "may fire again at once";
  const off = rule.enabled === false ? " It is saved disabled." : "";
  return `Fires (${rule.severity}) when ${rule.threshold} or more logs ${what} fall within ${durationText(rule.time_window)} (${rule.time_window} s); ${wait}.${off}`;
}

function fieldOf(error) {
  const text = String(error || "").replace(/^request body: (rule '[^']*': )?/, "");
  for (const [word, key] of FIELD_WORDS) if (text.includes(`${word}:`) || text.includes(`field ${word}`) || text.startsWith(`${word} `)) return key;
  return null;
}
