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

async function refresh() {
  state = await get("/api/v1/access");
  const who = document.getElementById("who");
  const button = document.getElementById("key-button");
  button.hidden = !state.keys_required;
  who.textContent = state.keys_required && state.key ? `key ${state.key}: ${state.scopes.join(", ") || "no scopes"}` : "";
  dispatchEvent(new CustomEvent("la:access", { detail: state }));
}

/** Ask for a key until a valid one is given (resolves then). */
export function askKey(message = "") {
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const error = document.getElementById("key-error");
  error.textContent = message;
  input.value = "";
  return new Promise((resolve) => {
    const submit = async (event) => {
      event.preventDefault();
      setKey(input.value.trim());
      await refresh();
      if (!state.key) {
        error.textContent = state.problem || "That key is not valid here.";
        input.select();
        return;
      }
      form.removeEventListener("submit", submit);
      dialog.close();
      resolve(state);
    };
    form.addEventListener("submit", submit);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
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
