// permessage-deflate with a client nobody here wrote: Node `ws` or headless Chromium.
// Usage: node compression.mjs node|chromium URL. Sends text and binary messages of 0 B to
// 1 MB, checks each echo, closes with 1000. Prints JSON (the extensions the server
// agreed, the number of echoes); exit 0 on success.
import WebSocket from 'ws';
import { launch } from './chromium.mjs';

const [client, url] = process.argv.slice(2);

// Runs in Node and in the page: the same messages, the same checks.
async function roundTrips({ url, inBrowser }) {
  const Socket = inBrowser ? globalThis.WebSocket : globalThis.NodeWebSocket;
  const ws = new Socket(url);
  ws.binaryType = 'arraybuffer';
  // Node `ws` gives only the names; the header has the parameters, as a browser's.
  let extensions = '';
  if (!inBrowser) ws.on('upgrade', (res) => (extensions = res.headers['sec-websocket-extensions']));
  const queue = [];
  const waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
  const next = () => new Promise((r) => (queue.length ? r(queue.shift()) : waiters.push(r)));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('websocket error'));
  });
  const sizes = [0, 1, 100, 255, 256, 1000, 4096, 65536, 1 << 20];
  let echoed = 0;
  for (const n of sizes) {
    let text = '';
    for (let i = 0; text.length < n; i++) text += JSON.stringify({ id: i, x: i * 7, hp: 100 }) + ',';
    text = text.slice(0, n);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 31) % 251;
    ws.send(text);
    const gotText = await next();
    if (gotText !== text) throw new Error(`text of ${n} bytes came back different`);
    ws.send(bytes);
    const gotBytes = new Uint8Array(await next());
    if (gotBytes.length !== n || gotBytes.some((b, i) => b !== bytes[i])) {
      throw new Error(`binary of ${n} bytes came back different`);
    }
    echoed += 2;
  }
  const closed = new Promise((r) => (ws.onclose = (e) => r(e.code)));
  ws.close(1000);
  if (inBrowser) extensions = ws.extensions;
  return { extensions, echoed, close: await closed };
}

let result;
if (client === 'node') {
  globalThis.NodeWebSocket = WebSocket;
  result = await roundTrips({ url, inBrowser: false });
} else {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    result = await page.evaluate(roundTrips, { url, inBrowser: true });
  } finally {
    await browser.close();
  }
}
console.log(JSON.stringify(result));
