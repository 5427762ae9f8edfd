// /sagas/bulk: the filter from the query string (as on /sagas), a dry-run count, a
// confirmation, then the job's progress (polled) until it ends.
"use strict";

const FILTER_KEYS = ["customer", "flight", "step", "reason", "since", "until", "saga"];
const LIVE_JOB = new Set(["BULK_RUNNING", "BULK_STOPPING"]);
let matched = 0;
let jobId = "";

function filterOf(params) {
  const f = { status: params.getAll("status").filter((s) => s.trim()) };
  for (const key of FILTER_KEYS) f[key] = params.get(key) || "";
  return f;
}

function describe(f) {
  const parts = [];
  if (f.status.length) parts.push(`state ${f.status.map((s) => s.toUpperCase()).join(" or ")}`);
  for (const key of FILTER_KEYS) if (f[key]) parts.push(`${key} ${f[key]}`);
  return parts.length ? parts.join(", ") : "every saga (no filter)";
}

function action() { return $("input[name=action]:checked").value; }

function request(dryRun) {
  return {
    action: action(),
    filter: filterOf(new URLSearchParams(location.search)),
    dry_run: dryRun,
    clear_faults: $("#bulk-clear-faults").checked,
    reason: $("#bulk-reason").value,
  };
}

function showError(err) {
  const box = $("#bulk-error");
  box.textContent = err ? (err.field ? `${err.field}: ${err.message}`.replace(`${err.field}: ${err.field}: `, `${err.field}: `) : err.message) : "";
  box.hidden = !err;
}

async function count() {
  $("#resume-options").hidden = action() !== "resume";
  $("#cancel-options").hidden = action() !== "cancel";
  $("#bulk-confirm").disabled = true;
  $("#bulk-count").textContent = "Counting…";
  showError(null);
  try {
    const dry = await api("POST", "/api/bulk-jobs", request(true));
    matched = dry.matched;
    const verb = action() === "resume" ? "Resume" : "Cancel";
    $("#bulk-count").textContent = `${matched} sagas match (dry run).`;
    $("#bulk-confirm").textContent = `${verb} ${matched} sagas`;
    $("#bulk-confirm").disabled = matched === 0;
  } catch (err) {
    $("#bulk-count").textContent = "";
    showError(err);
  }
}

async function confirmJob() {
  $("#bulk-confirm").disabled = true;
  showError(null);
  try {
    const job = await api("POST", "/api/bulk-jobs", request(false));
    jobId = job.job_id;
    $("#bulk-job").hidden = false;
    $("#bulk-job-id").textContent = jobId;
    draw(job);
    poll();
  } catch (err) {
    showError(err);
    $("#bulk-confirm").disabled = false;
  }
}

function draw(job) {
  const seen = job.done + job.skipped + job.failed;
  $("#bulk-bar").max = Math.max(job.matched, 1);
  $("#bulk-bar").value = seen;
  $("#bulk-progress").textContent = `${seen} of ${job.matched}: ${job.done} done, ${job.skipped} skipped, ${job.failed} failed`;
  const state = job.state.replace("BULK_", "");
  $("#bulk-state").textContent = job.last_error ? `${state} (last error: ${job.last_error})` : state;
  $("#bulk-stop").disabled = job.state !== "BULK_RUNNING";
}

async function poll() {
  try {
    const job = await api("GET", `/api/bulk-jobs/${encodeURIComponent(jobId)}`);
    draw(job);
    if (LIVE_JOB.has(job.state)) setTimeout(poll, 500);
  } catch (err) {
    showError(err);
    setTimeout(poll, 2000);
  }
}

async function stopJob() {
  try {
    draw(await api("POST", `/api/bulk-jobs/${encodeURIComponent(jobId)}/stop`));
  } catch (err) {
    showError(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  $("#bulk-filter").textContent = describe(filterOf(params));
  if (params.get("action") === "cancel") $("[data-testid=bulk-action-cancel]").checked = true;
  for (const radio of $all("input[name=action]")) radio.addEventListener("change", count);
  $("#bulk-confirm").addEventListener("click", confirmJob);
  $("#bulk-stop").addEventListener("click", stopJob);
  checkHealth();
  count();
});
