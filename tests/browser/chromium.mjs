// Debian's headless Chromium (CHROMIUM overrides the path), as the browser tests start it.
// With ACCEPT_TEST_CERTIFICATE set it accepts the self-signed certificate of a wss test.
import { chromium } from 'playwright-core';

export function launch() {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (process.env.ACCEPT_TEST_CERTIFICATE) args.push('--ignore-certificate-errors');
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
}
