// The custodian's page (/opening/lots/<lot>/custody/): after the opening time,
// decrypt this organisation's share of the lot's opening key in the browser and
// submit it (docs/opening-keys.md, "Custodian procedure").
//
// The share was encrypted at publication to the organisation's registered
// encryption key (RSA-OAEP, SHA-256); the private half lives only in this
// browser's key store (./keystore.js, non-extractable), found by the
// fingerprint the page names. The decrypted share (33 bytes) goes to the server,
// which checks it against its commitment and rebuilds the key once enough are in.
import { b64decode, b64encode, getKeySet, requireSecureContext, setMessages } from "./keystore.js";

const data = JSON.parse(document.getElementById("custody-page-data").textContent);
const texts = data.texts || {};
setMessages(texts);

const form = document.getElementById("custody-form");
const button = document.getElementById("custody-button");
const status = document.getElementById("custody-status");

function format(text, params) {
  return String(text).replace(/%\((\w+)\)s/g, (_, name) => (name in params ? String(params[name]) : ""));
}

function say(text, kind) {
  status.textContent = text || "";
  status.className = kind ? `alert alert-${kind}` : "";
}

function csrfToken() {
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

async function call(method, body) {
  let response;
  try {
    response = await fetch(data.shareUrl, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(texts.network);
  }
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = payload.error ? payload.error.message : `HTTP ${response.status}`;
    throw new Error(format(texts.failed, { message }));
  }
  return payload;
}

async function decryptShare(keyFingerprint, encryptedShare) {
  const keyset = await getKeySet(keyFingerprint);
  if (!keyset) throw new Error(format(texts.no_key, { fingerprint: keyFingerprint }));
  try {
    const plain = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, keyset.encryption_private, b64decode(encryptedShare));
    return new Uint8Array(plain);
  } catch (error) {
    throw new Error(texts.decrypt_failed);
  }
}

async function submit(event) {
  event.preventDefault();
  button.disabled = true;
  say(texts.working);
  let share;
  try {
    requireSecureContext();
    const custody = await call("GET");
    if (!custody.encrypted_share) {
      // The server decides by its clock; the page may have been opened early.
      window.location.reload();
      return;
    }
    share = await decryptShare(custody.key_fingerprint, custody.encrypted_share);
    const result = await call("POST", { share: b64encode(share) });
    say(result.rebuilt ? texts.rebuilt : format(texts.submitted, result), "success");
    setTimeout(() => window.location.reload(), 1500);
  } catch (error) {
    say(error.message || String(error), "danger");
    button.disabled = false;
  } finally {
    if (share) share.fill(0);
  }
}

form.addEventListener("submit", submit);
