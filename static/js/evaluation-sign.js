// The sign step of the evaluation report page (templates/evaluation/report.html).
//
// 1. Is the member's registered key (page data) held by this browser? If not,
//    "generate" makes a new one (./evaluation-keys.js), registers its public
//    half (POST keys/) and keeps it in IndexedDB.
// 2. "Sign" downloads report.json, computes its SHA-256 here and checks it
//    against the digest the page shows, signs, and posts the signature; the
//    server verifies it with the registered key.

import { setMessages } from "./keystore.js";
import {
  generateSigningKey,
  getSigningKey,
  publicKeyBase64,
  saveSigningKey,
  sha256Hex,
  signReport,
} from "./evaluation-keys.js";

const data = JSON.parse(document.getElementById("evaluation-sign-data").textContent);
const texts = data.messages || {};
setMessages(texts);
const $ = (id) => document.getElementById(id);
const status = $("sign-status");
const keyState = $("sign-key-state");
const signButton = $("sign-report");
const newKeyButton = $("sign-new-key");
let key = null;

function say(code, detail) {
  const text = texts[code] || code;
  status.textContent = detail === undefined ? text : text.replace("%s", detail);
}

function fail(error) {
  status.textContent = (texts.error || "%s").replace("%s", error && error.message ? error.message : String(error));
  signButton.disabled = key === null;
  newKeyButton.disabled = false;
}

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrf_token },
    body: JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((payload.error && payload.error.message) || String(response.status));
    error.code = payload.error && payload.error.code;
    throw error;
  }
  return payload;
}

async function refreshKey() {
  key = await getSigningKey(data.key_fingerprint);
  if (key) {
    keyState.textContent = (texts["key.held"] || "%s").replace("%s", key.fingerprint.slice(0, 16));
    signButton.disabled = false;
  } else {
    keyState.textContent = texts["key.none"] || "—";
    signButton.disabled = true;
  }
}

newKeyButton.addEventListener("click", async () => {
  newKeyButton.disabled = true;
  signButton.disabled = true;
  try {
    say("key.generating");
    const fresh = await generateSigningKey();
    const registered = await postJSON(data.key_url, { signing_public: publicKeyBase64(fresh) });
    await saveSigningKey(fresh);
    data.key_fingerprint = registered.fingerprint;
    await refreshKey();
    say("key.registered");
  } catch (error) {
    fail(error);
  } finally {
    newKeyButton.disabled = false;
  }
});

signButton.addEventListener("click", async () => {
  signButton.disabled = true;
  try {
    say("report.fetching");
    const response = await fetch(data.report_json_url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const digest = await sha256Hex(await response.arrayBuffer());
    if (digest !== data.report_sha256) {
      say("report.mismatch");
      return;
    }
    say("report.signing");
    const signature = await signReport(key, { lotId: data.lot, reportSha256: digest, seat: data.seat });
    await postJSON(data.sign_url, { report_sha256: digest, signature });
    say("report.signed");
    window.location.reload();
  } catch (error) {
    fail(error);
  }
});

refreshKey().catch(fail);
