// The opening room's WebSocket client, protocol v1 (/ws/opening/lots/<lot>/).
//
// What it guarantees to the page:
// - events are handed over strictly in seq order, each once: duplicates (seq at or
//   below the last one applied) are dropped, an event that arrives early is held
//   until the gap before it is filled, and a gap is closed by asking the server to
//   resume after the last seq applied (or, failing that, by reconnecting, which
//   resumes too);
// - after a dropped connection it reconnects with backoff (1 s, 2 s, 4 s … at most
//   15 s, with jitter so a room of two thousand pages does not return in one
//   instant) and resumes from the last seq applied: nothing is missed;
// - every request carries a ref and gets its own answer (ack or error) through a
//   promise; a request that cannot be answered (not connected, connection lost,
//   no answer in time) is rejected with a RoomError the page can show;
// - the server is the clock: it measures the offset between this machine's clock
//   and the server's from welcome/synced and from a ping every 20 s (the pong with
//   the shortest round trip of the last few wins; its midpoint is the estimate).
//
// No DOM here: the page gives callbacks.

const BACKOFF_START = 1000;
const BACKOFF_MAX = 15000;
const PING_EVERY = 20000;
const ANSWER_TIMEOUT = 20000;
const GAP_TIMEOUT = 5000;
// A connection whose ping goes unanswered this long is taken for dead (a network that
// drops packets without closing the socket) and replaced by a fresh one.
const PONG_TIMEOUT = 10000;
const OFFSET_SAMPLES = 5;
// Codes the server closes with for good: not signed in (4401), not a participant (4403), no such room (4404).
const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404]);

/** A refusal from the server ({type:"error", code, message}) or a local failure with a stable code. */
export class RoomError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "RoomError";
    this.code = code;
  }
}

function parseTime(text) {
  const value = Date.parse(text);
  return Number.isNaN(value) ? null : value;
}

export class RoomSocket {
  /**
   * @param {object} options
   * @param {string} options.url         ws:// or wss:// URL of the room
   * @param {number} options.lastSeq     the last seq already applied (0 for a fresh page)
   * @param {function} options.onEvents  (events[]) — consecutive, in seq order
   * @param {function} options.onWelcome (welcome message) — `you`, server last_seq
   * @param {function} options.onSynced  (synced message) — backlog delivered, live from here
   * @param {function} options.onStatus  ("connecting"|"connected"|"reconnecting"|"closed", detail)
   * @param {function} options.onClock   (offsetMs) — server time minus local time
   * @param {function} options.onError   (RoomError) — an error not tied to a request of ours
   * @param {function} options.onReset   () — the server knows fewer events than we applied: start over
   * @param {object}   options.texts     {not_connected, connection_lost, timeout}
   */
  constructor(options) {
    this.url = options.url;
    this.lastSeq = options.lastSeq || 0;
    this.callbacks = options;
    this.texts = options.texts || {};
    this.socket = null;
    this.pending = new Map(); // ref → {resolve, reject, timer}
    this.buffer = new Map(); // seq → event, for events that came early
    this.refCounter = 0;
    this.attempt = 0;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.gapTimer = null;
    this.stopped = false;
    this.synced = false;
    this.offsetSamples = []; // [{rtt, offset}]
    this.offset = null;
    this.lastPing = null; // {ref, sent} of the ping in flight
    this.pongTimer = null;
  }

  start() {
    // Back online: reconnect now instead of at the end of the current backoff step.
    if (!this.onlineListener) {
      this.onlineListener = () => {
        if (!this.stopped && !this.socket) {
          clearTimeout(this.reconnectTimer);
          this.attempt = 0;
          this._connect();
        }
      };
      window.addEventListener("online", this.onlineListener);
    }
    this.stopped = false;
    this._connect();
  }

  /** Close for good (the page is leaving, or the server refused us). */
  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this._stopTimers();
    if (this.socket) this.socket.close(1000);
    this._failPending("connection_lost");
  }

  /** The server clock now, in epoch milliseconds (this machine's clock until the first measurement). */
  serverNow() {
    return Date.now() + (this.offset || 0);
  }

  /**
   * Ask the server now (a ping) instead of at the next regular one: the server answers a
   * ping by sending any event this connection has not had. The page calls this when a
   * deadline passes, so a stage changed by a timed step shows at once even where the
   * step ran in a process that could not reach this one over the channel layer.
   */
  pingNow() {
    if (this.connected && this.synced) this._ping();
  }

  get connected() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  /**
   * Send a request with a fresh ref; resolves with the ack's result, rejects with a RoomError.
   * `message` is the request without its ref ({type:"chat", text:"…"}).
   */
  request(message) {
    if (!this.connected) {
      return Promise.reject(new RoomError("client.not_connected", this.texts.not_connected));
    }
    return this._send(message).promise;
  }

  _send(message) {
    this.refCounter += 1;
    const ref = `r${this.refCounter}`;
    const promise = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new RoomError("client.timeout", this.texts.timeout));
      }, ANSWER_TIMEOUT);
      this.pending.set(ref, { resolve, reject, timer });
    });
    this.socket.send(JSON.stringify({ ...message, ref }));
    return { ref, promise };
  }

  // --- connection --------------------------------------------------------------------

  _connect() {
    clearTimeout(this.reconnectTimer);
    this._status(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this._scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.synced = false;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      // Resume first: the server sends everything after lastSeq, then `synced`, then live events.
      socket.send(JSON.stringify({ type: "resume", after: this.lastSeq }));
      this._startPing();
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket) return;
      let payload;
      try {
        payload = JSON.parse(message.data);
      } catch (error) {
        return; // not ours; the protocol is JSON text frames only
      }
      this._handle(payload);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this._closed(event.code);
    });
    // An error is always followed by close, where the reconnect is decided.
    socket.addEventListener("error", () => {});
  }

  _closed(code) {
    this.socket = null;
    this._stopTimers();
    this._failPending("connection_lost");
    this.buffer.clear();
    if (this.stopped) {
      this._status("closed");
      return;
    }
    if (FINAL_CLOSE_CODES.has(code)) {
      this.stopped = true;
      this._status("closed", { code });
      return;
    }
    this._scheduleReconnect();
  }

  /** Give up on the current connection at once (its close event may take minutes on a dead network). */
  _abandon() {
    const socket = this.socket;
    if (!socket) return;
    try {
      socket.close(4000);
    } catch (error) {
      // already closing
    }
    this._closed(4000);
  }

  _scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX, BACKOFF_START * 2 ** this.attempt);
    // Jitter: between half and all of the step, so reconnecting pages spread out.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    this._status("reconnecting", { delay });
    this.reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  _startPing() {
    clearInterval(this.pingTimer);
    this._ping();
    this.pingTimer = setInterval(() => this._ping(), PING_EVERY);
  }

  _stopTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.gapTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.gapTimer = null;
    this.pongTimer = null;
  }

  _ping() {
    if (!this.connected) return;
    const sent = Date.now();
    const { ref, promise } = this._send({ type: "ping" });
    this.lastPing = { ref, sent };
    clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => this._abandon(), PONG_TIMEOUT);
    promise.catch(() => {}); // a lost pong only costs one clock sample
  }

  _status(status, detail) {
    if (this.callbacks.onStatus) this.callbacks.onStatus(status, detail || {});
  }

  _failPending(code) {
    for (const [ref, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new RoomError(`client.${code}`, this.texts[code]));
      this.pending.delete(ref);
    }
  }

  // --- messages ----------------------------------------------------------------------

  _handle(message) {
    switch (message.type) {
      case "welcome":
        this._clockSample(message.server_time, null);
        if (Number.isInteger(message.last_seq) && message.last_seq < this.lastSeq) {
          // The room has fewer events than this page applied (a state kept from another
          // database, say): drop ours and reconnect to take the server's from the start.
          this.lastSeq = 0;
          this.buffer.clear();
          if (this.callbacks.onReset) this.callbacks.onReset();
          this._abandon();
          return;
        }
        if (this.callbacks.onWelcome) this.callbacks.onWelcome(message);
        break;
      case "event":
        this._event(message);
        break;
      case "synced":
        this.synced = true;
        this.attempt = 0;
        this._clockSample(message.server_time, null);
        this._status("connected");
        if (this.callbacks.onSynced) this.callbacks.onSynced(message);
        break;
      case "pong":
        this._pong(message);
        break;
      case "ack":
        this._answer(message.ref, (entry) => entry.resolve(message.result || {}));
        break;
      case "error": {
        const error = new RoomError(message.code || "room.error", message.message);
        if (message.ref && this.pending.has(message.ref)) {
          this._answer(message.ref, (entry) => entry.reject(error));
        } else if (this.callbacks.onError) {
          this.callbacks.onError(error);
        }
        break;
      }
      default:
        break;
    }
  }

  _answer(ref, settle) {
    const entry = this.pending.get(ref);
    if (!entry) return;
    this.pending.delete(ref);
    clearTimeout(entry.timer);
    settle(entry);
  }

  _event(message) {
    const seq = message.seq;
    if (!Number.isInteger(seq) || seq <= this.lastSeq) return; // seen already
    this.buffer.set(seq, { seq, kind: message.kind, at: message.at, data: message.data || {} });
    const ready = [];
    while (this.buffer.has(this.lastSeq + 1)) {
      const next = this.buffer.get(this.lastSeq + 1);
      this.buffer.delete(this.lastSeq + 1);
      ready.push(next);
      this.lastSeq = next.seq;
    }
    if (ready.length && this.callbacks.onEvents) this.callbacks.onEvents(ready);
    if (this.buffer.size) {
      this._askForGap();
    } else {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  _askForGap() {
    if (this.gapTimer) return; // asked already; wait for it
    if (this.connected) this.socket.send(JSON.stringify({ type: "resume", after: this.lastSeq }));
    // Still a hole after a while: start a fresh connection, which resumes from lastSeq.
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.buffer.size) this._abandon();
    }, GAP_TIMEOUT);
  }

  _pong(message) {
    const received = Date.now();
    const ping = this.lastPing;
    if (ping && message.ref === ping.ref) {
      this._clockSample(message.server_time, { sent: ping.sent, received });
      this.lastPing = null;
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
    this._answer(message.ref, (entry) => entry.resolve({ server_time: message.server_time }));
  }

  /** One measurement: with a round trip, the server's time is taken to be at its midpoint. */
  _clockSample(serverTime, trip) {
    const server = parseTime(serverTime);
    if (server === null) return;
    let sample;
    if (trip) {
      const rtt = trip.received - trip.sent;
      sample = { rtt, offset: server - (trip.sent + rtt / 2) };
    } else {
      // Without a round trip the message's travel time is unknown: a weak sample,
      // used only until the first pong.
      sample = { rtt: Number.POSITIVE_INFINITY, offset: server - Date.now() };
    }
    this.offsetSamples.push(sample);
    if (this.offsetSamples.length > OFFSET_SAMPLES) this.offsetSamples.shift();
    const best = this.offsetSamples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    if (this.callbacks.onClock) this.callbacks.onClock(this.offset);
  }
}
