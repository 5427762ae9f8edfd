// The sagas page: sagas of every kind found by what they are about (the query string's status,
// customer, flight, step, reason, since, until, saga; paging keeps them), live counts, Resume for
// FAILED sagas, and a link to act on the found set at once (/sagas/bulk, same query string).
"use strict";

const STAT_KEYS = [
  ["running", "running"], ["compensating", "compensating"], ["completed", "completed"],
  ["compensated", "compensated"], ["failed", "failed (need an operator)"], ["total", "total"],
  ["steps_executing", "steps executing"], ["steps_pending", "steps pending"],
  ["compensations_pending", "compensations pending"],
];
const FILTER_TEXT = ["customer", "flight", "step", "reason", "since", "until", "saga"];
let tokens = [""]; // page tokens: tokens[i] fetches page i (of the current filter)
let fixed = {}; // the since/until moments page 0 was read with: the next pages ask with them
let canBulk = true; // false once the dashboard says the user is signed in without the operator role
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
function stepsSummary(saga, steps) {
  return el("span", {}, saga.steps.map((s) =>
    stateBadge(s.state, { text: s.name.split("_")[0], title: `${stepLabel(s.name, steps)}: ${stateLabel(s.state)}`, testid: `saga-step-${saga.saga_id}-${s.name}` }))
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

// What a saga other than a booking shows under its id: its name and its input, in short (cut
// with "…" to the column, whole in its title).
function kindLine(saga, type) {
  const id = saga.saga_id;
  const input = inputText(saga, type);
  return el("span", { class: "saga-line", title: input || undefined },
    el("span", { class: "badge kind", title: type ? `${type.title} (v${saga.saga_version})` : `${saga.saga} v${saga.saga_version}`, dataset: { testid: `saga-kind-${id}` } }, saga.saga),
    input ? " " : "", input ? el("span", { class: "muted", dataset: { testid: `saga-input-${id}` } }, input) : "");
}

// The last cell: a booking's reference, another saga's facts once it completed, else the error.
function outcomeCell(saga) {
  const id = saga.saga_id;
  if (saga.booking_reference) return el("b", { class: "mono" }, saga.booking_reference);
  if (!isBooking(saga) && saga.status === "COMPLETED") {
    const facts = factsText(saga);
    return el("span", { class: "clip-text mono", title: facts, dataset: { testid: `saga-facts-${id}` } }, facts);
  }
  return saga.error ? clipped(saga.error, id, `saga-error-${id}`) : "";
}

// Where and why it last failed, on one line: the step's short name (as in the steps column) and
// the reason, both whole in the title; data-step and data-reason carry the wire values.
function failedAt(saga) {
  if (!saga.failed_step && !saga.error_reason) return "";
  const text = [saga.failed_step.split("_")[0], saga.error_reason].filter(Boolean).join(" · ");
  return el("span", { class: "clip-text mono", title: [saga.failed_step, saga.error_reason].filter(Boolean).join(": "), dataset: { testid: `saga-failed-${saga.saga_id}`, step: saga.failed_step, reason: saga.error_reason } }, text);
}

function row(saga, types) {
  const id = saga.saga_id;
  const booking = isBooking(saga);
  const type = booking ? null : sagaType(types, saga);
  // Resume sits next to the FAILED badge: no column of its own, so the row keeps its room.
  const resumeButton = saga.status === "FAILED"
    ? el("button", { type: "button", class: "danger small", dataset: { testid: `resume-${id}` }, onclick: (e) => resume(id, e.target) }, "Resume")
    : "";
  return el("tr", { dataset: { testid: `saga-row-${id}`, status: saga.status, saga: saga.saga || BOOKING_SAGA } },
    el("td", { class: "nowrap" }, fmtTime(saga.created_at)),
    el("td", { class: "nowrap saga-cell" },
      el("a", { href: `/test?saga=${encodeURIComponent(id)}`, class: "mono", dataset: { testid: `saga-link-${id}` } }, id.slice(0, 12)),
      booking ? "" : kindLine(saga, type)),
    el("td", { class: "nowrap" }, stateBadge(saga.status, { testid: `saga-status-${id}` }), resumeButton ? " " : "", resumeButton),
    el("td", { class: "nowrap" }, stepsSummary(saga, booking ? STEPS : stepsOf(saga, types))),
    el("td", { class: "clip failed-at" }, failedAt(saga)),
    // Short names, like the steps column (the full names in the title), so a row stays one line.
    el("td", { class: "nowrap", title: saga.compensation_order.join(" → ") || undefined, dataset: { testid: `saga-compensated-${id}` } },
      saga.compensation_order.map((name) => name.split("_")[0]).join(" → ")),
    el("td", { class: "clip" }, outcomeCell(saga)));
}

// The served sagas' declarations, for the rows of other sagas than the booking (none needed
// when every row is a booking; a page without them still lists the sagas).
async function typesFor(sagas) {
  if (sagas.every(isBooking)) return [];
  try { return await sagaTypes(); } catch (_) { return []; }
}

// The filter as query parameters, from the form (the page's own address carries the same).
function filterParams() {
  const params = new URLSearchParams();
  for (const option of $("#status-filter").selectedOptions) if (option.value) params.append("status", option.value);
  for (const name of FILTER_TEXT) {
    const value = $(`#filter-form [name=${name}]`).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function showFilter(params) {
  const wanted = new Set(params.getAll("status").map((s) => s.toUpperCase()));
  for (const option of $("#status-filter").options) option.selected = option.value ? wanted.has(option.value) : wanted.size === 0;
  for (const name of FILTER_TEXT) $(`#filter-form [name=${name}]`).value = params.get(name) || "";
}

function drawBulkLink(filter) {
  const link = $("#bulk-link");
  link.href = `/sagas/bulk${filter.toString() ? `?${filter}` : ""}`;
  link.hidden = !canBulk;
}

// Each load's number: a slow answer to an older filter must not draw over a newer one.
let loads = 0;

async function loadSagas() {
  const mine = ++loads;
  const filter = filterParams();
  const params = new URLSearchParams(filter);
  if (page > 0) for (const [name, moment] of Object.entries(fixed)) params.set(name, moment);
  params.set("page_size", $("#page-size").value);
  if (tokens[page]) params.set("page_token", tokens[page]);
  drawBulkLink(filter);
  try {
    const data = await api("GET", `/api/sagas?${params}`);
    const types = await typesFor(data.sagas);
    if (mine !== loads) return;
    if (page === 0) fixed = data.fixed || {};
    clearFieldErrors($("#filter-form"));
    $("#sagas-body").replaceChildren(...data.sagas.map((saga) => row(saga, types)));
    $("#sagas-body").closest("table").classList.toggle("has-kinds", !data.sagas.every(isBooking));
    $("#no-sagas").textContent = filter.toString() ? "No saga matches the filter." : "No sagas yet.";
    $("#no-sagas").hidden = data.sagas.length > 0;
    // A broad filter's count stops at 10,000 (the orchestrator says so): "10,000+ sagas".
    const count = data.total_capped ? `${data.total.toLocaleString("en")}+` : `${data.total}`;
    $("#total").textContent = `${count} saga${data.total === 1 && !data.total_capped ? "" : "s"}`;
    tokens[page + 1] = data.next_page_token || "";
    $("#next").disabled = !data.next_page_token;
    $("#prev").disabled = page === 0;
    $("#page-label").textContent = `page ${page + 1}`;
  } catch (err) {
    if (mine !== loads) return;
    if (err.status === 400 && err.field) showFieldError($("#filter-form"), err);
    else message(err.message);
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

// ---- start a saga of any served kind -------------------------------------------------------
let startTypes = [];

function startType() {
  const [name, version] = $("#start-kind").value.split("@");
  return startTypes.find((t) => t.name === name && String(t.version) === version) || null;
}

// The chosen saga's input (its fields as keys, to fill in) and a "Fail at" box per step.
function drawStartKind() {
  const type = startType();
  if (!type) return;
  const input = Object.fromEntries(type.input_fields.filter((f) => f !== "owner").map((f) => [f, ""]));
  $("#start-input").value = JSON.stringify(input, null, 2);
  $("#start-fail").replaceChildren(...type.steps.map((step) =>
    el("label", {}, el("input", { type: "checkbox", class: "start-fail", value: step.name, dataset: { testid: `start-fail-${step.name}` } }),
      ` Fail at ${step.title || step.name}`)));
  clearFieldErrors($("#start-form"));
}

async function loadStartKinds() {
  try {
    startTypes = await sagaTypes();
  } catch (err) {
    $("#start-kind").replaceChildren();
    showFieldError($("#start-form"), err);
    return;
  }
  $("#start-kind").replaceChildren(...startTypes.map((t) =>
    el("option", { value: `${t.name}@${t.version}` }, `${t.name} v${t.version}${t.title ? ` · ${t.title}` : ""}${t.latest ? "" : " (older version)"}`)));
  // The booking has its own page (Test); another served saga first.
  const other = startTypes.find((t) => t.name !== BOOKING_SAGA && t.latest);
  if (other) $("#start-kind").value = `${other.name}@${other.version}`;
  drawStartKind();
}

async function startSaga(e) {
  e.preventDefault();
  const form = $("#start-form");
  clearFieldErrors(form);
  const type = startType();
  if (!type) return;
  let input;
  try {
    input = JSON.parse($("#start-input").value);
  } catch (err) {
    showFieldError(form, { status: 400, field: "input", message: `input: not JSON (${err.message})` });
    return;
  }
  const body = {
    saga: type.name,
    version: type.version,
    input,
    fail_at: $all("input.start-fail").filter((b) => b.checked).map((b) => b.value),
  };
  $("#start-submit").disabled = true;
  try {
    const started = await api("POST", "/api/sagas/start", body);
    location.href = started.links.page; // its own page, live
  } catch (err) {
    // The orchestrator names the field (input.city, fail_at, ...): say it with the message.
    const named = { ...err, status: err.status, message: err.message, errors: (err.errors || []).map((x) => ({ field: x.field, message: `${x.field}: ${x.message}` })) };
    if (!named.errors.length && err.field) named.errors = [{ field: err.field, message: err.message.startsWith(err.field) ? err.message : `${err.field}: ${err.message}` }];
    showFieldError(form, named);
    $("#start-submit").disabled = false;
  }
}

function restart() {
  tokens = [""];
  page = 0;
  const query = filterParams().toString();
  history.replaceState(null, "", query ? `/sagas?${query}` : "/sagas");
  loadSagas();
}

// The bulk link is for operators: hidden when the dashboard says who is signed in and they are not.
async function loadRoles() {
  try {
    const config = await api("GET", "/api/config");
    canBulk = !config.auth || !Array.isArray(config.roles) || config.roles.includes("operator");
  } catch (_) { /* unknown: the link stays */ }
  drawBulkLink(filterParams());
}

document.addEventListener("DOMContentLoaded", () => {
  showFilter(new URLSearchParams(location.search));
  $("#status-filter").addEventListener("change", restart);
  $("#filter-form").addEventListener("submit", (e) => { e.preventDefault(); restart(); });
  $("#filter-clear").addEventListener("click", () => { showFilter(new URLSearchParams()); restart(); });
  loadRoles();
  $("#page-size").addEventListener("change", restart);
  $("#refresh").addEventListener("click", () => { loadSagas(); loadStats(); });
  drawLegend();
  $("#start-kind").addEventListener("change", drawStartKind);
  $("#start-form").addEventListener("submit", startSaga);
  loadStartKinds();
  $("#next").addEventListener("click", () => { page += 1; loadSagas(); });
  $("#prev").addEventListener("click", () => { page = Math.max(0, page - 1); loadSagas(); });
  checkHealth();
  loadStats();
  loadSagas();
  setInterval(loadStats, 2000);
  setInterval(() => { if (page === 0) loadSagas(); }, 5000);
});
