// One function: summary, invoke console, charts, faults and versions, refreshed every 3 s; a
// live log tail (tail.js); config, secrets and traffic (manage.js).

import { api, errorOf, fnPath, json } from "../api.js";
import { bucketize, drawChart } from "../charts.js";
import { $, cell, el, fmtBytes, fmtTime, fmtUs, guard, say, words } from "../dom.js";
import { state } from "../state.js";
import * as manage from "./manage.js";
import * as tail from "./tail.js";

const REFRESH_MS = 3000;

function summary(d) {
  const h = d.last_hour;
  return `Version ${d.version} · ${fmtBytes(d.size_bytes)} · ${d.public ? "public" : "needs a token"} · last hour: ${h.calls} calls, ${h.errors} errors, p50 ${fmtUs(h.p50_us)}, p99 ${fmtUs(h.p99_us)}`;
}

/** VM faults (each kind, zeros included), traps summed, guest panics: kinds from /api/meta. */
function renderFaults(faults) {
  const kinds = state.meta.fault_kinds;
  const count = (k) => faults[k] ?? 0;
  const shown = [
    ...kinds.vm.map((k) => [words(k), count(k)]),
    ["trap", kinds.trap.reduce((n, k) => n + count(k), 0)],
    ...kinds.guest.map((k) => [words(k), count(k)]),
  ];
  const chips = shown.map(([kind, n]) => el("li", { textContent: `${kind}: ${n}`, className: n > 0 ? "hot" : "" }));
  $("#faults").replaceChildren(...chips);
}

function renderVersions(detail) {
  const rows = detail.versions.map((v) => {
    const action = el("td");
    if (v.active) {
      action.textContent = "active";
    } else {
      const rollback = async () => {
        if (!confirm(`Make version ${v.version} of ${detail.name} active?`)) return;
        await json("POST", fnPath(detail.name, "/rollback"), { version: v.version });
        say(`${detail.name} rolled back to version ${v.version}.`);
        await render(detail.name);
      };
      action.append(el("button", { type: "button", textContent: `Roll back to ${v.version}`, onclick: guard(rollback) }));
    }
    return el("tr", {}, cell(v.version), cell(fmtTime(v.created_at)), cell(v.sha256.slice(0, 12)), action);
  });
  $("#versions tbody").replaceChildren(...rows);
}

async function refresh(name) {
  const now = Date.now();
  const [detail, inv] = await Promise.all([
    json("GET", fnPath(name)),
    json("GET", fnPath(name, `/invocations?since_ms=${now - 15 * 60_000}&limit=10000`)),
  ]);
  const ok = state.meta.outcome_ok;
  const buckets = bucketize(inv.invocations, now, (r) => r.outcome !== ok);
  drawChart($("#chart-latency"), buckets, [
    { key: "p50", name: "p50", cls: "s1" },
    { key: "p99", name: "p99", cls: "s2" },
  ]);
  drawChart($("#chart-calls"), buckets, [
    { key: "calls", name: "calls", cls: "s1", bars: true, offset: -3 },
    { key: "errors", name: "errors", cls: "s3", bars: true, offset: 3 },
  ]);
  renderFaults(detail.faults ?? {});
  $("#fn-summary").textContent = summary(detail);
  return detail;
}

async function onInvoke(event) {
  event.preventDefault();
  const name = state.current;
  const route = $("#invoke-path").value;
  const method = route ? $("#invoke-method").value : "POST";
  const path = route || fnPath(name, "/invoke");
  const body = ["GET", "HEAD"].includes(method) ? undefined : $("#invoke-body").value;
  say(`Invoking ${name}…`);
  const answer = await api(method, path, { body });
  let stdout = answer.text;
  let stderr = "";
  const error = answer.ok ? null : errorOf(answer);
  if (error) {
    stdout = "";
    stderr = [`${error.code}: ${error.message}`, error.stderr].filter(Boolean).join("\n");
  }
  $("#invoke-result").hidden = false;
  $("#r-status").textContent = `${answer.status} ${answer.statusText}`;
  $("#r-exit").textContent = answer.headers.get("x-flint-exit-code") ?? "–";
  $("#r-duration").textContent = fmtUs(Number(answer.headers.get("x-flint-duration-us")));
  $("#r-version").textContent = answer.headers.get("x-flint-version") ?? "–";
  $("#r-stdout").textContent = stdout;
  $("#r-stderr").textContent = stderr;
  $("#r-headers").textContent = [...answer.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  say(`${name} answered ${answer.status}.`);
  await refresh(name);
}

async function onDelete() {
  const name = state.current;
  if (!confirm(`Delete ${name} and all its versions? This cannot be undone.`)) return;
  await json("DELETE", fnPath(name));
  say(`Deleted ${name}.`);
  location.hash = "#/";
}

export function setup() {
  $("#invoke-form").addEventListener("submit", guard(onInvoke));
  $("#delete").addEventListener("click", guard(onDelete));
  manage.setup(render);
}

export async function render(name) {
  state.current = name;
  const detail = await refresh(name);
  $("#fn-title").textContent = name;
  const routes = detail.routes ?? [];
  $("#route-fields").hidden = routes.length === 0;
  $("#invoke-path").replaceChildren(
    el("option", { value: "", textContent: `POST /functions/${name}/invoke` }),
    ...routes.map((r) => el("option", { value: r, textContent: r })),
  );
  renderVersions(detail);
  await manage.render(detail);
  if (state.tailing !== name) {
    state.tailing = name;
    tail.start(name);
  }
  clearInterval(state.refreshTimer);
  state.refreshTimer = setInterval(guard(() => refresh(name)), REFRESH_MS);
}
