// The flights page: search (one-way or round trip), "No flights found", book from a result.
"use strict";

let legs = []; // flight ids being booked

function legRow(leg, group) {
  // A departed flight (a search of today) is listed but cannot be picked or booked.
  const gone = leg.departed ? { disabled: true, title: "departed: cannot be booked" } : {};
  return el("tr", { class: leg.departed ? "departed muted" : "", dataset: { testid: `flight-${leg.flight_id}`, departed: leg.departed ? "true" : "false" } },
    el("td", {}, el("input", { type: "radio", name: `pick-${group}`, value: leg.flight_id, dataset: { testid: `pick-${leg.flight_id}` }, onchange: updateRoundTrip, ...gone })),
    el("td", { class: "mono" }, leg.flight_number),
    el("td", {}, leg.origin),
    el("td", {}, leg.destination),
    el("td", { class: "nowrap", title: "local time at the airport" }, leg.departure_local),
    el("td", { class: "nowrap", title: "local time at the airport" }, leg.arrival_local),
    el("td", { class: "muted" }, leg.aircraft),
    el("td", { class: "num" }, money(leg.fare_cents)),
    el("td", { class: "num" }, leg.seats_available),
    el("td", {}, el("button", { type: "button", dataset: { testid: `book-${leg.flight_id}` }, onclick: () => openBooking([leg.flight_id]), ...gone }, leg.departed ? "Departed" : "Book")));
}

function updateRoundTrip() {
  const out = $('input[name="pick-out"]:checked');
  const back = $('input[name="pick-in"]:checked');
  $("#book-round-trip").disabled = !(out && back);
}

async function search(event) {
  event.preventDefault();
  const form = $("#search-form");
  clearFieldErrors(form);
  const data = new FormData(form);
  const params = new URLSearchParams();
  for (const [key, value] of data.entries()) if (String(value).trim()) params.set(key, String(value).trim());
  const button = $('[data-testid="search"]');
  button.disabled = true;
  try {
    const result = await api("GET", `/api/flights?${params}`);
    $("#results").hidden = false;
    $("#no-flights").hidden = result.count > 0;
    $("#outbound-block").hidden = result.outbound.length === 0;
    $("#inbound-block").hidden = result.inbound.length === 0;
    $("#outbound").replaceChildren(...result.outbound.map((leg) => legRow(leg, "out")));
    $("#inbound").replaceChildren(...result.inbound.map((leg) => legRow(leg, "in")));
    updateRoundTrip();
    $("#book-form [name=count]").value = $("#search-form [name=passengers]").value || 1;
    $("#book-form [name=cabin_class]").value = $("#search-form [name=cabin_class]").value;
  } catch (err) {
    $("#results").hidden = true;
    showFieldError(form, err);
  } finally {
    button.disabled = false;
  }
}

// One row per passenger; rows are added or removed, never redrawn, so typed names stay put.
function drawPassengers() {
  const n = Math.max(1, Math.min(9, Number($("#book-form [name=count]").value) || 1));
  const rows = $("#passenger-rows");
  let have = rows.querySelectorAll(".passenger").length;
  while (have < n) {
    const i = have++;
    rows.append(el("div", { class: "passenger grid", dataset: { testid: `passenger-${i}` } },
      el("label", {}, `Passenger ${i + 1} first name`,
        el("input", { name: `passengers[${i}].first_name`, value: i ? "" : "Ada", dataset: { testid: `book-first-${i}` } }),
        el("span", { class: "field-error", dataset: { testid: `error-passengers[${i}].first_name` } })),
      el("label", {}, "last name",
        el("input", { name: `passengers[${i}].last_name`, value: i ? "" : "Lovelace", dataset: { testid: `book-last-${i}` } }),
        el("span", { class: "field-error", dataset: { testid: `error-passengers[${i}].last_name` } }))));
  }
  while (have > n) { rows.lastElementChild.remove(); have--; }
}

function openBooking(flightIds) {
  legs = flightIds;
  $("#book-legs").textContent = flightIds.join(" + ");
  $("#book-panel").hidden = false;
  clearFieldErrors($("#book-form"));
  drawPassengers();
  $("#book-panel").scrollIntoView({ behavior: "smooth" });
}

async function book(event) {
  event.preventDefault();
  const form = $("#book-form");
  clearFieldErrors(form);
  const v = (name) => form.querySelector(`[name="${CSS.escape(name)}"]`).value.trim();
  const int = (name) => (/^-?\d+$/.test(v(name)) ? Number(v(name)) : v(name));
  const passengers = $all("#passenger-rows .passenger").map((_, i) => ({
    first_name: v(`passengers[${i}].first_name`),
    last_name: v(`passengers[${i}].last_name`),
  }));
  const body = {
    customer_id: v("customer_id"),
    flight_ids: legs,
    passengers,
    cabin_class: v("cabin_class"),
    loyalty_points: int("loyalty_points"),
    card: { number: v("card.number"), exp_month: int("card.exp_month"), exp_year: int("card.exp_year"), cvc: v("card.cvc"), holder_name: v("card.holder_name") },
  };
  const button = $('[data-testid="book-submit"]');
  button.disabled = true;
  try {
    const started = await api("POST", "/api/bookings", body);
    location.href = started.links.page; // watch it on the test page's timeline
  } catch (err) {
    showFieldError(form, err);
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const date = $("#search-form [name=date]");
  if (!date.value) date.value = dayFromToday(1);
  $("#search-form").addEventListener("submit", search);
  $("#book-form").addEventListener("submit", book);
  $("#book-form [name=count]").addEventListener("input", drawPassengers);
  $("#book-cancel").addEventListener("click", () => { $("#book-panel").hidden = true; });
  $("#book-round-trip").addEventListener("click", () =>
    openBooking([$('input[name="pick-out"]:checked').value, $('input[name="pick-in"]:checked').value]));
  checkHealth();
});
