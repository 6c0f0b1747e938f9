// The fields sidebar (GET /api/v1/fields): each field of the matching logs with how many have it and
// its top values; a value adds `field:"value"` (or, with "−", its negation) to the query, and a
// checkbox makes the field a column of the results table.
import { formatCount, h } from "./dom.js";
import { valueText } from "./results.js";
import { fieldClause } from "./terms.js";

const OPEN_AT_FIRST = ["level", "source"];

/** The sidebar: `onClause(text)` when a value is picked, `onColumns(names)` when columns change. */
export function fieldsSidebar({ onClause, onColumns }) {
  const list = h("ul", { class: "field-list" });
  const note = h("p", { class: "muted field-note" });
  const filter = h("input", { type: "search", placeholder: "Filter fields", "aria-label": "Filter field names", class: "field-filter" });
  const el = h("aside", { class: "fields-sidebar", id: "fields-sidebar", "aria-label": "Fields" }, h("h2", {}, "Fields"), filter, note, list);
  const opened = new Set(OPEN_AT_FIRST);
  let columns = [];

  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    for (const item of list.children) item.hidden = Boolean(text) && !item.dataset.field.toLowerCase().includes(text);
  });

  function valueItem(field, value, count, sampled) {
    const shown = valueText(value);
    const pick = h(
      "button",
      { type: "button", class: "field-value", title: `Filter for ${field.name}: ${shown}`, onclick: () => onClause(fieldClause(field.query, value)) },
      h("span", { class: "value-text" }, shown === "" ? "(empty)" : shown),
      h("span", { class: "value-count" }, formatCount(count)),
    );
    const bar = h("span", { class: "value-bar" });
    bar.style.width = `${sampled ? Math.max(2, (count / sampled) * 100) : 0}%`;
    const exclude = h(
      "button",
      { type: "button", class: "field-exclude", title: `Filter out ${field.name}: ${shown}`, "aria-label": `Filter out ${field.name}: ${shown}`, onclick: () => onClause(fieldClause(field.query, value, true)) },
      "−",
    );
    return h("li", { class: "field-value-item" }, pick, exclude, bar);
  }

  function fieldItem(field, sampled) {
    const id = `col-${field.name.replace(/[^\w-]/g, "_")}`;
    const box = h("input", { type: "checkbox", id, checked: columns.includes(field.name), "aria-label": `Show ${field.name} as a column` });
    box.addEventListener("change", () => {
      columns = box.checked ? [...columns, field.name] : columns.filter((name) => name !== field.name);
      onColumns(columns);
    });
    const details = h(
      "details",
      { open: opened.has(field.name) },
      h("summary", {}, h("span", { class: "field-name" }, field.name), h("span", { class: "field-count", title: "logs with this field, of those sampled" }, formatCount(field.count))),
      h("ul", { class: "field-values" }, field.top.map(([value, count]) => valueItem(field, value, count, sampled))),
    );
    details.addEventListener("toggle", () => (details.open ? opened.add(field.name) : opened.delete(field.name)));
    return h("li", { class: "field-item", dataset: { field: field.name } }, h("div", { class: "field-head" }, box, details));
  }

  return {
    el,
    show(answer, names) {
      columns = [...names];
      note.textContent = answer.fields.length ? `${formatCount(answer.fields.length)} fields in ${formatCount(answer.sampled)} logs${answer.sampled >= 10_000 ? " (the newest)" : ""}` : "No fields.";
      list.replaceChildren(...answer.fields.map((field) => fieldItem(field, answer.sampled)));
      filter.dispatchEvent(new Event("input"));
    },
    setColumns(names) {
      columns = [...names];
      for (const box of list.querySelectorAll("input[type=checkbox]")) box.checked = columns.includes(box.closest(".field-item").dataset.field);
    },
    loading() {
      note.textContent = "Loading…";
    },
  };
}
