// The supervisors' replay player (templates/audit/replay_*.html, docs/replay.md): an opening,
// a lot's expert draws or a tender's whole life, played from the audit records alone.
//
// The page lists every record (server-rendered, who / where / when); this module loads the
// same replay as JSON (the player's data-json-url) and moves a cursor over it:
// - play, pause, speed (1×–60× of the record's own time, or event by event), previous and
//   next event, a click on the time-scaled bar or on a record in the list;
// - the cursor is (index, t): `index` records have happened, `t` is the replay's clock;
// - what is shown at the cursor is computed from the records before it and nothing else.
//   An opening is the room page's own view model: the room's events rebuilt from the chain
//   are fed to room-state.js's reducer, exactly as the live page feeds it the socket's.
//
// Text from people (names, chat, objections, reasons) is only ever set as text, never HTML.

import {
  bidderRows,
  displayStage,
  initialState,
  readRows,
  reduce,
  remaining,
} from "./room-state.js";

const $ = (id) => document.getElementById(id);
const root = $("replay-player");

let data = null;
let texts = {};

// --- small helpers ---------------------------------------------------------------------------

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
    else if (name === "hidden") element.hidden = Boolean(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false || child === "") continue;
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

let dateParts = null;

/** An instant as "YYYY-MM-DD HH:MM:SS" in the platform's time zone (not this machine's). */
function formatTime(value, { date = true } = {}) {
  if (value === null || value === undefined || value === "") return "";
  const moment = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(moment.getTime())) return "";
  const parts = Object.fromEntries(dateParts.formatToParts(moment).map((p) => [p.type, p.value]));
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
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(Math.floor((total % 86400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days ? `${t("countdown.days", { days })}${clock}` : clock;
}

function ms(value) {
  if (value === null || value === undefined) return null;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

// --- the cursor ------------------------------------------------------------------------------

const player = {
  times: [], // each record's time on the replay clock: never earlier than the one before, within [start, end]
  start: 0,
  end: 0,
  index: 0, // how many records have happened
  t: 0, // the replay's clock (epoch ms)
  playing: false,
  speed: { mode: "time", rate: 1 },
  last: 0, // the frame time of the previous tick
  carry: 0, // event mode: milliseconds towards the next step
  shown: -1, // the index the list and the view were last drawn for
};

function total() {
  return player.times.length;
}

/** How many records happened at or before `moment`. */
function countAt(moment) {
  let low = 0;
  let high = player.times.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (player.times[middle] <= moment) low = middle + 1;
    else high = middle;
  }
  return low;
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

function jumpToTime(moment) {
  player.t = clamp(moment, player.start, player.end);
  player.index = countAt(player.t);
  player.carry = 0;
  update();
}

function jumpToIndex(index) {
  player.index = clamp(index, 0, total());
  player.t = player.index > 0 ? player.times[player.index - 1] : player.start;
  player.carry = 0;
  update();
}

function setPlaying(playing) {
  if (playing && player.index >= total() && player.t >= player.end) jumpToIndex(0);
  player.playing = playing;
  setText($("replay-play"), playing ? t("pause") : t("play"));
  $("replay-play").setAttribute("aria-pressed", playing ? "true" : "false");
  if (playing) {
    player.last = performance.now();
    requestAnimationFrame(frame);
  }
}

function frame(now) {
  if (!player.playing) return;
  const elapsed = Math.max(0, now - player.last);
  player.last = now;
  if (player.speed.mode === "time") {
    player.t = Math.min(player.end, player.t + elapsed * player.speed.rate);
    player.index = Math.max(player.index, countAt(player.t));
    if (player.t >= player.end) {
      player.index = total();
      update();
      setPlaying(false);
      return;
    }
  } else {
    const step = 1000 / player.speed.rate;
    player.carry += elapsed;
    let moved = false;
    while (player.carry >= step && player.index < total()) {
      player.carry -= step;
      player.index += 1;
      moved = true;
    }
    if (moved) player.t = player.times[player.index - 1];
    if (player.index >= total()) {
      player.t = player.end;
      update();
      setPlaying(false);
      return;
    }
  }
  update();
  requestAnimationFrame(frame);
}

function readSpeed() {
  const [mode, rate] = String($("replay-speed").value).split(":");
  player.speed = { mode: mode === "events" ? "events" : "time", rate: Number(rate) > 0 ? Number(rate) : 1 };
  player.carry = 0;
}

// --- the list of records ---------------------------------------------------------------------

let rows = []; // row element by record index

function indexRows() {
  rows = [];
  for (const row of document.querySelectorAll("tr.replay-row[data-index]")) {
    rows[Number(row.dataset.index)] = row;
  }
}

function markRow(index) {
  const row = rows[index];
  if (!row) return;
  const happened = index < player.index;
  row.classList.toggle("replay-future", !happened);
  row.classList.toggle("replay-current", index === player.index - 1);
}

/** Re-mark only the rows between the old and the new cursor: a 10,000-record list is not redrawn per frame. */
function updateRows(previous) {
  if (previous < 0) {
    for (let index = 0; index < rows.length; index += 1) markRow(index);
  } else {
    const low = Math.max(0, Math.min(previous, player.index) - 1);
    const high = Math.min(rows.length - 1, Math.max(previous, player.index));
    for (let index = low; index <= high; index += 1) markRow(index);
  }
  const current = rows[player.index - 1];
  if (current) keepInView(current);
}

function keepInView(row) {
  const box = row.closest(".replay-events");
  if (!box || box.closest("details:not([open])")) return;
  const top = row.getBoundingClientRect().top - box.getBoundingClientRect().top;
  if (top < 0 || top + row.offsetHeight > box.clientHeight) {
    box.scrollTop += top - box.clientHeight / 3;
  }
}

// --- the bar ---------------------------------------------------------------------------------

function fraction(moment) {
  const span = player.end - player.start;
  return span > 0 ? (moment - player.start) / span : total() ? player.index / total() : 0;
}

const KEY_KINDS = new Set(["opened", "failed", "stage", "reading_started", "reading_finished", "closed", "paused", "unpaused"]);

function tickColour(event) {
  if (event.room) return KEY_KINDS.has(event.room.kind) ? "#c0161c" : "#0b4a9c";
  if (data.kind === "draw" && /\.(run|revealed|complete|exhausted)$/.test(event.action)) return "#c0161c";
  if (data.kind === "tender" && /^tendering\.(tender|lot)\./.test(event.action)) return "#c0161c";
  return data.kind === "opening" ? "#9aa3ad" : "#0b4a9c";
}

function drawTicks() {
  const canvas = $("replay-ticks");
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const span = player.end - player.start;
  data.events.forEach((event, index) => {
    const x = span > 0 ? ((player.times[index] - player.start) / span) * width : ((index + 0.5) / total()) * width;
    const colour = tickColour(event);
    const tall = colour === "#c0161c";
    context.fillStyle = colour;
    context.fillRect(Math.round(x), tall ? 3 : 10, 1, tall ? height - 6 : height - 20);
  });
}

function barClick(event) {
  const bar = $("replay-bar");
  const box = bar.getBoundingClientRect();
  const share = clamp((event.clientX - box.left) / box.width, 0, 1);
  if (player.end > player.start) jumpToTime(player.start + share * (player.end - player.start));
  else jumpToIndex(Math.round(share * total()));
}

function barKey(event) {
  const keys = {
    ArrowLeft: () => jumpToIndex(player.index - 1),
    ArrowRight: () => jumpToIndex(player.index + 1),
    Home: () => jumpToIndex(0),
    End: () => jumpToIndex(total()),
    " ": () => setPlaying(!player.playing),
  };
  if (keys[event.key]) {
    event.preventDefault();
    keys[event.key]();
  }
}

// --- drawing the cursor ----------------------------------------------------------------------

function update() {
  const share = clamp(fraction(player.t), 0, 1) * 100;
  $("replay-fill").style.width = `${share}%`;
  $("replay-handle").style.left = `${share}%`;
  const clock = formatTime(player.t);
  setText($("replay-clock"), clock);
  setText($("replay-position"), t("position", { index: player.index, total: total() }));
  const bar = $("replay-bar");
  bar.setAttribute("aria-valuenow", String(player.index));
  bar.setAttribute("aria-valuetext", `${clock} · ${t("position", { index: player.index, total: total() })}`);
  $("replay-prev").disabled = player.index <= 0;
  $("replay-next").disabled = player.index >= total();
  const changed = player.shown !== player.index;
  if (changed) {
    updateRows(player.shown);
    renderCurrent();
  }
  VIEWS[data.kind](changed);
  player.shown = player.index;
}

function renderCurrent() {
  const box = $("replay-current");
  const event = data.events[player.index - 1];
  if (!event) {
    box.replaceChildren(t("before_first"));
    return;
  }
  const who = event.masked ? t("masked_expert") : event.actor || t("system");
  box.replaceChildren(
    h("a", { href: event.url }, `#${event.seq}`),
    " ",
    h("strong", null, event.label),
    ` · ${formatTime(event.at)} · ${who}`,
    event.organisation ? `（${event.organisation}）` : "",
    event.ip ? ` · ${event.ip}` : "",
    event.summary ? ` · ${event.summary}` : "",
  );
}

// --- the opening: the room as its participants saw it -----------------------------------------

const room = { state: initialState(), applied: 0, drawn: null };

function roomEventsBefore(index, from = 0) {
  const list = [];
  for (let i = from; i < index; i += 1) if (data.events[i].room) list.push(data.events[i].room);
  return list.sort((a, b) => a.seq - b.seq);
}

/** The room's view model after the first `index` records: the room page's reducer, fed the rebuilt events. */
function roomStateAt(index) {
  if (index < room.applied) {
    room.state = initialState();
    room.applied = 0;
  }
  if (index > room.applied) {
    const batch = roomEventsBefore(index, room.applied);
    if (batch.length && batch[0].seq <= room.state.lastSeq) {
      // An event older than one already applied (records out of order in the chain): start again.
      room.state = reduce(initialState(), roomEventsBefore(index));
    } else if (batch.length) {
      room.state = reduce(room.state, batch);
    }
    room.applied = index;
  }
  return room.state;
}

const COUNTDOWN_LABELS = {
  waiting: "countdown.waiting",
  signing_in: "countdown.waiting",
  decrypting: "countdown.decrypting",
  confirming: "countdown.confirming",
};

function renderOpening(changed) {
  const state = roomStateAt(player.index);
  renderBanner(state, player.t);
  if (!changed && room.drawn === state) return;
  room.drawn = state;
  renderFailure(state);
  renderBidders(state);
  renderReading(state);
  renderParticipants(state);
  renderObjections(state);
  renderPauses(state);
  renderCustody(state);
  renderChat(state);
  renderRecord(state);
}

function renderBanner(state, now) {
  const stage = displayStage(state, now);
  const banner = $("room-banner");
  banner.dataset.stage = stage;
  banner.classList.toggle("room-banner-paused", Boolean(state.paused));
  setText($("room-stage"), (data.stages || {})[stage] || stage);
  const left = remaining(state, now);
  const label = COUNTDOWN_LABELS[stage];
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
  show($("room-timer"), Boolean(state.paused || (label && left !== null)));
  show($("room-paused"), Boolean(state.paused));
  if (state.paused) setText($("room-paused-text"), t("paused_by", { user: state.paused.userName, reason: state.paused.reason }));
}

function renderFailure(state) {
  const box = $("room-failed");
  show(box, Boolean(state.failure));
  show($("bidders-panel"), !state.failure);
  show($("reading-panel"), !state.failure);
  if (!state.failure) return;
  box.replaceChildren(
    h(
      "strong",
      null,
      state.failure.reason
        ? t("failed_banner", { reason: state.failure.reason })
        : t("failed_count", { count: state.failure.count ?? "", min: state.failure.minBidders ?? "" }),
    ),
  );
}

function decryptionBadge(row) {
  if (row.decryption === "decrypted") {
    return h("span", { className: "badge badge-ok" }, row.key ? t(`decryption.decrypted.${row.key}`) : t("decryption.decrypted"));
  }
  if (row.decryption === "failed") {
    return h("span", { className: "badge badge-danger" }, t("decryption.failed", { message: row.failure ? row.failure.message : "" }));
  }
  return h("span", { className: "badge badge-warn" }, t("decryption.pending"));
}

function outcomeText(row) {
  if (!row.cause) return "";
  const cause = (data.causes || {})[row.cause.cause] || row.cause.cause;
  const outcome = (data.outcomes || {})[row.outcome] || row.outcome || "";
  return [cause, outcome].filter(Boolean).join(" → ") + (row.cause.note ? `（${row.cause.note}）` : "");
}

function renderBidders(state) {
  const list = bidderRows(state);
  $("bidders-body").replaceChildren(
    ...list.map((row, index) =>
      h(
        "tr",
        { dataset: { bid: row.bid } },
        h("td", { className: "num" }, index + 1),
        h("td", null, row.organisationName),
        h("td", { className: "nowrap" }, formatTime(row.receivedAt)),
        h("td", null, h("span", { className: `badge ${row.signedIn ? "badge-ok" : ""}` }, row.signedIn ? t("signed_in") : t("not_signed_in"))),
        h("td", null, decryptionBadge(row)),
        h("td", null, outcomeText(row)),
      ),
    ),
  );
  show($("bidders-empty"), list.length === 0);
  setText($("bidders-summary"), list.length ? t("bidders_count", { count: list.length, min: state.minBidders ?? "" }) : "");
}

function renderReading(state) {
  const columns = [
    t("col.position"),
    t("col.bidder"),
    t("col.price"),
    t("col.duration"),
    t("col.quality"),
    ...state.fields.map((field) => field.label),
    t("col.remark"),
    t("col.confirmation"),
  ];
  $("reading-head").replaceChildren(h("tr", null, columns.map((label, i) => h("th", { className: i === 0 || i === 2 ? "num" : null }, label))));
  const finished = Boolean(state.readingDigest);
  const list = readRows(state);
  $("reading-body").replaceChildren(
    ...list.map((row) => {
      const read = row.read;
      const decrypted = read.outcome === "decrypted";
      const confirmation = state.confirmations[String(row.organisation)] || null;
      let remark = "";
      if (read.invalid) {
        const key = `invalid.${read.invalid_reason}`;
        remark = h("span", { className: "room-invalid" }, t("invalid", { reason: key in texts ? t(key) : read.invalid_reason }));
      } else if (!decrypted) {
        remark = (data.outcomes || {})[read.outcome] || read.outcome;
      }
      let confirmed = "";
      if (finished) {
        confirmed = confirmation
          ? h("span", { className: "badge badge-ok" }, confirmation.silent ? t("confirmed_silent") : t("confirmed"))
          : h("span", { className: "badge" }, t("unconfirmed"));
      }
      const tr = h(
        "tr",
        { dataset: { bid: row.bid } },
        h("td", { className: "num" }, read.position),
        h("td", null, row.organisationName),
        h("td", { className: `num${read.invalid ? " room-invalid" : ""}` }, decrypted ? formatAmount(read.price) : "—"),
        h("td", { className: "nowrap" }, decrypted && read.duration_days !== null ? t("days", { days: read.duration_days }) : ""),
        h("td", null, decrypted ? read.quality || "" : ""),
        ...state.fields.map((field) => h("td", null, decrypted ? (read.fields || {})[field.label] ?? "" : "")),
        h("td", null, remark),
        h("td", null, confirmed),
      );
      tr.classList.toggle("room-row-invalid", Boolean(read.invalid));
      return tr;
    }),
  );
  show($("reading-empty"), list.length === 0);
  const control = state.readingControlPrice ?? state.controlPrice;
  setText($("reading-control"), control !== null && control !== undefined ? t("control_price", { price: formatAmount(control) }) : "");
  const count = state.readingOrder.length;
  setText($("reading-progress"), count ? t("reading.progress", { read: list.length, total: count }) : "");
  show($("reading-digest-row"), finished);
  setText($("reading-digest"), state.readingDigest || "");
}

function roleTag(role) {
  return h("span", { className: `room-role room-role-${role}` }, (data.roles || {})[role] || role);
}

function renderParticipants(state) {
  $("participants").replaceChildren(
    ...state.participants.map((entry) =>
      h(
        "li",
        null,
        roleTag(entry.role),
        " ",
        entry.organisationName,
        entry.userName ? ` · ${entry.userName}` : "",
        h("span", { className: "muted small" }, ` ${formatTime(entry.at, { date: false })}`),
      ),
    ),
  );
  setText($("participants-count"), state.participants.length ? t("participants_count", { count: state.participants.length }) : "");
}

function renderObjections(state) {
  const list = $("objections-list");
  if (!state.objections.length) {
    list.replaceChildren(h("li", { className: "empty" }, t("objection.none")));
    return;
  }
  list.replaceChildren(
    ...state.objections.map((objection) =>
      h(
        "li",
        { className: "room-objection" },
        h(
          "div",
          { className: "small muted" },
          t("objection.by", { organisation: objection.organisationName, user: objection.userName }),
          ` · ${formatTime(objection.at, { date: false })}`,
        ),
        h("p", { className: "room-objection-text" }, objection.text),
        objection.answer
          ? h(
              "p",
              { className: "room-answer" },
              h("strong", null, t("objection.answer_by", { user: objection.answer.userName })),
              objection.answer.text,
              h("span", { className: "muted small" }, ` ${formatTime(objection.answer.at, { date: false })}`),
            )
          : h("span", { className: "badge badge-warn" }, t("objection.unanswered")),
      ),
    ),
  );
}

function renderPauses(state) {
  const list = $("pauses-list");
  if (!state.pauses.length) {
    list.replaceChildren(h("li", { className: "empty" }, t("pauses.none")));
    return;
  }
  list.replaceChildren(
    ...state.pauses.map((pause) =>
      h(
        "li",
        { className: "room-objection" },
        h("div", { className: "small muted" }, `${pause.userName} · ${formatTime(pause.at, { date: false })}`),
        h("p", { className: "room-objection-text" }, t("pause_reason", { reason: pause.reason })),
        pause.resumedAt
          ? h(
              "p",
              { className: "room-answer" },
              `${pause.resumedBy} · ${formatTime(pause.resumedAt, { date: false })} · `,
              t("resume_reason", { reason: pause.resumeReason }),
            )
          : h("span", { className: "badge badge-warn" }, t("pause_open")),
      ),
    ),
  );
}

function renderCustody(state) {
  show($("custody-panel"), Boolean(state.custody));
  if (!state.custody) return;
  const custody = state.custody;
  setText(
    $("custody-progress"),
    [
      t("host.custody_progress", { submitted: custody.submitted, threshold: custody.threshold ?? "", count: custody.count ?? "" }),
      custody.rebuilt ? t("host.custody_rebuilt") : "",
    ]
      .filter(Boolean)
      .join(" "),
  );
}

const MAX_CHAT_SHOWN = 300;

function renderChat(state) {
  const list = $("chat-list");
  const shown = state.chat.slice(-MAX_CHAT_SHOWN);
  if (!shown.length) {
    list.replaceChildren(h("li", { className: "empty" }, t("chat.empty")));
    return;
  }
  list.replaceChildren(
    ...shown.map((line) =>
      h(
        "li",
        null,
        h(
          "div",
          { className: "room-chat-meta" },
          roleTag(line.role),
          " ",
          line.organisationName,
          line.userName ? ` · ${line.userName}` : "",
          h("span", { className: "muted" }, ` ${formatTime(line.at, { date: false })}`),
        ),
        h("div", { className: "room-chat-text" }, line.text),
      ),
    ),
  );
  list.scrollTop = list.scrollHeight;
}

function renderRecord(state) {
  const box = $("record-box");
  show(box, Boolean(state.closed));
  if (!state.closed) return;
  if (state.closed.recordUrl) $("record-pdf").setAttribute("href", state.closed.recordUrl);
  if (state.closed.recordJsonUrl) $("record-json").setAttribute("href", state.closed.recordJsonUrl);
  setText($("record-sha"), state.closed.recordSha256 ? t("record.sha256", { sha: state.closed.recordSha256 }) : "");
  setText(
    $("record-audit"),
    state.closed.chainHash ? t("record.audit", { from: state.closed.auditFrom, to: state.closed.auditTo, hash: state.closed.chainHash }) : "",
  );
}

// --- the draw: requests, commitments, the panel's seats ---------------------------------------

function newRequest(id) {
  return {
    id,
    status: "pending",
    items: [],
    evaluationStart: null,
    place: "",
    responseMinutes: null,
    commitment: null,
    rejected: null,
    run: null,
    seats: new Map(), // position → {position, specialty, status, respondBy, answeredAt, channel, replaces, source}
    exhausted: null,
    revealed: null,
  };
}

function plusMinutes(iso, minutes) {
  const base = ms(iso);
  return base === null || minutes === null ? null : base + minutes * 60000;
}

/** Every request's state after the first `index` records, from those records alone. */
function drawStateAt(index) {
  const requests = new Map();
  for (let i = 0; i < index; i += 1) {
    const event = data.events[i];
    if (event.request === null || event.request === undefined) continue;
    if (!requests.has(event.request)) requests.set(event.request, newRequest(event.request));
    const request = requests.get(event.request);
    const body = event.data || {};
    const seat = (position) => {
      if (!request.seats.has(position)) request.seats.set(position, { position, specialty: body.specialty || "", status: "notified" });
      return request.seats.get(position);
    };
    switch (event.action) {
      case "experts.draw_request.created":
        request.items = Array.isArray(body.items) ? body.items : [];
        request.evaluationStart = body.evaluation_start || null;
        request.place = body.evaluation_place || "";
        request.responseMinutes = body.response_minutes ?? null;
        request.status = "pending";
        break;
      case "experts.draw_request.approved":
        request.status = "approved";
        break;
      case "experts.draw_request.rejected":
        request.status = "rejected";
        request.rejected = body.reason || "";
        break;
      case "experts.draw.committed":
        request.commitment = body.secret_commitment || null;
        break;
      case "experts.draw.run": {
        request.run = { ...body, at: event.at };
        request.status = body.status || "notifying";
        const respondBy = plusMinutes(event.at, request.responseMinutes);
        for (const item of (event.derived && event.derived.seats) || []) {
          request.seats.set(item.position, {
            position: item.position,
            specialty: item.specialty,
            status: item.notified ? "notified" : "reserve",
            respondBy: item.notified ? respondBy : null,
          });
        }
        break;
      }
      case "experts.draw.exhausted":
        request.status = "exhausted";
        request.exhausted = { specialty: body.specialty || "" };
        break;
      case "experts.selection.confirmed":
      case "experts.selection.declined":
      case "experts.selection.no_answer": {
        const place = seat(body.position);
        place.specialty = body.specialty || place.specialty;
        place.status = event.action.split(".").pop();
        place.answeredAt = event.at;
        place.channel = body.channel || "";
        break;
      }
      case "experts.selection.replaced": {
        const place = seat(body.position);
        place.specialty = body.specialty || place.specialty;
        place.status = "notified";
        place.respondBy = plusMinutes(event.at, request.responseMinutes);
        place.replaces = body.replaced_position;
        place.source = body.source;
        break;
      }
      case "experts.draw.complete":
        request.status = "complete";
        break;
      case "experts.draw.revealed":
        request.revealed = { ...body, at: event.at };
        break;
      default:
        break;
    }
  }
  return requests;
}

function kv(label, ...value) {
  return h("tr", null, h("th", null, label), h("td", null, ...value));
}

function seatRows(request, now, names) {
  const seats = Array.from(request.seats.values()).sort((a, b) => a.position - b.position);
  return seats.map((seat) => {
    let deadline = "";
    if (seat.status === "notified" && seat.respondBy) {
      const left = seat.respondBy - now;
      deadline = `${formatTime(seat.respondBy)}${left > 0 ? ` · ${t("draw.left", { time: formatCountdown(left) })}` : ""}`;
    }
    const channel = seat.channel ? (data.channels || {})[seat.channel] || seat.channel : "";
    const answered = seat.answeredAt ? `${formatTime(seat.answeredAt)}${channel ? ` · ${channel}` : ""}` : "";
    const member = names.get(seat.position);
    const source = seat.source ? t(`draw.source.${seat.source}`) : "";
    return h(
      "tr",
      { className: `replay-seat-${seat.status}`, dataset: { position: seat.position } },
      h("td", { className: "num" }, seat.position),
      h("td", null, seat.specialty),
      h("td", null, (data.seatStatuses || {})[seat.status] || seat.status, seat.replaces ? h("div", { className: "small muted" }, t("draw.replaces", { position: seat.replaces, source })) : ""),
      h("td", { className: "nowrap small" }, deadline),
      h("td", { className: "nowrap small" }, answered),
      h("td", null, member ? `${member.code} ${member.name}` : h("span", { className: "muted" }, t("draw.hidden"))),
    );
  });
}

function mono(text) {
  return h("span", { className: "mono" }, text || "");
}

/** What the records have told about a request so far, as label/value rows. */
function drawFacts(request) {
  const rows = [kv(t("draw.col.specialty"), ...request.items.map((item) => h("div", null, t("draw.items", item))))];
  if (request.evaluationStart) {
    rows.push(
      kv(
        t("draw.evaluation_label"),
        t("draw.evaluation", { time: formatTime(request.evaluationStart), place: request.place, minutes: request.responseMinutes ?? "" }),
      ),
    );
  }
  if (request.commitment) rows.push(kv(t("draw.commitment"), mono(request.commitment)));
  const run = request.run;
  if (run) {
    const sizes = Object.entries(run.pool_sizes || {}).map(([specialty, size]) => t("draw.pool_size", { specialty, size }));
    const excluded = Object.values(run.excluded || {}).reduce((sum, n) => sum + Number(n || 0), 0);
    rows.push(
      kv(t("draw.pool_hash"), mono(run.pool_hash)),
      kv(t("draw.chain_head"), mono(run.chain_head)),
      kv(t("draw.number"), mono(run.supervisor_number)),
      kv(t("draw.pool_label"), t("draw.pool_sizes", { sizes: sizes.join("，"), excluded })),
    );
  }
  if (request.revealed) {
    rows.push(kv(t("draw.secret"), mono(request.revealed.secret)), kv(t("draw.seed"), mono(request.revealed.seed)));
  }
  if (request.rejected !== null) rows.push(kv(t("draw.col.status"), t("draw.rejected", { reason: request.rejected })));
  if (request.exhausted) {
    rows.push(kv(t("draw.col.status"), h("span", { className: "room-invalid" }, t("draw.exhausted", { specialty: request.exhausted.specialty }))));
  }
  return h("table", { className: "table-kv" }, h("tbody", null, rows));
}

function seatTable(request, names) {
  if (request.seats.size) {
    const head = ["draw.col.position", "draw.col.specialty", "draw.col.status", "draw.col.deadline", "draw.col.answer", "draw.col.expert"];
    return h(
      "div",
      { className: "table-wrap" },
      h(
        "table",
        { className: "table table-compact" },
        h("thead", null, h("tr", null, head.map((key, i) => h("th", { className: i === 0 ? "num" : null }, t(key))))),
        h("tbody", null, seatRows(request, player.t, names)),
      ),
    );
  }
  if (request.run && request.run.status !== "exhausted") {
    return h("p", null, t("draw.seats_unknown", { members: request.run.members ?? "", reserves: request.run.reserves ?? "" }));
  }
  return h("p", { className: "muted" }, t("draw.no_seats"));
}

let drawnSecond = null;

function renderDraw(changed) {
  // The answer deadlines count down with the replay's clock: redrawn when a record happens, or each second.
  const second = Math.floor(player.t / 1000);
  if (!changed && second === drawnSecond) return;
  drawnSecond = second;
  const tracks = new Map((data.tracks || []).map((track) => [track.request, track]));
  const cards = [];
  for (const request of drawStateAt(player.index).values()) {
    // Names only from the published panel, and only once the replay has reached the publication (ER 8).
    const names = new Map();
    const track = tracks.get(request.id);
    if (request.revealed && track) for (const member of track.panel) names.set(member.position, member);
    const confirmed = Array.from(request.seats.values()).filter((seat) => seat.status === "confirmed").length;
    const members = request.items.reduce((sum, item) => sum + Number(item.members || 0), 0);
    const status = (data.statuses || {})[request.status] || request.status;
    cards.push(
      h(
        "section",
        { className: "panel replay-draw", dataset: { request: request.id, status: request.status } },
        h(
          "div",
          { className: "panel-head" },
          h("h2", null, t("draw.request", { id: request.id }), " ", h("span", { className: "badge badge-info draw-status" }, status)),
          h("span", { className: "muted" }, t("draw.counts", { confirmed, members })),
        ),
        drawFacts(request),
        seatTable(request, names),
      ),
    );
  }
  $("draw-requests").replaceChildren(...cards);
}

// --- the tender: its lots' states and its phases -------------------------------------------------

const tender = { totals: {}, order: [] };

function renderTender(changed) {
  if (!changed) return;
  const statuses = {};
  const counts = {};
  for (let i = 0; i < player.index; i += 1) {
    const event = data.events[i];
    counts[event.phase] = (counts[event.phase] || 0) + 1;
    if (!event.lot) continue;
    if (event.action === "tendering.lot.created") statuses[event.lot] = "draft";
    else if (/^tendering\.lot\./.test(event.action) && event.data && event.data.to) statuses[event.lot] = event.data.to;
  }
  for (const row of document.querySelectorAll("#tender-lots tr[data-lot]")) {
    const status = statuses[row.dataset.lot];
    setText(row.querySelector(".replay-lot-status"), status ? (data.lotStatuses || {})[status] || status : t("lot.not_yet"));
  }
  const current = data.events[player.index - 1];
  for (const item of document.querySelectorAll("#tender-phases li[data-phase]")) {
    const key = item.dataset.phase;
    setText(item.querySelector(".replay-phase-count"), t("phase.count", { done: counts[key] || 0, total: tender.totals[key] || 0 }));
    item.classList.toggle("replay-phase-started", Boolean(counts[key]));
    item.classList.toggle("replay-phase-current", Boolean(current && current.phase === key));
  }
}

const VIEWS = { opening: renderOpening, draw: renderDraw, tender: renderTender };

// --- start -----------------------------------------------------------------------------------

function showError(text) {
  const box = $("replay-error");
  setText(box, text);
  show(box, true);
}

function prepare(loaded) {
  data = loaded;
  texts = data.texts || {};
  dateParts = new Intl.DateTimeFormat("en-CA", {
    timeZone: data.timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  player.start = ms(data.start) ?? 0;
  player.end = Math.max(player.start, ms(data.end) ?? player.start);
  let previous = player.start;
  player.times = data.events.map((event) => {
    // Monotonic on the replay clock: the list's order is the chain's.
    previous = clamp(Math.max(previous, ms(event.at) ?? previous), player.start, player.end);
    return previous;
  });
  for (const event of data.events) tender.totals[event.phase] = (tender.totals[event.phase] || 0) + 1;
  indexRows();
  for (const row of rows) {
    if (!row) continue;
    const go = () => jumpToIndex(Number(row.dataset.index) + 1);
    row.addEventListener("click", (event) => {
      if (event.target.closest("a")) return; // the record's own link still opens the record
      go();
    });
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter") go();
    });
  }
  $("replay-play").addEventListener("click", () => setPlaying(!player.playing));
  $("replay-prev").addEventListener("click", () => jumpToIndex(player.index - 1));
  $("replay-next").addEventListener("click", () => jumpToIndex(player.index + 1));
  $("replay-speed").addEventListener("change", readSpeed);
  $("replay-bar").addEventListener("click", barClick);
  $("replay-bar").addEventListener("keydown", barKey);
  window.addEventListener("resize", drawTicks);
  readSpeed();
  for (const id of ["replay-play", "replay-speed"]) $(id).disabled = false;
  drawTicks();
  // A span of minutes starts at its first moment (what was already there, such as the room's
  // schedule, applied); a life of weeks, played event by event, starts before its first record.
  if (player.speed.mode === "events") jumpToIndex(0);
  else jumpToTime(player.start);
  root.dataset.ready = "1";
}

fetch(root.dataset.jsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
  .then(async (response) => {
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    return body;
  })
  .then(prepare)
  .catch((error) => {
    root.dataset.ready = "error";
    showError(`${root.dataset.loadFailed || ""}${error.message}`);
  });
