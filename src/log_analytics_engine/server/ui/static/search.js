// Placeholder until the search view lands: the shell's tests mount it.
import { h } from "./dom.js";

export function mount(root) {
  root.append(h("section", { class: "placeholder" }, h("h1", {}, "Search")));
}
