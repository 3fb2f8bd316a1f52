// A real browser (headless Chromium, driven by playwright-core) loads browser/cors-page.html
// from a loopback origin other than the MCP server's and runs it: cross-origin metadata, an
// unauthenticated POST whose 401 challenge the script must be able to read, a tool call with a
// bearer token. Proves the CORS preset works for browser-based MCP clients (MCP Inspector).
//
// Then the same page from an origin the server does not allow (http://evil.test:<port>; the
// browser resolves evil.test to 127.0.0.1, so nothing leaves loopback): every MCP call must
// fail in the page. And a DNS rebinding page: the server's own index page loaded as
// http://evil.test:<server port>/, whose same-origin POST (no preflight, with a token) must get
// the layer's 403. The server's counter of requests that got through the auth layer
// (--debug-counters) must grow during the allowed page and not move during the other two.
//
// Usage: node browser-check.mjs --mcp <url> --token <access token> --counters <url>
//        [--chromium /usr/bin/chromium]
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
    counters: { type: 'string' },
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
const pagePort = server.address().port;
const pageUrl = `http://localhost:${pagePort}/cors-page.html?${new URLSearchParams({ mcp: opts.mcp, token: opts.token })}`;
const evilUrl = `http://evil.test:${pagePort}/cors-page.html?${new URLSearchParams({ mcp: opts.mcp, token: opts.token, mode: 'disallowed' })}`;
// The MCP server's own index page, as a DNS rebinding attacker's name for it.
const rebound = new URL(opts.mcp);
rebound.hostname = 'evil.test';
rebound.pathname = '/';

/** Requests that got through the auth layer to the MCP service so far. */
async function innerRequests() {
  const r = await fetch(opts.counters);
  if (r.status !== 200) throw new Error(`${opts.counters}: status ${r.status}`);
  return (await r.json()).inner_requests;
}

/** Runs cors-page.html at `url` in a new tab: its results and the console's CORS errors. */
async function runPage(url) {
  const tab = await context.newPage();
  const consoleErrors = [];
  tab.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  await tab.goto(url, { timeout: 15_000 });
  const results = await tab.evaluate(() => window.interopResults, undefined, { timeout: 30_000 });
  await tab.close();
  return { results, cors: consoleErrors.filter((e) => /CORS|Access-Control/i.test(e)) };
}

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
      // evil.test is 127.0.0.1 for this browser only: a disallowed origin without any
      // traffic off loopback, as DNS rebinding makes it.
      '--host-resolver-rules=MAP evil.test 127.0.0.1',
      '--disable-features=HttpsUpgrades',
    ],
  });
  const version = context.browser()?.version() ?? 'unknown version';

  const before = await innerRequests();
  const allowed = await runPage(pageUrl);
  for (const r of allowed.results) result(r.check, r.ok, r.detail);
  // A 401 and a 403 are expected console noise; a CORS refusal is not.
  result('no CORS errors in the console', allowed.cors.length === 0, allowed.cors.length ? allowed.cors.join(' | ') : `Chromium ${version}`);
  const afterAllowed = await innerRequests();
  result('the allowed page reached the MCP service (counter moves)', afterAllowed > before, `${before} -> ${afterAllowed} requests past the auth layer`);

  const evil = await runPage(evilUrl);
  for (const r of evil.results) result(`disallowed origin: ${r.check}`, r.ok, r.detail);
  result('disallowed origin: the browser reports the CORS refusal', evil.cors.length > 0, evil.cors.join(' | ') || 'no CORS error logged');

  // DNS rebinding: same origin as the (rebound) server, so no preflight protects it.
  const tab = await context.newPage();
  await tab.goto(rebound.href, { timeout: 15_000 });
  const r = await tab.evaluate(async ({ token }) => {
    const res = await fetch('/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    });
    return { status: res.status, body: await res.text(), origin: location.origin };
  }, { token: opts.token });
  await tab.close();
  result('DNS rebinding: a same-origin POST with a token from a rebound page gets the layer\'s 403',
    r.status === 403 && r.body.includes('Origin not allowed'), `${r.origin}: ${r.status} ${r.body}`);

  const afterEvil = await innerRequests();
  result('disallowed origins: no request reached the MCP service', afterEvil === afterAllowed, `${afterAllowed} -> ${afterEvil} requests past the auth layer`);
} catch (e) {
  result('browser run', false, e?.message ?? String(e));
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
