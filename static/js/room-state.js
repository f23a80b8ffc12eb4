// The opening room's view model, rebuilt from the room's events alone (protocol v1,
// /tmp/sb/room-contract.md → docs: "WebSocket protocol v1").
//
// reduce(state, events) is pure: it never touches its input, the DOM, the clock or
// the network, and the same events always give the same state. The live page feeds
// it the events the socket delivers; a replay of a closed room (or a test) feeds it
// the stored events and gets the same picture. Everything time-dependent (the
// countdown, "sign-in is open") is derived at render time from the server clock by
// the helpers at the end, which take `serverNow` as an argument.
//
// The state is plain JSON (objects, arrays, strings, numbers, booleans, null) so the
// page can keep it in sessionStorage and resume after a reload from its last seq.
//
// Cost: a batch of events copies the top-level collections once and replaces only
// the entries it changes, so the backlog of a 2,000-bidder room (some 10,000
// events after a reconnect) is applied in one pass instead of 10,000 copies.

export const STATE_VERSION = 1;

export const STAGES = ["waiting", "decrypting", "settling", "reading", "confirming", "closed", "failed"];

/** The state before any event. */
export function initialState() {
  return {
    version: STATE_VERSION,
    lastSeq: 0,
    lot: null, // {id, tender_code, tender_title, number, name}
    openingTime: null,
    signInOpensAt: null,
    bidDeadline: null,
    decryptionMinutes: null,
    minBidders: null,
    controlPrice: null,
    fallback: false,
    fields: [], // [{key, label}]
    stage: "waiting",
    deadline: null, // the running stage's deadline (ISO), null when it has none
    openedAt: null,
    decryptionDeadline: null,
    paused: null, // {reason, userName, at} while paused
    pauses: [], // [{reason, userName, at, resumedAt, resumeReason, resumedBy}]
    participants: [], // sign-ins in order: [{organisation, organisationName, userName, role, at}]
    order: [], // bid ids in the order the room announced them
    bidOfOrganisation: {}, // organisation id → bid id, for the events that name only the organisation
    bidders: {}, // bid id → bidder row (see openedRow)
    custody: null, // {submitted, threshold, count, organisationName, rebuilt}
    readingOrder: [],
    reads: [], // bid ids in reading position order
    readingControlPrice: null,
    readingDigest: null,
    confirmationDeadline: null,
    confirmations: {}, // organisation id → {silent, at}
    objections: [], // [{id, organisation, organisationName, userName, text, at, answer}]
    chat: [], // [{seq, userName, organisationName, role, text, at}]
    failure: null, // {reason, count, minBidders, at}
    closed: null, // {recordUrl, recordJsonUrl, recordSha256, auditFrom, auditTo, chainHash, at}
  };
}

function openedRow(entry) {
  return {
    bid: String(entry.bid),
    organisation: entry.organisation,
    organisationName: String(entry.organisation_name || ""),
    receivedAt: entry.received_at || null,
    signedIn: Boolean(entry.signed_in),
    decryption: "pending", // pending | decrypted | failed
    key: null, // bidder | opening
    failure: null, // {code, message}
    cause: null, // {cause, outcome, note}
    outcome: null, // decrypted | revoked | awaiting_custodians | withdrawn
    read: null, // the `read` event's data
  };
}

// A batch draft: the top level and every collection copied once, entries replaced on write.
function draftOf(state) {
  return {
    ...state,
    pauses: state.pauses.slice(),
    participants: state.participants.slice(),
    order: state.order.slice(),
    bidders: { ...state.bidders },
    readingOrder: state.readingOrder.slice(),
    reads: state.reads.slice(),
    confirmations: { ...state.confirmations },
    objections: state.objections.slice(),
    chat: state.chat.slice(),
  };
}

function updateBidder(draft, bid, changes) {
  const key = String(bid);
  const row = draft.bidders[key];
  // An event about a bid the room never announced cannot be shown against a row;
  // the server never sends one, and a malformed event must not break the page.
  if (!row) return;
  draft.bidders[key] = { ...row, ...changes };
}

function bidOfOrganisation(draft, organisation) {
  return draft.bidOfOrganisation[String(organisation)] || null;
}

const HANDLERS = {
  scheduled(draft, data) {
    draft.lot = data.lot || null;
    draft.openingTime = data.opening_time || null;
    draft.signInOpensAt = data.sign_in_opens_at || null;
    draft.bidDeadline = data.bid_deadline || null;
    draft.decryptionMinutes = data.decryption_minutes ?? null;
    draft.minBidders = data.min_bidders ?? null;
    draft.controlPrice = data.control_price ?? null;
    draft.fallback = Boolean(data.fallback);
    draft.fields = Array.isArray(data.fields) ? data.fields : [];
    if (draft.stage === "waiting") draft.deadline = draft.openingTime;
  },

  signed_in(draft, data, event) {
    draft.participants.push({
      organisation: data.organisation ?? null,
      organisationName: String(data.organisation_name || ""),
      userName: String(data.user_name || ""),
      role: String(data.role || ""),
      user: data.user ?? null,
      at: event.at || null,
    });
    if (data.role === "bidder") {
      const bid = bidOfOrganisation(draft, data.organisation);
      if (bid) updateBidder(draft, bid, { signedIn: true });
    }
  },

  // The events that start a stage imply it (the server sends `stage` only for a stage
  // no other event announces, such as settling).
  opened(draft, data, event) {
    draft.openedAt = event.at || null;
    draft.decryptionDeadline = data.decryption_deadline || null;
    draft.stage = "decrypting";
    draft.deadline = draft.decryptionDeadline;
    // Sign-ins made before the bid deadline were held back (EB 21); `opened` carries them.
    const signedBefore = new Set(
      draft.participants.filter((p) => p.role === "bidder").map((p) => String(p.organisation)),
    );
    for (const entry of data.attendance || []) {
      if (signedBefore.has(String(entry.organisation))) continue;
      draft.participants.push({
        organisation: entry.organisation ?? null,
        organisationName: String(entry.organisation_name || ""),
        userName: String(entry.user_name || ""),
        role: String(entry.role || "bidder"),
        user: null,
        at: entry.at || null,
      });
    }
    draft.bidOfOrganisation = { ...draft.bidOfOrganisation };
    for (const entry of data.bidders || []) {
      const row = openedRow(entry);
      if (!(row.bid in draft.bidders)) draft.order.push(row.bid);
      draft.bidders[row.bid] = { ...row, signedIn: row.signedIn || signedBefore.has(String(row.organisation)) };
      draft.bidOfOrganisation[String(row.organisation)] = row.bid;
    }
  },

  failed(draft, data, event) {
    draft.failure = {
      reason: String(data.reason || ""),
      count: data.count ?? null,
      minBidders: data.min_bidders ?? null,
      at: event.at || null,
    };
    draft.stage = "failed";
    draft.deadline = null;
  },

  stage(draft, data) {
    if (STAGES.includes(data.stage)) draft.stage = data.stage;
    draft.deadline = data.deadline || null;
  },

  decrypted(draft, data) {
    updateBidder(draft, data.bid, {
      decryption: "decrypted",
      key: data.key || null,
      failure: null,
      outcome: "decrypted",
    });
  },

  decryption_failed(draft, data) {
    updateBidder(draft, data.bid, {
      decryption: "failed",
      failure: { code: String(data.code || ""), message: String(data.message || "") },
    });
  },

  cause(draft, data) {
    updateBidder(draft, data.bid, {
      cause: { cause: String(data.cause || ""), outcome: String(data.outcome || ""), note: String(data.note || "") },
      outcome: data.outcome || null,
    });
  },

  custody(draft, data) {
    draft.custody = {
      submitted: data.submitted ?? 0,
      threshold: data.threshold ?? null,
      count: data.count ?? null,
      organisationName: String(data.organisation_name || ""),
      rebuilt: Boolean(draft.custody && draft.custody.rebuilt),
    };
  },

  custody_rebuilt(draft) {
    draft.custody = { ...(draft.custody || { submitted: 0, threshold: null, count: null, organisationName: "" }), rebuilt: true };
  },

  reading_started(draft, data) {
    draft.stage = "reading";
    draft.deadline = null;
    draft.readingControlPrice = data.control_price ?? draft.controlPrice;
    draft.readingOrder = Array.isArray(data.order) ? data.order.map(String) : [];
  },

  read(draft, data) {
    const bid = String(data.bid);
    updateBidder(draft, bid, { read: { ...data, bid }, outcome: data.outcome || (draft.bidders[bid] || {}).outcome || null });
    if (draft.bidders[bid] && !draft.reads.includes(bid)) {
      // Bids are read in position order, so this is almost always an append; keep it sorted anyway.
      const position = positionOf(draft, bid);
      let index = draft.reads.length;
      while (index > 0 && positionOf(draft, draft.reads[index - 1]) > position) index -= 1;
      draft.reads.splice(index, 0, bid);
    }
  },

  reading_finished(draft, data) {
    draft.readingDigest = data.reading_digest || null;
    draft.confirmationDeadline = data.confirmation_deadline || null;
    draft.stage = "confirming";
    draft.deadline = draft.confirmationDeadline;
  },

  confirmed(draft, data, event) {
    draft.confirmations[String(data.organisation)] = { silent: Boolean(data.silent), at: event.at || null };
  },

  objection(draft, data, event) {
    draft.objections.push({
      id: data.id,
      organisation: data.organisation ?? null,
      organisationName: String(data.organisation_name || ""),
      userName: String(data.user_name || ""),
      text: String(data.text || ""),
      at: event.at || null,
      answer: null,
    });
  },

  answered(draft, data, event) {
    const index = draft.objections.findIndex((o) => o.id === data.id);
    if (index < 0) return;
    draft.objections[index] = {
      ...draft.objections[index],
      answer: { text: String(data.text || ""), userName: String(data.user_name || ""), at: event.at || null },
    };
  },

  paused(draft, data, event) {
    draft.paused = { reason: String(data.reason || ""), userName: String(data.user_name || ""), at: event.at || null };
    draft.pauses.push({ ...draft.paused, resumedAt: null, resumeReason: null, resumedBy: null });
  },

  unpaused(draft, data, event) {
    draft.paused = null;
    const last = draft.pauses.length - 1;
    if (last >= 0 && !draft.pauses[last].resumedAt) {
      draft.pauses[last] = {
        ...draft.pauses[last],
        resumedAt: event.at || null,
        resumeReason: String(data.reason || ""),
        resumedBy: String(data.user_name || ""),
      };
    }
    // The running deadline moved by the time the room stood still.
    if ("deadline" in data) draft.deadline = data.deadline || null;
  },

  chat(draft, data, event) {
    draft.chat.push({
      seq: event.seq,
      userName: String(data.user_name || ""),
      organisationName: String(data.organisation_name || ""),
      role: String(data.role || ""),
      text: String(data.text || ""),
      at: event.at || null,
    });
  },

  closed(draft, data, event) {
    draft.closed = {
      recordUrl: data.record_url || null,
      recordJsonUrl: data.record_json_url || null,
      recordSha256: data.record_sha256 || null,
      auditFrom: data.audit_from ?? null,
      auditTo: data.audit_to ?? null,
      chainHash: data.chain_hash || null,
      at: event.at || null,
    };
    draft.stage = "closed";
    draft.deadline = null;
    draft.paused = null;
  },
};

function positionOf(state, bid) {
  const row = state.bidders[bid];
  if (row && row.read && Number.isFinite(row.read.position)) return row.read.position;
  const index = state.readingOrder.indexOf(bid);
  return index < 0 ? Number.MAX_SAFE_INTEGER : index + 1;
}

/**
 * The state after `events` ({seq, kind, at, data}), applied in the order given.
 *
 * Events at or below state.lastSeq are skipped (already applied); the caller
 * guarantees the rest are consecutive (room-socket.js buffers out-of-order ones).
 * Unknown kinds only advance lastSeq, so an older page survives a newer server.
 */
export function reduce(state, events) {
  const list = Array.isArray(events) ? events : [events];
  const fresh = list.filter((event) => Number.isInteger(event.seq) && event.seq > state.lastSeq);
  if (!fresh.length) return state;
  const draft = draftOf(state);
  for (const event of fresh) {
    const handler = Object.prototype.hasOwnProperty.call(HANDLERS, event.kind) ? HANDLERS[event.kind] : null;
    if (handler) handler(draft, event.data || {}, event);
    draft.lastSeq = event.seq;
  }
  return draft;
}

/** Rebuild the whole state from a list of events (a replay). */
export function replay(events) {
  return reduce(initialState(), events);
}

// --- derived views (pure; `serverNow` is a Date or epoch milliseconds on the server clock) ---

function ms(value) {
  if (value === null || value === undefined) return null;
  const parsed = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

/**
 * What the stage banner shows: the stored stage, with "waiting" split into
 * before sign-in ("waiting") and sign-in open ("signing_in") by the server clock.
 */
export function displayStage(state, serverNow) {
  if (state.stage !== "waiting") return state.stage;
  const opens = ms(state.signInOpensAt);
  return opens !== null && ms(serverNow) >= opens ? "signing_in" : "waiting";
}

/** Milliseconds left until the running deadline (never negative), or null when there is none. */
export function remaining(state, serverNow) {
  const deadline = ms(state.stage === "waiting" ? state.deadline || state.openingTime : state.deadline);
  if (deadline === null || state.stage === "closed" || state.stage === "failed") return null;
  return Math.max(0, deadline - ms(serverNow));
}

/** Whether sign-in is open by the server clock (from sign_in_opens_at until the room closes). */
export function signInOpen(state, serverNow) {
  if (state.stage === "closed" || state.stage === "failed") return false;
  const opens = ms(state.signInOpensAt);
  return opens !== null && ms(serverNow) >= opens;
}

/** The bidder rows in announcement order. */
export function bidderRows(state) {
  return state.order.map((bid) => state.bidders[bid]).filter(Boolean);
}

/** The rows that have been read out, in reading position order. */
export function readRows(state) {
  return state.reads.map((bid) => state.bidders[bid]).filter((row) => row && row.read);
}

/** Bids neither decrypted nor settled with a cause: what the host must deal with in `settling`. */
export function unsettled(state) {
  return bidderRows(state).filter((row) => row.decryption !== "decrypted" && !row.cause);
}

/** Bids waiting for the custodians' rebuilt opening key. */
export function awaitingCustodians(state) {
  return bidderRows(state).filter(
    (row) => row.decryption !== "decrypted" && row.cause && row.cause.outcome === "awaiting_custodians",
  );
}

export function unansweredObjections(state) {
  return state.objections.filter((objection) => !objection.answer);
}

/** Bidders (by organisation) who have to confirm the reading: those whose bid was read. */
export function confirmationRows(state) {
  const seen = new Set();
  const rows = [];
  for (const row of readRows(state)) {
    const key = String(row.organisation);
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push({ organisation: row.organisation, organisationName: row.organisationName, confirmation: state.confirmations[key] || null });
  }
  return rows;
}

/**
 * Why the host may not close the room now, as a list of reason codes (empty: it may).
 * The server decides; this only explains the disabled button.
 */
export function closeBlockers(state, serverNow) {
  const reasons = [];
  if (state.stage !== "confirming") reasons.push("stage");
  if (state.paused) reasons.push("paused");
  if (unansweredObjections(state).length) reasons.push("objection_unanswered");
  const everyone = confirmationRows(state).every((row) => row.confirmation);
  const deadline = ms(state.deadline || state.confirmationDeadline);
  const passed = deadline !== null && ms(serverNow) >= deadline;
  if (!everyone && !passed) reasons.push("confirmation_open");
  return reasons;
}

/** The next bid to be read (for the host's button), or null. */
export function nextToRead(state) {
  for (const bid of state.readingOrder) {
    const row = state.bidders[bid];
    if (row && !row.read) return row;
  }
  return null;
}
