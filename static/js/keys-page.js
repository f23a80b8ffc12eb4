// The organisation's key page (/accounts/keys/): which keys this browser holds,
// generating a new key set (backup download forced before registration), and
// restoring a key set from a backup file. Cryptography in ./keystore.js.
import {
  checkPassphrase,
  discardMaterial,
  exportBackup,
  generateKeySet,
  getKeySet,
  groupFingerprint,
  importBackup,
  listKeySets,
  readBackupInfo,
  requireSecureContext,
  saveKeySet,
  setMessages,
  b64encode,
} from "./keystore.js";

const data = JSON.parse(document.getElementById("keys-page-data").textContent);
const texts = data.texts || {};
setMessages(texts);

const $ = (id) => document.getElementById(id);

function format(text, params) {
  return String(text).replace(/%\((\w+)\)s/g, (_, name) => (name in params ? String(params[name]) : ""));
}

function say(element, text, kind) {
  element.textContent = text || "";
  element.className = "keys-status" + (kind ? ` alert alert-${kind}` : "");
}

function failure(error) {
  if (error && error.code) return error.message;
  return format(texts.failed, { message: (error && error.message) || String(error) });
}

function csrfToken() {
  const input = document.querySelector("#keys-generate-form input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

async function register(keyset) {
  let response;
  try {
    response = await fetch(data.registerUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        encryption_public: b64encode(keyset.encryption_public_spki),
        signing_public: b64encode(keyset.signing_public_spki),
      }),
    });
  } catch (error) {
    throw new Error(texts.network);
  }
  const body = await response.json().catch(() => ({}));
  if (response.status !== 201) {
    const error = new Error((body.error && body.error.message) || texts.network);
    error.code = body.error && body.error.code;
    throw error;
  }
  if (body.encryption_fingerprint !== keyset.encryption_fingerprint) throw new Error(texts.network);
  return body;
}

async function markHeld() {
  const cells = document.querySelectorAll(".keys-held");
  const held = new Set((await listKeySets(data.organisation)).map((k) => k.encryption_fingerprint));
  for (const cell of cells) {
    const mine = held.has(cell.dataset.encryptionFingerprint);
    cell.textContent = mine ? texts.held : texts.not_held;
    cell.classList.toggle("keys-held-yes", mine);
  }
}

function download(blob, keyset) {
  const day = new Date().toISOString().slice(0, 10);
  const name = `sunbid-keys-${data.organisation}-${keyset.encryption_fingerprint.slice(0, 8)}-${day}.json`;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function setupGenerate() {
  const form = $("keys-generate-form");
  const status = $("keys-generate-status");
  const button = $("keys-generate-button");
  let pending = null; // {keyset, blob} between generation and registration

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let passphrase;
    try {
      passphrase = checkPassphrase($("keys-passphrase").value, $("keys-passphrase2").value);
    } catch (error) {
      say(status, failure(error), "danger");
      return;
    }
    button.disabled = true;
    let material = null;
    try {
      say(status, texts.generating);
      const generated = await generateKeySet(data.organisation);
      material = generated.material;
      say(status, texts.encrypting);
      const blob = await exportBackup(material, passphrase);
      pending = { keyset: generated.keyset, blob };
      $("keys-passphrase").value = "";
      $("keys-passphrase2").value = "";
      $("keys-new-encryption").textContent = groupFingerprint(generated.keyset.encryption_fingerprint);
      $("keys-new-signing").textContent = groupFingerprint(generated.keyset.signing_fingerprint);
      $("keys-new").hidden = false;
      $("keys-generate-box").hidden = true;
      say(status, texts.backup_ready, "warning");
    } catch (error) {
      button.disabled = false;
      say(status, failure(error), "danger");
    } finally {
      discardMaterial(material);
    }
  });

  $("keys-download-button").addEventListener("click", () => {
    if (!pending) return;
    download(pending.blob, pending.keyset);
    $("keys-backup-confirm").disabled = false;
  });
  $("keys-backup-confirm").addEventListener("change", (event) => {
    $("keys-register-button").disabled = !event.target.checked;
  });
  $("keys-register-button").addEventListener("click", async () => {
    if (!pending) return;
    $("keys-register-button").disabled = true;
    try {
      say(status, texts.registering);
      await register(pending.keyset);
      await saveKeySet(pending.keyset);
      pending = null;
      say(status, texts.registered, "success");
      setTimeout(() => window.location.reload(), 1500);
    } catch (error) {
      $("keys-register-button").disabled = false;
      say(status, failure(error), "danger");
    }
  });
}

function setupRestore() {
  const form = $("keys-restore-form");
  const status = $("keys-restore-status");
  const registerButton = $("keys-restore-register");
  const registerRow = $("keys-restore-register-row");
  let restored = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    registerRow.hidden = true;
    const file = $("keys-restore-file").files[0];
    if (!file) {
      say(status, texts.choose_file, "danger");
      return;
    }
    $("keys-restore-button").disabled = true;
    try {
      const info = await readBackupInfo(file);
      if (info.organisation !== data.organisation) {
        say(status, format(texts["backup.organisation"], { organisation: info.organisation }), "danger");
        return;
      }
      say(status, texts.restoring);
      restored = await importBackup(file, $("keys-restore-passphrase").value);
      $("keys-restore-passphrase").value = "";
      await markHeld();
      if (restored.encryption_fingerprint in data.registered) {
        say(status, texts.restored, "success");
      } else {
        say(status, texts.restored_unregistered, "warning");
        registerRow.hidden = false;
      }
    } catch (error) {
      say(status, failure(error), "danger");
    } finally {
      $("keys-restore-button").disabled = false;
    }
  });

  registerButton.addEventListener("click", async () => {
    if (!restored) return;
    registerButton.disabled = true;
    try {
      say(status, texts.registering);
      const keyset = await getKeySet(restored.encryption_fingerprint);
      await register(keyset || restored);
      say(status, texts.registered, "success");
      setTimeout(() => window.location.reload(), 1500);
    } catch (error) {
      registerButton.disabled = false;
      say(status, failure(error), "danger");
    }
  });
}

async function main() {
  try {
    requireSecureContext();
  } catch (error) {
    $("keys-insecure").hidden = false;
    return;
  }
  // The server guesses from the request; the browser knows (a proxy may end https).
  $("keys-insecure").hidden = true;
  setupGenerate();
  setupRestore();
  $("keys-generate-button").disabled = false;
  $("keys-restore-button").disabled = false;
  try {
    await markHeld();
  } catch (error) {
    for (const cell of document.querySelectorAll(".keys-held")) cell.textContent = failure(error);
  }
}

main();
