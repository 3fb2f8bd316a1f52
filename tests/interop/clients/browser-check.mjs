// A real browser (headless Chromium, driven by playwright-core) loads browser/cors-page.html
// from a loopback origin other than the MCP server's and runs it: cross-origin metadata, an
// unauthenticated POST whose 401 challenge the script must be able to read, a tool call with a
// bearer token. Proves the CORS preset works for browser-based MCP clients (MCP Inspector).
//
// Usage: node browser-check.mjs --mcp <url> --token <access token> [--chromium /usr/bin/chromium]
// Output: one `RESULT {...}` line per check; exit 0 if all passed.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    mcp: { type: 'string' },
    token: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    label: { type: 'string', default: 'browser' },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const page = readFileSync(path.join(here, '..', 'browser', 'cors-page.html'));

let failures = 0;
function result(check, ok, detail) {
  if (!ok) failures++;
  console.log(`RESULT ${JSON.stringify({ check: `${opts.label}: ${check}`, ok: !!ok, detail })}`);
}

// The page's origin: http://localhost:<port> (the MCP server is http://127.0.0.1:<port>).
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/cors-page.html')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://localhost:${server.address().port}/cors-page.html?${new URLSearchParams({ mcp: opts.mcp, token: opts.token })}`;

const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'mcp-auth-interop-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const tab = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  tab.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  await tab.goto(pageUrl, { timeout: 15_000 });
  const results = await tab.evaluate(() => window.interopResults, undefined, { timeout: 30_000 });
  const version = context.browser()?.version() ?? (await tab.evaluate(() => navigator.userAgent));
  for (const r of results) result(r.check, r.ok, r.detail);
  // A 401 and a 403 are expected console noise; a CORS refusal is not.
  const cors = consoleErrors.filter((e) => /CORS|Access-Control/i.test(e));
  result('no CORS errors in the console', cors.length === 0, cors.length ? cors.join(' | ') : `Chromium ${version}`);
} catch (e) {
  result('browser run', false, e?.message ?? String(e));
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
