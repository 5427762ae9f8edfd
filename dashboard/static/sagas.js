// The sagas page: recent sagas (filter, paging), live counts, Resume for FAILED sagas.
"use strict";

const STAT_KEYS = [
  ["running", "running"], ["compensating", "compensating"], ["completed", "completed"],
  ["compensated", "compensated"], ["failed", "failed (need an operator)"], ["total", "total"],
  ["steps_executing", "steps executing"], ["steps_pending", "steps pending"],
  ["compensations_pending", "compensations pending"],
];
let tokens = [""]; // page tokens: tokens[i] fetches page i
let page = 0;

async function loadStats() {
  try {
    const stats = await api("GET", "/api/stats");
    $("#stats").replaceChildren(...STAT_KEYS.map(([key, label]) =>
      el("div", { class: "stat", dataset: { testid: `stat-${key}` } },
        el("div", { class: "n", dataset: { testid: `stat-${key}-value` } }, stats[key] ?? 0),
        el("div", { class: "l" }, label))));
    $("#stats-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("#stats-updated").textContent = err.message;
  }
}

function stepsSummary(saga) {
  return el("span", {}, saga.steps.map((s) => badge(s.name.split("_")[0], s.state)).flatMap((b, i) => (i ? [" ", b] : [b])));
}

function row(saga) {
  const id = saga.saga_id;
  const actions = [];
  if (saga.status === "FAILED") {
    actions.push(el("button", { type: "button", class: "danger", dataset: { testid: `resume-${id}` }, onclick: (e) => resume(id, e.target) }, "Resume"));
  }
  return el("tr", { dataset: { testid: `saga-row-${id}`, status: saga.status } },
    el("td", { class: "nowrap" }, fmtTime(saga.created_at)),
    el("td", {}, el("a", { href: `/test?saga=${encodeURIComponent(id)}`, class: "mono", dataset: { testid: `saga-link-${id}` } }, id.slice(0, 12))),
    el("td", {}, badge(saga.status, saga.status, `saga-status-${id}`)),
    el("td", { class: "nowrap" }, stepsSummary(saga)),
    el("td", { class: "mono" }, saga.compensation_order.join(" → ")),
    el("td", {}, saga.booking_reference ? el("b", { class: "mono" }, saga.booking_reference) : el("span", { class: "muted" }, saga.error || "")),
    el("td", {}, actions));
}

async function loadSagas() {
  const params = new URLSearchParams({ page_size: $("#page-size").value });
  const status = $("#status-filter").value;
  if (status) params.set("status", status);
  if (tokens[page]) params.set("page_token", tokens[page]);
  try {
    const data = await api("GET", `/api/sagas?${params}`);
    $("#sagas-body").replaceChildren(...data.sagas.map(row));
    $("#no-sagas").hidden = data.sagas.length > 0;
    $("#total").textContent = `${data.total} saga${data.total === 1 ? "" : "s"}`;
    tokens[page + 1] = data.next_page_token || "";
    $("#next").disabled = !data.next_page_token;
    $("#prev").disabled = page === 0;
    $("#page-label").textContent = `page ${page + 1}`;
  } catch (err) {
    message(err.message);
  }
}

function message(text) {
  const box = $("#sagas-message");
  box.textContent = text;
  box.hidden = !text;
}

async function resume(sagaId, button) {
  button.disabled = true;
  message(`Resuming ${sagaId}…`);
  try {
    const saga = await api("POST", `/api/sagas/${encodeURIComponent(sagaId)}/resume`, { clear_faults: $("#resume-clear").checked });
    message(`Saga ${sagaId} resumed: now ${saga.status}.`);
  } catch (err) {
    message(`Resume of ${sagaId} failed: ${err.message}`);
  }
  await Promise.all([loadSagas(), loadStats()]);
}

function restart() {
  tokens = [""];
  page = 0;
  loadSagas();
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  if (params.get("status")) $("#status-filter").value = params.get("status").toUpperCase();
  $("#status-filter").addEventListener("change", restart);
  $("#page-size").addEventListener("change", restart);
  $("#refresh").addEventListener("click", () => { loadSagas(); loadStats(); });
  $("#next").addEventListener("click", () => { page += 1; loadSagas(); });
  $("#prev").addEventListener("click", () => { page = Math.max(0, page - 1); loadSagas(); });
  checkHealth();
  loadStats();
  loadSagas();
  setInterval(loadStats, 2000);
  setInterval(() => { if (page === 0) loadSagas(); }, 5000);
});
