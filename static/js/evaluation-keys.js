// An evaluation expert's signing key, and the report signature (docs/evaluation.md "Signatures").
//
// The key is ECDSA P-256, generated here with WebCrypto as non-extractable from
// the start (the private half can be used to sign, never read out), and kept in
// this browser's IndexedDB ("sunbid-expert-keys" / "signing"), like the
// organisations' keys of ./keystore.js, whose helpers this module uses for the
// secure-context check, the fingerprint (SHA-256 of the SPKI DER) and base64.
// Only the public key (SPKI DER) is sent to the server. There is no backup
// file: an expert who changes browser registers a new key, which retires the
// old one on the server (signatures already made keep verifying with it).
//
// Signatures are made exactly as the opening room's confirmations: WebCrypto's
// IEEE P1363 r || s, normalised to low-s (sealing.js lowS) and re-encoded as DER
// (room-crypto.js p1363ToDer), over the UTF-8 text
//   "sunbid-evaluation-report-v1\n<lot id>\n<report SHA-256 hex>\n<seat>".

import { b64encode, fingerprint, keystoreError, requireSecureContext } from "./keystore.js";
import { p1363ToDer } from "./room-crypto.js";
import { lowS } from "./sealing.js";

const DB_NAME = "sunbid-expert-keys";
const DB_VERSION = 1;
const STORE = "signing";
const EC_PARAMS = { name: "ECDSA", namedCurve: "P-256" };
export const SIGNATURE_CONTEXT = "sunbid-evaluation-report-v1";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  if (!globalThis.indexedDB) return Promise.reject(keystoreError("keystore.unavailable"));
  const req = indexedDB.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "fingerprint" });
  };
  return request(req).catch((error) => {
    throw keystoreError("keystore.unavailable", String(error));
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

/** A fresh signing key: {fingerprint, private_key (non-extractable CryptoKey), public_spki (ArrayBuffer), created}. */
export async function generateSigningKey() {
  requireSecureContext();
  const pair = await crypto.subtle.generateKey(EC_PARAMS, false, ["sign", "verify"]);
  const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
  return {
    fingerprint: await fingerprint(spki),
    private_key: pair.privateKey,
    public_spki: spki,
    created: new Date().toISOString(),
  };
}

/** The SPKI DER of the key, base64, as the server's registration takes it. */
export function publicKeyBase64(key) {
  return b64encode(key.public_spki);
}

/** Keep the key in this browser (only non-extractable private keys are kept). */
export async function saveSigningKey(key) {
  if (key.private_key.extractable) throw new TypeError("only non-extractable private keys are stored");
  await withStore("readwrite", (store) => store.put(key));
  return key;
}

/** The key this browser holds for a fingerprint, or null. */
export async function getSigningKey(keyFingerprint) {
  if (!keyFingerprint) return null;
  const found = await withStore("readonly", (store) => store.get(keyFingerprint));
  return found || null;
}

/** Lowercase hex SHA-256 of bytes (the report's digest is computed from the bytes fetched). */
export async function sha256Hex(bytes) {
  requireSecureContext();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The exact bytes a member signs. */
export function reportMessage(lotId, reportSha256, seat) {
  return new TextEncoder().encode(`${SIGNATURE_CONTEXT}\n${lotId}\n${reportSha256}\n${seat}`);
}

/** Base64 of the DER, low-s ECDSA P-256 / SHA-256 signature of the report's message. */
export async function signReport(key, { lotId, reportSha256, seat }) {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.private_key, reportMessage(lotId, reportSha256, seat)),
  );
  return b64encode(p1363ToDer(lowS(raw)));
}
