// A browser's own WebSocket (headless Chromium, as a Godot web export uses it) against
// the server. Usage: node client.mjs echo|multiplayer URL, or node client.mjs origin URL
// PAGE_URL (opens the page first, so the WebSocket carries that page's Origin).
// Prints JSON; exit 0 on success.
import { launch } from './chromium.mjs';

const [mode, url, pageUrl] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  if (pageUrl) await page.goto(pageUrl);
  const result = await page.evaluate(async ({ mode, url }) => {
    const open = (protocols) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      ws.binaryType = 'arraybuffer';
      const queue = [];
      const waiters = [];
      ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
      ws.next = () => new Promise((r) => (queue.length ? r(queue.shift()) : waiters.push(r)));
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error('websocket error'));
      setTimeout(() => reject(new Error('timeout')), 10000);
    });
    if (mode === 'origin') {
      // Whether a page of this origin may open a WebSocket to the server.
      try {
        const ws = await open([]);
        ws.close(1000);
        return { opened: true, origin: location.origin };
      } catch (e) {
        return { opened: false, origin: location.origin };
      }
    }
    if (mode === 'echo') {
      const ws = await open(['chat']);
      ws.send('hello from chromium');
      const text = await ws.next();
      ws.send(new Uint8Array([0, 1, 254, 255]));
      const bin = new Uint8Array(await ws.next());
      const closed = new Promise((r) => (ws.onclose = (e) => r({ code: e.code, reason: e.reason, clean: e.wasClean })));
      ws.close(4000, 'browser done');
      return { protocol: ws.protocol, text, bin: Array.from(bin), close: await closed };
    }
    // multiplayer: the first message is the peer id, 4 bytes little-endian.
    const ws = await open([]);
    const first = await ws.next();
    const id = new DataView(first).getInt32(0, true);
    ws.send(new Uint8Array([42, 43]));
    const reply = Array.from(new Uint8Array(await ws.next()));
    return { idLength: first.byteLength, id, reply };
  }, { mode, url });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
