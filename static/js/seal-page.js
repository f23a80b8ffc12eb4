// The seal page (templates/bidding/seal.html): fill in the bid summary, pick the
// files, seal them in this browser and upload the sealed file with resume.
//
// All texts come translated from the server (json_script "seal-config" → texts),
// so this file holds no user-facing language of its own.

import { getKeySet, groupFingerprint, setMessages } from "./keystore.js";
import { SealInputError, normaliseSummary } from "./sealing.js";
import { UploadError, abandonUpload, getJSON, pendingUploads, resumeUpload, sealAndUpload, uploadStatus } from "./upload.js";

const config = JSON.parse(document.getElementById("seal-config").textContent);
const T = config.texts;
const $ = (id) => document.getElementById(id);

setMessages(T);

let lot = null;
let keyset = null;
let pending = null;
let running = null; // {controller, record, files} while sealing/uploading
let clockOffset = Date.parse(config.server_now) - Date.now();

function format(text, params = {}) {
  return String(text ?? "").replace(/%\((\w+)\)s/g, (_, name) => (name in params ? String(params[name]) : ""));
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const parts = { days: Math.floor(s / 86400), hours: Math.floor((s % 86400) / 3600), minutes: Math.floor((s % 3600) / 60), seconds: s % 60 };
  if (parts.days) return format(T.duration_days, parts);
  if (parts.hours) return format(T.duration_hours, parts);
  if (parts.minutes) return format(T.duration_minutes, parts);
  return format(T.duration_seconds, parts);
}

function messageFor(error) {
  if (error instanceof UploadError) {
    if (error.serverMessage) return error.serverMessage;
    return format(T[error.code] || T.failed, { ...error.params, message: error.code });
  }
  if (error instanceof SealInputError) {
    const params = { ...error.params, message: error.code };
    if (error.code === "seal.too_large") params.max = formatBytes(error.params.max);
    return format(T[error.code] || T.failed, params);
  }
  if (error && error.name === "AbortError") return T.paused;
  if (error && error.code && T[error.code]) return T[error.code];
  return format(T.failed, { message: (error && error.message) || String(error) });
}

function showError(text) {
  $("seal-error").textContent = text || "";
}

function insecure() {
  return !window.isSecureContext || !window.crypto || !window.crypto.subtle;
}

// --- deadline countdown, by the server's clock -------------------------------------------

function serverNow() {
  return Date.now() + clockOffset;
}

function tick() {
  const left = (Date.parse(lot ? lot.bid_deadline : config.bid_deadline) - serverNow()) / 1000;
  const chip = $("seal-countdown");
  if (left <= 0) {
    chip.textContent = T.deadline_passed;
    if (!running) $("seal-submit").disabled = true;
    return;
  }
  chip.textContent = format(T.countdown, { time: formatDuration(left) });
}

// --- key status ---------------------------------------------------------------------------

async function showKeys() {
  if (!lot.opening_key) {
    showError(T["seal.no_opening_key"]);
    return null;
  }
  $("seal-opening-fingerprint").textContent = groupFingerprint(lot.opening_key.fingerprint);
  const yours = lot.your_key;
  const missing = (text) => {
    $("seal-key-missing").hidden = false;
    $("seal-key-missing-text").textContent = text;
  };
  if (!yours) {
    $("seal-key-held").textContent = T.not_held;
    missing(T.no_registered_key);
    return null;
  }
  $("seal-encryption-fingerprint").textContent = groupFingerprint(yours.encryption_fingerprint);
  $("seal-signing-fingerprint").textContent = groupFingerprint(yours.signing_fingerprint);
  const held = await getKeySet(yours.encryption_fingerprint);
  if (!held || held.signing_fingerprint !== yours.signing_fingerprint || held.organisation !== config.organisation) {
    $("seal-key-held").textContent = T.not_held;
    missing(T.key_not_held);
    return null;
  }
  $("seal-key-held").textContent = T.held;
  return held;
}

// --- the form --------------------------------------------------------------------------------

function renderExtraFields() {
  const box = $("seal-extra-fields");
  box.replaceChildren();
  for (const field of lot.bid_fields || []) {
    const wrap = document.createElement("div");
    wrap.className = "field" + (field.required ? " required" : "");
    const label = document.createElement("label");
    label.htmlFor = `seal-field-${field.key}`;
    label.textContent = field.label;
    const input = document.createElement("input");
    input.type = "text";
    input.id = label.htmlFor;
    input.name = `field_${field.key}`;
    input.maxLength = 500;
    input.dataset.fieldKey = field.key;
    input.required = Boolean(field.required);
    const error = document.createElement("span");
    error.className = "field-error";
    error.dataset.errorFor = field.key;
    wrap.append(label, input, error);
    box.append(wrap);
  }
}

function clearFieldErrors() {
  for (const el of document.querySelectorAll("[data-error-for]")) el.textContent = "";
  showError("");
}

function fieldError(field, text) {
  const el = document.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  if (el) el.textContent = text;
  else showError(text);
}

function readSummary() {
  const fields = {};
  let missing = false;
  for (const input of document.querySelectorAll("[data-field-key]")) {
    const value = input.value.trim();
    if (input.required && !value) {
      fieldError(input.dataset.fieldKey, T.required);
      missing = true;
    }
    if (value) fields[input.dataset.fieldKey] = value;
  }
  const raw = {
    price: $("seal-price").value,
    duration_days: $("seal-duration").value,
    quality: $("seal-quality").value,
    fields,
  };
  let summary = null;
  try {
    summary = normaliseSummary(raw);
  } catch (error) {
    if (error instanceof SealInputError) fieldError(error.params.field || "price", T[error.code] || error.code);
    else throw error;
  }
  return missing ? null : summary;
}

function pickedFiles() {
  return Array.from($("seal-files").files || []);
}

function showPicked() {
  const files = pickedFiles();
  const list = $("seal-file-list");
  list.replaceChildren();
  let total = 0;
  for (const file of files) {
    total += file.size;
    const row = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = file.name;
    const size = document.createElement("td");
    size.className = "num mono";
    size.textContent = formatBytes(file.size);
    row.append(name, size);
    list.append(row);
  }
  $("seal-file-total").textContent = formatBytes(total);
  $("seal-file-table").hidden = files.length === 0;
  clearFieldErrors();
  if (lot && total > lot.max_size) fieldError("files", format(T["seal.too_large"], { max: formatBytes(lot.max_size) }));
}

// --- sealing and uploading -----------------------------------------------------------------

const PHASES = { sealing: "phase_sealing", uploading: "phase_uploading", finishing: "phase_finishing", done: "phase_done" };

function onProgress(p) {
  $("seal-phase").textContent = T[PHASES[p.phase]] || "";
  $("seal-progress").value = p.percent;
  const parts = [`${p.percent.toFixed(1)}%`, `${formatBytes(p.done)} / ${formatBytes(p.total)}`];
  if (p.speed > 0) parts.push(format(T.speed, { speed: formatBytes(p.speed) }));
  if (p.secondsLeft !== null && p.phase === "uploading") parts.push(format(T.time_left, { time: formatDuration(p.secondsLeft) }));
  $("seal-progress-text").textContent = parts.join(" · ");
  $("seal-retry").textContent = "";
}

function onRetry({ attempt, wait }) {
  $("seal-retry").textContent = format(T.retrying, { attempt, seconds: Math.ceil(wait / 1000) });
}

function beforeUnload(event) {
  event.preventDefault();
  event.returnValue = "";
}

async function run(work) {
  const controller = new AbortController();
  running = { controller };
  $("seal-progress-panel").hidden = false;
  $("seal-submit").disabled = true;
  $("seal-resume-button").disabled = true;
  $("seal-cancel").hidden = false;
  showError("");
  window.addEventListener("beforeunload", beforeUnload);
  try {
    const done = await work(controller.signal);
    showReceipt(done);
    $("seal-form-panel").hidden = true;
    $("seal-resume").hidden = true;
    pending = null;
  } catch (error) {
    $("seal-phase").textContent = "";
    showError(messageFor(error));
    await offerResume();
  } finally {
    window.removeEventListener("beforeunload", beforeUnload);
    running = null;
    $("seal-cancel").hidden = true;
    $("seal-resume-button").disabled = false;
    $("seal-submit").disabled = !keyset || !lot.accepting_bids;
  }
}

function submit(event) {
  event.preventDefault();
  clearFieldErrors();
  if (running || !keyset) return;
  const summary = readSummary();
  const files = pickedFiles();
  if (!files.length) fieldError("files", T.choose_files);
  if (!summary || !files.length) return;
  if (!window.confirm(T.confirm_submit)) return;
  run((signal) =>
    sealAndUpload({
      lot,
      keyset,
      user: config.user,
      summary,
      files,
      csrfToken: config.csrf_token,
      signal,
      onProgress,
      onRetry,
      onCreated: (record) => {
        // Kept so "continue" works at once with the files still picked.
        pending = { record, files };
      },
    }),
  );
}

// --- resuming ---------------------------------------------------------------------------------

async function offerResume() {
  $("seal-resume").hidden = true;
  const saved = await pendingUploads(lot.lot, config.user);
  for (const record of saved) {
    let status;
    try {
      status = await uploadStatus(record);
    } catch (error) {
      if (error instanceof UploadError && error.code === "upload.gone") continue; // forgotten: nothing to resume
      status = null; // the server cannot be reached now: still offer to continue later
    }
    if (status && status.status !== "open" && status.status !== "complete") continue;
    showResume(record, status);
    return;
  }
}

function showResume(record, status) {
  const files = pending && pending.record.upload === record.upload ? pending.files : null;
  pending = { record, files };
  if (status && status.status === "complete") {
    // Completed while this page was not looking (the last answer was lost): show the
    // receipt — after the current run (if any) has finished.
    setTimeout(() => run((signal) => resumeUpload(record, null, keyset, { csrfToken: config.csrf_token, signal, onProgress, onRetry })));
    return;
  }
  $("seal-resume-text").textContent = format(T.resume_intro, {
    created: new Date(record.created).toLocaleString(),
    received: formatBytes((status && status.received) || 0),
    total: formatBytes(record.size),
  });
  const body = $("seal-resume-files");
  body.replaceChildren();
  for (const entry of record.files) {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = entry.name;
    const size = document.createElement("td");
    size.className = "num mono";
    size.textContent = formatBytes(entry.size);
    row.append(name, size);
    body.append(row);
  }
  $("seal-resume").hidden = false;
}

function resume() {
  if (running || !pending || !keyset) return;
  const repicked = Array.from($("seal-resume-picker").files || []);
  const files = repicked.length ? repicked : pending.files;
  if (!files || !files.length) {
    showError(T.choose_same_files);
    return;
  }
  // The summary was never stored (it holds the price): the bidder enters it again.
  clearFieldErrors();
  const summary = readSummary();
  if (!summary) return;
  const { record } = pending;
  run((signal) =>
    resumeUpload(record, files, keyset, { csrfToken: config.csrf_token, signal, onProgress, onRetry, summary }),
  );
}

async function abandon() {
  if (running || !pending) return;
  if (!window.confirm(T.confirm_abandon)) return;
  try {
    await abandonUpload(pending.record, { csrfToken: config.csrf_token });
    pending = null;
    $("seal-resume").hidden = true;
    showError("");
  } catch (error) {
    showError(messageFor(error));
  }
}

// --- the receipt ------------------------------------------------------------------------------

function showReceipt(done) {
  const receipt = done.receipt || {};
  $("seal-progress-panel").hidden = true;
  $("seal-receipt").hidden = false;
  $("receipt-no").textContent = receipt.receipt_no || "";
  $("receipt-time").textContent = receipt.received_at || "";
  $("receipt-size").textContent = receipt.size ?? "";
  $("receipt-sha256").textContent = receipt.ciphertext_sha256 || "";
  $("receipt-seq").textContent = receipt.audit_seq ?? "";
  const check = $("receipt-sha256-check");
  if (done.sha256) {
    const same = done.sha256 === receipt.ciphertext_sha256;
    check.textContent = same ? T.hash_matches : T.hash_differs;
    check.className = same ? "small" : "small field-error";
  }
  const json = new Blob([JSON.stringify(receipt, null, 2) + "\n"], { type: "application/json" });
  $("receipt-json").href = URL.createObjectURL(json);
  $("receipt-json").download = `${receipt.receipt_no || "receipt"}.json`;
  $("receipt-pdf").href = done.receipt_pdf || `/api/bids/${done.bid}/receipt.pdf`;
  $("seal-receipt").scrollIntoView({ block: "start" });
}

// --- start --------------------------------------------------------------------------------

async function start() {
  $("seal-cancel").hidden = true;
  tick();
  setInterval(tick, 1000);
  if (insecure()) {
    $("seal-insecure").hidden = false;
    for (const id of ["seal-form-panel", "seal-keys", "seal-resume"]) $(id).hidden = true;
    document.body.dataset.sealReady = "insecure";
    return;
  }
  $("seal-form").addEventListener("submit", submit);
  $("seal-files").addEventListener("change", showPicked);
  $("seal-files-button").addEventListener("click", () => $("seal-files").click());
  $("seal-resume-picker-button").addEventListener("click", () => $("seal-resume-picker").click());
  $("seal-resume-button").addEventListener("click", resume);
  $("seal-abandon-button").addEventListener("click", abandon);
  $("seal-resume-picker").addEventListener("change", () => {
    const names = Array.from($("seal-resume-picker").files || [], (f) => f.name);
    $("seal-resume-picked").textContent = names.join(T.list_separator);
  });
  $("seal-cancel").addEventListener("click", () => running && running.controller.abort());
  try {
    const started = Date.now();
    lot = await getJSON(config.api_lot);
    // The server's clock decides the deadline (EB 27); correct for the request's time in flight.
    const answered = Date.now();
    if (lot.server_time) clockOffset = Date.parse(lot.server_time) - (started + answered) / 2;
  } catch (error) {
    showError(messageFor(error));
    document.body.dataset.sealReady = "error";
    return;
  }
  $("seal-files-help").textContent = format(T.files_help, { max: formatBytes(lot.max_size) });
  renderExtraFields();
  tick();
  keyset = await showKeys();
  if (!lot.accepting_bids) {
    showError(T.not_accepting);
    $("seal-form-panel").hidden = false;
  }
  $("seal-submit").disabled = !keyset || !lot.accepting_bids;
  await offerResume();
  document.body.dataset.sealReady = "ready";
}

start();
