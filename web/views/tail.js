// The function view's live log tail: the server's server-sent events (GET .../logs?follow=true)
// read with fetch, since EventSource cannot send the Authorization header. One tail at a time;
// leaving the view stops it.

import { fnPath } from "../api.js";
import { $, el } from "../dom.js";
import { state } from "../state.js";

/** Lines kept on screen. */
const KEEP = 200;

function line(l) {
  return el(
    "li",
    { className: `level-${l.level}`, title: `request ${l.request_id ?? "-"}` },
    el("time", { dateTime: new Date(l.at).toISOString(), textContent: new Date(l.at).toLocaleTimeString() }),
    el("span", { className: "level", textContent: l.level }),
    ` ${l.stream === "stderr" ? "[stderr] " : ""}${l.message}`,
  );
}

function show(l) {
  const list = $("#logs");
  list.querySelector(".placeholder")?.remove();
  list.prepend(line(l));
  while (list.children.length > KEEP) list.lastElementChild.remove();
}

/** Stops the tail on screen, if any. */
export function stop() {
  state.tail?.abort();
  state.tail = null;
}

/** Tails `name`'s logs into the list: the newest 50 lines, then every new one. */
export async function start(name) {
  stop();
  const tail = new AbortController();
  state.tail = tail;
  $("#logs").replaceChildren(el("li", { className: "placeholder", textContent: "No logs yet." }));
  $("#tail-state").textContent = "live";
  try {
    const response = await fetch(fnPath(name, "/logs?follow=true&limit=50"), {
      headers: { Authorization: `Bearer ${state.token}` },
      signal: tail.signal,
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      const events = pending.split("\n\n");
      pending = events.pop();
      for (const event of events) {
        const data = event.split("\n").find((f) => f.startsWith("data:"));
        if (data) show(JSON.parse(data.slice(5)));
      }
    }
  } catch (e) {
    if (tail.signal.aborted) return;
    $("#tail-state").textContent = `stopped (${e.message})`;
    return;
  }
  if (!tail.signal.aborted) $("#tail-state").textContent = "stopped";
}
