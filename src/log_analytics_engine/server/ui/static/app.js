// The page's shell: learns the session's access, then draws the view of the URL's path. A view is a
// module with `mount(root, app)`, optional `update()` (same view, new URL: back/forward) and
// `unmount()` (stop its streams and timers). Links marked data-nav move between views without a reload.
import * as auth from "./auth.js";
import { toast } from "./dom.js";

const VIEWS = { "/": () => import("./search.js"), "/alerts": () => import("./alerts.js") };
let current = null;
let currentPath = null;
let routing = 0;

/** Go to `url` (same origin) and draw its view; `replace` keeps the history entry. */
export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.origin);
  if (target.href !== location.href) history[replace ? "replaceState" : "pushState"](null, "", target);
  return route();
}

const app = { navigate, can: auth.can, needs: auth.needs, access: auth.access, toast };

async function route() {
  const path = location.pathname in VIEWS ? location.pathname : "/";
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    link.toggleAttribute("aria-current", link.dataset.view === path);
    if (link.dataset.view === path) link.setAttribute("aria-current", "page");
  }
  if (path === currentPath && current?.update) return current.update();
  const turn = ++routing; // a later navigation supersedes this one while its module loads
  current?.unmount?.();
  current = null;
  currentPath = null;
  const root = document.getElementById("view");
  root.replaceChildren();
  const view = await VIEWS[path]();
  if (turn !== routing) return;
  current = view;
  currentPath = path;
  await view.mount(root, app);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.href);
});
addEventListener("popstate", () => route());

await auth.start();
await route();
document.body.dataset.ready = "true";
