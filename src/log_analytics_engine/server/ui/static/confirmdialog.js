// A yes/no question in a modal <dialog> (not window.confirm: the page keeps its look, and a test can
// answer it). Escape or Cancel answers no.
import { h } from "./dom.js";

let serial = 0;

/** Ask `question` (with `detail` below it) in a dialog placed in `root`; resolves true for `yes`. */
export function confirmDialog(root, { title, question, detail = "", yes = "OK", danger = false }) {
  const id = `confirm-title-${++serial}`;
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": id, "aria-describedby": `${id}-text` });
  const answer = (value) => () => {
    dialog.returnValue = value;
    dialog.close();
  };
  const noButton = h("button", { type: "button", onclick: answer("no") }, "Cancel");
  const yesButton = h("button", { type: "button", class: danger ? "primary danger-fill" : "primary", onclick: answer("yes") }, yes);
  dialog.append(
    h(
      "div",
      { class: "confirm-body" },
      h("h2", { id }, title),
      h("p", { id: `${id}-text` }, question),
      detail ? h("p", { class: "muted" }, detail) : null,
      h("div", { class: "actions" }, noButton, yesButton),
    ),
  );
  root.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    dialog.showModal();
    (danger ? noButton : yesButton).focus(); // a destructive answer is never the default
  });
}
