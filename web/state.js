// The dashboard's state, in one place: the token (kept in sessionStorage), the function on
// screen, its refresh timer, and the server's labels and defaults from /api/meta.

const TOKEN_KEY = "flint-token";

export const state = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** Name of the function on screen, or null. */
  current: null,
  /** Interval that refreshes the function view. */
  refreshTimer: null,
  /** The server's /api/meta document (labels, fault kinds, setting defaults and bounds). */
  meta: null,
  /** The live log tail on screen (an AbortController), and the function it follows. */
  tail: null,
  tailing: null,
  /** The config on screen, as the server sent it (the editor's patches are made against it). */
  config: null,
};

export function stopRefresh() {
  clearInterval(state.refreshTimer);
  state.refreshTimer = null;
  state.tail?.abort();
  state.tail = null;
  state.tailing = null;
}
