// The SAGA test page (the original /saga/test): run a scenario, watch its timeline live.
// Opened on one saga (?saga=<id>), of any served kind: that saga's page.
"use strict";

const form = () => $("#test-form");
let faults = []; // x-fault tokens, `step:kind[=arg]`
let source = null; // the EventSource of the watched saga
let seen = new Set(); // event seqs already shown (a re-watch replays from the start)
let current = null; // the saga being shown
let steps = STEPS; // the steps drawn: the booking's, or those of the saga shown (its declaration)
let sagaName = "Booking saga"; // what the page calls the saga shown
let sagaKind = null; // the declaration of the saga shown, when it is not a booking (/api/saga-types)

function drawFlow() {
  const flow = $("#flow");
  flow.replaceChildren();
  steps.forEach((step, i) => {
    if (i) flow.append(el("span", { class: "arrow", "aria-hidden": "true" }, "→"));
    flow.append(
      el("div", { class: "step-box", id: `flow-${step.name}`, dataset: { testid: `flow-step-${step.name}`, state: "" } },
        el("div", { class: "name", title: step.label, dataset: { testid: `flow-title-${step.name}` } }, `${i + 1}. ${step.short}`),
        el("div", { class: "wire" }, step.name),
        el("div", { class: "compensate" }, `compensation: ${step.undo}`),
        el("label", { class: "fail" },
          el("input", { type: "checkbox", class: "fail-at", value: step.name, id: `fail-${step.name}`, dataset: { testid: `fail-${step.name}` } }),
          `Fail at ${step.label}`),
        el("div", { class: "live" },
          el("span", { dataset: { testid: `step-state-${step.name}` }, id: `state-${step.name}` }),
          " ",
          el("span", { class: "muted", dataset: { testid: `step-attempts-${step.name}` }, id: `attempts-${step.name}` }),
          " ",
          el("span", { class: "muted", dataset: { testid: `step-duration-${step.name}` }, id: `duration-${step.name}` })),
      ));
  });
  const select = $("#fault-step");
  select.replaceChildren(...steps.map((s) => el("option", { value: s.name }, s.name)));
}

function drawFaults() {
  const list = $("#fault-list");
  list.replaceChildren(...faults.map((token, i) =>
    el("li", { dataset: { testid: "fault-item" } },
      el("code", {}, token), " ",
      el("button", { type: "button", title: "remove", dataset: { testid: "remove-fault" }, onclick: () => { faults.splice(i, 1); drawFaults(); } }, "×"))));
}

function addFault() {
  const step = $("#fault-step").value;
  let kind = $("#fault-kind").value;
  let arg = $("#fault-arg").value.trim();
  if (kind === "compensate-fail-always") { kind = "compensate-fail"; arg = "always"; }
  if (kind === "fail") arg = "";
  faults.push(arg ? `${step}:${kind}=${arg}` : `${step}:${kind}`);
  drawFaults();
}

function clearSelections() {
  for (const box of $all("input.fail-at")) box.checked = false;
  faults = [];
  drawFaults();
  clearFieldErrors(form());
  stopWatching();
  current = null;
  $("#result").hidden = true;
  $("#proof").hidden = true;
  $("#log").hidden = true;
  for (const step of steps) resetStepBox(step.name);
  history.replaceState(null, "", location.pathname);
}

function resetStepBox(name) {
  $(`#flow-${name}`).dataset.state = "";
  $(`#state-${name}`).replaceChildren();
  $(`#attempts-${name}`).textContent = "";
  $(`#duration-${name}`).textContent = "";
}

function bookingBody() {
  const f = form();
  const v = (name) => f.querySelector(`[name="${CSS.escape(name)}"]`).value.trim();
  const int = (name) => (/^-?\d+$/.test(v(name)) ? Number(v(name)) : v(name));
  return {
    customer_id: v("customer_id"),
    flight_ids: [v("flight_ids[0]")],
    passengers: [{ first_name: v("passengers[0].first_name"), last_name: v("passengers[0].last_name") }],
    cabin_class: v("cabin_class"),
    loyalty_points: int("loyalty_points"),
    card: {
      number: v("card.number"),
      exp_month: int("card.exp_month"),
      exp_year: int("card.exp_year"),
      cvc: v("card.cvc"),
      holder_name: v("card.holder_name"),
    },
  };
}

function setBusy(busy) {
  for (const id of ["#btn-success", "#btn-failure", "#btn-clear"]) $(id).disabled = busy;
}

async function run(kind) {
  const f = form();
  clearFieldErrors(f);
  const body = bookingBody();
  if (kind === "success") {
    // The success scenario sends no fail_at and no faults: untick and drop them, so the page
    // shows what was sent.
    for (const box of $all("input.fail-at")) box.checked = false;
    faults = [];
    drawFaults();
  }
  if (kind === "failure") {
    body.fail_at = $all("input.fail-at").filter((b) => b.checked).map((b) => b.value);
    body.faults = faults.slice();
    if (!body.fail_at.length && !body.faults.length) {
      showFieldError(f, { status: 0, message: "Select a step to fail (or add an advanced fault) first." });
      return;
    }
  }
  setBusy(true);
  try {
    const started = await api("POST", "/api/bookings", body);
    const label = kind === "success" ? "success scenario"
      : `failure scenario: ${[...(body.fail_at || []).map((s) => "fail at " + s), ...(body.faults || [])].join(", ")}`;
    watch(started.saga_id, label);
  } catch (err) {
    if (err.field && /^(faults|fail_at)/.test(err.field)) $("#advanced").open = true;
    else if (err.status === 400) $("#booking-details").open = true;
    showFieldError(f, err);
    setBusy(false);
  }
}

function stopWatching() {
  if (source) { source.close(); source = null; }
}

function watch(sagaId, label) {
  stopWatching();
  seen = new Set();
  current = null;
  history.replaceState(null, "", `${location.pathname}?saga=${encodeURIComponent(sagaId)}`);
  $("#result").hidden = false;
  $("#scenario").textContent = label || "";
  $("#events").replaceChildren();
  $("#saga-log").textContent = "";
  $("#log").hidden = false;
  $("#proof").hidden = true;
  for (const step of steps) resetStepBox(step.name);
  const link = $("#saga-id");
  link.textContent = sagaId;
  link.href = `/api/sagas/${encodeURIComponent(sagaId)}`;
  setBusy(true);
  source = new EventSource(`/api/sagas/${encodeURIComponent(sagaId)}/events`);
  source.addEventListener("saga", (e) => render(JSON.parse(e.data)));
  source.addEventListener("saga_event", (e) => addEvent(JSON.parse(e.data)));
  source.addEventListener("end", (e) => { stopWatching(); finished(JSON.parse(e.data)); });
  source.onerror = async () => {
    // EventSource reconnects by itself after a dropped stream; a refused one (404, 503) is final.
    if (!source || source.readyState !== EventSource.CLOSED) return;
    stopWatching();
    setBusy(false);
    try { await api("GET", `/api/sagas/${encodeURIComponent(sagaId)}`); } catch (err) { showSagaError(err.message); }
  };
  source.addEventListener("api_error", (e) => {
    stopWatching();
    const body = JSON.parse(e.data);
    if (/orchestrator/.test(body.error)) showBanner(body.error);
    showSagaError(body.error);
    setBusy(false);
  });
}

function addEvent(event) {
  if (seen.has(event.seq)) return;
  seen.add(event.seq);
  const what = [event.type.replace(/_EVENT$/, "").toLowerCase().replace(/_/g, " "), event.step, event.attempt ? `attempt ${event.attempt}` : "", event.message]
    .filter(Boolean).join(" · ");
  $("#events").append(el("li", { dataset: { testid: "event", type: event.type } }, el("span", { class: "muted" }, fmtTime(event.at) + " "), what));
  const log = $("#saga-log");
  log.textContent += event.log + "\n";
}

function showSagaError(message) {
  const box = $("#saga-error");
  box.textContent = message;
  box.hidden = !message;
}

function duration(step) {
  return step.duration_ms || step.state === "SUCCEEDED" || step.state === "STEP_FAILED" ? `${step.duration_ms} ms` : "";
}

function stepDetail(step, booking) {
  if (step.error) return step.error;
  const r = step.result || {};
  if (!booking) {
    // Another saga's step: its reply's fields (but the saga id), as `key=value`.
    return Object.entries(r).filter(([k]) => k !== "saga_id").map(([k, v]) => `${k}=${plainValue(v)}`).join(" ");
  }
  if (r.booking_reference) return `booking ${r.booking_reference}`;
  if (r.transaction_id) return `${r.transaction_id} (${money(r.amount_cents, r.currency)})`;
  if (r.points_deducted !== undefined) return `${r.points_deducted} points deducted`;
  if (r.seats) return `seats ${r.seats.map((s) => s.seat).join(", ")}`;
  return "";
}

// Opened on one saga (?saga=..., e.g. after booking on the Flights page or from the Sagas
// list): a page for that saga, without the scenario controls; its steps drawn as cards above
// its timeline, from its own declaration.
let sagaView = false;

function enterSagaView() {
  sagaView = true;
  document.body.dataset.view = "saga";
  form().hidden = true;
  $("#steps-heading").after($("#flow")); // the step cards, out of the (hidden) scenario form
  $("#saga-view-note").hidden = false;
  $("#page-title").textContent = sagaName;
  $('[data-testid="nav-test"]').classList.remove("active"); // not the test page's scenarios
  document.title = `${sagaName} · FlightSaga`;
}

// A saga other than a booking: its own steps (from its declaration, /api/saga-types by its
// name and version) and its name on the page.
function showKind(saga, types) {
  const type = sagaType(types, saga);
  sagaKind = type;
  steps = stepsOf(saga, types);
  sagaName = `${saga.saga.charAt(0).toUpperCase()}${saga.saga.slice(1)} saga`;
  $("#page-title").textContent = sagaName;
  $("#saga-view-what").textContent = `${type ? type.title : saga.saga} (${saga.saga} v${saga.saga_version}): the progress of one saga, live.`;
  document.title = `${sagaName} · FlightSaga`;
  const link = $('[data-testid="new-scenario"]'); // the test page's scenarios are bookings
  link.textContent = "Start another saga";
  link.href = "/sagas";
  drawFlow();
}

// The saga page: which saga it is first (its steps are drawn from its kind), then live.
async function openSaga(sagaId) {
  enterSagaView();
  let saga = null;
  try {
    saga = await api("GET", `/api/sagas/${encodeURIComponent(sagaId)}`);
  } catch (_) { /* watch() says why */ }
  if (saga && !isBooking(saga)) {
    let types = [];
    try { types = await sagaTypes(); } catch (_) { /* the record's own step names */ }
    showKind(saga, types);
  }
  watch(sagaId, "");
}

function showTitle(saga) {
  if (!sagaView) return;
  const label = stateLabel(saga.status);
  document.title = `${sagaName} ${saga.saga_id.slice(0, 8)}${label ? ` (${label})` : ""} · FlightSaga`;
}

function render(saga) {
  current = saga;
  showTitle(saga);
  const status = $("#saga-status");
  status.replaceChildren(stateBadge(saga.status));
  status.dataset.status = saga.status;
  $("#correlation-id").textContent = saga.correlation_id;
  $("#trace-id").textContent = saga.trace_id || "";
  $("#booking-reference").textContent = saga.booking_reference || "";
  $("#booking-result").hidden = !saga.booking_reference;
  // Another saga than a booking: its input, and once completed its facts.
  const booking = isBooking(saga);
  $("#saga-input").textContent = booking ? "" : JSON.stringify(orderedInput(saga, sagaKind));
  $("#saga-input-line").hidden = booking;
  $("#facts-what").textContent = booking ? "" : `${sagaName.replace(/ saga$/, "")} completed`;
  $("#saga-facts").textContent = booking ? "" : factsText(saga);
  $("#facts-result").hidden = booking || saga.status !== "COMPLETED";
  showSagaError(saga.status === "COMPLETED" ? "" : saga.error);

  const body = $("#timeline-body");
  body.replaceChildren(...saga.steps.map((step) =>
    el("tr", { dataset: { testid: `timeline-row-${step.name}`, state: step.state } },
      el("td", { class: "num" }, step.index),
      el("td", { class: "mono" }, step.name),
      el("td", {}, stateBadge(step.state, { testid: `timeline-state-${step.name}` })),
      el("td", { class: "num" }, step.attempts),
      el("td", { class: "num" }, duration(step)),
      el("td", {}, stepDetail(step, booking)))));

  for (const step of saga.steps) {
    const box = $(`#flow-${step.name}`);
    if (!box) continue;
    box.dataset.state = step.state;
    $(`#state-${step.name}`).replaceChildren(stateBadge(step.state));
    $(`#attempts-${step.name}`).textContent = step.attempts ? `${step.attempts} attempt${step.attempts > 1 ? "s" : ""}` : "";
    $(`#duration-${step.name}`).textContent = duration(step);
  }

  // Compensations: those done, in the order they ran, then any still in progress or stuck.
  const byName = Object.fromEntries(saga.steps.map((s) => [s.name, s]));
  const order = saga.compensation_order.slice();
  for (const step of saga.steps.slice().reverse()) {
    if (["COMPENSATING_STEP", "COMPENSATION_FAILED"].includes(step.state) && !order.includes(step.name)) order.push(step.name);
  }
  const list = $("#compensations");
  list.replaceChildren(...order.map((name) => {
    const step = byName[name] || {};
    return el("li", { class: "compensation", dataset: { testid: `compensation-${name}`, state: step.state || "" } },
      el("span", { class: "mono" }, name), " ", stateBadge(step.state, { testid: `compensation-state-${name}` }),
      el("span", { class: "muted" }, ` ${step.compensation_attempts || 0} attempt(s)`),
      step.compensation_error ? el("span", { class: "form-error" }, ` ${step.compensation_error}`) : "");
  }));
  $("#no-compensations").hidden = order.length > 0;
  $("#resume-panel").hidden = saga.status !== "FAILED";
  showCancel(saga);
}

// A running saga may be cancelled (operator role); a cancelled one says by whom and why.
function showCancel(saga) {
  $("#cancel-panel").hidden = saga.status !== "RUNNING" || Boolean(saga.cancelled_by);
  const line = $("#cancelled-line");
  line.textContent = saga.cancelled_by
    ? `Cancelled by ${saga.cancelled_by} at ${fmtTime(saga.cancelled_at)}: ${saga.cancel_reason}`
    : "";
  line.hidden = !saga.cancelled_by;
}

function showCancelError(message) {
  const box = $("#cancel-error");
  box.textContent = message;
  box.hidden = !message;
}

async function cancelSaga(event) {
  event.preventDefault();
  if (!current) return;
  const reason = $("#cancel-reason").value.trim();
  if (!reason) {
    showCancelError("Say why: the reason is kept with the saga.");
    $("#cancel-reason").focus();
    return;
  }
  const button = $("#cancel-button");
  button.disabled = true;
  showCancelError("");
  try {
    // The live events render the rest; this record only says the cancel is logged.
    showCancel(await api("POST", `/api/sagas/${encodeURIComponent(current.saga_id)}/cancel`, { reason }));
  } catch (err) {
    showCancelError(err.message);
  } finally {
    button.disabled = false;
  }
}

async function finished(saga) {
  render(saga);
  setBusy(false);
  // The proof reads the booking's participants: a booking's only.
  await Promise.all([isBooking(saga) ? loadProof(saga.saga_id) : null, loadLog(saga.saga_id)]);
}

async function loadLog(sagaId) {
  try {
    const log = await api("GET", `/api/sagas/${encodeURIComponent(sagaId)}/log`);
    $("#saga-log").textContent = log.lines.join("\n") + "\n";
  } catch (_) { /* keep the live lines */ }
}

function proofCard(title, key, part, items) {
  return el("div", { class: "card", dataset: { testid: `proof-${key}` } },
    el("h3", {}, title, " ", badge(part.state, { held: "ok", charged: "ok", confirmed: "ok", deducted: "ok", released: "undone", refunded: "undone", cancelled: "undone", unknown: "bad" }[part.state] || "", `proof-${key}-state`)),
    el("div", { dataset: { testid: `proof-${key}-summary` } }, part.summary || ""),
    items.length ? el("ul", {}, items.map((t) => el("li", {}, t))) : "");
}

async function loadProof(sagaId) {
  let proof;
  try {
    proof = await api("GET", `/api/sagas/${encodeURIComponent(sagaId)}/proof`);
  } catch (err) {
    $("#proof").hidden = false;
    $("#proof-cards").replaceChildren(el("p", { class: "form-error" }, err.message));
    return;
  }
  const seat = proof.seat, points = proof.loyalty, pay = proof.payment, book = proof.booking;
  $("#proof").hidden = false;
  $("#proof-cards").replaceChildren(
    proofCard("Seat service", "seat", seat, (seat.holds || []).map((h) =>
      `${h.flight_id} seat ${h.seat}: held ${fmtClock(h.held_at)}${h.released_at ? ", released " + fmtClock(h.released_at) : ""}`)),
    proofCard("Loyalty service", "loyalty", points, (points.movements || []).map((m) =>
      `${m.kind} ${m.delta > 0 ? "+" : ""}${m.delta} points (balance ${m.balance_after})`)),
    proofCard("Payment service", "payment", pay, (pay.entries || []).map((e) =>
      `${e.kind} ${money(e.amount_cents, e.currency)} ${e.entry_id}`)),
    proofCard("Booking service", "booking", book, (book.bookings || []).map((b) =>
      `${b.booking_reference} ${b.status}`)),
  );
}

async function resume() {
  if (!current) return;
  const button = $("#resume-button");
  button.disabled = true;
  try {
    await api("POST", `/api/sagas/${encodeURIComponent(current.saga_id)}/resume`, { clear_faults: $("#resume-clear").checked });
    watch(current.saga_id, "resumed by an operator");
  } catch (err) {
    showSagaError(err.message);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawFlow();
  $("#btn-success").addEventListener("click", () => run("success"));
  $("#btn-failure").addEventListener("click", () => run("failure"));
  $("#btn-clear").addEventListener("click", clearSelections);
  $("#add-fault").addEventListener("click", addFault);
  $("#resume-button").addEventListener("click", resume);
  $("#cancel-panel").addEventListener("submit", cancelSaga);
  $("#proof-refresh").addEventListener("click", () => current && isBooking(current) && loadProof(current.saga_id));
  checkHealth();
  const params = new URLSearchParams(location.search);
  if (params.get("saga")) openSaga(params.get("saga"));
  const flight = form().querySelector('[name="flight_ids[0]"]');
  flight.value = params.get("flight") || `FS101-${dayFromToday(1).replaceAll("-", "")}`;
});
