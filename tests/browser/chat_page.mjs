// The demo's chat page (godot-project/demo/chat.html) in headless Chromium: two pages open
// it against the demo server, each says a line, each sees both lines. Usage:
// node chat_page.mjs PAGE_FILE SERVER_URL SCREENSHOT_PNG. Prints JSON; exit 0 on success.
import { pathToFileURL } from 'node:url';
import { launch } from './chromium.mjs';

const [pageFile, server, screenshot] = process.argv.slice(2);
const address = pathToFileURL(pageFile).href + '?server=' + encodeURIComponent(server);
const browser = await launch();
try {
  const open = async () => {
    const page = await browser.newPage({ viewport: { width: 720, height: 420 } });
    await page.goto(address);
    await page.waitForFunction(() => /as \d+$/.test(document.getElementById('status').textContent), null, { timeout: 15000 });
    const id = (await page.textContent('#status')).match(/as (\d+)$/)[1];
    return { page, id };
  };
  const say = async (page, text) => {
    await page.fill('#line', text);
    await page.press('#line', 'Enter');
  };
  const sees = (page, text) => page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === t), text, { timeout: 15000 });
  const a = await open();
  const b = await open();
  await say(a.page, 'hello from page A');
  await sees(b.page, `[${a.id}] hello from page A`);
  await say(b.page, 'hi A, this is page B');
  await sees(a.page, `[${b.id}] hi A, this is page B`);
  await sees(a.page, `* ${b.id} joined`);
  await say(a.page, '/who');
  await a.page.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.textContent.startsWith('here: ')), null, { timeout: 15000 });
  await a.page.screenshot({ path: screenshot });
  const lines = await a.page.$$eval('#log li', (items) => items.map((li) => li.textContent));
  console.log(JSON.stringify({ a: a.id, b: b.id, lines }));
} finally {
  await browser.close();
}
