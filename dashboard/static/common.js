// Shared helpers for the dashboard pages. Plain browser JavaScript, no build step.
"use strict";

// STEPS (name, label, short, undo of each booking step) and BOOKING_SAGA (its name) come from
// /saga/booking.js, served from the saga's declaration (sagas/booking/declaration.py) and
// loaded before this file. Every other served saga's steps come from /api/saga-types.
const TERMINAL = new Set(["COMPLETED", "COMPENSATED", "FAILED"]);

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    this.code = body && body.code;
    this.errors = (body && body.errors) || [];
  }
}

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

// el("td", {class: "num", dataset: {testid: "x"}}, "text", child...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text, cls, testid) {
  return el("span", { class: `badge ${cls || text}`, dataset: testid ? { testid } : undefined }, text);
}

// Saga statuses and step states: a readable label for each enum value. The value itself stays
// in data-state (tests and CSS use it); the colour comes from style.css's [data-state] rules,
// the same on every page.
const STATE_LABELS = {
  // saga statuses
  RUNNING: "running",
  COMPENSATING: "compensating",
  COMPLETED: "completed",
  COMPENSATED: "compensated",
  FAILED: "failed",
  // step states
  PENDING: "pending",
  EXECUTING: "executing",
  SUCCEEDED: "succeeded",
  STEP_FAILED: "failed",
  UNKNOWN_OUTCOME: "outcome unknown",
  COMPENSATING_STEP: "compensating",
  COMPENSATED_STEP: "compensated",
  COMPENSATION_FAILED: "compensation failed",
  SKIPPED: "skipped",
};
function stateLabel(state) {
  if (!state) return "";
  return STATE_LABELS[state] || String(state).toLowerCase().replace(/_/g, " ");
}
// A coloured badge for a saga status or step state: shows `text` (default: the readable label),
// keeps the enum value in data-state, and says the state in its title when the text does not.
function stateBadge(state, opts) {
  const o = opts || {};
  const label = stateLabel(state) || "?";
  const text = o.text || label;
  const dataset = { state: state || "" };
  if (o.testid) dataset.testid = o.testid;
  return el("span", { class: "badge state", dataset, title: o.title || (text === label ? undefined : `${text}: ${label}`) }, text);
}

// The orchestrator-unreachable banner, on every page.
function showBanner(message) {
  const banner = $("#banner-unreachable");
  if (!banner) return;
  banner.textContent = message;
  banner.hidden = false;
}
function hideBanner() {
  const banner = $("#banner-unreachable");
  if (banner) banner.hidden = true;
}

// With auth on (AUTH_TOKENS_FILE), a 401 asks the user for their FlightSaga token once, signs in
// (the dashboard keeps it in an HttpOnly cookie) and retries the call.
async function signIn() {
  const token = window.prompt("This FlightSaga needs a token (FLIGHTSAGA_TOKEN). Token:");
  if (!token) return false;
  const response = await fetch("/api/session", {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({ token: token.trim() }),
  });
  return response.ok;
}

async function api(method, path, body, retried) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    showBanner("The dashboard itself is unreachable: " + err.message);
    throw new ApiError(0, { error: "dashboard unreachable: " + err.message });
  }
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401 && !retried && path !== "/api/session" && (await signIn())) {
    return api(method, path, body, true);
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 503 && /orchestrator/.test(error.message)) showBanner(error.message);
    throw error;
  }
  if (path.startsWith("/api/")) hideBanner();
  return data;
}

async function checkHealth() {
  try {
    const health = await api("GET", "/healthz");
    const orch = health.peers && health.peers.orchestrator;
    if (orch && orch.status !== "SERVING") {
      showBanner(`orchestrator unreachable at ${orch.addr} (${orch.env})`);
    } else {
      hideBanner();
    }
  } catch (_) { /* the banner is already up */ }
}

// Validation errors: the message next to the field (data-testid="error-<field>"), or in the
// form's general error box when there is no such field on the page.
function clearFieldErrors(form) {
  for (const node of $all(".field-error", form)) node.textContent = "";
  for (const node of $all(".invalid", form)) node.classList.remove("invalid");
  const box = $(".form-error", form);
  if (box) { box.textContent = ""; box.hidden = true; }
}
function showFieldError(form, error) {
  const fields = error.errors && error.errors.length ? error.errors : [{ field: error.field, message: error.message }];
  let shown = false;
  for (const { field, message } of fields) {
    if (!field) continue;
    // "faults[1].arg" has no input of its own: its message goes to the "faults" slot.
    const slot = form.querySelector(`[data-testid="error-${CSS.escape(field)}"]`)
      || form.querySelector(`[data-testid="error-${CSS.escape(field.split(/[.[]/)[0])}"]`);
    if (slot) {
      slot.textContent = message;
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (input) input.classList.add("invalid");
      shown = true;
    }
  }
  const box = $(".form-error", form);
  if (box && (!shown || error.status !== 400)) {
    box.textContent = error.message;
    box.hidden = false;
  }
}

// A day `days` from today (UTC) as YYYY-MM-DD: the forms' default date, tomorrow, is never a
// flight that has departed (a departed flight cannot be booked).
function dayFromToday(days) {
  return new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
}
function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
function fmtClock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}
function money(cents, currency) {
  return `${(Number(cents || 0) / 100).toFixed(2)} ${currency || "USD"}`;
}
function stepLabel(name, steps) {
  const step = (steps || STEPS).find((s) => s.name === name);
  return step ? step.short : name;
}

// ---- sagas of any kind ------------------------------------------------------------------
// A booking saga (an orchestrator from before StartSaga leaves `saga` empty) shows its flights
// and booking reference; any other its name, input and facts (what its declaration reports).
function isBooking(saga) { return !saga.saga || saga.saga === BOOKING_SAGA; }

// The served sagas (/api/saga-types: name, version, title, input_fields, steps), asked once.
let sagaTypesAsked = null;
function sagaTypes() {
  if (!sagaTypesAsked) {
    sagaTypesAsked = api("GET", "/api/saga-types").then((data) => data.sagas,
      (err) => { sagaTypesAsked = null; throw err; });
  }
  return sagaTypesAsked;
}
// The declaration a saga runs under: its name and version.
function sagaType(types, saga) {
  return (types || []).find((t) => t.name === saga.saga && t.version === saga.saga_version) || null;
}
// A saga's steps as the pages draw them ({name, label, short, undo}): a booking's from its
// declaration (STEPS), another's from its served type (or, not served, its record's names).
function stepsOf(saga, types) {
  if (isBooking(saga)) return STEPS;
  const type = sagaType(types, saga);
  if (!type) return (saga.steps || []).map((s) => ({ name: s.name, label: s.name, short: s.name, undo: "" }));
  return type.steps.map((s) => ({ name: s.name, label: s.title || s.name, short: s.short || s.title || s.name, undo: s.undo, participant: s.participant }));
}
function plainValue(v) { return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v); }
// A saga's input with its fields in its input message's order (when its type is known).
function orderedInput(saga, type) {
  const input = saga.input || {};
  const order = type ? type.input_fields.filter((k) => k in input) : [];
  const keys = [...order, ...Object.keys(input).filter((k) => !order.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, input[k]]));
}
// A saga's input on one line: its values, in field order (owner and empty ones left out).
function inputText(saga, type) {
  return Object.entries(orderedInput(saga, type))
    .filter(([k, v]) => k !== "owner" && v !== "" && v !== 0 && v !== null)
    .map(([, v]) => plainValue(v)).join(" ");
}
// A saga's facts: `reservation_id=HTL-1 total_cents=41000`.
function factsText(saga) {
  return Object.entries(saga.facts || {}).map(([k, v]) => `${k}=${plainValue(v)}`).join(" ");
}

function markActiveNav() {
  for (const a of $all("header.top nav a")) {
    const testPage = location.pathname === "/" || location.pathname === "/saga/test";
    if (a.getAttribute("href") === location.pathname || (testPage && a.dataset.page === "test")) {
      a.classList.add("active");
    }
  }
}
document.addEventListener("DOMContentLoaded", markActiveNav);
