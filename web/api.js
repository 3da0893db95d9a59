// The one way the dashboard talks to the server: api() for every request (JSON, uploads with
// progress, invocations, sign-in), json() for the JSON ones. XMLHttpRequest underneath, because
// fetch reports no upload progress.

import { state } from "./state.js";

/** An error answer: the server's JSON error object in `error` when there is one. */
export class ApiError extends Error {
  constructor(message, error, status) {
    super(message);
    this.error = error;
    this.status = status;
  }
}

function parseHeaders(raw) {
  const headers = new Map();
  for (const line of raw.trim().split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0) headers.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return headers;
}

/**
 * Sends one request. Options: `body`, `contentType`, `token` (defaults to the signed-in one),
 * `progress` (called with 0-100 while uploading). Resolves with
 * `{ status, statusText, ok, headers, text }` for any HTTP answer; rejects on a network error.
 * A 401 for the signed-in token signs out.
 */
export function api(method, path, { body, contentType, token = state.token, progress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    if (progress) {
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) progress(Math.round((100 * e.loaded) / e.total));
      };
    }
    xhr.onload = () => {
      const answer = {
        status: xhr.status,
        statusText: xhr.statusText,
        ok: xhr.status >= 200 && xhr.status < 300,
        headers: parseHeaders(xhr.getAllResponseHeaders()),
        text: xhr.responseText,
      };
      if (xhr.status === 401 && token === state.token) {
        state.token = null;
        location.hash = "#/signin";
      }
      resolve(answer);
    };
    xhr.onerror = () => reject(new ApiError("network error: the server did not answer"));
    xhr.send(body);
  });
}

/** The server's error object in an answer, if it sent one. */
export function errorOf(answer) {
  try {
    return JSON.parse(answer.text).error ?? null;
  } catch {
    return null;
  }
}

/** A JSON request: resolves with the parsed body, rejects with an ApiError. */
export async function json(method, path, value, options = {}) {
  const body = value === undefined ? undefined : JSON.stringify(value);
  const contentType = body === undefined ? undefined : "application/json";
  const answer = await api(method, path, { body, contentType, ...options });
  if (!answer.ok) {
    const error = errorOf(answer);
    throw new ApiError(error?.message ?? `HTTP ${answer.status}`, error, answer.status);
  }
  return answer.status === 204 || !answer.text ? {} : JSON.parse(answer.text);
}

export const fnPath = (name, rest = "") => `/functions/${encodeURIComponent(name)}${rest}`;
