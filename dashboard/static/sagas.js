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
const expanded = new Set(); // saga ids whose error is shown whole (kept across refreshes)

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

// One badge per step, in its state's colour; the step's state is in data-state and its title.
function stepsSummary(saga) {
  return el("span", {}, saga.steps.map((s) =>
    stateBadge(s.state, { text: s.name.split("_")[0], title: `${stepLabel(s.name)}: ${stateLabel(s.state)}`, testid: `saga-step-${saga.saga_id}-${s.name}` }))
    .flatMap((b, i) => (i ? [" ", b] : [b])));
}

// A long text on one line with an ellipsis; the whole text in its title (hover), and a click
// (or Enter) shows it all.
function clipped(text, key, testid) {
  const toggle = (e) => {
    if (e.type === "keydown" && e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    const node = e.currentTarget;
    const open = node.classList.toggle("expanded");
    node.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) expanded.add(key); else expanded.delete(key);
  };
  const open = expanded.has(key);
  return el("span", { class: `clip-text muted${open ? " expanded" : ""}`, title: text, tabindex: "0", role: "button", "aria-expanded": open ? "true" : "false", dataset: { testid }, onclick: toggle, onkeydown: toggle }, text);
}

function drawLegend() {
  const states = ["SUCCEEDED", "EXECUTING", "STEP_FAILED", "UNKNOWN_OUTCOME", "COMPENSATING_STEP", "COMPENSATED_STEP", "COMPENSATION_FAILED", "SKIPPED", "PENDING"];
  $("#legend").replaceChildren(el("span", { class: "muted" }, "Steps:"),
    ...states.map((state) => stateBadge(state, { testid: `legend-${state}` })));
}

function row(saga) {
  const id = saga.saga_id;
  // Resume sits next to the FAILED badge: no column of its own, so the row keeps its room.
  const resumeButton = saga.status === "FAILED"
    ? el("button", { type: "button", class: "danger small", dataset: { testid: `resume-${id}` }, onclick: (e) => resume(id, e.target) }, "Resume")
    : "";
  return el("tr", { dataset: { testid: `saga-row-${id}`, status: saga.status } },
    el("td", { class: "nowrap" }, fmtTime(saga.created_at)),
    el("td", {}, el("a", { href: `/test?saga=${encodeURIComponent(id)}`, class: "mono", dataset: { testid: `saga-link-${id}` } }, id.slice(0, 12))),
    el("td", { class: "nowrap" }, stateBadge(saga.status, { testid: `saga-status-${id}` }), resumeButton ? " " : "", resumeButton),
    el("td", { class: "nowrap" }, stepsSummary(saga)),
    // Short names, like the steps column (the full names in the title), so a row stays one line.
    el("td", { class: "nowrap", title: saga.compensation_order.join(" → ") || undefined, dataset: { testid: `saga-compensated-${id}` } },
      saga.compensation_order.map((name) => name.split("_")[0]).join(" → ")),
    el("td", { class: "clip" }, saga.booking_reference ? el("b", { class: "mono" }, saga.booking_reference)
      : saga.error ? clipped(saga.error, id, `saga-error-${id}`) : ""));
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
    message(`Saga ${sagaId} resumed: now ${stateLabel(saga.status)}.`);
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
  drawLegend();
  $("#next").addEventListener("click", () => { page += 1; loadSagas(); });
  $("#prev").addEventListener("click", () => { page = Math.max(0, page - 1); loadSagas(); });
  checkHealth();
  loadStats();
  loadSagas();
  setInterval(loadStats, 2000);
  setInterval(() => { if (page === 0) loadSagas(); }, 5000);
});
