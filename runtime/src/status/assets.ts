import { formatAge } from "./render.js";

// The page's stylesheet and script, served as files so that the page's
// Content-Security-Policy can forbid inline code.

export const STATUS_CSS = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
#state { color: #666; margin: 0.2rem 0 0; }
#state[data-state="live"] { color: #2a7d2a; }
#state[data-state="reconnecting"] { color: #b35c00; }
table { border-collapse: collapse; min-width: 40rem; }
th, td { text-align: left; padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; }
td.calls, td.sent, td.received, td.age { text-align: right; font-variant-numeric: tabular-nums; }
td.error { color: #b00020; }
#filter { margin: 0.5rem 0; }
#pager a { margin-left: 0.75rem; }
#forward-note { color: #666; font-weight: normal; }
tbody:empty::after { content: "none"; color: #888; display: block; padding: 0.25rem 0.75rem; }
footer { margin-top: 2rem; color: #666; }
`;

// Rows arrive as HTML rendered (and escaped) by the server; the script only
// swaps them in and advances the ages between updates.
export const STATUS_JS = `"use strict";
(() => {
  const state = document.getElementById("state");
  const setState = (name, text) => { state.dataset.state = name; state.textContent = text; };
  let receivedAt = Date.now();
  const formatAge = ${formatAge.toString()};
  const tick = () => {
    const elapsed = (Date.now() - receivedAt) / 1000;
    for (const cell of document.querySelectorAll("td.age")) {
      cell.textContent = formatAge(Number(cell.dataset.age) + elapsed);
    }
  };
  // The same page (and filter) as the document: live updates for the rows shown.
  const events = new EventSource("events" + location.search);
  events.onmessage = (event) => {
    const update = JSON.parse(event.data);
    receivedAt = Date.now();
    document.querySelector("#reverse tbody").innerHTML = update.reverseRows;
    document.querySelector("#forward tbody").innerHTML = update.forwardRows;
    document.getElementById("reverse-count").textContent = String(update.reverseCount);
    document.getElementById("reverse-keys").textContent = String(update.reverseKeys);
    document.getElementById("forward-count").textContent = String(update.forwardCount);
    document.getElementById("forward-note").textContent = update.forwardNote;
    document.getElementById("pager").innerHTML = update.pager;
    setState("live", "live, updated " + new Date().toLocaleTimeString());
  };
  events.onerror = () => setState("reconnecting", "connection lost, reconnecting…");
  setInterval(tick, 1000);
})();
`;
