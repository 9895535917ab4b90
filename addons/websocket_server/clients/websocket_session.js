// A browser WebSocket whose player survives a broken connection: the client side of
// WebSocketServer's sessions (reconnect_grace_period), protocol version 2 as the addon's
// README ("Reconnection") writes it down. An ES module without dependencies.
//
//   import { SessionSocket } from './websocket_session.js';
//   const socket = new SessionSocket('wss://game.example.com/play');
//   socket.addEventListener('open', (e) => console.log('I am player', e.detail.id));
//   socket.addEventListener('message', (e) => console.log(e.detail.data)); // string or ArrayBuffer
//   socket.addEventListener('away', () => showReconnecting());
//   socket.addEventListener('back', () => hideReconnecting());
//   socket.addEventListener('close', (e) => console.log('over', e.detail.code, e.detail.reason));
//   socket.send(JSON.stringify({ move: 'left' }));
//
// When the connection breaks, it comes back by itself with backoff while the server's grace
// lasts: the same id, every message the server sent meanwhile delivered first, every message
// sent meanwhile delivered to the server once, in order. A link that goes silent (nothing,
// not even the server's keepalive, for twice the welcome's `keepalive` and a second) is
// taken for broken: browsers cannot see the server's pings.

export const PROTOCOL_VERSION = 2;
const ACK_EVERY = 32;
const ACK_DELAY_MS = 100;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;
/** How long a connection may take to bring the server's welcome: a return that takes longer
 * is given up and tried again; a first connection that does is over (1006). */
export const CONNECT_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket with a session. States: connecting, connected, away, closing, closed. */
export class SessionSocket extends EventTarget {
  /** Opens `url` (ws:// or wss://), offering `protocols` (optional). */
  constructor(url, protocols = []) {
    super();
    this.url = url;
    this.protocols = protocols;
    /** This client's peer id on the server (0 until 'open'). */
    this.id = 0;
    /** The server's grace period in seconds (0: no session, a plain connection). */
    this.gracePeriod = 0;
    this.state = 'connecting';
    this._session = '';
    this._received = 0;
    this._acked = 0;
    this._ackTimer = null;
    this._log = []; // [data, isText] sent and not acknowledged; the first is number _first
    this._first = 1;
    this._awaySince = 0;
    this._retryMs = FIRST_RETRY_MS;
    this._keepaliveMs = 0;
    this._heardAt = 0;
    this._watch = null;
    this._dial(`gws=${PROTOCOL_VERSION}`, null);
  }

  /** Sends a string (text) or an ArrayBuffer / typed array (binary). */
  send(data) {
    if (this.state !== 'connected' && this.state !== 'away') {
      throw new Error('SessionSocket: not connected');
    }
    const isText = typeof data === 'string';
    const bytes = isText ? encoder.encode(data) : new Uint8Array(ArrayBuffer.isView(data)
      ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data);
    if (!this._session) {
      this._ws.send(isText ? data : bytes);
      return;
    }
    this._log.push([bytes, isText]);
    if (this.state === 'connected') this._write(bytes, isText);
  }

  /** Ends the session with a clean close (the server forgets it at once). */
  close(code = 1000, reason = '') {
    if (this.state === 'closed') return;
    if (this.state === 'away' || !this._ws) {
      this._finish(code, reason);
      return;
    }
    this.state = 'closing';
    this._ws.close(code, reason);
  }

  /** Messages sent that the server has not acknowledged yet. */
  get unacknowledged() {
    return this._log.length;
  }

  _query(query) {
    return this.url + (this.url.includes('?') ? '&' : '?') + query;
  }

  /** Opens a connection; a returning client's `hello` goes first. */
  _dial(query, hello) {
    const ws = new WebSocket(this._query(query), this.protocols);
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    let welcomed = false;
    if (hello) ws.onopen = () => ws.send(hello);
    // No welcome in time: the attempt is given up, as a connection that broke.
    const timer = setTimeout(() => {
      if (ws !== this._ws || welcomed) return;
      this._ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
      this._closed(1006, 'no welcome from the server in time', false);
    }, CONNECT_TIMEOUT_MS);
    ws.onmessage = (e) => {
      if (ws !== this._ws) return;
      this._heardAt = Date.now();
      if (!welcomed) {
        welcomed = true;
        clearTimeout(timer);
        this._welcome(e.data);
        return;
      }
      this._frame(e.data);
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (ws !== this._ws) return;
      this._ws = null;
      this._closed(e.code, e.reason, e.wasClean && e.code !== 1006);
    };
  }

  _write(bytes, isText) {
    let out = bytes;
    if (bytes.length > 0 && bytes[0] === 0) {
      out = new Uint8Array(bytes.length + 2);
      out.set(bytes, 2);
    }
    this._ws.send(isText ? decoder.decode(out) : out);
  }

  _welcome(data) {
    const bytes = typeof data === 'string' ? null : new Uint8Array(data);
    if (!bytes || bytes.length < 3 || bytes[0] !== 0 || bytes[1] !== 2) {
      this._ws.close(1002, 'no welcome');
      this._ws = null;
      this._finish(1002, 'the server does not speak the session protocol');
      return;
    }
    const w = JSON.parse(decoder.decode(bytes.subarray(2)));
    const returning = this.state === 'away';
    if (returning && !w.resumed) {
      this._ws.close(1000);
      this._ws = null;
      this._finish(4000, 'the server no longer had this session');
      return;
    }
    this.id = w.id;
    this.gracePeriod = w.grace;
    this._session = w.session;
    this._keepaliveMs = (w.keepalive || 0) * 1000;
    this._retryMs = FIRST_RETRY_MS;
    this.state = 'connected';
    this._startWatch();
    if (!returning) {
      this._emit('open', { id: this.id });
      return;
    }
    // The welcome acknowledged at once: the server then knows this client has the new
    // secret, and the old one opens nothing.
    this._ack(true);
    // The server has what it received: the rest again, in order.
    this._forgetUpTo(w.received);
    for (const [bytes2, isText] of this._log) this._write(bytes2, isText);
    this._emit('back', {});
  }

  _frame(data) {
    let isText = typeof data === 'string';
    if (this._session) {
      if (isText && data.charCodeAt(0) === 0) {
        data = data.slice(2);
      } else if (!isText) {
        const bytes = new Uint8Array(data);
        if (bytes.length > 0 && bytes[0] === 0) {
          if (bytes.length >= 2 && bytes[1] === 0) {
            data = data.slice(2);
          } else {
            if (bytes.length === 10 && bytes[1] === 1) {
              this._forgetUpTo(Number(new DataView(data).getBigUint64(2, true)));
            }
            return;
          }
        }
      }
      this._received += 1;
      this._scheduleAck();
    }
    this._emit('message', { data });
  }

  _scheduleAck() {
    if (this._received - this._acked >= ACK_EVERY) {
      this._ack();
    } else if (!this._ackTimer) {
      this._ackTimer = setTimeout(() => this._ack(), ACK_DELAY_MS);
    }
  }

  /** Acknowledges what was received: when anything is new, or always (`force`). */
  _ack(force = false) {
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    if (this.state !== 'connected' || !this._ws) return;
    if (!force && this._received === this._acked) return;
    const ack = new Uint8Array(10);
    ack[1] = 1;
    new DataView(ack.buffer).setBigUint64(2, BigInt(this._received), true);
    this._ws.send(ack);
    this._acked = this._received;
  }

  _forgetUpTo(count) {
    while (this._first <= count && this._log.length > 0) {
      this._log.shift();
      this._first += 1;
    }
  }

  /** Watches for a silent link while a session is connected. */
  _startWatch() {
    clearInterval(this._watch);
    this._watch = null;
    if (!this._session || !this._keepaliveMs) return;
    this._heardAt = Date.now();
    this._watch = setInterval(() => {
      if (this.state !== 'connected' || !this._ws) return;
      if (Date.now() - this._heardAt > 2 * this._keepaliveMs + 1000) {
        // Silent for too long: the link is dead, though the browser has not noticed.
        const ws = this._ws;
        this._ws = null;
        ws.onclose = null;
        ws.onmessage = null;
        ws.close();
        this._closed(1006, 'silent link', false);
      }
    }, 500);
  }

  _closed(code, reason, clean) {
    switch (this.state) {
      case 'connected':
        if (clean || !this._session) {
          this._finish(clean ? code : 1006, reason);
          return;
        }
        clearInterval(this._watch);
        this._watch = null;
        this.state = 'away';
        this._awaySince = Date.now();
        this._retryMs = FIRST_RETRY_MS;
        this._emit('away', {});
        this._retry(0);
        return;
      case 'away':
        // The server turned the return away (4002): the session cannot be resumed.
        if (clean && code === 4002) {
          this._finish(code, reason);
          return;
        }
        this._retry(this._retryMs);
        this._retryMs = Math.min(this._retryMs * 2, MAX_RETRY_MS);
        return;
      default:
        this._finish(clean ? code : 1006, reason);
    }
  }

  _retry(delay) {
    setTimeout(() => {
      if (this.state !== 'away') return;
      if (Date.now() - this._awaySince > this.gracePeriod * 1000) {
        this._finish(1006, "could not come back within the server's grace period");
        return;
      }
      this._acked = this._received; // the hello says it
      this._dial(`gws=${PROTOCOL_VERSION}&gws_return=${this.id}`, this._hello());
    }, delay);
  }

  /** A returning client's first frame: 00 03, the secret (16 bytes), what it received. */
  _hello() {
    const hello = new Uint8Array(26);
    hello[1] = 3;
    for (let i = 0; i < 16; i++) hello[2 + i] = parseInt(this._session.substr(2 * i, 2), 16);
    new DataView(hello.buffer).setBigUint64(18, BigInt(this._received), true);
    return hello;
  }

  _finish(code, reason) {
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    clearInterval(this._watch);
    this._watch = null;
    this._ws = null;
    this.state = 'closed';
    this._emit('close', { code, reason });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
