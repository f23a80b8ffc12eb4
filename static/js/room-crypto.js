// The bidder's cryptography in the opening room, all in the browser with WebCrypto.
//
// - unwrapFileKey: the bid's file key, wrapped at sealing time to the bidder's
//   RSA-OAEP 3072 / SHA-256 encryption key, is unwrapped with the private key the
//   key store holds (non-extractable, ./keystore.js). Only the 32-byte file key
//   leaves the browser; the server decrypts and verifies the bid with it.
// - signConfirmation: the bidder confirms the price reading by signing
//   "sunbid-opening-confirmation-v1\n{lot}\n{reading digest}\n{credit code}" (UTF-8)
//   with its ECDSA P-256 signing key, SHA-256. WebCrypto answers IEEE P1363 r || s;
//   the server takes DER, and only the low-s form (s ≤ n/2, as the sealed bid format,
//   sealing.js's lowS), so that no one but the signer can produce a second valid
//   signature of the same confirmation.

import { lowS } from "./sealing.js";

export const FILE_KEY_SIZE = 32;
export const CONFIRMATION_CONTEXT = "sunbid-opening-confirmation-v1";

/** A local failure with a stable code; the page shows its translated text. */
export class RoomCryptoError extends Error {
  constructor(code) {
    super(code);
    this.name = "RoomCryptoError";
    this.code = code;
  }
}

/** The file key (Uint8Array of 32 bytes) from the wrapped key bytes, with the key set's encryption key. */
export async function unwrapFileKey(keyset, wrappedKey) {
  let plain;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, keyset.encryption_private, wrappedKey));
  } catch (error) {
    // OAEP decoding failed: this is not the key the bid was sealed to.
    throw new RoomCryptoError("room.unwrap_failed");
  }
  if (plain.length !== FILE_KEY_SIZE) {
    plain.fill(0);
    throw new RoomCryptoError("room.unwrap_failed");
  }
  return plain;
}

/** The exact bytes a bidder signs to confirm the reading. */
export function confirmationMessage(lotId, readingDigest, creditCode) {
  return new TextEncoder().encode(`${CONFIRMATION_CONTEXT}\n${lotId}\n${readingDigest}\n${creditCode}`);
}

// A DER INTEGER of a 32-byte big-endian unsigned value: minimal length, and a
// leading zero byte when the top bit is set (DER integers are signed).
function derInteger(bytes) {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const body = bytes.subarray(start);
  const pad = body[0] & 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  out.set(body, 2 + pad);
  return out;
}

/** IEEE P1363 r || s (64 bytes, P-256) to the DER SEQUENCE { INTEGER r, INTEGER s } the server reads. */
export function p1363ToDer(signature) {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) throw new TypeError("P-256 signature expected");
  const r = derInteger(signature.subarray(0, 32));
  const s = derInteger(signature.subarray(32, 64));
  // At most 2 × 35 bytes: the length always fits in one byte.
  const out = new Uint8Array(2 + r.length + s.length);
  out[0] = 0x30;
  out[1] = r.length + s.length;
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/** The DER, low-s ECDSA P-256 / SHA-256 signature of the confirmation, with the key set's signing key. */
export async function signConfirmation(keyset, { lotId, readingDigest, creditCode }) {
  const message = confirmationMessage(lotId, readingDigest, creditCode);
  let raw;
  try {
    raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keyset.signing_private, message));
  } catch (error) {
    throw new RoomCryptoError("room.sign_failed");
  }
  return p1363ToDer(lowS(raw));
}
