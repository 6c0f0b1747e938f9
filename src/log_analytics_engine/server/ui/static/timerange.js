// The time range picker: relative presets (last 5 minutes … 30 days), "last N" typed (45m, 3h, 2d),
// all time, or absolute from/to (datetime-local inputs read as UTC). A choice calls `onChange`.
import { formatTime, h } from "./dom.js";
import { PRESETS, durationLabel, durationMs, isoSeconds } from "./urlstate.js";

const localValue = (iso) => new Date(iso).toISOString().slice(0, 19); // datetime-local, UTC
const fromLocal = (value) => (value ? Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`) : Number.NaN);

/** The label of a range: "Last 15 minutes", "All time" or "from → to". */
export function rangeLabel(state) {
  if (state.from && state.to) return `${formatTime(state.from).slice(0, 19)} → ${formatTime(state.to).slice(0, 19)}`;
  return state.last === "all" ? "All time" : durationLabel(state.last);
}

/** The picker; `onChange({last} | {from, to})` with the chosen range. */
export function timeRange({ onChange }) {
  const button = h("button", { type: "button", class: "range-button", "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "range-panel" });
  const lastInput = h("input", { id: "range-last", type: "text", placeholder: "45m, 3h, 2d", size: 8, autocomplete: "off" });
  const fromInput = h("input", { id: "range-from", type: "datetime-local", step: 1 });
  const toInput = h("input", { id: "range-to", type: "datetime-local", step: 1 });
  const problem = h("p", { class: "error range-error", role: "alert" });
  const choose = (range) => {
    close();
    onChange(range);
  };
  const presets = h(
    "ul",
    { class: "range-presets", "aria-label": "Relative ranges" },
    [...PRESETS, "all"].map((last) =>
      h("li", {}, h("button", { type: "button", dataset: { last }, onclick: () => choose({ last }) }, last === "all" ? "All time" : durationLabel(last))),
    ),
  );
  const lastForm = h(
    "form",
    { class: "range-last" },
    h("label", { for: "range-last" }, "Last"),
    lastInput,
    h("button", { type: "submit" }, "Apply"),
  );
  lastForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = lastInput.value.trim().toLowerCase();
    if (!durationMs(text)) problem.textContent = `"${lastInput.value}" is not a duration: a number and s, m, h, d or w (45m, 3h, 2d)`;
    else choose({ last: text.replace(/\s+/g, "") });
  });
  const absoluteForm = h(
    "form",
    { class: "range-absolute" },
    h("label", { for: "range-from" }, "From (UTC)"),
    fromInput,
    h("label", { for: "range-to" }, "To (UTC)"),
    toInput,
    h("button", { type: "submit" }, "Apply"),
  );
  absoluteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const from = fromLocal(fromInput.value);
    const to = fromLocal(toInput.value);
    if (Number.isNaN(from) || Number.isNaN(to)) problem.textContent = "Give both times.";
    else if (to <= from) problem.textContent = "The end must be after the start.";
    else choose({ from: isoSeconds(from), to: isoSeconds(to) });
  });
  const panel = h("div", { id: "range-panel", class: "range-panel", role: "dialog", "aria-label": "Time range", hidden: true }, presets, lastForm, absoluteForm, problem);
  const el = h("div", { class: "range-picker" }, h("span", { class: "visually-hidden", id: "range-title" }, "Time range"), button, panel);
  button.setAttribute("aria-describedby", "range-title");

  function open() {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    problem.textContent = "";
    (panel.querySelector('button[aria-current="true"]') || panel.querySelector("button")).focus();
  }
  function close(refocus = false) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus) button.focus();
  }
  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close(true);
    }
  });
  const outside = (event) => {
    if (!panel.hidden && !el.contains(event.target)) close();
  };
  document.addEventListener("pointerdown", outside);

  return {
    el,
    set(state) {
      button.textContent = rangeLabel(state);
      button.setAttribute("aria-label", `Time range: ${rangeLabel(state)}`);
      for (const preset of presets.querySelectorAll("button")) preset.setAttribute("aria-current", String(!state.from && preset.dataset.last === state.last));
      if (state.from && state.to) {
        fromInput.value = localValue(state.from);
        toInput.value = localValue(state.to);
      }
      if (state.last && !PRESETS.includes(state.last) && state.last !== "all") lastInput.value = state.last;
    },
    destroy: () => document.removeEventListener("pointerdown", outside),
  };
}
