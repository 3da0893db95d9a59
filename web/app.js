// Flint's dashboard: plain ES module, no dependencies, talks only to the public HTTP API.
// Views: sign-in, function list, deploy form, one function (invoke console, charts, logs,
// faults, versions). The token lives in sessionStorage and goes out as a bearer token.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const VIEWS = ["signin", "list", "deploy", "function"];
let refreshTimer = null;

const token = () => sessionStorage.getItem("flint-token");

function say(message) {
  $("#status").textContent = message;
}

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    body,
    headers: { Authorization: `Bearer ${token()}`, ...headers },
  });
  if (response.status === 401) {
    sessionStorage.removeItem("flint-token");
    location.hash = "#/signin";
    throw new Error("Your token was refused; sign in again.");
  }
  return response;
}

async function json(method, path, body) {
  const response = await api(method, path, body, body ? { "Content-Type": "application/json" } : {});
  const data = response.status === 204 ? {} : await response.json();
  if (!response.ok) throw Object.assign(new Error(data.error?.message ?? response.statusText), { error: data.error });
  return data;
}

function show(view) {
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  $("#sign-out").hidden = !token();
  clearInterval(refreshTimer);
}

const fmtBytes = (n) => (n == null ? "–" : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);
const fmtUs = (us) => (us == null ? "–" : us < 1000 ? `${us} µs` : `${(us / 1000).toFixed(1)} ms`);
const fmtTime = (ms) => new Date(ms).toLocaleString();

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function renderList() {
  show("list");
  const { functions } = await json("GET", "/functions");
  const body = $("#functions tbody");
  body.replaceChildren();
  for (const f of functions) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#/functions/${encodeURIComponent(f.name)}`;
    link.textContent = f.name;
    name.append(link);
    tr.append(
      name,
      cell(f.version ?? "–"),
      cell(fmtBytes(f.size_bytes)),
      cell(f.public ? "public" : "token"),
      cell((f.routes ?? []).join(" ") || "–"),
      cell(f.last_hour.calls),
      cell(f.last_hour.errors),
      cell(fmtUs(f.last_hour.p50_us)),
      cell(fmtUs(f.last_hour.p99_us)),
    );
    body.append(tr);
  }
  $("#empty").hidden = functions.length > 0;
  say(`${functions.length} function${functions.length === 1 ? "" : "s"}`);
}

// ---------------------------------------------------------------- deploy

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
  const input = document.getElementById(key);
  if (input) input.focus();
}

function deployForm() {
  const env = {};
  for (const line of lines($("#env").value)) {
    const at = line.indexOf("=");
    if (at < 1) throw Object.assign(new Error(`"${line}" is not KEY=VALUE`), { field: "env" });
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return {
    env,
    args: lines($("#args").value),
    routes: lines($("#routes").value),
    memory_limit_mb: Number($("#memory_limit_mb").value),
    timeout_ms: Number($("#timeout_ms").value),
    public: $("#public").checked,
  };
}

function upload(name, file, config) {
  // XMLHttpRequest, because fetch reports no upload progress.
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("module", file, file.name);
    form.append("config", JSON.stringify(config));
    const xhr = new XMLHttpRequest();
    const bar = $("#upload-progress");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    };
    xhr.onload = () => {
      bar.hidden = true;
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(Object.assign(new Error(data.error?.message ?? `HTTP ${xhr.status}`), { error: data.error }));
    };
    xhr.onerror = () => { bar.hidden = true; reject(new Error("network error")); };
    xhr.open("PUT", `/functions/${encodeURIComponent(name)}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.send(form);
  });
}

async function onDeploy(event) {
  event.preventDefault();
  clearErrors();
  const name = $("#name").value.trim();
  const file = $("#module").files[0];
  if (!file) return showFieldError("module", "Choose a .wasm file.");
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) return showFieldError("name", "Use 1-63 characters a-z, 0-9, - or _.");
  let config;
  try { config = deployForm(); } catch (e) { return showFieldError(e.field, e.message); }
  say(`Uploading ${file.name}…`);
  try {
    const result = await upload(name, file, config);
    say(`Deployed ${result.name} version ${result.version}.`);
    location.hash = `#/functions/${encodeURIComponent(result.name)}`;
  } catch (e) {
    const field = e.error?.code === "invalid_name" ? "name" : e.error?.field;
    showFieldError(field, e.message);
    say("Deploy failed.");
  }
}

function setupDrop() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) {
      $("#module").files = e.dataTransfer.files;
      const base = e.dataTransfer.files[0].name.replace(/\.wasm$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
      if (!$("#name").value) $("#name").value = base;
    }
  });
}

// ---------------------------------------------------------------- one function

let current = null;

function bucketize(records, now, width = 30_000, count = 30) {
  const buckets = Array.from({ length: count }, (_, i) => ({ t: now - (count - i) * width, d: [], errors: 0 }));
  for (const r of records) {
    const i = Math.floor((r.started_at - (now - count * width)) / width);
    if (i < 0 || i >= count) continue;
    buckets[i].d.push(r.duration_us);
    if (r.outcome !== "ok") buckets[i].errors++;
  }
  return buckets.map((b) => {
    const d = b.d.sort((x, y) => x - y);
    const q = (p) => (d.length ? d[Math.round((d.length - 1) * p)] / 1000 : null);
    return { t: b.t, calls: d.length, errors: b.errors, p50: q(0.5), p99: q(0.99) };
  });
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function drawChart(target, buckets, series) {
  const W = 600, H = 160, P = 28;
  const max = Math.max(1e-9, ...buckets.flatMap((b) => series.map((s) => b[s.key] ?? 0)));
  const x = (i) => P + (i * (W - 2 * P)) / Math.max(1, buckets.length - 1);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const label = (x, y, text, anchor = "start") =>
    Object.assign(svg("text", { x, y, class: "label", "text-anchor": anchor }), { textContent: text });
  target.replaceChildren(
    svg("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" }),
    svg("line", { x1: P, y1: P, x2: W - P, y2: P, class: "grid" }),
    label(W - P, P - 4, `max ${Number(max.toPrecision(3))}`, "end"),
    label(P, H - 8, "−15 min"),
    label(W - P, H - 8, "now", "end"),
  );
  for (const s of series) {
    const points = buckets.map((b, i) => [i, b[s.key]]).filter(([, v]) => v != null);
    if (s.bars) {
      for (const [i, v] of points) {
        target.append(svg("rect", { x: x(i) - 4 + s.offset, y: y(v), width: 6, height: H - P - y(v), class: s.cls, "data-value": v }));
      }
    } else if (points.length) {
      const d = points.map(([i, v], k) => `${k ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      target.append(svg("path", { d, class: s.cls }));
      for (const [i, v] of points) target.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: s.cls, "data-value": v }));
    }
  }
  let lx = P;
  for (const s of series) {
    target.append(svg("rect", { x: lx, y: 6, width: 12, height: 12, class: `key ${s.cls}` }));
    target.append(label(lx + 18, 17, s.name));
    lx += 100;
  }
}

async function refreshFunction(name) {
  const now = Date.now();
  const [detail, inv, logs] = await Promise.all([
    json("GET", `/functions/${encodeURIComponent(name)}`),
    json("GET", `/functions/${encodeURIComponent(name)}/invocations?since_ms=${now - 15 * 60_000}&limit=10000`),
    json("GET", `/functions/${encodeURIComponent(name)}/logs?limit=50`),
  ]);
  const buckets = bucketize(inv.invocations, now);
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
  const list = $("#logs");
  list.replaceChildren();
  for (const l of logs.logs) {
    const li = document.createElement("li");
    li.className = `level-${l.level}`;
    const time = document.createElement("time");
    time.dateTime = new Date(l.at).toISOString();
    time.textContent = new Date(l.at).toLocaleTimeString();
    const level = document.createElement("span");
    level.className = "level";
    level.textContent = l.level;
    li.append(time, level, document.createTextNode(` ${l.stream === "stderr" ? "[stderr] " : ""}${l.message}`));
    list.append(li);
  }
  if (!logs.logs.length) list.append(Object.assign(document.createElement("li"), { textContent: "No logs yet." }));
  return detail;
}

// The fault kinds always shown; traps are summed; any other kind shows once it happened.
const MAIN_FAULTS = ["stack_guard", "nx_violation", "read_only_violation", "timeout"];
const TRAPS = ["unreachable", "integer_division_by_zero", "integer_overflow", "bad_conversion_to_integer",
  "memory_out_of_bounds", "table_out_of_bounds", "indirect_call_to_null", "bad_signature",
  "stack_overflow", "out_of_memory", "host_error", "other"];

function renderFaults(faults) {
  const shown = MAIN_FAULTS.map((k) => [k.replaceAll("_", " "), faults[k] ?? 0]);
  shown.push(["trap", TRAPS.reduce((n, k) => n + (faults[k] ?? 0), 0)]);
  for (const [k, n] of Object.entries(faults)) {
    if (n > 0 && !MAIN_FAULTS.includes(k) && !TRAPS.includes(k)) shown.push([k.replaceAll("_", " "), n]);
  }
  const list = $("#faults");
  list.replaceChildren();
  for (const [kind, count] of shown) {
    const li = document.createElement("li");
    li.textContent = `${kind}: ${count}`;
    if (count > 0) li.className = "hot";
    list.append(li);
  }
}

function summary(d) {
  return `Version ${d.version} · ${fmtBytes(d.size_bytes)} · ${d.public ? "public" : "needs a token"} · last hour: ${d.last_hour.calls} calls, ${d.last_hour.errors} errors, p50 ${fmtUs(d.last_hour.p50_us)}, p99 ${fmtUs(d.last_hour.p99_us)}`;
}

function renderVersions(detail) {
  const body = $("#versions tbody");
  body.replaceChildren();
  for (const v of detail.versions) {
    const tr = document.createElement("tr");
    const action = document.createElement("td");
    if (v.active) {
      action.textContent = "active";
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `Roll back to ${v.version}`;
      b.addEventListener("click", async () => {
        if (!confirm(`Make version ${v.version} of ${detail.name} active?`)) return;
        await json("POST", `/functions/${encodeURIComponent(detail.name)}/rollback`, JSON.stringify({ version: v.version }));
        say(`${detail.name} rolled back to version ${v.version}.`);
        renderFunction(detail.name);
      });
      action.append(b);
    }
    tr.append(cell(v.version), cell(fmtTime(v.created_at)), cell(v.sha256.slice(0, 12)), action);
    body.append(tr);
  }
}

async function renderFunction(name) {
  show("function");
  current = name;
  const detail = await refreshFunction(name);
  $("#fn-title").textContent = name;
  const routes = detail.routes ?? [];
  $("#route-fields").hidden = routes.length === 0;
  $("#invoke-path").replaceChildren(
    Object.assign(document.createElement("option"), { value: "", textContent: `POST /functions/${name}/invoke` }),
    ...routes.map((r) => Object.assign(document.createElement("option"), { value: r, textContent: r })),
  );
  renderVersions(detail);
  refreshTimer = setInterval(() => refreshFunction(name).catch((e) => say(e.message)), 3000);
}

async function onInvoke(event) {
  event.preventDefault();
  const route = $("#invoke-path").value;
  const method = route ? $("#invoke-method").value : "POST";
  const path = route || `/functions/${encodeURIComponent(current)}/invoke`;
  const body = ["GET", "HEAD"].includes(method) ? undefined : $("#invoke-body").value;
  say(`Invoking ${current}…`);
  const response = await api(method, path, body);
  const text = await response.text();
  let stdout = text, stderr = "";
  if (!response.ok) {
    try {
      const e = JSON.parse(text).error;
      stdout = "";
      stderr = [`${e.code}: ${e.message}`, e.stderr].filter(Boolean).join("\n");
    } catch { /* not a Flint error body */ }
  }
  $("#invoke-result").hidden = false;
  $("#r-status").textContent = `${response.status} ${response.statusText}`;
  $("#r-exit").textContent = response.headers.get("x-flint-exit-code") ?? "–";
  $("#r-duration").textContent = fmtUs(Number(response.headers.get("x-flint-duration-us")));
  $("#r-version").textContent = response.headers.get("x-flint-version") ?? "–";
  $("#r-stdout").textContent = stdout;
  $("#r-stderr").textContent = stderr;
  $("#r-headers").textContent = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  say(`${current} answered ${response.status}.`);
  refreshFunction(current).catch(() => {});
}

async function onDelete() {
  if (!confirm(`Delete ${current} and all its versions? This cannot be undone.`)) return;
  await json("DELETE", `/functions/${encodeURIComponent(current)}`);
  say(`Deleted ${current}.`);
  location.hash = "#/";
}

// ---------------------------------------------------------------- routing

async function route() {
  const hash = location.hash || "#/";
  try {
    if (!token() || hash === "#/signin") return show("signin");
    if (hash === "#/deploy") return show("deploy");
    const m = hash.match(/^#\/functions\/(.+)$/);
    if (m) return await renderFunction(decodeURIComponent(m[1]));
    await renderList();
  } catch (e) {
    say(e.message);
  }
}

async function onSignIn(event) {
  event.preventDefault();
  sessionStorage.setItem("flint-token", $("#token").value.trim());
  const r = await fetch("/functions", { headers: { Authorization: `Bearer ${token()}` } });
  if (!r.ok) {
    sessionStorage.removeItem("flint-token");
    $("#signin-error").textContent = "That token was refused.";
    return;
  }
  $("#signin-error").textContent = "";
  location.hash = "#/";
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", onSignIn);
  $("#deploy-form").addEventListener("submit", onDeploy);
  $("#invoke-form").addEventListener("submit", (e) => onInvoke(e).catch((err) => say(err.message)));
  $("#delete").addEventListener("click", () => onDelete().catch((err) => say(err.message)));
  $("#sign-out").addEventListener("click", () => {
    sessionStorage.removeItem("flint-token");
    location.hash = "#/signin";
  });
  setupDrop();
  window.addEventListener("hashchange", route);
  route();
});
