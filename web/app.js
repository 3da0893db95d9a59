// Flint's dashboard: plain ES modules, no dependencies, talks only to the public HTTP API.
// This module routes between the views (views/*.js: each has setup() and an async render());
// state.js holds the state, api.js makes every request, dom.js and charts.js draw.

import { json } from "./api.js";
import { $, guard } from "./dom.js";
import { state, stopRefresh } from "./state.js";
import * as deploy from "./views/deploy.js";
import * as fn from "./views/function.js";
import * as list from "./views/list.js";
import * as signin from "./views/signin.js";

const VIEWS = { signin, list, deploy, function: fn };

function show(view) {
  for (const v of Object.keys(VIEWS)) $(`#view-${v}`).hidden = v !== view;
  $("#sign-out").hidden = !state.token;
  stopRefresh();
}

/** The view and its argument for the current location. */
function resolve(hash) {
  if (!state.token || hash === "#/signin") return ["signin"];
  if (hash === "#/deploy") return ["deploy"];
  const m = hash.match(/^#\/functions\/(.+)$/);
  if (m) return ["function", decodeURIComponent(m[1])];
  return ["list"];
}

async function route() {
  const [view, arg] = resolve(location.hash || "#/");
  show(view);
  state.meta ??= await json("GET", "/api/meta", undefined, { token: null });
  await VIEWS[view].render(arg);
}

document.addEventListener("DOMContentLoaded", () => {
  const go = guard(route);
  for (const view of Object.values(VIEWS)) view.setup(go);
  $("#sign-out").addEventListener("click", () => {
    state.token = null;
    location.hash = "#/signin";
  });
  window.addEventListener("hashchange", go);
  go();
});
