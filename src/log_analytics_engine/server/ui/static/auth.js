// What the session may do: the server says whether keys are required and which scopes the presented
// key holds (GET /api/v1/access, which answers 200 either way). Without a valid key the page asks for
// one; views disable what the key's scopes do not allow and listen for "la:access" to redraw.
import { forgetKey, get, getKey, setKey } from "./api.js";

let state = { keys_required: false, key: null, scopes: [] };

/** Whether the session's key holds `scope`. */
export const can = (scope) => state.scopes.includes(scope);
export const access = () => state;

/** Why an action is disabled, for its title: "needs the admin scope". */
export const needs = (scope) => (can(scope) ? "" : `needs the ${scope} scope (key ${state.key ?? "none"})`);

// A key is sent in a header, which holds printable ASCII only (fetch refuses anything else).
const PRINTABLE = /^[\x21-\x7e]+$/;
let asking = null; // the open key dialog's promise: a burst of refusals opens one dialog

async function refresh() {
  try {
    state = await get("/api/v1/access");
  } catch (error) {
    if (!(error instanceof TypeError) || !getKey()) throw error;
    forgetKey(); // a stored key the browser cannot send (not ASCII): ask again instead
    state = await get("/api/v1/access");
  }
  const who = document.getElementById("who");
  const button = document.getElementById("key-button");
  button.hidden = !state.keys_required;
  who.textContent = state.keys_required && state.key ? `key ${state.key}: ${state.scopes.join(", ") || "no scopes"}` : "";
  dispatchEvent(new CustomEvent("la:access", { detail: state }));
}

/** Ask for a key until a valid one is given (resolves then). Escape closes the dialog only when the
 * session already has a valid key (changing keys is optional; having one is not). */
export function askKey(message = "") {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const error = document.getElementById("key-error");
  error.textContent = message;
  input.value = "";
  asking = new Promise((resolve) => {
    const done = () => {
      form.removeEventListener("submit", submit);
      dialog.removeEventListener("cancel", cancel);
      dialog.close();
      asking = null;
      resolve(state);
    };
    const cancel = (event) => {
      if (state.keys_required && !state.key) event.preventDefault();
      else done();
    };
    const submit = async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!PRINTABLE.test(key)) {
        error.textContent = "An API key is printable ASCII, without spaces.";
        input.select();
        return;
      }
      setKey(key);
      await refresh();
      if (!state.key) {
        error.textContent = state.problem || "That key is not valid here.";
        input.select();
        return;
      }
      done();
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", cancel);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return asking;
}

/** Learn the session's access, asking for a key first when the server needs one. */
export async function start() {
  document.getElementById("key-button").addEventListener("click", () => askKey());
  document.getElementById("key-forget").addEventListener("click", async () => {
    forgetKey();
    await refresh();
    document.getElementById("key-input").value = "";
  });
  // a key refused later (removed from the server's config): ask again
  addEventListener("la:unauthorized", () => askKey("The server no longer accepts this key."));
  await refresh();
  if (state.keys_required && !state.key) await askKey(getKey() ? "That key is not valid here." : "");
}
