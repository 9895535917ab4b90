// The built book (docs/book/) in headless Chromium: its home page and a chapter render,
// with their headings and the sidebar; a screenshot of each. Usage:
// node book.mjs BOOK_DIR OUT_DIR. Prints JSON; exit 0 on success.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { launch } from './chromium.mjs';

const [book, out] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const seen = {};
  for (const [name, file] of [['home', 'index.html'], ['chapter', 'reconnection.html'], ['reference', 'reference/WebSocketServer.html']]) {
    await page.goto(pathToFileURL(join(book, file)).href);
    await page.waitForSelector('#mdbook-sidebar, .sidebar, nav', { timeout: 15000 });
    seen[name] = {
      title: await page.title(),
      h1: (await page.textContent('main h1')).trim(),
      chapters: await page.$$eval('.chapter li a, ol.chapter a', (links) => links.length),
    };
    await page.screenshot({ path: join(out, `book-${name}.png`) });
  }
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
