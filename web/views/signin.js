// Sign-in: checks the token against the API before keeping it.

import { api } from "../api.js";
import { $ } from "../dom.js";
import { state } from "../state.js";

export function setup(go) {
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    const answer = await api("GET", "/functions", { token }).catch(() => null);
    if (!answer?.ok) {
      $("#signin-error").textContent = answer ? "That token was refused." : "The server did not answer.";
      return;
    }
    state.token = token;
    $("#signin-error").textContent = "";
    location.hash = "#/";
    go();
  });
}

export async function render() {}
