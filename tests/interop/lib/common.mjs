// Shared helpers of the interop suite: loopback ports, child processes that are always killed,
// the Streamable HTTP wire, WWW-Authenticate parsing, and a headless "user agent" that walks an
// authorization request to its redirect (what a browser does after the user approves).

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

/** Milliseconds any single HTTP request may take before it is abandoned. */
export const HTTP_TIMEOUT_MS = 10_000;

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Child processes. Every child gets its own process group and is killed (group-wide) when the
// suite ends, however it ends.

const children = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function killAllChildren(signal = 'SIGTERM') {
  for (const child of children) killGroup(child, signal);
}

let hooksInstalled = false;
function installExitHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => killAllChildren('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAllChildren('SIGKILL');
      process.exit(130);
    });
  }
}

/**
 * Starts `cmd args` in its own process group, with output collected (and appended to
 * `logFile` lines, if given). Returns a handle with `output()`, `waitFor(regex, ms)`,
 * `exited` (a promise of {code, signal}) and `stop()`.
 */
export function startProcess(name, cmd, args, { env, cwd, log } = {}) {
  installExitHooks();
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  const waiters = [];
  const onData = (chunk) => {
    const text = chunk.toString();
    out += text;
    if (log) log(name, text);
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    });
    child.on('error', (e) => {
      out += `\n[spawn error] ${e.message}\n`;
      children.delete(child);
      resolve({ code: -1, signal: null });
    });
  });
  const handle = {
    name,
    child,
    exited,
    output: () => out,
    /** Resolves with the match of `re` in the output, rejects on exit or timeout. */
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no ${re} within ${ms} ms; output:\n${tail(out)}`));
        }, ms);
        const check = () => {
          const m = out.match(re);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before ${re}; output:\n${tail(out)}`));
          }
        };
        const done = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      });
    },
    /** SIGTERM, then SIGKILL after 3 s. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
  return handle;
}

/** Runs a process to completion with a timeout; resolves {code, output, timedOut}. */
export async function runProcess(name, cmd, args, { env, cwd, timeoutMs = 120_000, input, log } = {}) {
  const p = startProcess(name, cmd, args, { env, cwd, log });
  if (input !== undefined) p.child.stdin.end(input);
  else p.child.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.stop();
  }, timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  return { code: code ?? (signal ? 128 : -1), output: p.output(), timedOut };
}

export function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/** Polls `url` until it answers (any HTTP status) or `ms` passes. */
export async function waitForHttp(url, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      return r.status;
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`${url} did not answer within ${ms} ms: ${last?.message}`);
}

// ---------------------------------------------------------------------------------------------
// HTTP and the MCP wire.

export async function httpFetch(url, init = {}) {
  return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), ...init });
}

export async function getJson(url) {
  const r = await httpFetch(url, { headers: { accept: 'application/json' } });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, json, text };
}

export const PROTOCOL_VERSION = '2025-11-25';

/**
 * POSTs one JSON-RPC message as a Streamable HTTP client does. `token` goes in the
 * Authorization header; `query` is appended to the URL. Returns {status, headers, body, text}.
 */
export async function mcpPost(url, message, { token, query, headers = {} } = {}) {
  const u = new URL(url);
  if (query) for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_VERSION,
    ...headers,
  };
  if (token) h.authorization = `Bearer ${token}`;
  const r = await httpFetch(u, { method: 'POST', headers: h, body: JSON.stringify(message) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: parseRpcBody(r.headers.get('content-type'), text), text };
}

/** The JSON-RPC message of a response: JSON, or the last `data:` of an SSE body. */
export function parseRpcBody(contentType, text) {
  try {
    if ((contentType || '').startsWith('text/event-stream')) {
      const data = text
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .filter(Boolean);
      return data.length ? JSON.parse(data[data.length - 1]) : undefined;
    }
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export const rpc = {
  initialize: (id = 1) => ({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-auth-interop', version: '1' } },
  }),
  toolsCall: (name, args = {}, id = 7) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
};

/**
 * The auth-params of a `Bearer` challenge: {scheme, params}. Handles quoted strings with
 * escapes and token values (RFC 9110 §11.6.1).
 */
export function parseChallenge(header) {
  if (!header) return { scheme: undefined, params: {} };
  const m = header.match(/^\s*([A-Za-z0-9_-]+)\s*(.*)$/s);
  const scheme = m?.[1];
  const rest = m?.[2] ?? '';
  const params = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?\s*/g;
  let p;
  while ((p = re.exec(rest))) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme, params };
}

/** The payload of a JWT, decoded without verification (the server verifies; we only look). */
export function jwtPayload(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  } catch {
    return undefined;
  }
}

export function jwtHeader(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The "browser" of an authorization request: follows redirects (keeping cookies, as the AS's
// login and consent interaction needs them) until the AS redirects to `redirectUri`. The test
// authorization servers approve without a page; an HTML page here means the AS wants a human.

export async function followAuthorization(authorizationUrl, redirectUri, { maxHops = 15 } = {}) {
  const jar = new Map(); // host -> Map(name -> value); ports share cookies, as in browsers
  let url = new URL(authorizationUrl);
  const hops = [];
  for (let i = 0; i < maxHops; i++) {
    if (url.href.startsWith(redirectUri)) {
      return { callback: url, hops };
    }
    const cookies = jar.get(url.hostname);
    const headers = { accept: 'text/html' };
    if (cookies?.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const r = await httpFetch(url, { headers });
    hops.push(`${r.status} ${url.origin}${url.pathname}`);
    for (const sc of r.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!jar.has(url.hostname)) jar.set(url.hostname, new Map());
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(sc)) jar.get(url.hostname).delete(name);
      else jar.get(url.hostname).set(name, value);
    }
    const location = r.headers.get('location');
    const body = await r.text();
    if (r.status >= 300 && r.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    throw new Error(
      `authorization stopped at ${r.status} ${url.href} (hops: ${hops.join(' -> ')}): ${body.slice(0, 300)}`,
    );
  }
  throw new Error(`authorization did not reach ${redirectUri} in ${maxHops} hops: ${hops.join(' -> ')}`);
}

// ---------------------------------------------------------------------------------------------
// A minimal OAuth client written here (not any SDK's), for the negative checks that need a
// token with chosen properties: RFC 8414/OIDC discovery, RFC 7591 registration, PKCE S256,
// RFC 8707 resource, headless approval.

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export async function discoverAs(issuer) {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  for (const wk of [`/.well-known/oauth-authorization-server${path}`, `/.well-known/openid-configuration${path}`]) {
    const r = await getJson(new URL(wk, u.origin));
    if (r.status === 200 && r.json?.issuer) return r.json;
  }
  throw new Error(`no authorization server metadata for ${issuer}`);
}

/**
 * Authorization code flow with a freshly registered public client; returns the token response.
 * `resource` is the RFC 8707 resource indicator (the audience asked for).
 */
export async function obtainToken({ issuer, resource, scope, redirectUri = 'http://127.0.0.1:9/interop/callback' }) {
  const as = await discoverAs(issuer);
  const reg = await httpFetch(as.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'mcp-auth interop (negative checks)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope,
    }),
  });
  const client = await reg.json();
  if (reg.status !== 201 && reg.status !== 200) throw new Error(`registration: ${reg.status} ${JSON.stringify(client)}`);
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(12).toString('base64url');
  const authz = new URL(as.authorization_endpoint);
  authz.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource,
  }).toString();
  const { callback } = await followAuthorization(authz, redirectUri);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) {
    throw new Error(`authorization failed: ${callback.href}`);
  }
  const tok = await httpFetch(as.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: client.client_id,
      code_verifier: verifier,
      resource,
    }),
  });
  const body = await tok.json();
  if (tok.status !== 200) throw new Error(`token: ${tok.status} ${JSON.stringify(body)}`);
  return body;
}
