// The deploy form: a module and its config, uploaded with progress; the server's field errors
// shown next to their fields. Defaults and bounds come from /api/meta.

import { ApiError, api, errorOf, fnPath } from "../api.js";
import { $, $$, guard, say } from "../dom.js";
import { state } from "../state.js";

const NUMBER_FIELDS = ["memory_limit_mb", "timeout_ms"];

function lines(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

function clearErrors() {
  for (const p of $$("[data-error-for]")) p.textContent = "";
}

function showFieldError(field, message) {
  const key = (field ?? "config").replace(/\[\d+\]$/, "").split(".")[0];
  const target = $(`[data-error-for="${key}"]`) ?? $('[data-error-for="config"]');
  target.textContent = message;
  document.getElementById(key)?.focus();
}

function config() {
  const env = {};
  for (const line of lines($("#env").value)) {
    const at = line.indexOf("=");
    if (at < 1) throw Object.assign(new Error(`"${line}" is not KEY=VALUE`), { field: "env" });
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  const numbers = Object.fromEntries(NUMBER_FIELDS.map((f) => [f, Number($(`#${f}`).value)]));
  return { env, args: lines($("#args").value), routes: lines($("#routes").value), ...numbers, public: $("#public").checked };
}

/** Fills the numeric fields' defaults and bounds from the server's one definition. */
function applyDefaults() {
  const { defaults, bounds } = state.meta.settings;
  for (const f of NUMBER_FIELDS) {
    const input = $(`#${f}`);
    Object.assign(input, { min: bounds[f].min, max: bounds[f].max });
    input.defaultValue = defaults[f];
  }
}

async function onDeploy(event) {
  event.preventDefault();
  clearErrors();
  const name = $("#name").value.trim();
  const file = $("#module").files[0];
  if (!file) return showFieldError("module", "Choose a .wasm file.");
  let settings;
  try {
    settings = config();
  } catch (e) {
    return showFieldError(e.field, e.message);
  }
  const form = new FormData();
  form.append("module", file, file.name);
  form.append("config", JSON.stringify(settings));
  const bar = $("#upload-progress");
  Object.assign(bar, { hidden: false, value: 0 });
  say(`Uploading ${file.name}…`);
  const answer = await api("PUT", fnPath(name), { body: form, progress: (p) => (bar.value = p) }).finally(() => {
    bar.hidden = true;
  });
  if (!answer.ok) {
    const error = errorOf(answer);
    showFieldError(error?.code === "invalid_name" ? "name" : error?.field, error?.message ?? `HTTP ${answer.status}`);
    say("Deploy failed.");
    return;
  }
  const result = JSON.parse(answer.text);
  say(`Deployed ${result.name} version ${result.version}.`);
  location.hash = `#/functions/${encodeURIComponent(result.name)}`;
}

function setupDrop() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (!e.dataTransfer.files.length) return;
    $("#module").files = e.dataTransfer.files;
    const base = e.dataTransfer.files[0].name.replace(/\.wasm$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
    if (!$("#name").value) $("#name").value = base;
  });
}

export function setup() {
  $("#deploy-form").addEventListener("submit", guard(onDeploy));
  setupDrop();
}

export async function render() {
  if (!state.meta) throw new ApiError("the server's defaults are not loaded");
  applyDefaults();
}
