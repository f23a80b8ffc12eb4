// Sealed bid format v1 — the writer, in the browser (docs/sealing.md is normative;
// the Python reader is bidding/sealing/format.py, and tests/browser proves the two agree).
//
// Everything cryptographic is WebCrypto (RSA-OAEP wrap, HKDF, HMAC, AES-256-GCM,
// ECDSA P-256) except SHA-256 over the payload and over the whole file: those are
// hashed as the bytes are produced, and WebCrypto's digest() takes a message whole,
// so the streaming sha256 of the vendored @noble/hashes is used (static/vendor/).
//
// Memory: the plaintext is a Blob made of the manifest and the picked File objects
// (the browser keeps references, not copies); one 1 MiB chunk is read at a time
// with Blob.slice().arrayBuffer(), so a 1 GiB bid never sits whole in memory.
//
// Determinism (what resuming an upload relies on): prepareSeal() makes the random
// parts once — the file key, the nonce and the RSA-OAEP wrapped stanzas (OAEP is
// randomized) — and freezes them in the plan's `preamble` bytes. Given the plan and
// the same files, sealStream() then produces the same bytes every time: the chunk
// nonces are counters, the key is derived from the file key and the header nonce,
// and the AAD is the header digest. Only the ECDSA signature (randomized) differs,
// and it is the last 64 bytes, produced once at the end. upload.js keeps only
// resumableState(plan) in IndexedDB — the preamble, a keyed check value of the
// manifest and the files' names and sizes, no manifest and no key — and
// restorePlan() rebuilds the plan from it with the bidder's private key, the
// summary entered again and the files picked again, so that a closed tab can
// regenerate every part and check it against the server's hash.
//
// Errors are SealInputError with a stable `code` and `params`; the page turns codes
// into translated text (no user-facing language lives in this module).

import { sha256 } from "../vendor/noble-hashes/sha2.js";

const encoder = new TextEncoder();

export const MAGIC = encoder.encode("sunbid-sealed-bid/v1\n");
export const CHUNK_SIZE = 1048576;
export const TAG_SIZE = 16;
export const MAC_SIZE = 32;
export const SIGNATURE_SIZE = 64;
export const MAX_HEADER = 65536;
export const MAX_MANIFEST = 1048576;
export const MAX_FILES = 100;
export const WRAP_ALG = "RSA-OAEP-3072-SHA256";
export const SIGN_ALG = "ECDSA-P256-SHA256";

const HEADER_INFO = encoder.encode("sunbid/v1 header");
const PAYLOAD_INFO = encoder.encode("sunbid/v1 payload");
const SIGNATURE_CONTEXT = encoder.encode("sunbid/v1 signature\n");
// Not part of the format: the key of the check value that lets a resumed upload
// recognise the same manifest without keeping it (upload.js, docs/bidding.md).
const RESUME_INFO = encoder.encode("sunbid/v1 resume manifest check");
const PRICE_RE = /^[0-9]{1,14}(\.[0-9]{1,2})?$/;
const FIELD_KEY_RE = /^[a-z][a-z0-9_]{0,39}$/;
const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

export class SealInputError extends Error {
  constructor(code, params = {}) {
    super(code);
    this.name = "SealInputError";
    this.code = code;
    this.params = params;
  }
}

// --- small byte helpers -------------------------------------------------------

export function concatBytes(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function uint32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

export function toHex(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

export function b64encode(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  // Chunked so String.fromCharCode never gets more arguments than the engine allows.
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function b64decode(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export async function fingerprint(spki) {
  return toHex(await crypto.subtle.digest("SHA-256", spki));
}

function codePoints(text) {
  return [...text].length;
}

/** The 12-byte AES-GCM nonce of chunk i: i as an 11-byte big-endian integer, then the final flag. */
export function chunkNonce(index, final) {
  const iv = new Uint8Array(12);
  const view = new DataView(iv.buffer);
  // 11-byte counter: the top 3 bytes stay 0 for any bid we can hold (< 2^53 chunks).
  view.setUint32(3, Math.floor(index / 0x100000000), false);
  view.setUint32(7, index >>> 0, false);
  iv[11] = final ? 1 : 0;
  return iv;
}

// --- manifest --------------------------------------------------------------------

/**
 * Check and normalise the bid summary exactly as the Python reader will
 * (contract §1): returns {price, duration_days, quality, fields}.
 */
export function normaliseSummary(summary) {
  const price = String(summary.price ?? "").trim();
  if (!PRICE_RE.test(price) || !/[1-9]/.test(price)) {
    throw new SealInputError("seal.price_invalid", { field: "price" });
  }
  const days = typeof summary.duration_days === "number" ? summary.duration_days : Number(String(summary.duration_days ?? "").trim());
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new SealInputError("seal.duration_invalid", { field: "duration_days" });
  }
  const quality = String(summary.quality ?? "").trim();
  if (codePoints(quality) < 1 || codePoints(quality) > 200) {
    throw new SealInputError("seal.quality_invalid", { field: "quality" });
  }
  const fields = {};
  const entries = Object.entries(summary.fields ?? {});
  if (entries.length > 50) throw new SealInputError("seal.fields_invalid", { field: "fields" });
  for (const [key, value] of entries) {
    if (!FIELD_KEY_RE.test(key) || typeof value !== "string" || codePoints(value) > 500) {
      throw new SealInputError("seal.fields_invalid", { field: key });
    }
    fields[key] = value;
  }
  return { price, duration_days: days, quality, fields };
}

/** The manifest's file entries, plus lastModified (kept locally to recognise re-picked files). */
export function describeFiles(files) {
  if (files.length < 1 || files.length > MAX_FILES) {
    throw new SealInputError("seal.files_count", { max: MAX_FILES });
  }
  return files.map((file) => {
    const name = file.name;
    if (codePoints(name) < 1 || codePoints(name) > 255 || /[/\\\u0000]/.test(name)) {
      throw new SealInputError("seal.file_name_invalid", { name });
    }
    // A media type is only a hint for the opening room; an odd one becomes the generic type.
    const type = file.type && file.type.length <= 100 ? file.type : "application/octet-stream";
    return { name, size: file.size, media_type: type, lastModified: file.lastModified };
  });
}

function manifestPrefix(summary, entries) {
  const manifest = {
    summary,
    files: entries.map(({ name, size, media_type }) => ({ name, size, media_type })),
  };
  const bytes = encoder.encode(JSON.stringify(manifest));
  if (bytes.length > MAX_MANIFEST) throw new SealInputError("seal.manifest_too_large");
  return concatBytes(uint32(bytes.length), bytes);
}

/** Size of the sealed file for a plaintext of `plaintextSize` bytes and a preamble of `preambleSize`. */
export function sealedSizeOf(preambleSize, plaintextSize) {
  const chunks = Math.ceil(plaintextSize / CHUNK_SIZE);
  return preambleSize + plaintextSize + chunks * TAG_SIZE + SIGNATURE_SIZE;
}

async function importRecipient(role, { spki, fingerprint: expected }) {
  const der = spki instanceof Uint8Array ? spki : new Uint8Array(spki);
  const actual = await fingerprint(der);
  if (!FINGERPRINT_RE.test(expected ?? "") || actual !== expected) {
    throw new SealInputError("seal.fingerprint_mismatch", { role });
  }
  const key = await crypto.subtle.importKey("spki", der, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]);
  const exponent = toHex(key.algorithm.publicExponent).replace(/^0+/, "");
  if (key.algorithm.modulusLength !== 3072 || exponent !== "10001") {
    throw new SealInputError("seal.recipient_key_invalid", { role });
  }
  return { key, fingerprint: actual };
}

/**
 * Make everything random about one sealed bid, once.
 *
 * options: {tender, lot, bidder, bidderKey: {spki, fingerprint}, openingKey: {spki, fingerprint},
 *           signerFingerprint, summary, files: File[]}
 * Returns a plan — all of it structured-cloneable for IndexedDB — with
 *   preamble     MAGIC || HLEN || HEADER || HMAC (Uint8Array)
 *   headerDigest SHA-256(preamble)
 *   payloadKey   AES-GCM CryptoKey, non-extractable, ["encrypt"] (in memory only: never stored)
 *   prefixCheck  keyed check value of the prefix (hex), for resuming without the manifest
 *   prefix       uint32 L || MANIFEST, the start of the plaintext
 *   files        [{name, size, media_type, lastModified}] in manifest order
 *   plaintextSize, chunkCount, size (of the sealed file), header (the parsed JSON)
 * The file key itself is wiped once the stanzas, the MAC key and the payload key exist.
 */
export async function prepareSeal(options) {
  const { tender, lot, bidder, bidderKey, openingKey, signerFingerprint, files } = options;
  if (!FINGERPRINT_RE.test(signerFingerprint ?? "")) {
    throw new SealInputError("seal.fingerprint_mismatch", { role: "signer" });
  }
  const summary = normaliseSummary(options.summary);
  const entries = describeFiles(files);
  const prefix = manifestPrefix(summary, entries);
  const plaintextSize = prefix.length + entries.reduce((n, e) => n + e.size, 0);

  const bidderRecipient = await importRecipient("bidder", bidderKey);
  const openingRecipient = await importRecipient("opening", openingKey);

  const fileKey = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  try {
    const wrap = async (recipient) =>
      new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, recipient.key, fileKey));
    const header = {
      format: "sunbid-sealed-bid",
      version: 1,
      tender: String(tender),
      lot: Number(lot),
      bidder: String(bidder),
      nonce: b64encode(nonce),
      chunk_size: CHUNK_SIZE,
      recipients: [
        { role: "bidder", alg: WRAP_ALG, fingerprint: bidderRecipient.fingerprint, wrapped_key: b64encode(await wrap(bidderRecipient)) },
        { role: "opening", alg: WRAP_ALG, fingerprint: openingRecipient.fingerprint, wrapped_key: b64encode(await wrap(openingRecipient)) },
      ],
      signer: { alg: SIGN_ALG, fingerprint: signerFingerprint },
    };
    const headerBytes = encoder.encode(JSON.stringify(header));
    if (headerBytes.length < 2 || headerBytes.length > MAX_HEADER) {
      throw new SealInputError("seal.header_too_large");
    }

    const keys = await deriveKeys(fileKey, nonce);
    const authenticated = concatBytes(MAGIC, uint32(headerBytes.length), headerBytes);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", keys.macKey, authenticated));
    const preamble = concatBytes(authenticated, mac);
    const headerDigest = new Uint8Array(await crypto.subtle.digest("SHA-256", preamble));
    return {
      preamble,
      headerDigest,
      payloadKey: keys.payloadKey,
      prefix,
      prefixCheck: await manifestCheck(keys.checkKey, prefix),
      files: entries,
      plaintextSize,
      chunkCount: Math.ceil(plaintextSize / CHUNK_SIZE),
      size: sealedSizeOf(preamble.length, plaintextSize),
      header,
    };
  } finally {
    fileKey.fill(0);
  }
}

/** The keys derived from a file key (docs/sealing.md), plus the local manifest-check key; none extractable. */
async function deriveKeys(fileKey, nonce) {
  const ikm = await crypto.subtle.importKey("raw", fileKey, "HKDF", false, ["deriveKey"]);
  const hmac = { name: "HMAC", hash: "SHA-256", length: 256 };
  const macKey = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HEADER_INFO },
    ikm,
    hmac,
    false,
    ["sign"],
  );
  const payloadKey = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: nonce, info: PAYLOAD_INFO },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  const checkKey = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: nonce, info: RESUME_INFO },
    ikm,
    hmac,
    false,
    ["sign"],
  );
  return { macKey, payloadKey, checkKey };
}

/**
 * The check value of the plaintext prefix (uint32 L || MANIFEST): HMAC-SHA256 under a
 * key derived from the file key. Keyed, not a bare SHA-256: the manifest holds the
 * price, a number with few enough likely values that a bare hash could be reversed
 * by trying them; without the bidder's private key the check value tells nothing.
 */
async function manifestCheck(checkKey, prefix) {
  return toHex(await crypto.subtle.sign("HMAC", checkKey, prefix));
}

/**
 * What may be kept in IndexedDB to resume an upload (upload.js): the preamble
 * (exactly what the server already has), the manifest check value and the files'
 * names, sizes, types and modification times. Neither the manifest (the price!)
 * nor any key: the file key is unwrapped again from the bidder stanza with the
 * bidder's non-extractable private key (restorePlan).
 */
export function resumableState(plan) {
  return { preamble: plan.preamble, prefixCheck: plan.prefixCheck, files: plan.files };
}

/**
 * Rebuild a plan from resumableState(plan), the summary entered again, the files
 * picked again (in the plan's order) and the bidder's RSA-OAEP private CryptoKey
 * (keystore, usage "decrypt"). The header MAC is verified with the unwrapped key,
 * and the rebuilt manifest must give the kept check value: any other summary would
 * seal other bytes than those the server holds (SealInputError "seal.summary_changed";
 * the bid must then be sealed again from the start).
 */
export async function restorePlan(state, { summary, files, decryptionKey }) {
  const preamble = state.preamble instanceof Uint8Array ? state.preamble : new Uint8Array(state.preamble);
  const fail = () => new SealInputError("seal.state_invalid");
  if (preamble.length < MAGIC.length + 4 + 2 + MAC_SIZE) throw fail();
  for (let i = 0; i < MAGIC.length; i++) if (preamble[i] !== MAGIC[i]) throw fail();
  const hlen = new DataView(preamble.buffer, preamble.byteOffset + MAGIC.length, 4).getUint32(0);
  const headerEnd = MAGIC.length + 4 + hlen;
  if (headerEnd + MAC_SIZE !== preamble.length) throw fail();
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(preamble.subarray(MAGIC.length + 4, headerEnd)));
  } catch {
    throw fail();
  }
  // The files first: that needs no key, and is the likelier mistake.
  const ordered = orderLike({ files: state.files }, files || []);
  if (!ordered) throw new SealInputError("seal.files_changed");
  const stanza = (header.recipients || [])[0];
  if (!stanza || stanza.role !== "bidder") throw fail();
  let fileKey;
  try {
    fileKey = new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, decryptionKey, b64decode(stanza.wrapped_key)));
  } catch {
    throw new SealInputError("seal.key_not_registered");
  }
  try {
    const keys = await deriveKeys(fileKey, b64decode(header.nonce));
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", keys.macKey, preamble.subarray(0, headerEnd)));
    if (toHex(mac) !== toHex(preamble.subarray(headerEnd))) throw fail();
    const entries = state.files;
    const prefix = manifestPrefix(normaliseSummary(summary), entries);
    if ((await manifestCheck(keys.checkKey, prefix)) !== state.prefixCheck) {
      throw new SealInputError("seal.summary_changed");
    }
    const plaintextSize = prefix.length + entries.reduce((n, e) => n + e.size, 0);
    return {
      plan: {
        preamble,
        headerDigest: new Uint8Array(await crypto.subtle.digest("SHA-256", preamble)),
        payloadKey: keys.payloadKey,
        prefix,
        prefixCheck: state.prefixCheck,
        files: entries,
        plaintextSize,
        chunkCount: Math.ceil(plaintextSize / CHUNK_SIZE),
        size: sealedSizeOf(preamble.length, plaintextSize),
        header,
      },
      files: ordered,
    };
  } finally {
    fileKey.fill(0);
  }
}

/**
 * True when `files` are the ones the plan was made for: same order, name, size and
 * lastModified. A re-picked set that differs would seal to different bytes.
 */
export function filesMatch(plan, files) {
  if (files.length !== plan.files.length) return false;
  return plan.files.every((entry, i) => {
    const file = files[i];
    return file.name === entry.name && file.size === entry.size && file.lastModified === entry.lastModified;
  });
}

/** Put re-picked files into the plan's order (matched by name); null when they are not the same set. */
export function orderLike(plan, files) {
  const byName = new Map(files.map((f) => [f.name, f]));
  if (byName.size !== files.length) return null;
  const ordered = plan.files.map((entry) => byName.get(entry.name));
  if (ordered.some((f) => f === undefined)) return null;
  return filesMatch(plan, ordered) ? ordered : null;
}

/**
 * Produce the sealed file as an async sequence of Uint8Array pieces, in order:
 * the preamble, every encrypted chunk (chunk plaintext + 16), then the 64-byte
 * signature. After the last piece, `result` holds {sha256, payloadSha256} (hex)
 * of what was produced: sha256 is the receipt's "ciphertext SHA-256".
 *
 * signingKey: the bidder's ECDSA P-256 private CryptoKey (usage "sign").
 */
export function sealStream(plan, files, signingKey, { wholeHash = true } = {}) {
  if (!filesMatch(plan, files)) throw new SealInputError("seal.files_changed");
  const result = {};
  async function* pieces() {
    const whole = wholeHash ? sha256.create() : null;
    const payload = sha256.create();
    whole?.update(plan.preamble);
    yield plan.preamble;

    const source = new Blob([plan.prefix, ...files]);
    if (source.size !== plan.plaintextSize) throw new SealInputError("seal.files_changed");
    const last = plan.chunkCount - 1;
    const read = (i) => {
      const start = i * CHUNK_SIZE;
      return source.slice(start, Math.min(start + CHUNK_SIZE, plan.plaintextSize)).arrayBuffer();
    };
    // Read one chunk ahead so the disk and the cipher work at the same time.
    let next = read(0);
    for (let i = 0; i <= last; i++) {
      let plain;
      try {
        plain = await next;
      } catch (error) {
        // A file edited or removed after it was picked cannot be read any more.
        throw new SealInputError("seal.file_unreadable", { reason: String(error && error.name) });
      }
      if (i < last) next = read(i + 1);
      const expected = Math.min(CHUNK_SIZE, plan.plaintextSize - i * CHUNK_SIZE);
      if (plain.byteLength !== expected) throw new SealInputError("seal.files_changed");
      const sealed = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-GCM", iv: chunkNonce(i, i === last), additionalData: plan.headerDigest, tagLength: 128 },
          plan.payloadKey,
          plain,
        ),
      );
      payload.update(sealed);
      whole?.update(sealed);
      yield sealed;
    }

    const payloadDigest = payload.digest();
    const message = concatBytes(SIGNATURE_CONTEXT, plan.headerDigest, payloadDigest);
    const signature = lowS(
      new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signingKey, message)),
    );
    result.payloadSha256 = toHex(payloadDigest);
    if (whole) {
      whole.update(signature);
      result.sha256 = toHex(whole.digest());
    }
    yield signature;
  }
  return { pieces: pieces(), result };
}

// The order of the P-256 group. Readers accept only s <= n/2 (docs/sealing.md); WebCrypto
// returns either of (r, s) and (r, n - s), so the writer normalises.
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** An IEEE P1363 ECDSA P-256 signature r || s with s replaced by n - s when s > n/2. */
export function lowS(signature) {
  const s = BigInt(`0x${toHex(signature.subarray(32, 64))}`);
  if (s <= P256_ORDER / 2n) return signature;
  const low = (P256_ORDER - s).toString(16).padStart(64, "0");
  const out = new Uint8Array(64);
  out.set(signature.subarray(0, 32), 0);
  for (let i = 0; i < 32; i++) out[32 + i] = parseInt(low.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Seal into one Blob (small bids, tests and the "download sealed file" button). */
export async function sealToBlob(plan, files, signingKey) {
  const { pieces, result } = sealStream(plan, files, signingKey);
  const parts = [];
  for await (const piece of pieces) parts.push(piece);
  return { blob: new Blob(parts, { type: "application/octet-stream" }), result };
}
