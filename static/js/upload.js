// Resumable upload of a sealed bid (contract §4), sealing as it goes.
//
// Protocol: POST /api/lots/<lot>/uploads/ {size} makes an upload; each part i
// (bytes [i*part_size, min(size, (i+1)*part_size)) of the sealed file) is PUT in
// order with X-Part-SHA256; the last part completes the bid and answers with the
// receipt. GET /api/uploads/<id>/ tells which parts the server holds.
//
// Resuming: IndexedDB "sunbid-uploads" keeps, until the upload completes, fails
// or is discarded, only sealing.resumableState(plan): the preamble (the header
// with its wrapped stanzas — exactly what the server already holds), a keyed check
// value of the manifest, and the files' names, sizes and lastModified. Never the
// manifest (it holds the price) and never a key: a payload CryptoKey with
// "encrypt" usage would give the AES-GCM keystream of every chunk, i.e. decrypt
// the bid. Sealing is deterministic for a given plan (see sealing.js), so after a
// dropped connection or a closed tab the bidder enters the same summary again and
// re-picks the same files; sealing.restorePlan() unwraps the file key from the
// bidder stanza with the non-extractable private key (keystore.js) and refuses a
// different summary; the page re-seals from the start, checks every part the
// server already holds against the server's SHA-256 (instead of sending it again)
// and sends only the rest. The ECDSA signature is randomized, but it is the last 64
// bytes of the file and so only ever sent once, in the last part.
//
// Memory: at most two parts (one being sent, one being filled) and one 1 MiB
// chunk are held at a time.
//
// Device id: every request that changes an upload (create, each part, abandon)
// carries X-Sunbid-Device, a random UUID this browser keeps in localStorage
// ("sunbid-device", made on first use). It names nothing but this browser
// profile; the server records it in the upload's audit events so that, after the
// opening, supervisors can see bids of different organisations sent from one
// machine (docs/collusion.md). Without localStorage the requests go without it.

import { SealInputError, b64decode, prepareSeal, restorePlan, resumableState, sealStream, toHex } from "./sealing.js";

export const DB_NAME = "sunbid-uploads";
// Version 2 keeps no manifest and no key (version 1 kept both): upgrading drops the old records.
export const DB_VERSION = 2;
export const STORE = "uploads";

const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

export const DEVICE_STORAGE_KEY = "sunbid-device";
export const DEVICE_HEADER = "X-Sunbid-Device";
const DEVICE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function randomUuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // RFC 9562 version 4 from 16 random bytes (randomUUID is missing in older browsers).
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = toHex(b);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** This browser's device id, made and stored on first use; null when localStorage is unavailable. */
export function deviceId() {
  try {
    let id = localStorage.getItem(DEVICE_STORAGE_KEY);
    if (!id || !DEVICE_ID.test(id)) {
      id = randomUuid();
      localStorage.setItem(DEVICE_STORAGE_KEY, id);
    }
    return id;
  } catch {
    return null; // storage disabled (a private window's policy): the upload goes on without an id
  }
}

function deviceHeaders() {
  const id = deviceId();
  return id ? { [DEVICE_HEADER]: id } : {};
}

/** A refusal by the server ({"error": {"code", "message"}}, message already translated) or a local upload failure. */
export class UploadError extends Error {
  constructor(code, message = "", { status = 0, retryable = false, params = {} } = {}) {
    super(message || code);
    this.name = "UploadError";
    this.code = code;
    this.serverMessage = message;
    this.status = status;
    this.retryable = retryable;
    this.params = params;
  }
}

// --- IndexedDB state ------------------------------------------------------------

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (db.objectStoreNames.contains(STORE)) db.deleteObjectStore(STORE);
      db.createObjectStore(STORE, { keyPath: "upload" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, mode);
    const done = new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    const result = await request(action(tx.objectStore(STORE)));
    await done;
    return result;
  } finally {
    db.close();
  }
}

export const saveState = (record) => withStore("readwrite", (store) => store.put(record));
export const loadState = (upload) => withStore("readonly", (store) => store.get(upload));
export const deleteState = (upload) => withStore("readwrite", (store) => store.delete(upload));

/** Unfinished uploads this browser holds for a lot and a user, newest first. */
export async function pendingUploads(lotId, user) {
  const all = await withStore("readonly", (store) => store.getAll());
  return all
    .filter((r) => r.lot === lotId && r.user === user)
    .sort((a, b) => (a.created < b.created ? 1 : -1));
}

// --- HTTP -------------------------------------------------------------------------

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

/** Backoff before attempt n (1-based): 1 s, 2 s, 4 s, … capped at 15 s, with jitter so clients spread out. */
export function backoffMs(attempt) {
  const base = Math.min(15000, 1000 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : {};
  return new UploadError(error.code || `http.${response.status}`, error.message || "", {
    status: response.status,
    retryable: RETRY_STATUSES.has(response.status),
  });
}

/**
 * fetch with retries on network errors and on 408/429/5xx, backing off between
 * attempts; any other refusal is thrown at once as UploadError. After
 * `maxAttempts` the last error is thrown with retryable = true, so the page can
 * offer "continue" (which resumes from the server's list of parts).
 */
async function fetchRetrying(url, init, { signal, maxAttempts = 6, onRetry } = {}) {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    let error;
    try {
      const response = await fetch(url, { credentials: "same-origin", ...init, signal });
      if (response.ok) return response;
      error = await errorFrom(response);
      if (!error.retryable) throw error;
    } catch (caught) {
      if (caught instanceof UploadError && !caught.retryable) throw caught;
      if (signal?.aborted) throw signal.reason ?? caught;
      error = caught instanceof UploadError ? caught : new UploadError("upload.network", "", { retryable: true });
    }
    if (attempt >= maxAttempts) throw error;
    const wait = backoffMs(attempt);
    onRetry?.({ attempt, wait, error });
    await sleep(wait, signal);
  }
}

function jsonInit(method, csrfToken, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken, ...deviceHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
}

export async function getJSON(url, { signal } = {}) {
  const response = await fetchRetrying(url, { headers: { Accept: "application/json" } }, { signal });
  return response.json();
}

// --- progress ------------------------------------------------------------------------

/**
 * Percent, speed (bytes/s over the last few seconds of sending) and time left.
 * Parts the server already had count as done but not towards the speed.
 */
export class Progress {
  constructor(total, onProgress, windowMs = 5000) {
    this.total = total;
    this.done = 0;
    this.sent = 0;
    this.samples = [];
    this.windowMs = windowMs;
    this.onProgress = onProgress;
    this.phase = "sealing";
  }

  advance(bytes, { sent }) {
    this.done += bytes;
    if (sent) {
      this.sent += bytes;
      this.samples.push([performance.now(), this.sent]);
    }
    this.report();
  }

  setPhase(phase) {
    this.phase = phase;
    this.report();
  }

  report() {
    const now = performance.now();
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
    let speed = 0;
    if (this.samples.length >= 2) {
      const [t0, b0] = this.samples[0];
      const [t1, b1] = this.samples[this.samples.length - 1];
      if (t1 > t0) speed = ((b1 - b0) * 1000) / (t1 - t0);
    }
    const remaining = this.total - this.done;
    this.onProgress?.({
      phase: this.phase,
      done: this.done,
      total: this.total,
      percent: this.total ? (100 * this.done) / this.total : 0,
      speed,
      secondsLeft: speed > 0 ? remaining / speed : null,
    });
  }
}

// --- the upload itself -----------------------------------------------------------------

async function sha256Hex(bytes) {
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

/**
 * Cut the sealed stream into parts of part_size and hand each to `emit(index, bytes)`.
 * Pieces are copied into a fresh part buffer so only one part is being filled.
 */
async function forEachPart(pieces, size, partSize, emit) {
  let index = 0;
  let buffer = new Uint8Array(Math.min(partSize, size));
  let filled = 0;
  let produced = 0;
  for await (const piece of pieces) {
    let at = 0;
    produced += piece.length;
    if (produced > size) throw new SealInputError("seal.size_mismatch");
    while (at < piece.length) {
      const take = Math.min(buffer.length - filled, piece.length - at);
      buffer.set(piece.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === buffer.length) {
        const start = index * partSize;
        await emit(index, buffer, start + buffer.length === size);
        index += 1;
        const left = size - index * partSize;
        buffer = left > 0 ? new Uint8Array(Math.min(partSize, left)) : null;
        filled = 0;
      }
    }
  }
  if (produced !== size) throw new SealInputError("seal.size_mismatch");
}

/**
 * Seal `files` with the stored plan and send the parts the server lacks.
 * serverParts: [{index, size, sha256}] as GET /api/uploads/<id>/ lists them.
 * Returns {bid, receipt, receipt_pdf, sha256} once the last part is in.
 */
async function runUpload(record, plan, files, signingKey, serverParts, options) {
  try {
    return await sendUpload(record, plan, files, signingKey, serverParts, options);
  } catch (error) {
    if (error instanceof UploadError && error.status >= 400 && !error.retryable) {
      // A refusal may have ended the upload (a refused header, the deadline): then the
      // local state goes too (uploadStatus forgets it). Best effort: the error is what counts.
      await uploadStatus(record, { signal: options.signal }).catch(() => {});
    }
    throw error;
  }
}

async function sendUpload(record, plan, files, signingKey, serverParts, options) {
  const { csrfToken, signal, onProgress, onRetry } = options;
  const progress = new Progress(record.size, onProgress);
  const { pieces, result } = sealStream(plan, files, signingKey);
  const have = new Map(serverParts.map((p) => [p.index, p.sha256]));
  let inflight = null;
  let completion = null;

  const put = async (index, bytes, hash, last) => {
    let response;
    try {
      response = await send(index, bytes, hash);
    } catch (error) {
      // A refused repeat of the last part may only mean the first attempt got
      // through and completed the bid: ask the server before giving up.
      if (!last || !(error instanceof UploadError) || error.retryable) throw error;
      completion = await fetchCompletion(record, { signal }).catch(() => {
        throw error;
      });
      progress.advance(bytes.length, { sent: true });
      return;
    }
    const body = await response.json().catch(() => ({}));
    progress.advance(bytes.length, { sent: true });
    if (last) completion = body;
  };

  const send = (index, bytes, hash) =>
    fetchRetrying(
      `/api/uploads/${record.upload}/parts/${index}`,
      {
        method: "PUT",
        headers: {
          "Content-Type": "application/octet-stream",
          "X-Part-SHA256": hash,
          "X-CSRFToken": csrfToken,
          Accept: "application/json",
          ...deviceHeaders(),
        },
        body: bytes,
      },
      { signal, onRetry },
    );

  const emit = async (index, bytes, last) => {
    const hash = await sha256Hex(bytes);
    if (have.has(index)) {
      // Regenerated bytes must equal what the server holds, or the files were not the same.
      if (have.get(index) !== hash) throw new UploadError("upload.resume_mismatch", "", { params: { index } });
      progress.advance(bytes.length, { sent: false });
      return;
    }
    // One part on the wire while the next is sealed: never more than two in memory.
    if (inflight) await inflight;
    // The answer to the last part comes after the server has checked the whole file.
    progress.setPhase(last ? "finishing" : "uploading");
    inflight = put(index, bytes, hash, last);
    inflight.catch(() => {}); // surfaced by the await above or below, not as an unhandled rejection
  };

  await forEachPart(pieces, record.size, record.part_size, emit);
  if (inflight) await inflight;
  progress.setPhase("finishing");
  if (!completion || !completion.receipt) {
    // The last part was already stored (a lost response, then a no-op repeat):
    // the upload is complete on the server and the receipt is there to fetch.
    completion = await fetchCompletion(record, { signal });
  }
  await deleteState(record.upload);
  progress.setPhase("done");
  return { ...completion, sha256: result.sha256, payloadSha256: result.payloadSha256 };
}

async function fetchCompletion(record, { signal }) {
  const status = await getJSON(`/api/uploads/${record.upload}/`, { signal });
  if (status.status !== "complete" || !status.bid) {
    throw new UploadError("upload.incomplete", "", { retryable: true });
  }
  const receipt = status.receipt || (await getJSON(`/api/bids/${status.bid}/receipt.json`, { signal }));
  return { bid: status.bid, receipt, receipt_pdf: status.receipt_pdf || `/api/bids/${status.bid}/receipt.pdf` };
}

/**
 * Seal a new bid and upload it.
 *
 * options: {lot: the GET /api/lots/<id>/ answer, keyset: keystore record holding
 *   the private keys, user: username (scopes the saved state), summary, files,
 *   csrfToken, signal, onProgress, onRetry, onCreated(record)}
 */
export async function sealAndUpload(options) {
  const { lot, keyset, user, summary, files, csrfToken, signal, onCreated } = options;
  if (
    !lot.your_key ||
    lot.your_key.encryption_fingerprint !== keyset.encryption_fingerprint ||
    lot.your_key.signing_fingerprint !== keyset.signing_fingerprint ||
    (lot.bidder && lot.bidder !== keyset.organisation)
  ) {
    throw new SealInputError("seal.key_not_registered");
  }
  if (!lot.opening_key) throw new SealInputError("seal.no_opening_key");
  const plan = await prepareSeal({
    tender: lot.tender,
    lot: lot.lot_number,
    bidder: keyset.organisation,
    bidderKey: { spki: keyset.encryption_public_spki, fingerprint: keyset.encryption_fingerprint },
    openingKey: { spki: b64decode(lot.opening_key.spki), fingerprint: lot.opening_key.fingerprint },
    signerFingerprint: keyset.signing_fingerprint,
    summary,
    files,
  });
  if (plan.size > lot.max_size) throw new SealInputError("seal.too_large", { max: lot.max_size });
  const response = await fetchRetrying(
    `/api/lots/${lot.lot}/uploads/`,
    jsonInit("POST", csrfToken, { size: plan.size }),
    { signal },
  );
  const created = await response.json();
  const record = {
    upload: created.upload,
    lot: lot.lot,
    user,
    size: plan.size,
    part_size: created.part_size,
    ...resumableState(plan),
    encryption_fingerprint: keyset.encryption_fingerprint,
    created: new Date().toISOString(),
  };
  await saveState(record);
  onCreated?.(record);
  return runUpload(record, plan, files, keyset.signing_private, created.parts || [], options);
}

/**
 * Continue an upload from its saved state with the summary entered again
 * (options.summary) and the re-picked files (any order; matched by name, size and
 * lastModified). Parts the server holds are regenerated and checked, not re-sent.
 * A summary other than the one sealed is refused (SealInputError
 * "seal.summary_changed"): the bid must then be sealed again from the start.
 */
export async function resumeUpload(record, files, keyset, options) {
  const { signal, summary } = options;
  const status = await uploadStatus(record, { signal });
  if (status.status === "complete") {
    const completion = await fetchCompletion(record, { signal });
    await deleteState(record.upload);
    return completion;
  }
  if (status.status !== "open") {
    // Failed (a refused header) or discarded (the deadline): the server says why.
    const reason = status.error || {};
    throw new UploadError(reason.code || "upload.gone", reason.message || "");
  }
  if (keyset.encryption_fingerprint !== record.encryption_fingerprint) {
    throw new SealInputError("seal.key_not_registered");
  }
  const { plan, files: ordered } = await restorePlan(record, {
    summary,
    files,
    decryptionKey: keyset.encryption_private,
  });
  return runUpload(record, plan, ordered, keyset.signing_private, status.parts || [], options);
}

/**
 * The server's view of a saved upload (GET /api/uploads/<id>/). The local state
 * is forgotten when the server has no such upload any more, or it failed or was
 * discarded (a refused header, the deadline): there is nothing left to resume.
 */
export async function uploadStatus(record, { signal } = {}) {
  let status;
  try {
    status = await getJSON(`/api/uploads/${record.upload}/`, { signal });
  } catch (error) {
    if (error instanceof UploadError && error.status === 404) {
      await deleteState(record.upload);
      throw new UploadError("upload.gone", "", { status: 404 });
    }
    throw error;
  }
  if (status.status !== "open" && status.status !== "complete") await deleteState(record.upload);
  return status;
}

/** Give up an unfinished upload: tell the server, forget the local state. */
export async function abandonUpload(record, { csrfToken } = {}) {
  try {
    await fetchRetrying(`/api/uploads/${record.upload}/`, jsonInit("DELETE", csrfToken), { maxAttempts: 2 });
  } catch (error) {
    // Already gone on the server (completed, failed, discarded): only the local state is left.
    if (!(error instanceof UploadError) || error.retryable) throw error;
  }
  await deleteState(record.upload);
}
