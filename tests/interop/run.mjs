// The interop suite's orchestrator (run by run.sh, with a pinned Node 22). Starts
// example-mcp-server twice on loopback ports (with its embedded development authorization
// server, then with oidc-provider as an external authorization server), runs every client and
// check against it, prints one PASS/FAIL line per check and `N passed, N failed`, and exits
// non-zero on any failure. Every child runs in its own process group and is killed on exit.
//
// Environment: INTEROP_SERVER_BIN (default <repo>/target/debug/example-mcp-server),
// INTEROP_RMCP_BIN (default <repo>/target/debug/rmcp-interop-client; skipped with a FAIL if
// absent), CHROMIUM (default /usr/bin/chromium), INTEROP_ONLY (a substring: run only the
// phases/checks whose label contains it), INTEROP_VERBOSE=1 (details on PASS lines too).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  getJson,
  killAllChildren,
  mcpPost,
  obtainToken,
  parseChallenge,
  rpc,
  runProcess,
  startProcess,
  tail,
  waitForHttp,
} from './lib/common.mjs';
import { startTokenProxy } from './lib/token-proxy.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const NODE = process.execPath;
const SERVER_BIN = process.env.INTEROP_SERVER_BIN ?? path.join(ROOT, 'target', 'debug', 'example-mcp-server');
const RMCP_BIN = process.env.INTEROP_RMCP_BIN ?? path.join(ROOT, 'target', 'debug', 'rmcp-interop-client');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ONLY = process.env.INTEROP_ONLY ?? '';
const VERBOSE = !!process.env.INTEROP_VERBOSE;
const OUT = path.join(HERE, '.out');
const CONFORMANCE = path.join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

/** Conformance server scenarios that apply to any MCP server (the others need test tools). */
const CONFORMANCE_SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'resources-list', 'dns-rebinding-protection'];

/** The whole run may not take longer than this. */
const DEADLINE_MS = 9 * 60 * 1000;

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const LOG = path.join(OUT, 'run.log');
const log = (name, text) => appendFileSync(LOG, text.split('\n').map((l) => (l ? `[${name}] ${l}` : l)).join('\n'));

// ---- results
let passed = 0;
let failed = 0;
const rows = [];
function report(check, ok, detail = '') {
  const d = String(detail ?? '').replace(/\s+/g, ' ').trim();
  rows.push({ check, ok, detail: d });
  if (ok) passed++;
  else failed++;
  const short = d.length > 220 ? `${d.slice(0, 217)}...` : d;
  console.log(ok ? `PASS ${check}${VERBOSE && short ? ` — ${short}` : ''}` : `FAIL ${check} — ${short}`);
  appendFileSync(LOG, `${ok ? 'PASS' : 'FAIL'} ${check} — ${d}\n`);
}
async function check(name, fn) {
  if (ONLY && !name.includes(ONLY)) return;
  try {
    report(name, true, await fn());
  } catch (e) {
    report(name, false, e?.message ?? String(e));
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Runs a client that prints `RESULT {...}` lines; reports each, and a FAIL if it printed none. */
async function runClient(label, cmd, args, { timeoutMs = 120_000, env } = {}) {
  if (ONLY && !label.includes(ONLY)) return;
  const r = await runProcess(label, cmd, args, { timeoutMs, env, log });
  const lines = r.output.split('\n').filter((l) => l.startsWith('RESULT '));
  for (const l of lines) {
    try {
      const { check: c, ok, detail } = JSON.parse(l.slice(7));
      report(c, ok, detail);
    } catch {
      report(`${label}: output`, false, l);
    }
  }
  if (r.timedOut) report(`${label}: finished in time`, false, `killed after ${timeoutMs} ms`);
  else if (!lines.length) report(`${label}: ran`, false, `exit ${r.code}: ${tail(r.output, 8)}`);
  else if (r.code !== 0 && !lines.some((l) => l.includes('"ok":false'))) {
    report(`${label}: exit status`, false, `exit ${r.code}: ${tail(r.output, 8)}`);
  }
}

// ---- servers
async function startExample(label, args, env = {}) {
  const port = await freePort();
  const mcp = `http://127.0.0.1:${port}/mcp`;
  const proc = startProcess(`example-mcp-server/${label}`, SERVER_BIN, ['--bind', `127.0.0.1:${port}`, '--debug-counters', ...args], {
    env: { RUST_LOG: 'warn,example_mcp_server=info,mcp_auth=info', NO_COLOR: '1', ...env },
    log,
  });
  const prm = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`example-mcp-server exited: ${tail(proc.output(), 10)}`);
    try {
      if ((await getJson(prm)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`example-mcp-server not ready: ${tail(proc.output(), 10)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, mcp, prm, port };
}

async function startOidcAs(extra = []) {
  const port = await freePort();
  const proc = startProcess('oidc-provider', NODE, [path.join(HERE, 'test-as', 'oidc-as.mjs'), '--port', String(port), ...extra], { log });
  const m = await proc.waitFor(/oidc-as ready (\S+)/, 20_000);
  await waitForHttp(`${m[1]}/.well-known/openid-configuration`);
  return { proc, issuer: m[1] };
}

// ---- checks on the wire, written here (no SDK): what every check above relies on

async function wireChecks(label, { mcp, prm, issuer }) {
  let good;
  const token = async () => {
    good ??= (await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' })).access_token;
    return good;
  };

  await check(`${label}: 401 names resource_metadata (RFC 9728) and the metadata names this resource and AS`, async () => {
    const r = await mcpPost(mcp, rpc.initialize());
    assert(r.status === 401, `status ${r.status}`);
    const ch = parseChallenge(r.headers.get('www-authenticate'));
    assert(ch.scheme === 'Bearer', `scheme ${ch.scheme}`);
    assert(ch.params.resource_metadata === prm, `resource_metadata ${ch.params.resource_metadata}, expected ${prm}`);
    assert(ch.params.scope === 'mcp:read', `scope ${ch.params.scope}`);
    const doc = await getJson(ch.params.resource_metadata);
    assert(doc.status === 200 && doc.json?.resource === mcp, `metadata ${doc.status} ${doc.text}`);
    assert(doc.json.authorization_servers?.includes(issuer), `authorization_servers ${doc.json.authorization_servers}`);
    return r.headers.get('www-authenticate');
  });

  await check(`${label}: a token for this resource works (control for the refusals below)`, async () => {
    const r = await mcpPost(mcp, rpc.toolsCall('whoami'), { token: await token() });
    assert(r.status === 200 && r.body?.result?.structuredContent?.issuer === issuer, `${r.status} ${r.text.slice(0, 200)}`);
    return `whoami: ${JSON.stringify(r.body.result.structuredContent)}`;
  });

  await check(`${label}: a token for another resource (aud) is refused with 401 invalid_token`, async () => {
    const other = `http://127.0.0.1:${await freePort()}/mcp`;
    const t = (await obtainToken({ issuer, resource: other, scope: 'mcp:read' })).access_token;
    const aud = JSON.parse(Buffer.from(t.split('.')[1], 'base64url')).aud;
    assert(aud === other || (Array.isArray(aud) && aud.includes(other)), `the AS issued aud ${JSON.stringify(aud)}`);
    const r = await mcpPost(mcp, rpc.toolsCall('whoami'), { token: t });
    const ch = parseChallenge(r.headers.get('www-authenticate'));
    assert(r.status === 401 && ch.params.error === 'invalid_token', `${r.status} ${r.headers.get('www-authenticate')}`);
    assert(ch.params.resource_metadata === prm, `no resource_metadata in ${r.headers.get('www-authenticate')}`);
    return `aud ${other} -> ${r.status} ${r.headers.get('www-authenticate')}`;
  });

  await check(`${label}: a valid token in the query string (?access_token=) is refused with 400`, async () => {
    const t = await token();
    const r = await mcpPost(mcp, rpc.toolsCall('whoami'), { query: { access_token: t } });
    const ch = parseChallenge(r.headers.get('www-authenticate'));
    assert(r.status === 400 && ch.params.error === 'invalid_request', `${r.status} ${r.headers.get('www-authenticate')}`);
    assert(ch.params.resource_metadata === prm, `no resource_metadata in ${r.headers.get('www-authenticate')}`);
    assert(!r.body?.result, 'the tool ran');
    const both = await mcpPost(mcp, rpc.toolsCall('whoami'), { token: t, query: { access_token: t } });
    assert(both.status === 400, `header + query: ${both.status}`);
    return `${r.status} ${r.headers.get('www-authenticate')}; with the header too: ${both.status}`;
  });

  await check(`${label}: a valid token in a form body (access_token=) is refused with 400`, async () => {
    const r = await fetch(mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: await token() }),
      signal: AbortSignal.timeout(10_000),
    });
    await r.arrayBuffer();
    assert(r.status === 400, `status ${r.status}`);
    return `${r.status} ${r.headers.get('www-authenticate')}`;
  });
}

// ---- the MCP conformance suite, through a token-injecting proxy

async function conformance(label, { mcp, issuer }) {
  if (ONLY && !label.includes(ONLY)) return;
  const token = (await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' })).access_token;
  const proxy = await startTokenProxy({ target: new URL(mcp).origin, token });
  try {
    for (const scenario of CONFORMANCE_SCENARIOS) {
      const dir = path.join(OUT, label.replace(/[^A-Za-z0-9_-]+/g, '_'), scenario);
      const r = await runProcess(`conformance/${scenario}`, NODE, [CONFORMANCE, 'server', '--url', proxy.url('/mcp'), '--scenario', scenario, '-o', dir], {
        timeoutMs: 60_000,
        log,
      });
      await check(`${label}: ${scenario}`, async () => {
        const files = existsSync(dir) ? readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('checks.json')) : [];
        assert(files.length === 1, `no checks.json (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${tail(r.output, 6)}`);
        const checks = JSON.parse(readFileSync(path.join(dir, String(files[0])), 'utf8'));
        const bad = checks.filter((c) => c.status !== 'SUCCESS');
        assert(checks.length > 0 && bad.length === 0, bad.map((c) => `${c.id}: ${c.status} ${c.errorMessage ?? ''}`).join('; '));
        assert(r.code === 0, `exit ${r.code}`);
        if (scenario === 'dns-rebinding-protection') {
          // Refused by the MCP server's Host check with a valid token in hand, not by the layer.
          const rejected = checks.find((c) => c.id === 'localhost-host-rebinding-rejected');
          assert(rejected?.details?.statusCode !== 401, `rejected with ${rejected?.details?.statusCode} (the layer, not the Host check)`);
          return `rebinding Host refused with ${rejected.details.statusCode}; localhost Host accepted`;
        }
        return checks.map((c) => `${c.id}: ${c.status}`).join(', ');
      });
    }
  } finally {
    await proxy.close();
  }
  // The same suite without the proxy is refused: the layer really is in front.
  const dir = path.join(OUT, label.replace(/[^A-Za-z0-9_-]+/g, '_'), 'ping-without-token');
  const r = await runProcess('conformance/ping-without-token', NODE, [CONFORMANCE, 'server', '--url', mcp, '--scenario', 'ping', '-o', dir], { timeoutMs: 60_000, log });
  await check(`${label}: ping without the injected token is refused (the layer is in front)`, async () => {
    assert(r.code !== 0, 'ping passed without a token');
    return `exit ${r.code}`;
  });
}

// ---- phases

async function phaseDevAs() {
  const label = 'dev-as';
  const asPort = await freePort();
  const server = await startExample(label, ['--dev-as-bind', `127.0.0.1:${asPort}`, '--auto-approve']);
  const issuer = `http://127.0.0.1:${asPort}`;
  const ctx = { ...server, issuer };
  try {
    await wireChecks(`http/${label}`, ctx);
    // The SDK runs unmodified: the development AS issues a refresh token only for
    // offline_access, so a 403 makes the SDK re-authorize (docs/compatibility.md, "Step-up").
    await runClient(`sdk/${label}`, NODE, [path.join(HERE, 'clients', 'sdk-client.mjs'), '--mcp', server.mcp, '--issuer', issuer, '--label', `sdk/${label}`, '--step-up']);
    await runRmcp(label, ctx);
    await conformance(`conformance/${label}`, ctx);
    await browser(label, ctx);
  } finally {
    await server.proc.stop();
  }
}

async function phaseOidcProvider() {
  const label = 'oidc-provider';
  const as = await startOidcAs();
  let server;
  try {
    server = await startExample(label, ['--issuer', as.issuer]);
    const ctx = { ...server, issuer: as.issuer };
    await wireChecks(`http/${label}`, ctx);
    await runClient(`sdk/${label}`, NODE, [path.join(HERE, 'clients', 'sdk-client.mjs'), '--mcp', server.mcp, '--issuer', as.issuer, '--label', `sdk/${label}`, '--step-up']);
    await runRmcp(label, ctx);
    await conformance(`conformance/${label}`, ctx);
    await browser(label, ctx);
  } finally {
    await server?.proc.stop();
    await as.proc.stop();
  }
}

// Two issuers at once (issue 15): the example trusts its development AS and oidc-provider
// (`--also-trust`); the wire checks run with each one's tokens (a token for another resource
// refused, the metadata listing both), and the SDK runs its OAuth flow against the first
// authorization server of the metadata, the development one.
async function phaseTwoIssuers() {
  const label = 'two-issuers';
  const as = await startOidcAs();
  const asPort = await freePort();
  let server;
  try {
    server = await startExample(label, ['--dev-as-bind', `127.0.0.1:${asPort}`, '--auto-approve', '--also-trust', as.issuer]);
    const dev = `http://127.0.0.1:${asPort}`;
    await wireChecks(`http/${label}/dev-as`, { ...server, issuer: dev });
    await wireChecks(`http/${label}/oidc-provider`, { ...server, issuer: as.issuer });
    await runClient(`sdk/${label}`, NODE, [path.join(HERE, 'clients', 'sdk-client.mjs'), '--mcp', server.mcp, '--issuer', dev, '--label', `sdk/${label}`, '--step-up']);
  } finally {
    await server?.proc.stop();
    await as.proc.stop();
  }
}

// Opaque access tokens (issue 16): oidc-provider issues opaque tokens and answers RFC 7662
// introspection; the example runs with `--introspection` (its credentials from the
// environment, the endpoint from oidc-provider's RFC 8414 metadata, a 3 s maximum so the
// revocation is seen quickly). The wire checks here, the SDK's full OAuth flow with its
// step-ups, rmcp's, and a token revoked at oidc-provider (RFC 7009) refused once the maximum
// is over.
const OPAQUE_RS = { id: 'interop-mcp-rs', secret: 'interop-mcp-rs-secret-not-secret' }; // test-as/oidc-as.mjs
const OPAQUE_MAX_CACHE_S = 3;

async function phaseOidcProviderOpaque() {
  const label = 'oidc-provider-opaque';
  if (ONLY && !['http/', 'sdk/', 'rmcp/'].some((p) => `${p}${label}`.includes(ONLY))) return;
  const as = await startOidcAs(['--opaque']);
  let server;
  try {
    server = await startExample(
      label,
      ['--issuer', as.issuer, '--introspection', '--introspection-client-id', OPAQUE_RS.id, '--introspection-max-cache', String(OPAQUE_MAX_CACHE_S)],
      { MCP_AUTH_INTROSPECTION_SECRET: OPAQUE_RS.secret },
    );
    const ctx = { ...server, issuer: as.issuer };
    await opaqueWireChecks(`http/${label}`, ctx);
    await runClient(`sdk/${label}`, NODE, [
      path.join(HERE, 'clients', 'sdk-client.mjs'),
      '--mcp', server.mcp, '--issuer', as.issuer, '--label', `sdk/${label}`, '--step-up',
      '--opaque-introspection', `${OPAQUE_RS.id}:${OPAQUE_RS.secret}`,
    ]);
    await runRmcp(label, ctx);
  } finally {
    await server?.proc.stop();
    await as.proc.stop();
  }
}

// The development AS in opaque mode (`--token-format opaque`): the example introspects at it
// with the credentials it generated; the SDK's full flow and step-ups, and rmcp's. (Its
// revocation is covered by examples/mcp-server/tests/opaque_tokens.rs.)
async function phaseDevAsOpaque() {
  const label = 'dev-as-opaque';
  if (ONLY && !['http/', 'sdk/', 'rmcp/'].some((p) => `${p}${label}`.includes(ONLY))) return;
  const asPort = await freePort();
  const server = await startExample(label, ['--dev-as-bind', `127.0.0.1:${asPort}`, '--auto-approve', '--token-format', 'opaque', '--introspection-max-cache', String(OPAQUE_MAX_CACHE_S)]);
  const issuer = `http://127.0.0.1:${asPort}`;
  const ctx = { ...server, issuer };
  try {
    await opaqueWireChecks(`http/${label}`, ctx, { revoke: false });
    await runClient(`sdk/${label}`, NODE, [path.join(HERE, 'clients', 'sdk-client.mjs'), '--mcp', server.mcp, '--issuer', issuer, '--label', `sdk/${label}`, '--step-up', '--opaque']);
    await runRmcp(label, ctx);
  } finally {
    await server.proc.stop();
  }
}

// DPoP (RFC 9449, issue 17): panva's oauth4webapi (clients/dpop-client.mjs) gets a DPoP-bound
// token (oidc-provider's `features.dPoP`, or the development AS) and calls the tools with DPoP
// proofs; the refusals (Bearer, no proof, another key's proof, a replayed proof) with that
// token. Required mode with server nonces at the example (`MCP_AUTH_DPOP_NONCE_SECRET`) and at
// oidc-provider (`--dpop-nonce`), so both `use_dpop_nonce` retries run; allowed mode without.
// A plain Bearer token (a token request without a proof) is the control: accepted when
// allowed, refused when required.
const DPOP_NONCE_SECRET = 'interop-dpop-nonce-secret-not-secret-0123456789';

async function dpopPlainBearer(label, { mcp, issuer }, mode) {
  await check(`${label}: a plain Bearer token (no proof at the AS) is ${mode === 'required' ? 'refused with 401' : 'accepted'}`, async () => {
    const t = await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' });
    assert(t.token_type?.toLowerCase() === 'bearer', `token_type ${t.token_type}`);
    const r = await mcpPost(mcp, rpc.toolsCall('whoami'), { token: t.access_token });
    const www = r.headers.get('www-authenticate');
    if (mode === 'required') assert(r.status === 401 && /^\s*DPoP\b/.test(www ?? '') && !r.body?.result, `${r.status} ${www}`);
    else assert(r.status === 200 && r.body?.result?.structuredContent?.issuer === issuer, `${r.status} ${r.text.slice(0, 200)}`);
    return `${r.status}${www ? ` ${www}` : ''}`;
  });
}

async function phaseDpopOidcProvider(mode) {
  const label = `oidc-provider-dpop-${mode}`;
  if (ONLY && !`dpop/${label}`.includes(ONLY)) return;
  const nonces = mode === 'required';
  const as = await startOidcAs(nonces ? ['--dpop-nonce'] : []);
  let server;
  try {
    server = await startExample(label, ['--issuer', as.issuer, '--dpop', mode], nonces ? { MCP_AUTH_DPOP_NONCE_SECRET: DPOP_NONCE_SECRET } : {});
    const args = [path.join(HERE, 'clients', 'dpop-client.mjs'), '--mcp', server.mcp, '--label', `dpop/${label}`, '--mode', mode];
    if (nonces) args.push('--rs-nonce', '--as-nonce');
    await runClient(`dpop/${label}`, NODE, args);
    await dpopPlainBearer(`dpop/${label}`, { ...server, issuer: as.issuer }, mode);
  } finally {
    await server?.proc.stop();
    await as.proc.stop();
  }
}

async function phaseDpopDevAs() {
  const label = 'dev-as-dpop-required';
  if (ONLY && !`dpop/${label}`.includes(ONLY)) return;
  const asPort = await freePort();
  const server = await startExample(label, ['--dev-as-bind', `127.0.0.1:${asPort}`, '--auto-approve', '--dpop', 'required'], { MCP_AUTH_DPOP_NONCE_SECRET: DPOP_NONCE_SECRET });
  const issuer = `http://127.0.0.1:${asPort}`;
  try {
    await runClient(`dpop/${label}`, NODE, [path.join(HERE, 'clients', 'dpop-client.mjs'), '--mcp', server.mcp, '--label', `dpop/${label}`, '--mode', 'required', '--rs-nonce']);
    await dpopPlainBearer(`dpop/${label}`, { ...server, issuer }, 'required');
  } finally {
    await server.proc.stop();
  }
}

async function opaqueWireChecks(label, { mcp, prm, issuer }, { revoke = true } = {}) {
  const whoami = (token) => mcpPost(mcp, rpc.toolsCall('whoami'), { token });
  const invalidToken = (r) => {
    const ch = parseChallenge(r.headers.get('www-authenticate'));
    return r.status === 401 && ch.params.error === 'invalid_token' && ch.params.resource_metadata === prm;
  };

  await check(`${label}: 401 names resource_metadata (RFC 9728); the metadata names this resource and AS`, async () => {
    const r = await mcpPost(mcp, rpc.initialize());
    const ch = parseChallenge(r.headers.get('www-authenticate'));
    assert(r.status === 401 && ch.params.resource_metadata === prm, `${r.status} ${r.headers.get('www-authenticate')}`);
    const doc = await getJson(prm);
    assert(doc.json?.resource === mcp && doc.json.authorization_servers?.[0] === issuer, `metadata ${doc.text}`);
    return r.headers.get('www-authenticate');
  });

  await check(`${label}: an opaque token for this resource is introspected and works`, async () => {
    const t = (await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' })).access_token;
    assert(t.split('.').length !== 3, `a JWT from the AS: ${t.slice(0, 20)}...`);
    const r = await whoami(t);
    const me = r.body?.result?.structuredContent;
    assert(r.status === 200 && me?.issuer === issuer && me.subject, `${r.status} ${r.text.slice(0, 200)}`);
    return `token ${t.length} chars; whoami: ${JSON.stringify(me)}`;
  });

  await check(`${label}: an opaque token for another resource (aud in the answer) is refused with 401 invalid_token`, async () => {
    const other = `http://127.0.0.1:${await freePort()}/mcp`;
    const t = (await obtainToken({ issuer, resource: other, scope: 'mcp:read' })).access_token;
    const r = await whoami(t);
    assert(invalidToken(r), `${r.status} ${r.headers.get('www-authenticate')}`);
    return `aud ${other} -> ${r.status} ${r.headers.get('www-authenticate')}`;
  });

  await check(`${label}: an opaque token the AS never issued is refused with 401 invalid_token`, async () => {
    const r = await whoami(randomBytes(32).toString('base64url'));
    assert(invalidToken(r), `${r.status} ${r.headers.get('www-authenticate')}`);
    return `${r.status}`;
  });

  if (!revoke) return;
  await check(`${label}: a token revoked at oidc-provider (RFC 7009) is refused once the ${OPAQUE_MAX_CACHE_S} s maximum is over`, async () => {
    const t = (await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' })).access_token;
    let r = await whoami(t);
    assert(r.status === 200, `before revocation: ${r.status}`);
    const md = (await getJson(`${issuer}/.well-known/oauth-authorization-server`)).json;
    const rev = await fetch(md.revocation_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('interop-service:interop-service-secret-not-secret').toString('base64')}`,
      },
      body: new URLSearchParams({ token: t, token_type_hint: 'access_token' }),
      signal: AbortSignal.timeout(10_000),
    });
    await rev.arrayBuffer();
    assert(rev.status === 200, `revocation ${rev.status}`);
    const revokedAt = Date.now();
    // Within the maximum the kept answer may still be used (the revocation delay).
    r = await whoami(t);
    const within = Date.now() - revokedAt < OPAQUE_MAX_CACHE_S * 1000 ? r.status : 'late';
    await new Promise((res) => setTimeout(res, OPAQUE_MAX_CACHE_S * 1000 + 700));
    r = await whoami(t);
    assert(invalidToken(r), `after the maximum: ${r.status} ${r.headers.get('www-authenticate')}`);
    assert(within === 200 || within === 'late', `within the maximum: ${within}`);
    return `within the maximum: ${within}; after it: ${r.status} ${r.headers.get('www-authenticate')}`;
  });
}

async function runRmcp(label, { mcp, issuer }) {
  if (ONLY && !`rmcp/${label}`.includes(ONLY)) return;
  if (!existsSync(RMCP_BIN)) {
    report(`rmcp/${label}: client built`, false, `${RMCP_BIN} missing (run.sh builds it)`);
    return;
  }
  await runClient(`rmcp/${label}`, RMCP_BIN, ['--mcp', mcp, '--issuer', issuer, '--label', `rmcp/${label}`, '--step-up']);
}

async function browser(label, { mcp, issuer, port }) {
  if (ONLY && !`browser/${label}`.includes(ONLY)) return;
  const token = (await obtainToken({ issuer, resource: mcp, scope: 'mcp:read' })).access_token;
  const counters = `http://127.0.0.1:${port}/debug/counters`;
  await runClient(`browser/${label}`, NODE, [path.join(HERE, 'clients', 'browser-check.mjs'), '--mcp', mcp, '--token', token, '--counters', counters, '--chromium', CHROMIUM, '--label', `browser/${label}`], { timeoutMs: 90_000 });
}

// ---- main
const started = Date.now();
const watchdog = setTimeout(() => {
  console.log(`FAIL suite finished in time — still running after ${DEADLINE_MS / 1000} s; children killed`);
  killAllChildren('SIGKILL');
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

const versions = () => {
  const v = (p) => {
    try {
      return JSON.parse(readFileSync(path.join(HERE, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  };
  return `node ${process.version}, @modelcontextprotocol/sdk ${v('@modelcontextprotocol/sdk')}, @modelcontextprotocol/conformance ${v('@modelcontextprotocol/conformance')}, oidc-provider ${v('oidc-provider')}, oauth4webapi ${v('oauth4webapi')}, playwright-core ${v('playwright-core')}`;
};
console.log(`interop: ${versions()}`);
writeFileSync(path.join(OUT, 'versions.txt'), `${versions()}\n`);

for (const [name, phase] of [
  ['dev-as', phaseDevAs],
  ['oidc-provider', phaseOidcProvider],
  ['two-issuers', phaseTwoIssuers],
  ['dev-as-opaque', phaseDevAsOpaque],
  ['oidc-provider-opaque', phaseOidcProviderOpaque],
  ['oidc-provider-dpop-required', () => phaseDpopOidcProvider('required')],
  ['oidc-provider-dpop-allowed', () => phaseDpopOidcProvider('allowed')],
  ['dev-as-dpop-required', phaseDpopDevAs],
]) {
  try {
    await phase();
  } catch (e) {
    report(`${name}: phase`, false, e?.stack ?? String(e));
  }
}

writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(rows, null, 2));
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`interop: ${secs} s; logs and results in ${OUT}`);
console.log(`${passed} passed, ${failed} failed`);
killAllChildren('SIGKILL');
process.exit(failed || passed === 0 ? 1 : 0);
