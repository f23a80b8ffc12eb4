// The opening room page (/opening/lots/<lot>/room/): the live ceremony, for every participant.
//
// Three parts:
// - ./room-socket.js speaks protocol v1: resume from the last seq, events strictly in
//   order, reconnection with backoff, refs with their answers, the server clock;
// - ./room-state.js turns the room's events into the view model (pure, replayable);
// - this module renders that model and wires the controls: the bidder's decryption
//   and confirmation (./room-crypto.js, keys from ./keystore.js), objections, the
//   host's console, the supervisor's pause, sign-in and the text channel.
//
// Everything shown comes from the events; the page keeps its state and last seq in
// sessionStorage (per lot and user) so that a reload resumes instead of starting over.
// Text from people (names, chat, objections, reasons) is only ever set as text
// (textContent, text nodes): never as HTML.

import {
  b64decode,
  b64encode,
  getKeySet,
  groupFingerprint,
  importBackup,
  readBackupInfo,
  requireSecureContext,
  setMessages,
} from "./keystore.js";
import { RoomSocket } from "./room-socket.js";
import {
  STATE_VERSION,
  awaitingCustodians,
  bidderRows,
  closeBlockers,
  confirmationRows,
  displayStage,
  initialState,
  nextToRead,
  readRows,
  reduce,
  remaining,
  signInOpen,
  unsettled,
} from "./room-state.js";
import { signConfirmation, unwrapFileKey } from "./room-crypto.js";

const data = JSON.parse(document.getElementById("room-page-data").textContent);
const texts = data.texts || {};
setMessages(texts);

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = `sunbid-room:${data.lot}:${data.user}`;
const MAX_CHAT_SHOWN = 300;

// --- small helpers ------------------------------------------------------------------------

function t(key, params) {
  const text = key in texts ? String(texts[key]) : key;
  if (!params) return text;
  return text.replace(/%\((\w+)\)s/g, (_, name) => (name in params ? String(params[name]) : ""));
}

/** An element with attributes and children; strings become text nodes (never HTML). */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "hidden" || name === "disabled") element[name] = Boolean(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function setText(element, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (element && element.textContent !== value) element.textContent = value;
}

function show(element, visible) {
  if (element && element.hidden === Boolean(visible)) element.hidden = !visible;
}

function enable(element, enabled) {
  if (element && element.disabled === Boolean(enabled)) element.disabled = !enabled;
}

/** A message near a control: kind "success" | "danger" | "warning" | "" (plain). */
function say(element, text, kind) {
  if (!element) return;
  setText(element, text || "");
  element.className = `room-note${kind ? ` alert alert-${kind}` : ""}`;
}

function failure(error) {
  if (!error) return t("failed", { message: "" });
  if (error.code && error.code in texts && !error.serverMessage) return t(error.code);
  if (error.message && error.message !== error.code) return error.message;
  return t("failed", { message: error.code || String(error) });
}

const dateParts = new Intl.DateTimeFormat("en-CA", {
  timeZone: data.timeZone,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** An ISO time as "YYYY-MM-DD HH:MM:SS" in the platform's time zone (not this machine's). */
function formatTime(iso, { date = true } = {}) {
  if (!iso) return "";
  const value = new Date(iso);
  if (Number.isNaN(value.getTime())) return "";
  const parts = Object.fromEntries(dateParts.formatToParts(value).map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}:${parts.second}`;
  return date ? `${parts.year}-${parts.month}-${parts.day} ${time}` : time;
}

/** A decimal string amount as "1,234,567.89" (no floating point on the way). */
function formatAmount(value) {
  if (value === null || value === undefined || value === "") return "—";
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(value));
  if (!match) return String(value);
  const whole = match[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${match[1]}${whole}${match[3] !== undefined ? `.${match[3]}` : ""}`;
}

function formatCountdown(ms) {
  const total = Math.floor(ms / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
  return days ? `${t("countdown.days", { days })}${clock}` : clock;
}

function csrfHeaders() {
  return { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrfToken };
}

/** The JSON API: resolves with the body, rejects with an Error carrying the server's code and message. */
async function api(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: csrfHeaders(),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw Object.assign(new Error(t("network")), { code: "client.network" });
  }
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(payload.error ? payload.error.message : t("failed", { message: `HTTP ${response.status}` }));
    error.code = payload.error ? payload.error.code : `http.${response.status}`;
    error.serverMessage = Boolean(payload.error);
    throw error;
  }
  return payload;
}

// --- state, kept across reloads -------------------------------------------------------------

function loadState() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (stored && stored.version === STATE_VERSION && stored.lot === data.lot && stored.state) {
      return stored.state;
    }
  } catch (error) {
    // Unreadable or unavailable storage: start from the first event.
  }
  return initialState();
}

let saveTimer = null;
function saveState() {
  flushEvents();
  clearTimeout(saveTimer);
  saveTimer = null;
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ version: STATE_VERSION, lot: data.lot, state }));
  } catch (error) {
    // Over quota (a very large room): a reload then resumes from the first event.
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch (ignored) {
      // storage unavailable
    }
  }
}

function saveSoon() {
  if (!saveTimer) saveTimer = setTimeout(saveState, 1000);
}

let state = loadState();
let pendingEvents = [];

/** Apply the events received since the last frame. */
function flushEvents() {
  if (!pendingEvents.length) return;
  state = reduce(state, pendingEvents);
  pendingEvents = [];
  saveSoon();
}

// What the page knows besides the events: the connection, and what this user did.
const ui = {
  status: "connecting",
  statusDetail: {},
  you: null,
  signedIn: false,
  decrypting: false,
  decryptStep: null,
  confirming: false,
  afterRestore: null, // what to continue with once a key set is restored
};

const socket = new RoomSocket({
  url: `${window.location.protocol === "https:" ? "wss:" : "ws:"}//${window.location.host}${data.socketPath}`,
  lastSeq: state.lastSeq,
  texts,
  onEvents(events) {
    // Applied in batches (once per frame, or before anything reads the state): a backlog
    // of thousands of events after a reconnect costs one pass of the reducer, not thousands.
    pendingEvents.push(...events);
    scheduleRender();
  },
  onWelcome(welcome) {
    ui.you = welcome.you || null;
    if (ui.you && ui.you.signed_in) ui.signedIn = true;
    show($("room-error"), false);
    scheduleRender();
  },
  onSynced() {
    saveState();
    scheduleRender();
  },
  onStatus(status, detail) {
    ui.status = status;
    ui.statusDetail = detail || {};
    if (status === "closed" && detail && detail.code) showError(t(`closed.${detail.code}`));
    scheduleRender();
  },
  onClock() {
    renderClock();
  },
  onError(error) {
    showError(failure(error));
  },
  onReset() {
    pendingEvents = [];
    state = initialState();
    saveState();
    scheduleRender();
  },
});

function showError(text) {
  const box = $("room-error");
  setText(box, text);
  show(box, Boolean(text));
}

function serverNow() {
  return socket.serverNow();
}

function isOver() {
  return state.stage === "closed" || state.stage === "failed";
}

function mine() {
  return data.bid ? state.bidders[data.bid.id] || null : null;
}

// --- rendering ------------------------------------------------------------------------------------

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

/**
 * Make `container`'s children match `items` (by key), reusing the elements already there:
 * a 2,000-bidder table is not rebuilt for each event. `update` runs only for items
 * whose object changed (the reducer replaces what an event touches).
 */
function syncChildren(container, items, keyOf, build, update) {
  const existing = new Map();
  for (const child of Array.from(container.children)) existing.set(child.dataset.key, child);
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = String(keyOf(item));
    let element = existing.get(key);
    if (element) existing.delete(key);
    else {
      element = build(item);
      element.dataset.key = key;
    }
    if (element.roomItem !== item) {
      update(element, item);
      element.roomItem = item;
    }
    if (element === cursor) cursor = cursor.nextElementSibling;
    else container.insertBefore(element, cursor);
  }
  for (const element of existing.values()) element.remove();
}

function render() {
  flushEvents();
  renderConnection();
  renderClock();
  renderTimed();
  renderFailure();
  renderBidders();
  renderReading();
  renderParticipants();
  renderObjections();
  renderChat();
  renderRecord();
  renderMine();
  renderHost();
  renderSupervisor();
}

function renderConnection() {
  const element = $("room-status");
  let text = t(`status.${ui.status}`);
  if (ui.status === "reconnecting" && ui.statusDetail.delay) {
    text = t("status.reconnecting_in", { seconds: Math.max(1, Math.round(ui.statusDetail.delay / 1000)) });
  }
  setText(element, text);
  element.className = `room-conn room-conn-${ui.status}`;
}

function renderClock() {
  const element = $("room-clock");
  if (socket.offset === null) {
    setText(element, t("clock.measuring"));
    return;
  }
  // Shown as this machine minus the server: "+1.2" means this clock is 1.2 s ahead.
  const seconds = -socket.offset / 1000;
  const shown = `${seconds >= 0 ? "+" : "−"}${Math.abs(seconds).toFixed(1)}`;
  setText(element, t("clock.offset", { offset: shown }));
}

/** The parts that change with the clock alone: banner, countdown, sign-in and close buttons. */
function renderTimed() {
  flushEvents();
  const now = serverNow();
  const stage = displayStage(state, now);
  const banner = $("room-banner");
  banner.dataset.stage = stage;
  banner.classList.toggle("room-banner-paused", Boolean(state.paused));
  setText($("room-stage"), (data.stages || {})[stage] || stage);

  const left = remaining(state, now);
  const label = { waiting: "countdown.waiting", signing_in: "countdown.waiting", decrypting: "countdown.decrypting", confirming: "countdown.confirming" }[stage];
  const deadline = state.stage === "waiting" ? state.deadline || state.openingTime : state.deadline;
  if (state.paused) {
    setText($("room-countdown-label"), t("paused"));
    setText($("room-countdown"), left === null ? "—" : formatCountdown(left));
  } else if (label && left !== null) {
    setText($("room-countdown-label"), t(label));
    setText($("room-countdown"), formatCountdown(left));
  } else {
    setText($("room-countdown-label"), "");
    setText($("room-countdown"), "—");
  }
  setText($("room-deadline"), label && deadline ? formatTime(deadline) : "");
  // A closed or failed room, or a stage without a deadline (settling, reading), has nothing to count down.
  show($("room-timer"), Boolean(state.paused || (label && left !== null)));

  show($("room-paused"), Boolean(state.paused));
  if (state.paused) {
    setText($("room-paused-text"), t("paused_by", { user: state.paused.userName, reason: state.paused.reason }));
  }

  renderSignIn(now);
  if ($("host-close")) renderClose(now);
  if (left === 0 && !state.paused) pokeAfterDeadline(deadline);
}

// When a deadline passes, the server's timed step moves the room on; ask for it a few
// times (after about 1, 2, 4 and 8 seconds, with jitter so a full room does not ask in
// one instant) rather than wait for the regular 20-second ping.
const poke = { deadline: null, count: 0, next: 0 };
function pokeAfterDeadline(deadline) {
  if (poke.deadline !== deadline) {
    poke.deadline = deadline;
    poke.count = 0;
    poke.next = Date.now() + 500 + Math.random() * 1000;
  }
  if (poke.count >= 4 || Date.now() < poke.next) return;
  poke.count += 1;
  poke.next = Date.now() + 1000 * 2 ** poke.count * (0.75 + Math.random() / 2);
  socket.pingNow();
}

function renderFailure() {
  const box = $("room-failed");
  if (!state.failure) {
    show(box, false);
    return;
  }
  // The server's reason names the count already; the numbers stand in when it gives none.
  box.replaceChildren(
    h(
      "strong",
      null,
      state.failure.reason
        ? t("failed_banner", { reason: state.failure.reason })
        : t("failed_count", { count: state.failure.count ?? "", min: state.failure.minBidders ?? "" }),
    ),
  );
  show(box, true);
  // A failed lot is never opened: no bidders are announced and nothing is read.
  show($("bidders-panel"), false);
  show($("reading-panel"), false);
}

function decryptionText(row) {
  if (row.decryption === "decrypted") {
    return row.key ? t(`decryption.decrypted.${row.key}`) : t("decryption.decrypted");
  }
  if (row.decryption === "failed") return t("decryption.failed", { message: row.failure ? row.failure.message : "" });
  return t("decryption.pending");
}

function outcomeText(row) {
  if (!row.cause) return "";
  const cause = (data.causes || {})[row.cause.cause] || row.cause.cause;
  const outcome = (data.outcomes || {})[row.outcome] || row.outcome || "";
  return [cause, outcome].filter(Boolean).join(" → ") + (row.cause.note ? `（${row.cause.note}）` : "");
}

function renderBidders() {
  const rows = bidderRows(state);
  const body = $("bidders-body");
  syncChildren(
    body,
    rows,
    (row) => row.bid,
    () => h("tr", null, h("td", { className: "num" }), h("td"), h("td", { className: "nowrap" }), h("td"), h("td"), h("td")),
    (tr, row) => {
      const cells = tr.children;
      setText(cells[0], state.order.indexOf(row.bid) + 1);
      const own = data.bid && data.bid.id === row.bid;
      cells[1].replaceChildren(row.organisationName, own ? " " : "", own ? h("span", { className: "badge badge-info" }, t("you")) : "");
      setText(cells[2], formatTime(row.receivedAt));
      cells[3].replaceChildren(
        h("span", { className: `badge ${row.signedIn ? "badge-ok" : ""}` }, row.signedIn ? t("signed_in") : t("not_signed_in")),
      );
      const kind = row.decryption === "decrypted" ? "badge-ok" : row.decryption === "failed" ? "badge-danger" : "badge-warn";
      cells[4].replaceChildren(h("span", { className: `badge ${kind}` }, decryptionText(row)));
      setText(cells[5], outcomeText(row));
      tr.classList.toggle("room-row-own", Boolean(own));
    },
  );
  show($("bidders-empty"), rows.length === 0);
  setText(
    $("bidders-summary"),
    rows.length ? t("bidders_count", { count: rows.length, min: state.minBidders ?? "" }) : "",
  );
}

function readingColumns() {
  return [
    t("col.position"),
    t("col.bidder"),
    t("col.price"),
    t("col.duration"),
    t("col.quality"),
    ...state.fields.map((field) => field.label),
    t("col.remark"),
    t("col.confirmation"),
  ];
}

function renderReading() {
  const head = $("reading-head");
  const columns = readingColumns();
  const signature = JSON.stringify(columns);
  if (head.dataset.columns !== signature) {
    head.replaceChildren(h("tr", null, columns.map((label, i) => h("th", { className: i === 0 || i === 2 ? "num" : null }, label))));
    head.dataset.columns = signature;
    $("reading-body").replaceChildren(); // the cells follow the columns
  }
  const rows = readRows(state);
  const finished = Boolean(state.readingDigest);
  syncChildren(
    $("reading-body"),
    rows.map((row) => ({ row, confirmation: state.confirmations[String(row.organisation)] || null, finished })),
    (item) => item.row.bid,
    () => h("tr"),
    (tr, { row, confirmation }) => {
      const read = row.read;
      const decrypted = read.outcome === "decrypted";
      const fieldCells = state.fields.map((field) => h("td", null, decrypted ? (read.fields || {})[field.label] ?? "" : ""));
      let remark = "";
      if (read.invalid) {
        const reason = t(`invalid.${read.invalid_reason}`) !== `invalid.${read.invalid_reason}` ? t(`invalid.${read.invalid_reason}`) : read.invalid_reason;
        remark = h("span", { className: "room-invalid" }, t("invalid", { reason }));
      } else if (!decrypted) {
        remark = (data.outcomes || {})[read.outcome] || read.outcome;
      }
      let confirmed = "";
      if (finished) {
        confirmed = confirmation
          ? h("span", { className: "badge badge-ok" }, confirmation.silent ? t("confirmed_silent") : t("confirmed"))
          : h("span", { className: "badge" }, t("unconfirmed"));
      }
      tr.replaceChildren(
        h("td", { className: "num" }, read.position),
        h("td", null, row.organisationName),
        h("td", { className: `num${read.invalid ? " room-invalid" : ""}` }, decrypted ? formatAmount(read.price) : "—"),
        h("td", { className: "nowrap" }, decrypted && read.duration_days !== null ? t("days", { days: read.duration_days }) : ""),
        h("td", null, decrypted ? read.quality || "" : ""),
        ...fieldCells,
        h("td", null, remark),
        h("td", null, confirmed),
      );
      tr.classList.toggle("room-row-invalid", Boolean(read.invalid));
    },
  );
  show($("reading-empty"), rows.length === 0);
  const control = state.readingControlPrice ?? state.controlPrice;
  setText($("reading-control"), control !== null && control !== undefined ? t("control_price", { price: formatAmount(control) }) : "");
  const total = state.readingOrder.length;
  setText($("reading-progress"), total ? t("reading.progress", { read: rows.length, total }) : "");
  show($("reading-digest-row"), finished);
  setText($("reading-digest"), state.readingDigest || "");
}

function renderParticipants() {
  const list = state.participants;
  syncChildren(
    $("participants"),
    list.map((entry, index) => ({ ...entry, index })),
    (entry) => entry.index,
    () => h("li"),
    (li, entry) => {
      li.replaceChildren(
        h("span", { className: "room-role" }, (data.roles || {})[entry.role] || entry.role),
        " ",
        entry.organisationName,
        entry.userName ? ` · ${entry.userName}` : "",
        h("span", { className: "muted small" }, ` ${formatTime(entry.at, { date: false })}`),
      );
    },
  );
  setText($("participants-count"), list.length ? t("participants_count", { count: list.length }) : "");
}

function renderSignIn(now) {
  const button = $("signin-button");
  const status = $("signin-status");
  const open = signInOpen(state, now);
  enable(button, open && !ui.signedIn && socket.connected && !ui.signingIn);
  if (ui.signedIn) {
    say(status, t("sign_in_done"), "success");
  } else if (!open && !isOver() && state.signInOpensAt && !ui.signInError) {
    say(status, t("sign_in_opens", { time: formatTime(state.signInOpensAt) }));
  } else if (!ui.signInError) {
    say(status, "");
  }
}

function renderObjections() {
  const list = $("objections-list");
  const host = data.role === "host";
  syncChildren(
    list,
    state.objections,
    (objection) => objection.id,
    (objection) => {
      const li = h("li", { className: "room-objection" }, h("div", { className: "room-objection-body" }));
      if (host) {
        const form = h(
          "form",
          { className: "room-answer-form" },
          h("textarea", { rows: 2, maxlength: 2000, placeholder: t("objection.answer_placeholder"), "aria-label": t("objection.answer_placeholder") }),
          h("button", { type: "submit", className: "btn btn-sm btn-primary" }, t("objection.answer_button")),
          h("p", { className: "room-note", role: "status" }),
        );
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          answerObjection(objection.id, form);
        });
        li.append(form);
      }
      return li;
    },
    (li, objection) => {
      const body = li.querySelector(".room-objection-body");
      body.replaceChildren(
        h("div", { className: "small muted" }, t("objection.by", { organisation: objection.organisationName, user: objection.userName }), ` · ${formatTime(objection.at, { date: false })}`),
        h("p", { className: "room-objection-text" }, objection.text),
        objection.answer
          ? h("p", { className: "room-answer" }, h("strong", null, t("objection.answer_by", { user: objection.answer.userName })), objection.answer.text)
          : h("span", { className: "badge badge-warn" }, t("objection.unanswered")),
      );
      const form = li.querySelector(".room-answer-form");
      if (form && objection.answer) form.remove();
    },
  );
  if (!state.objections.length) {
    if (!list.querySelector(".empty")) list.replaceChildren(h("li", { className: "empty", dataset: { key: "empty" } }, t("objection.none")));
  }
  for (const button of list.querySelectorAll(".room-answer-form button")) {
    enable(button, socket.connected && !isOver() && !state.paused);
  }
}

function renderChat() {
  const list = $("chat-list");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const shown = state.chat.slice(-MAX_CHAT_SHOWN);
  syncChildren(
    list,
    shown,
    (line) => line.seq,
    () => h("li"),
    (li, line) => {
      li.replaceChildren(
        h(
          "div",
          { className: "room-chat-meta" },
          h("span", { className: `room-role room-role-${line.role}` }, (data.roles || {})[line.role] || line.role),
          " ",
          line.organisationName,
          line.userName ? ` · ${line.userName}` : "",
          h("span", { className: "muted" }, ` ${formatTime(line.at, { date: false })}`),
        ),
        h("div", { className: "room-chat-text" }, line.text),
      );
    },
  );
  if (!shown.length && !list.querySelector(".empty")) {
    list.replaceChildren(h("li", { className: "empty", dataset: { key: "empty" } }, t("chat.empty")));
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
  enable($("chat-button"), socket.connected && !isOver());
}

function renderRecord() {
  const box = $("record-box");
  if (!state.closed) {
    show(box, false);
    return;
  }
  show(box, true);
  if (state.closed.recordUrl) $("record-pdf").setAttribute("href", state.closed.recordUrl);
  if (state.closed.recordJsonUrl) $("record-json").setAttribute("href", state.closed.recordJsonUrl);
  setText($("record-sha"), state.closed.recordSha256 ? t("record.sha256", { sha: state.closed.recordSha256 }) : "");
  setText(
    $("record-audit"),
    state.closed.chainHash ? t("record.audit", { from: state.closed.auditFrom, to: state.closed.auditTo, hash: state.closed.chainHash }) : "",
  );
}

// --- the bidder: decryption, confirmation, objection ------------------------------------------------

const STEPS = ["key", "unwrap", "verify", "done"];

function renderMine() {
  if (!data.bid || !$("room-mine")) return;
  const row = mine();
  const decrypted = Boolean(row && row.decryption === "decrypted");
  const step = decrypted ? "done" : ui.decryptStep;
  for (const li of $("decrypt-steps").children) {
    const index = STEPS.indexOf(li.dataset.step);
    const current = STEPS.indexOf(step);
    li.classList.toggle("room-step-done", current > index || (step === "done" && index === current));
    li.classList.toggle("room-step-active", current === index && step !== "done");
  }
  const canDecrypt = state.stage === "decrypting" && !state.paused && row && !decrypted && !ui.decrypting;
  enable($("decrypt-button"), canDecrypt);
  const status = $("decrypt-status");
  if (decrypted) say(status, t("decrypt.done"), "success");
  else if (!ui.decrypting && !ui.decryptError) {
    if (state.stage === "waiting") say(status, t("decrypt.not_yet"));
    else if (state.stage !== "decrypting" && row) say(status, t("decrypt.closed"));
    else if (row && row.decryption === "failed") say(status, decryptionText(row), "danger");
    else say(status, "");
  }
  // From the confirmation on, the bidder table and the reading say how each bid was opened.
  show($("decrypt-box"), ["waiting", "decrypting", "settling", "reading"].includes(state.stage));

  // Confirmation: once the reading is finished, for a bidder whose bid was read.
  const confirmBox = $("confirm-box");
  const read = Boolean(row && row.read);
  const confirmation = data.bid ? state.confirmations[String(data.bid.organisation)] : null;
  show(confirmBox, Boolean(state.readingDigest));
  setText($("confirm-digest"), state.readingDigest || "");
  enable(
    $("confirm-button"),
    state.stage === "confirming" && !state.paused && read && !confirmation && !ui.confirming && socket.connected,
  );
  const confirmStatus = $("confirm-status");
  if (confirmation) say(confirmStatus, confirmation.silent ? t("confirm.silent") : t("confirm.done"), "success");
  else if (state.readingDigest && !read) say(confirmStatus, t("confirm.not_read"));

  // Objections from the opening until the room closes.
  const objectionOpen = ["decrypting", "settling", "reading", "confirming"].includes(state.stage);
  show($("objection-form"), objectionOpen);
  enable($("objection-button"), objectionOpen && !state.paused && socket.connected);
}

function setStep(step) {
  ui.decryptStep = step;
  scheduleRender();
}

/** Ask for the backup file; `next(keyset)` continues with the restored key set. */
function askForBackup(fingerprint, creditCode, next) {
  ui.afterRestore = { fingerprint, creditCode, next };
  setText($("key-restore-text"), t("decrypt.no_key", { fingerprint: groupFingerprint(fingerprint) }));
  say($("key-restore-status"), "");
  show($("key-restore"), true);
  $("key-restore-file").focus();
}

async function restoreKey(event) {
  event.preventDefault();
  const pending = ui.afterRestore;
  const status = $("key-restore-status");
  if (!pending) return;
  const file = $("key-restore-file").files[0];
  if (!file) {
    say(status, t("choose_file"), "danger");
    return;
  }
  enable($("key-restore-button"), false);
  try {
    const info = await readBackupInfo(file);
    if (info.organisation !== pending.creditCode) {
      say(status, t("backup.organisation", { organisation: info.organisation }), "danger");
      return;
    }
    if (info.encryption_fingerprint !== pending.fingerprint) {
      say(status, t("decrypt.wrong_backup", { fingerprint: groupFingerprint(pending.fingerprint) }), "danger");
      return;
    }
    say(status, t("restoring"));
    const keyset = await importBackup(file, $("key-restore-passphrase").value);
    $("key-restore-passphrase").value = "";
    ui.afterRestore = null;
    show($("key-restore"), false);
    say(status, "");
    await pending.next(keyset);
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    enable($("key-restore-button"), true);
  }
}

async function decrypt() {
  const status = $("decrypt-status");
  ui.decrypting = true;
  ui.decryptError = false;
  show($("key-restore"), false);
  setStep("key");
  say(status, "");
  try {
    requireSecureContext();
    const wrapped = await api("GET", data.urls.wrappedKey);
    const keyset = await getKeySet(wrapped.bidder_fingerprint);
    if (!keyset) {
      ui.decrypting = false;
      askForBackup(wrapped.bidder_fingerprint, wrapped.credit_code, async (restored) => {
        say(status, t("decrypt.restored"));
        ui.decrypting = true;
        try {
          await unwrapAndSend(restored, wrapped);
        } catch (error) {
          decryptFailed(error);
        } finally {
          ui.decrypting = false;
          scheduleRender();
        }
      });
      scheduleRender();
      return;
    }
    await unwrapAndSend(keyset, wrapped);
  } catch (error) {
    decryptFailed(error);
  } finally {
    ui.decrypting = false;
    scheduleRender();
  }
}

async function unwrapAndSend(keyset, wrapped) {
  const status = $("decrypt-status");
  setStep("unwrap");
  const fileKey = await unwrapFileKey(keyset, b64decode(wrapped.wrapped_key));
  try {
    setStep("verify");
    say(status, t("decrypt.verifying"));
    await api("POST", data.urls.decrypt, { file_key: b64encode(fileKey) });
  } finally {
    fileKey.fill(0);
  }
  setStep("done");
  say(status, t("decrypt.done"), "success");
}

function decryptFailed(error) {
  ui.decryptError = true;
  say($("decrypt-status"), failure(error), "danger");
}

async function confirm() {
  const status = $("confirm-status");
  ui.confirming = true;
  scheduleRender();
  const sign = async (keyset) => {
    if (keyset.signing_fingerprint !== data.bid.signingFingerprint) {
      throw Object.assign(new Error(t("confirm.wrong_key")), { code: "confirm.wrong_key" });
    }
    say(status, t("confirm.signing"));
    const signature = await signConfirmation(keyset, {
      lotId: data.lot,
      readingDigest: state.readingDigest,
      creditCode: data.bid.creditCode,
    });
    await socket.request({ type: "confirm", signature: b64encode(signature) });
    say(status, t("confirm.done"), "success");
  };
  try {
    requireSecureContext();
    const keyset = await getKeySet(data.bid.bidderFingerprint);
    if (!keyset) {
      askForBackup(data.bid.bidderFingerprint, data.bid.creditCode, async (restored) => {
        try {
          await sign(restored);
        } catch (error) {
          say(status, failure(error), "danger");
        }
      });
      return;
    }
    await sign(keyset);
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    ui.confirming = false;
    scheduleRender();
  }
}

async function object(event) {
  event.preventDefault();
  const input = $("objection-text");
  const status = $("objection-status");
  enable($("objection-button"), false);
  try {
    await socket.request({ type: "objection", text: input.value });
    input.value = "";
    say(status, t("objection.sent"), "success");
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    scheduleRender();
  }
}

// --- everyone: sign-in, chat ------------------------------------------------------------------------

async function signIn() {
  ui.signingIn = true;
  ui.signInError = false;
  scheduleRender();
  try {
    await socket.request({ type: "sign_in" });
    ui.signedIn = true;
  } catch (error) {
    ui.signInError = true;
    say($("signin-status"), failure(error), "danger");
  } finally {
    ui.signingIn = false;
    scheduleRender();
  }
}

async function chat(event) {
  event.preventDefault();
  const input = $("chat-text");
  const status = $("chat-status");
  if (!input.value.trim()) return;
  enable($("chat-button"), false);
  try {
    await socket.request({ type: "chat", text: input.value });
    input.value = "";
    say(status, "");
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    scheduleRender();
  }
}

// --- the host ----------------------------------------------------------------------------------------

function renderHost() {
  if (data.role !== "host" || !$("host-console")) return;
  show($("host-console"), !isOver());
  const running = !state.paused && !isOver() && socket.connected;
  const settling = state.stage === "settling";

  // Bids not decrypted in time: one line each, cause + note + button.
  const open = settling ? unsettled(state) : [];
  syncChildren(
    $("host-settle"),
    open,
    (row) => row.bid,
    (row) => {
      const select = h(
        "select",
        { "aria-label": t("host.choose_cause") },
        h("option", { value: "" }, t("host.choose_cause")),
        Object.entries(data.causes || {})
          .filter(([value]) => value !== "custodians" || state.fallback)
          .map(([value, label]) => h("option", { value }, label)),
      );
      const note = h("input", { type: "text", maxlength: 500, placeholder: t("host.note_placeholder"), "aria-label": t("host.note_placeholder") });
      const button = h("button", { type: "submit", className: "btn btn-sm btn-primary" }, t("host.record_cause"));
      const form = h(
        "form",
        { className: "room-settle-row" },
        h("strong", { className: "room-settle-name" }),
        h("span", { className: "room-settle-state small" }),
        select,
        note,
        button,
        h("p", { className: "room-note", role: "status" }),
      );
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        recordCause(row.bid, form);
      });
      return form;
    },
    (form, row) => {
      setText(form.querySelector(".room-settle-name"), row.organisationName);
      setText(form.querySelector(".room-settle-state"), decryptionText(row));
    },
  );
  for (const button of $("host-settle").querySelectorAll("button")) enable(button, running && settling);
  const settleStatus = $("host-settle-status");
  if (settling) say(settleStatus, open.length ? "" : t("host.settle_none"));
  else say(settleStatus, state.stage === "decrypting" || state.stage === "waiting" ? t("host.not_settling") : "");

  // The custodians' fallback.
  const waiting = awaitingCustodians(state);
  show($("host-custody-block"), waiting.length > 0 || Boolean(state.custody));
  const custody = state.custody;
  let progress = custody && custody.threshold !== null
    ? t("host.custody_progress", { submitted: custody.submitted, threshold: custody.threshold, count: custody.count ?? "" })
    : waiting.length ? t("host.custody_waiting") : "";
  if (custody && custody.rebuilt) progress = `${progress} ${t("host.custody_rebuilt")}`.trim();
  setText($("host-custody-progress"), progress);
  syncChildren(
    $("host-custody"),
    waiting,
    (row) => row.bid,
    (row) => {
      const button = h("button", { type: "button", className: "btn btn-sm btn-primary" }, t("host.open_with_custody"));
      const line = h("div", { className: "room-settle-row" }, h("strong", { className: "room-settle-name" }), button, h("p", { className: "room-note", role: "status" }));
      button.addEventListener("click", () => openWithCustody(row.bid, line));
      return line;
    },
    (line, row) => setText(line.querySelector(".room-settle-name"), row.organisationName),
  );
  // Only once the custodians' shares have rebuilt the key: before that the attempt cannot succeed.
  const rebuilt = Boolean(state.custody && state.custody.rebuilt);
  for (const button of $("host-custody").querySelectorAll("button")) {
    enable(button, running && settling && rebuilt && !button.dataset.busy);
  }

  // Reading.
  const next = nextToRead(state);
  const reading = state.stage === "reading";
  enable($("host-read-next"), running && reading && Boolean(next) && !ui.reading);
  setText($("host-read-next"), next && reading ? t("host.read_next", { name: next.organisationName }) : t("host.read_next_plain"));
  let why = "";
  if (state.paused) why = t("blocker.paused");
  else if (!reading && !state.readingDigest) why = t("host.not_reading");
  else if (state.readingDigest) why = t("host.read_all_done");
  setText($("host-read-why"), why);
}

function renderClose(now) {
  const blockers = isOver() ? [] : closeBlockers(state, now);
  enable($("host-close"), !isOver() && blockers.length === 0 && socket.connected && !ui.closing);
  const list = $("host-close-why");
  const wanted = blockers.map((code) => t(`blocker.${code}`));
  if (JSON.stringify(Array.from(list.children, (li) => li.textContent)) !== JSON.stringify(wanted)) {
    list.replaceChildren(...wanted.map((text) => h("li", null, text)));
  }
}

async function recordCause(bid, form) {
  const select = form.querySelector("select");
  const status = form.querySelector(".room-note");
  if (!select.value) {
    say(status, t("host.choose_cause"), "danger");
    return;
  }
  form.querySelector("button").disabled = true;
  try {
    await socket.request({ type: "record_cause", bid, cause: select.value, note: form.querySelector("input").value });
    say(status, t("done"), "success");
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    scheduleRender();
  }
}

async function openWithCustody(bid, line) {
  const button = line.querySelector("button");
  const status = line.querySelector(".room-note");
  button.dataset.busy = "1";
  button.disabled = true;
  say(status, t("host.opening"));
  try {
    await api("POST", data.urls.openWithCustody.replace(data.urls.bidPlaceholder, encodeURIComponent(bid)));
    say(status, t("done"), "success");
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    delete button.dataset.busy;
    scheduleRender();
  }
}

async function readNext() {
  ui.reading = true;
  scheduleRender();
  try {
    await socket.request({ type: "read_next" });
    say($("host-read-status"), "");
  } catch (error) {
    say($("host-read-status"), failure(error), "danger");
  } finally {
    ui.reading = false;
    scheduleRender();
  }
}

async function closeRoom() {
  ui.closing = true;
  scheduleRender();
  try {
    await socket.request({ type: "close" });
    say($("host-close-status"), t("done"), "success");
  } catch (error) {
    say($("host-close-status"), failure(error), "danger");
  } finally {
    ui.closing = false;
    scheduleRender();
  }
}

async function answerObjection(id, form) {
  const input = form.querySelector("textarea");
  const status = form.querySelector(".room-note");
  form.querySelector("button").disabled = true;
  try {
    await socket.request({ type: "answer", objection: id, text: input.value });
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    scheduleRender();
  }
}

// --- the supervisor ------------------------------------------------------------------------------------

function renderSupervisor() {
  show($("supervisor-console"), !isOver());
  if (!$("pause-form")) return;
  const live = socket.connected && !isOver() && !ui.pausing;
  enable($("pause-button"), live && !state.paused);
  enable($("unpause-button"), live && Boolean(state.paused));
}

async function pause(type) {
  const input = $("pause-reason");
  const status = $("pause-status");
  if (!input.value.trim()) {
    say(status, t("supervisor.reason_required"), "danger");
    input.focus();
    return;
  }
  ui.pausing = true;
  scheduleRender();
  try {
    await socket.request({ type, reason: input.value });
    input.value = "";
    say(status, t("done"), "success");
  } catch (error) {
    say(status, failure(error), "danger");
  } finally {
    ui.pausing = false;
    scheduleRender();
  }
}

// --- wiring --------------------------------------------------------------------------------------------

function on(id, event, handler) {
  const element = $(id);
  if (element) element.addEventListener(event, handler);
}

on("signin-button", "click", signIn);
on("chat-form", "submit", chat);
on("decrypt-button", "click", decrypt);
on("key-restore", "submit", restoreKey);
on("confirm-button", "click", confirm);
on("objection-form", "submit", object);
on("host-read-next", "click", readNext);
on("host-close", "click", closeRoom);
on("pause-button", "click", () => pause("pause"));
on("unpause-button", "click", () => pause("unpause"));

window.addEventListener("pagehide", saveState);
// The countdown and everything else that depends on the clock alone.
setInterval(renderTimed, 250);

render();
socket.start();
