// Sunbid browser key store (docs/keys.md; contract: docs/sealing.md "Key backup file").
//
// An organisation's keys are generated here with WebCrypto: RSA-OAEP 3072 /
// SHA-256 to seal to, ECDSA P-256 to sign with. The private keys are extractable
// exactly once, right after generation, so that the passphrase-encrypted backup
// file can be written; they are then re-imported as non-extractable CryptoKeys
// and kept in IndexedDB ("sunbid-keys" / "keysets"). Nothing private is ever
// sent to the server: only the two SubjectPublicKeyInfo (SPKI) public keys.
//
// ES module, no dependencies, no bundler: import it as /static/js/keystore.js.

const DB_NAME = "sunbid-keys";
const DB_VERSION = 1;
const STORE = "keysets";

export const BACKUP_FORMAT = "sunbid-key-backup";
export const BACKUP_VERSION = 1;
export const PBKDF2_ITERATIONS = 600000;
export const PBKDF2_MAX_ITERATIONS = 10000000;
export const MIN_PASSPHRASE_LENGTH = 12;

const RSA_GENERATE = {
  name: "RSA-OAEP",
  modulusLength: 3072,
  publicExponent: new Uint8Array([0x01, 0x00, 0x01]),
  hash: "SHA-256",
};
const RSA_IMPORT = { name: "RSA-OAEP", hash: "SHA-256" };
const EC_PARAMS = { name: "ECDSA", namedCurve: "P-256" };
const HEX64 = /^[0-9a-f]{64}$/;
// Unified social credit code (GB 32100-2015): 18 characters, no I, O, S, V, Z.
const CREDIT_CODE = /^[0-9A-HJ-NPQRTUWXY]{18}$/;
// A backup is a few kilobytes; refuse to parse megabytes of something else.
const MAX_BACKUP = 64 * 1024;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Chinese by default; a page passes its translated texts with setMessages().
const messages = {
  "keystore.insecure_context":
    "当前页面不是安全连接，浏览器不提供密钥生成和加密功能。请通过 https:// 地址访问本平台（本机开发时可使用 http://localhost）。",
  "keystore.unavailable": "本浏览器不支持本地密钥存储（IndexedDB），请换用最新版 Chrome、Edge 或 Firefox。",
  "backup.passphrase_too_short": "备份口令至少12个字符。",
  "backup.passphrase_mismatch": "两次输入的备份口令不一致。",
  "backup.passphrase_invalid": "备份口令错误，或备份文件已被改动。",
  "backup.invalid": "这不是有效的阳光开标密钥备份文件。",
};

/** Replace the texts of the errors this module throws (keys as in `messages`). */
export function setMessages(texts) {
  for (const [code, text] of Object.entries(texts || {})) {
    if (code in messages && typeof text === "string") messages[code] = text;
  }
}

/** An Error with a stable `.code` and the (translated) message for it. */
export function keystoreError(code, detail) {
  const error = new Error(messages[code] || code);
  error.code = code;
  if (detail) error.detail = detail;
  return error;
}

/** Throws (keystore.insecure_context) unless WebCrypto is available: https, or localhost. */
export function requireSecureContext() {
  if (!globalThis.isSecureContext || !globalThis.crypto || !globalThis.crypto.subtle) {
    throw keystoreError("keystore.insecure_context");
  }
}

// --- encodings -------------------------------------------------------------------

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected bytes");
}

/** RFC 4648 base64 with padding. */
export function b64encode(data) {
  const bytes = bytesOf(data);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Strict RFC 4648 base64 (padding required, no whitespace) to a Uint8Array; throws on anything else. */
export function b64decode(text) {
  if (typeof text !== "string" || text.length % 4 !== 0 || !B64.test(text)) {
    throw new TypeError("invalid base64");
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function hex(buffer) {
  return Array.from(bytesOf(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

const utf8 = (text) => new TextEncoder().encode(text);

/** Lowercase hex SHA-256 of a SubjectPublicKeyInfo DER: the fingerprint of a public key everywhere in Sunbid. */
export async function fingerprint(spki) {
  requireSecureContext();
  return hex(await crypto.subtle.digest("SHA-256", bytesOf(spki)));
}

/** A fingerprint in groups of four characters, for comparing by eye. */
export function groupFingerprint(fp) {
  return (fp.match(/.{1,4}/g) || []).join(" ");
}

// --- generating ------------------------------------------------------------------

async function importPrivate(encryptionPkcs8, signingPkcs8, extractable) {
  const subtle = crypto.subtle;
  const encryption = await subtle.importKey("pkcs8", encryptionPkcs8, RSA_IMPORT, extractable, ["decrypt"]);
  const signing = await subtle.importKey("pkcs8", signingPkcs8, EC_PARAMS, extractable, ["sign"]);
  return { encryption, signing };
}

/**
 * A fresh key set for the organisation (its unified social credit code).
 *
 * Returns {material, keyset}: `keyset` is what the key store keeps (private
 * keys non-extractable); `material` holds the PKCS8 bytes of the private keys
 * for exportBackup() only — pass it there, then to discardMaterial().
 */
export async function generateKeySet(organisation) {
  requireSecureContext();
  if (typeof organisation !== "string" || !organisation) throw new TypeError("organisation required");
  const subtle = crypto.subtle;
  const encryptionPair = await subtle.generateKey(RSA_GENERATE, true, ["encrypt", "decrypt"]);
  const signingPair = await subtle.generateKey(EC_PARAMS, true, ["sign", "verify"]);
  const encryptionSpki = await subtle.exportKey("spki", encryptionPair.publicKey);
  const signingSpki = await subtle.exportKey("spki", signingPair.publicKey);
  const encryptionPkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", encryptionPair.privateKey));
  const signingPkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", signingPair.privateKey));
  const kept = await importPrivate(encryptionPkcs8, signingPkcs8, false);
  const keyset = {
    organisation,
    encryption_fingerprint: await fingerprint(encryptionSpki),
    signing_fingerprint: await fingerprint(signingSpki),
    encryption_private: kept.encryption,
    signing_private: kept.signing,
    encryption_public_spki: encryptionSpki,
    signing_public_spki: signingSpki,
    created: new Date().toISOString(),
  };
  const material = {
    organisation,
    encryption_fingerprint: keyset.encryption_fingerprint,
    signing_fingerprint: keyset.signing_fingerprint,
    created: keyset.created,
    encryption_private_pkcs8: encryptionPkcs8,
    signing_private_pkcs8: signingPkcs8,
  };
  return { material, keyset };
}

/** Overwrite the private key bytes of `material` (best effort: the engine may hold copies). */
export function discardMaterial(material) {
  if (!material) return;
  for (const name of ["encryption_private_pkcs8", "signing_private_pkcs8"]) {
    if (material[name] instanceof Uint8Array) material[name].fill(0);
    material[name] = null;
  }
}

// --- backup files ------------------------------------------------------------------

/** Checks a passphrase (and its confirmation, when given); throws backup.passphrase_too_short / _mismatch. */
export function checkPassphrase(passphrase, confirmation) {
  const normal = String(passphrase || "").normalize("NFC");
  if ([...normal].length < MIN_PASSPHRASE_LENGTH) throw keystoreError("backup.passphrase_too_short");
  if (confirmation !== undefined && normal !== String(confirmation).normalize("NFC")) {
    throw keystoreError("backup.passphrase_mismatch");
  }
  return normal;
}

function backupAad(organisation, encryptionFingerprint, signingFingerprint) {
  return utf8(`sunbid-key-backup/v1|${organisation}|${encryptionFingerprint}|${signingFingerprint}`);
}

async function backupKey(passphrase, salt, iterations, usage) {
  const base = await crypto.subtle.importKey("raw", utf8(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

/** The backup file (a JSON Blob) of `material`, encrypted under the passphrase (PBKDF2-SHA256 + AES-256-GCM). */
export async function exportBackup(material, passphrase, { iterations = PBKDF2_ITERATIONS } = {}) {
  requireSecureContext();
  const normal = checkPassphrase(passphrase);
  if (!material || !(material.encryption_private_pkcs8 instanceof Uint8Array)) {
    throw new TypeError("key material already discarded");
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const key = await backupKey(normal, salt, iterations, "encrypt");
  const plaintext = utf8(
    JSON.stringify({
      encryption_private_pkcs8: b64encode(material.encryption_private_pkcs8),
      signing_private_pkcs8: b64encode(material.signing_private_pkcs8),
    }),
  );
  const aad = backupAad(material.organisation, material.encryption_fingerprint, material.signing_fingerprint);
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, plaintext);
  plaintext.fill(0);
  const backup = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    organisation: material.organisation,
    encryption_fingerprint: material.encryption_fingerprint,
    signing_fingerprint: material.signing_fingerprint,
    created: material.created,
    kdf: { name: "PBKDF2-SHA256", iterations, salt: b64encode(salt) },
    cipher: { name: "AES-256-GCM", nonce: b64encode(nonce) },
    ciphertext: b64encode(ciphertext),
  };
  return new Blob([JSON.stringify(backup, null, 2) + "\n"], { type: "application/json" });
}

function exactKeys(object, keys) {
  if (!object || typeof object !== "object" || Array.isArray(object)) return false;
  const present = Object.keys(object).sort();
  return present.length === keys.length && [...keys].sort().every((key, i) => key === present[i]);
}

function decodeLength(text, length) {
  const bytes = b64decode(text);
  if (length !== undefined && bytes.length !== length) throw new TypeError("length");
  return bytes;
}

/**
 * The parsed, structurally checked backup file (nothing decrypted), or throws backup.invalid.
 * Lets a page check the organisation and fingerprints before asking for the passphrase.
 */
export async function readBackupInfo(fileOrText) {
  let backup;
  try {
    if (typeof fileOrText !== "string" && fileOrText.size > MAX_BACKUP) throw new TypeError("size");
    const text = typeof fileOrText === "string" ? fileOrText : await fileOrText.text();
    if (text.length > MAX_BACKUP) throw new TypeError("size");
    backup = JSON.parse(text);
  } catch (error) {
    throw keystoreError("backup.invalid", "json");
  }
  const valid =
    exactKeys(backup, [
      "format", "version", "organisation", "encryption_fingerprint", "signing_fingerprint",
      "created", "kdf", "cipher", "ciphertext",
    ]) &&
    backup.format === BACKUP_FORMAT &&
    backup.version === BACKUP_VERSION &&
    typeof backup.organisation === "string" &&
    CREDIT_CODE.test(backup.organisation) &&
    typeof backup.encryption_fingerprint === "string" &&
    HEX64.test(backup.encryption_fingerprint) &&
    typeof backup.signing_fingerprint === "string" &&
    HEX64.test(backup.signing_fingerprint) &&
    typeof backup.created === "string" &&
    !Number.isNaN(Date.parse(backup.created)) &&
    exactKeys(backup.kdf, ["name", "iterations", "salt"]) &&
    backup.kdf.name === "PBKDF2-SHA256" &&
    Number.isInteger(backup.kdf.iterations) &&
    backup.kdf.iterations >= PBKDF2_ITERATIONS &&
    backup.kdf.iterations <= PBKDF2_MAX_ITERATIONS &&
    exactKeys(backup.cipher, ["name", "nonce"]) &&
    backup.cipher.name === "AES-256-GCM" &&
    typeof backup.ciphertext === "string";
  if (!valid) throw keystoreError("backup.invalid", "structure");
  try {
    return {
      ...backup,
      salt: decodeLength(backup.kdf.salt, 16),
      nonce: decodeLength(backup.cipher.nonce, 12),
      ciphertextBytes: decodeLength(backup.ciphertext),
    };
  } catch (error) {
    throw keystoreError("backup.invalid", "encoding");
  }
}

async function publicSpkiOf(privateKey, algorithm) {
  // WebCrypto cannot export a public key from a private one directly; the
  // private JWK carries the public parameters, from which the public key is rebuilt.
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const publicJwk =
    jwk.kty === "RSA"
      ? { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RSA-OAEP-256", ext: true }
      : { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y, ext: true };
  const usages = jwk.kty === "RSA" ? ["encrypt"] : ["verify"];
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, algorithm, true, usages);
  return crypto.subtle.exportKey("spki", publicKey);
}

/**
 * Decrypts a backup file (File, Blob or its text), checks that the keys inside
 * are the ones its fingerprints name, re-imports them non-extractable, saves
 * the key set in this browser and returns it.
 * Throws backup.invalid (not a backup, or keys not matching) or
 * backup.passphrase_invalid (wrong passphrase, or the file was altered).
 */
export async function importBackup(fileOrText, passphrase) {
  requireSecureContext();
  const info = await readBackupInfo(fileOrText);
  const normal = String(passphrase || "").normalize("NFC");
  const key = await backupKey(normal, info.salt, info.kdf.iterations, "decrypt");
  let plaintext;
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: info.nonce,
          additionalData: backupAad(info.organisation, info.encryption_fingerprint, info.signing_fingerprint),
        },
        key,
        info.ciphertextBytes,
      ),
    );
  } catch (error) {
    throw keystoreError("backup.passphrase_invalid");
  }
  let encryptionPkcs8;
  let signingPkcs8;
  try {
    const inner = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
    if (!exactKeys(inner, ["encryption_private_pkcs8", "signing_private_pkcs8"])) throw new TypeError("keys");
    encryptionPkcs8 = b64decode(inner.encryption_private_pkcs8);
    signingPkcs8 = b64decode(inner.signing_private_pkcs8);
  } catch (error) {
    throw keystoreError("backup.invalid", "plaintext");
  } finally {
    plaintext.fill(0);
  }
  let encryptionSpki;
  let signingSpki;
  let kept;
  try {
    const probe = await importPrivate(encryptionPkcs8, signingPkcs8, true);
    const rsaAlgorithm = probe.encryption.algorithm;
    if (rsaAlgorithm.modulusLength !== 3072) throw new TypeError("modulus");
    encryptionSpki = await publicSpkiOf(probe.encryption, RSA_IMPORT);
    signingSpki = await publicSpkiOf(probe.signing, EC_PARAMS);
    kept = await importPrivate(encryptionPkcs8, signingPkcs8, false);
  } catch (error) {
    throw keystoreError("backup.invalid", "keys");
  } finally {
    encryptionPkcs8.fill(0);
    signingPkcs8.fill(0);
  }
  const encryptionFingerprint = await fingerprint(encryptionSpki);
  const signingFingerprint = await fingerprint(signingSpki);
  if (encryptionFingerprint !== info.encryption_fingerprint || signingFingerprint !== info.signing_fingerprint) {
    throw keystoreError("backup.invalid", "fingerprint");
  }
  const keyset = {
    organisation: info.organisation,
    encryption_fingerprint: encryptionFingerprint,
    signing_fingerprint: signingFingerprint,
    encryption_private: kept.encryption,
    signing_private: kept.signing,
    encryption_public_spki: encryptionSpki,
    signing_public_spki: signingSpki,
    created: info.created,
  };
  await saveKeySet(keyset);
  return keyset;
}

// --- IndexedDB -----------------------------------------------------------------------

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
    if (!db.objectStoreNames.contains(STORE)) {
      const store = db.createObjectStore(STORE, { keyPath: "encryption_fingerprint" });
      store.createIndex("organisation", "organisation", { unique: false });
    }
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

function record(keyset) {
  return {
    organisation: keyset.organisation,
    encryption_fingerprint: keyset.encryption_fingerprint,
    signing_fingerprint: keyset.signing_fingerprint,
    encryption_private: keyset.encryption_private,
    signing_private: keyset.signing_private,
    encryption_public_spki: keyset.encryption_public_spki,
    signing_public_spki: keyset.signing_public_spki,
    created: keyset.created,
  };
}

/** Keep a key set in this browser (replacing one with the same encryption fingerprint). */
export async function saveKeySet(keyset) {
  if (keyset.encryption_private.extractable || keyset.signing_private.extractable) {
    throw new TypeError("only non-extractable private keys are stored");
  }
  await withStore("readwrite", (store) => store.put(record(keyset)));
  return keyset;
}

/** The key set this browser holds for an encryption fingerprint, or null. */
export async function getKeySet(encryptionFingerprint) {
  const found = await withStore("readonly", (store) => store.get(encryptionFingerprint));
  return found || null;
}

/** Every key set this browser holds for the organisation (all of them without an argument), newest first. */
export async function listKeySets(organisation) {
  const all =
    organisation === undefined
      ? await withStore("readonly", (store) => store.getAll())
      : await withStore("readonly", (store) => store.index("organisation").getAll(organisation));
  return all.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
}
