// The function view's day-two cards: the config editor (a JSON merge patch of the active
// config: a new version with the same module), secrets (names only; values go in, never
// out), and the traffic split between versions.

import { api, errorOf, fnPath, json } from "../api.js";
import { $, el, fmtTime, guard, say } from "../dom.js";
import { state } from "../state.js";

/** The merge patch that turns config `from` into `to`: changed fields, nulls for removed ones. */
export function patchBetween(from, to) {
  const patch = {};
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    const [a, b] = [from[key], to[key]];
    if (!(key in to)) patch[key] = null;
    else if (isObject(a) && isObject(b)) {
      const inner = patchBetween(a, b);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(a) !== JSON.stringify(b)) patch[key] = b;
  }
  return patch;
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function showError(field, message) {
  $(`[data-error-for=${field}]`).textContent = message ?? "";
}

async function saveConfig(rerender) {
  const name = state.current;
  showError("config-editor", "");
  let edited;
  try {
    edited = JSON.parse($("#config-editor").value);
  } catch (e) {
    showError("config-editor", `Not JSON: ${e.message}`);
    return;
  }
  const patch = patchBetween(state.config ?? {}, edited);
  if (!Object.keys(patch).length) {
    say("No change to save.");
    return;
  }
  try {
    const saved = await json("PATCH", fnPath(name, "/config"), patch);
    say(`${name}: config saved as version ${saved.version}.`);
  } catch (e) {
    const field = e.error?.field ? `${e.error.field}: ` : "";
    showError("config-editor", `${field}${e.message}`);
    return;
  }
  await rerender(name);
}

async function renderSecrets(name) {
  const { secrets } = await json("GET", fnPath(name, "/secrets"));
  const rows = secrets.map((s) => {
    const remove = async () => {
      if (!confirm(`Delete secret ${s.name} of ${name}?`)) return;
      await json("DELETE", fnPath(name, `/secrets/${encodeURIComponent(s.name)}`));
      say(`Deleted secret ${s.name}.`);
      await renderSecrets(name);
    };
    const button = el("button", { type: "button", className: "danger", textContent: "Delete", onclick: guard(remove) });
    return el("tr", {}, el("td", { textContent: s.name }), el("td", { textContent: fmtTime(s.updated_at) }), el("td", {}, button));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 3, textContent: "No secrets." })));
  $("#secrets tbody").replaceChildren(...rows);
}

async function setSecret(event) {
  event.preventDefault();
  const name = state.current;
  const [key, value] = [$("#secret-name").value.trim(), $("#secret-value").value];
  showError("secret", "");
  const answer = await api("PUT", fnPath(name, `/secrets/${encodeURIComponent(key)}`), { body: value, contentType: "text/plain" });
  if (!answer.ok) {
    showError("secret", errorOf(answer)?.message ?? `HTTP ${answer.status}`);
    return;
  }
  $("#secret-form").reset();
  say(`Secret ${key} set for ${name}.`);
  await renderSecrets(name);
}

function renderTraffic(detail) {
  const t = detail.traffic;
  $("#traffic-now").textContent = t
    ? `${Object.entries(t.weights).map(([v, w]) => `version ${v}: ${w}%`).join(", ")}${t.sticky ? " (sticky per request id)" : ""}`
    : `Every call goes to the active version (${detail.version}).`;
  $("#traffic-clear").hidden = !t;
}

async function setTraffic(event, rerender) {
  event.preventDefault();
  const name = state.current;
  showError("traffic", "");
  const weights = {};
  for (const line of $("#traffic-weights").value.split(/\n|,/)) {
    const [v, w] = line.split("=").map((x) => x?.trim());
    if (v) weights[v] = Number(w);
  }
  try {
    await json("PUT", fnPath(name, "/traffic"), { weights, sticky: $("#traffic-sticky").checked });
  } catch (e) {
    showError("traffic", e.message);
    return;
  }
  say(`${name}: traffic split.`);
  await rerender(name);
}

async function clearTraffic(rerender) {
  await json("DELETE", fnPath(state.current, "/traffic"));
  say(`${state.current}: every call to the active version.`);
  await rerender(state.current);
}

export function setup(rerender) {
  $("#config-save").addEventListener("click", guard(() => saveConfig(rerender)));
  $("#secret-form").addEventListener("submit", guard(setSecret));
  $("#traffic-form").addEventListener("submit", guard((e) => setTraffic(e, rerender)));
  $("#traffic-clear").addEventListener("click", guard(() => clearTraffic(rerender)));
}

export async function render(detail) {
  state.config = detail.config ?? {};
  $("#config-editor").value = JSON.stringify(state.config, null, 2);
  showError("config-editor", "");
  renderTraffic(detail);
  await renderSecrets(detail.name);
}
