// Small DOM and formatting helpers shared by the views.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function say(message) {
  $("#status").textContent = message;
}

/** Runs an async handler and reports its failure in the status line: no promise goes unhandled. */
export function guard(handler) {
  return (...args) => {
    Promise.resolve()
      .then(() => handler(...args))
      .catch((e) => say(e.message));
  };
}

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export const cell = (text) => el("td", { textContent: String(text) });

export const fmtBytes = (n) =>
  n == null ? "–" : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
export const fmtUs = (us) => (us == null || Number.isNaN(us) ? "–" : us < 1000 ? `${us} µs` : `${(us / 1000).toFixed(1)} ms`);
export const fmtTime = (ms) => new Date(ms).toLocaleString();
export const words = (label) => label.replaceAll("_", " ");
