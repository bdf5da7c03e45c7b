// Moorage dashboard: live logs over server-sent events, and config values on request.
"use strict";

function revealConfig(button) {
  const secret = document.querySelector(`.secret[data-key="${CSS.escape(button.dataset.key)}"]`);
  if (!secret) return;
  if (button.dataset.shown === "1") {
    secret.textContent = "••••••••";
    button.dataset.shown = "0";
    button.textContent = "Reveal";
    return;
  }
  fetch(secret.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
    .then((data) => {
      secret.textContent = data.value;
      button.dataset.shown = "1";
      button.textContent = "Hide";
    })
    .catch((err) => { secret.textContent = `could not load (${err.message})`; });
}

function followLogs(pre) {
  const status = document.getElementById("log-status");
  const source = new EventSource(pre.dataset.url);
  const max = 2000;
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.onmessage = (event) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(document.createTextNode(event.data + "\n"));
    while (pre.childNodes.length > max) pre.removeChild(pre.firstChild);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button.reveal").forEach((b) => b.addEventListener("click", () => revealConfig(b)));
  const log = document.getElementById("log");
  if (log) followLogs(log);
});
