// The query box: Enter runs the query; a syntax error (from GET /api/v1/validate) is shown under
// it with a caret at its position and what was expected there.
import { h } from "./dom.js";

/** The box; `onRun(text)` when the query is submitted. */
export function queryBox({ onRun }) {
  const input = h("input", {
    id: "query",
    type: "text",
    class: "query-input",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: 'error source:api "connection refused" -level:DEBUG | stats by (_time:5m) count()',
    "aria-describedby": "query-error",
  });
  const error = h("div", { id: "query-error", class: "query-error", role: "alert", "aria-live": "assertive" });
  const form = h(
    "form",
    { class: "query-form", role: "search" },
    h("label", { for: "query", class: "visually-hidden" }, "Query"),
    input,
    h("button", { type: "submit", class: "primary" }, "Run"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onRun(input.value.trim());
  });
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid")) showError(null);
  });

  /** A syntax error ({detail, position, expected, found}), other text, or null to clear. */
  function showError(problem) {
    if (!problem) {
      input.removeAttribute("aria-invalid");
      error.replaceChildren();
      return;
    }
    input.setAttribute("aria-invalid", "true");
    if (typeof problem === "string") {
      error.replaceChildren(h("p", { class: "error" }, problem));
      return;
    }
    const text = input.value;
    // the server counts code points; JavaScript strings count UTF-16 units (an emoji is two)
    const units = Array.from(text).slice(0, Math.max(0, problem.position ?? 0)).join("").length;
    const at = Math.min(units, text.length);
    error.replaceChildren(
      h(
        "pre",
        { class: "caret", "aria-hidden": "true" },
        h("span", {}, text.slice(0, at)),
        h("span", { class: "at" }, text.slice(at, at + 1) || " "),
        h("span", {}, text.slice(at + 1)),
        "\n",
        `${" ".repeat(at)}^`,
      ),
      h("p", { class: "error" }, `Syntax error at column ${at + 1}: expected ${problem.expected}, found ${problem.found}`),
    );
  }

  return {
    el: h("div", { class: "query-box" }, form),
    error,
    input,
    showError,
    set: (text) => {
      input.value = text;
    },
    focus() {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    },
  };
}
