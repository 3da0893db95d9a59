// The list of functions with their last hour of calls.

import { json } from "../api.js";
import { $, cell, el, fmtBytes, fmtUs, say } from "../dom.js";

export function setup() {}

export async function render() {
  const { functions } = await json("GET", "/functions");
  const rows = functions.map((f) =>
    el(
      "tr",
      {},
      el("td", {}, el("a", { href: `#/functions/${encodeURIComponent(f.name)}`, textContent: f.name })),
      cell(f.version ?? "–"),
      cell(fmtBytes(f.size_bytes)),
      cell(f.public ? "public" : "token"),
      cell((f.routes ?? []).join(" ") || "–"),
      cell(f.last_hour.calls),
      cell(f.last_hour.errors),
      cell(fmtUs(f.last_hour.p50_us)),
      cell(fmtUs(f.last_hour.p99_us)),
    ),
  );
  $("#functions tbody").replaceChildren(...rows);
  $("#empty").hidden = functions.length > 0;
  say(`${functions.length} function${functions.length === 1 ? "" : "s"}`);
}
