// The addon's websocket_session.js in headless Chromium: a page served by this script
// (an HTTP server on 127.0.0.1) imports the module and sends COUNT numbered messages at
// a steady pace through URL (a relay the test cuts now and then); every "echo:N" must come
// back once and in order, as the same peer. Usage: node session.mjs URL COUNT MODULE_PATH.
// Prints JSON; exit 0 on success.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { launch } from './chromium.mjs';

const [url, count, modulePath] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  const module = readFileSync(modulePath, 'utf8');
  const site = createServer((req, res) => {
    if (req.url === '/websocket_session.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(module);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>game</title>');
    }
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  await page.goto(`http://127.0.0.1:${site.address().port}/index.html`);
  const result = await page.evaluate(async ({ url, count }) => {
    const { SessionSocket } = await import('/websocket_session.js');
    const socket = new SessionSocket(url);
    const got = [];
    const moments = [];
    const opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', (e) => resolve(e.detail.id));
      setTimeout(() => reject(new Error('no open')), 10000);
    });
    socket.addEventListener('message', (e) => got.push(e.detail.data));
    socket.addEventListener('away', () => moments.push('away'));
    socket.addEventListener('back', () => moments.push('back'));
    socket.addEventListener('close', (e) => moments.push(`close ${e.detail.code}`));
    const id = await opened;
    const started = Date.now();
    let sent = 0;
    while (sent < count) {
      const due = Math.min(count, Math.floor((Date.now() - started) * 0.4) + 1);
      while (sent < due) socket.send(String(sent++));
      await new Promise((r) => setTimeout(r, 5));
    }
    const deadline = Date.now() + 60000;
    while ((got.length < count || socket.state !== 'connected') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.send('end');
    while (got.length < count + 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const inOrder = got.length === count + 1 && got.every((m, i) => m === (i < count ? `echo:${i}` : `end:${count}`));
    const sameId = socket.id === id;
    socket.close();
    return { id, sameId, inOrder, received: got.length, moments };
  }, { url, count: Number(count) });
  console.log(JSON.stringify(result));
  process.exitCode = result.inOrder && result.sameId ? 0 : 1;
} finally {
  await browser.close();
  // The page's HTTP server would keep node running.
  process.exit();
}
