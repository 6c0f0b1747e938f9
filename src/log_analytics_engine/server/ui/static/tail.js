// Live tail over GET /api/v1/tail: fetch() streaming (EventSource cannot send the key's header),
// Server-Sent Events parsed here, logs handed over once per animation frame (newest first), a
// rate over the last seconds, and pause: logs kept aside up to a cap, the oldest dropped beyond it.
import { apiUrl, authHeaders } from "./api.js";

export const BUFFER_CAP = 10_000;
const RATE_WINDOW_MS = 5000;
const HIDDEN_FLUSH_MS = 250; // how often a hidden tab hands logs over (it runs no animation frames)

/** Each event of an SSE body: `onEvent(name, data)` (a comment line as `onEvent(":", text)`);
 * resolves when the stream ends. */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line) continue;
        if (line.startsWith(":")) {
          onEvent(":", line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const content = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = content;
        else if (field === "data") data.push(content);
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

/** A running tail of `q`: `deliver(logs)` per frame with the new logs newest first (not while
 * paused), `status({count, rate, paused, buffered, dropped, live})` a few times a second (`live` once
 * the server has taken its starting position: logs stored from then on are streamed),
 * `failed(error)` (the stream failed or the server ended it). Logs not yet handed over are capped at
 * BUFFER_CAP too (a hidden tab runs no animation frames: they are handed over by a timer then). */
export function startTail(q, { deliver, status, failed }) {
  const controller = new AbortController();
  let stopped = false;
  let live = false;
  let pending = [];
  let buffered = [];
  let paused = false;
  let dropped = 0;
  let count = 0;
  let frame = 0;
  const arrivals = []; // [time, n] per frame, for the rate
  const state = () => {
    const now = performance.now();
    while (arrivals.length && arrivals[0][0] < now - RATE_WINDOW_MS) arrivals.shift();
    const recent = arrivals.reduce((sum, [, n]) => sum + n, 0);
    const span = Math.min(RATE_WINDOW_MS, now - started) / 1000;
    return { count, rate: span > 0 ? recent / span : 0, paused, buffered: buffered.length, dropped, live };
  };
  const started = performance.now();
  const timer = setInterval(() => status(state()), 500);

  function flush() {
    frame = 0;
    if (stopped) return;
    const logs = pending;
    pending = [];
    arrivals.push([performance.now(), logs.length]);
    count += logs.length;
    if (paused) {
      buffered.push(...logs);
      if (buffered.length > BUFFER_CAP) {
        dropped += buffered.length - BUFFER_CAP;
        buffered = buffered.slice(-BUFFER_CAP);
      }
    } else deliver(logs.reverse());
  }

  (async () => {
    try {
      const answer = await fetch(apiUrl("/api/v1/tail", q ? { q } : {}), { headers: authHeaders(), signal: controller.signal });
      if (!answer.ok) {
        const body = await answer.json().catch(() => null);
        throw new Error(body?.detail ? `${body.detail} (HTTP ${answer.status})` : `HTTP ${answer.status}`);
      }
      await readEvents(answer.body, (name, data) => {
        if (stopped) return;
        if (name === ":" && data === "tailing") {
          live = true; // the server's starting position is taken
          status(state());
        }
        if (name !== "log") return;
        pending.push(JSON.parse(data));
        if (pending.length > BUFFER_CAP) {
          dropped += pending.length - BUFFER_CAP;
          pending = pending.slice(-BUFFER_CAP);
        }
        frame ||= document.hidden ? setTimeout(flush, HIDDEN_FLUSH_MS) : requestAnimationFrame(flush);
      });
      if (!stopped) failed(new Error("the server ended the stream"));
    } catch (error) {
      if (error.name !== "AbortError" && !stopped) failed(error);
    }
  })();

  return {
    pause() {
      paused = true;
      status(state());
    },
    resume() {
      paused = false;
      const logs = buffered;
      buffered = [];
      if (logs.length) deliver(logs.reverse());
      status(state());
    },
    stop() {
      stopped = true;
      controller.abort();
      clearInterval(timer);
      cancelAnimationFrame(frame);
      clearTimeout(frame);
    },
    state,
  };
}
