// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk) against example-mcp-server:
// its Streamable HTTP transport and its OAuth machinery (`auth()`: RFC 9728 discovery from the
// 401, RFC 8414 metadata, RFC 7591 registration, PKCE S256, RFC 8707 `resource`, token, and the
// 403 `insufficient_scope` step-up) run unmodified. The only thing supplied here is what an
// application supplies: an OAuthClientProvider whose storage is memory and whose "browser" is
// `followAuthorization` (the test authorization servers approve without a page).
//
// Every HTTP request the SDK makes goes through a logging fetch, so the checks below assert on
// what went over the wire, not only on the SDK's word.
//
// Usage: node sdk-client.mjs --mcp <url> --issuer <issuer> --label <name> [--step-up]
//        [--opaque-introspection <client_id>:<secret>] (opaque access tokens: the token check
//        introspects at the AS with these credentials instead of decoding a JWT)
//        [--opaque] (opaque access tokens, no credentials at hand: the token check only sees
//        that it is not a JWT and is a Bearer token)
// Output: one `RESULT {"check":..,"ok":..,"detail":..}` line per check; exit 0 if all passed.

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { followAuthorization, jwtHeader, jwtPayload, parseChallenge } from '../lib/common.mjs';

const { values: opts } = parseArgs({
  options: {
    mcp: { type: 'string' },
    issuer: { type: 'string' },
    label: { type: 'string', default: 'sdk' },
    'step-up': { type: 'boolean', default: false },
    // Keep no refresh token (see docs/compatibility.md: SDK 1.32.2 answers a 403
    // insufficient_scope by refreshing when it holds a refresh token, which cannot widen the
    // scope, and then gives up; an AS that issues refresh tokens unasked needs this).
    'drop-refresh-token': { type: 'boolean', default: false },
    'opaque-introspection': { type: 'string' },
    opaque: { type: 'boolean', default: false },
  },
});
const OPAQUE = opts['opaque-introspection'] ?? (opts.opaque ? '' : undefined);

/** RFC 7662 introspection of `token` at the AS, with the resource server's credentials. */
async function introspect(token) {
  const [id, secret] = OPAQUE.split(':');
  const md = await (await fetch(`${ISSUER}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(10_000) })).json();
  assert(md.introspection_endpoint, 'no introspection_endpoint in the AS metadata');
  const r = await fetch(md.introspection_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    signal: AbortSignal.timeout(10_000),
  });
  assert(r.status === 200, `introspection ${r.status}`);
  return r.json();
}
const MCP = opts.mcp;
const ISSUER = opts.issuer;
const PRM = (() => {
  const u = new URL(MCP);
  return `${u.origin}/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
})();
const REDIRECT = 'http://127.0.0.1:9/sdk/callback'; // never fetched: the code is read from the redirect

let failures = 0;
function result(check, ok, detail) {
  if (!ok) failures++;
  console.log(`RESULT ${JSON.stringify({ check: `${opts.label}: ${check}`, ok: !!ok, detail })}`);
}
async function step(check, fn) {
  try {
    const detail = await fn();
    result(check, true, detail);
    return true;
  } catch (e) {
    result(check, false, e?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e));
    return false;
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---- the wire, as the SDK uses it
const wire = [];
async function loggingFetch(input, init = {}) {
  const url = input instanceof Request ? input.url : String(input);
  const method = init.method ?? (input instanceof Request ? input.method : 'GET');
  let body;
  if (typeof init.body === 'string') body = init.body;
  else if (init.body instanceof URLSearchParams) body = init.body.toString();
  const res = await fetch(input, { ...init, signal: init.signal ?? AbortSignal.timeout(15_000) });
  wire.push({ method, url, status: res.status, body, www: res.headers.get('www-authenticate') });
  return res;
}

// ---- an application's OAuth client provider: memory storage, headless browser
class HeadlessProvider {
  constructor() {
    this.client = undefined;
    this.tokenSet = undefined;
    this.verifier = undefined;
    this.pendingCode = undefined;
    this.expectedState = undefined;
    this.authorizationUrls = [];
    this.registrations = 0;
    this.savedTokens = [];
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'mcp-auth interop: MCP TypeScript SDK',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this.expectedState = randomBytes(16).toString('base64url');
    return this.expectedState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
    this.registrations++;
  }
  tokens() {
    return this.tokenSet;
  }
  saveTokens(tokens) {
    if (opts['drop-refresh-token'] && tokens.refresh_token) {
      this.droppedRefreshTokens = (this.droppedRefreshTokens ?? 0) + 1;
      tokens = { ...tokens };
      delete tokens.refresh_token;
    }
    this.tokenSet = tokens;
    this.savedTokens.push(tokens);
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.tokenSet = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    const { callback } = await followAuthorization(url, REDIRECT);
    const p = callback.searchParams;
    if (p.get('error')) throw new Error(`authorization error: ${p.get('error')} ${p.get('error_description') ?? ''}`);
    if (p.get('state') !== this.expectedState) throw new Error(`state mismatch in ${callback.href}`);
    // RFC 9207: when the AS says who it is, it must be the one we discovered.
    if (p.get('iss') && p.get('iss') !== ISSUER) throw new Error(`iss ${p.get('iss')} is not ${ISSUER}`);
    this.pendingCode = p.get('code');
  }
  takeCode() {
    const c = this.pendingCode;
    this.pendingCode = undefined;
    return c;
  }
}

const provider = new HeadlessProvider();
const newTransport = () => new StreamableHTTPClientTransport(new URL(MCP), { authProvider: provider, fetch: loggingFetch });
const newClient = () => new Client({ name: 'mcp-auth-interop-sdk', version: '1.0.0' });

/** Runs `fn`; on the SDK's UnauthorizedError after a headless approval, finishes the auth. */
async function withAuthorization(transport, fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.pendingCode) throw e;
    await transport.finishAuth(provider.takeCode());
    return null; // authorized now; the caller retries
  }
}

function tokenRequests() {
  return wire.filter((w) => w.method === 'POST' && w.body && /grant_type=/.test(w.body));
}

let client;
let transport;

// 1. Connect: 401 -> PRM -> AS metadata -> registration -> PKCE -> token -> initialize.
const connected = await step('connect (401 -> OAuth -> initialize)', async () => {
  transport = newTransport();
  client = newClient();
  const first = await withAuthorization(transport, () => client.connect(transport));
  if (first === null) {
    // The SDK's documented pattern: after finishAuth, connect again with a new transport.
    await transport.close().catch(() => {});
    transport = newTransport();
    client = newClient();
    await client.connect(transport);
  }
  const info = client.getServerVersion();
  assert(info?.name === 'mcp-auth-example', `server info ${JSON.stringify(info)}`);
  return `server ${info.name} ${info.version}, protocol ${transport.protocolVersion ?? '?'}`;
});

await step('401 challenge names resource_metadata and the SDK follows it', async () => {
  const first = wire.find((w) => w.method === 'POST' && w.url === MCP);
  assert(first?.status === 401, `first MCP POST: ${first?.status}`);
  const ch = parseChallenge(first.www);
  assert(ch.scheme === 'Bearer', `scheme ${ch.scheme}`);
  assert(ch.params.resource_metadata === PRM, `resource_metadata ${ch.params.resource_metadata} (expected ${PRM})`);
  const prmFetch = wire.find((w) => w.url.includes('/.well-known/oauth-protected-resource'));
  assert(prmFetch?.url === PRM && prmFetch.status === 200, `first PRM fetch ${prmFetch?.url} -> ${prmFetch?.status}`);
  return `WWW-Authenticate: ${first.www}`;
});

await step('authorization server metadata discovered from the PRM', async () => {
  const asFetch = wire.find((w) => w.status === 200 && /\/\.well-known\/(oauth-authorization-server|openid-configuration)/.test(w.url));
  assert(asFetch, `no AS metadata fetch: ${wire.map((w) => `${w.status} ${w.url}`).join(', ')}`);
  assert(new URL(asFetch.url).origin === new URL(ISSUER).origin, `metadata from ${asFetch.url}, not ${ISSUER}`);
  return asFetch.url;
});

await step('dynamic client registration (RFC 7591)', async () => {
  const reg = wire.find((w) => w.method === 'POST' && w.body?.includes('redirect_uris'));
  assert(reg && (reg.status === 201 || reg.status === 200), `registration ${reg?.status}`);
  assert(provider.client?.client_id, 'no client_id');
  return `client_id ${provider.client.client_id}, registered scope ${JSON.parse(reg.body).scope ?? '(none)'}`;
});

await step('authorization request: PKCE S256, resource, scope of the challenge', async () => {
  const u = provider.authorizationUrls[0];
  assert(u, 'the SDK never asked for authorization');
  const p = u.searchParams;
  assert(p.get('code_challenge_method') === 'S256' && p.get('code_challenge')?.length >= 43, 'PKCE S256');
  assert(p.get('resource') === MCP, `resource ${p.get('resource')}`);
  assert(p.get('scope') === 'mcp:read', `scope ${p.get('scope')}`);
  return `${u.origin}${u.pathname}?scope=${p.get('scope')}&resource=${p.get('resource')}&code_challenge_method=S256`;
});

await step(`token request with code_verifier and resource; ${OPAQUE !== undefined ? 'opaque token introspected (RFC 7662) for this resource' : 'RFC 9068 token for this resource'}`, async () => {
  const t = tokenRequests()[0];
  assert(t?.status === 200, `token request ${t?.status}`);
  const body = new URLSearchParams(t.body);
  assert(body.get('grant_type') === 'authorization_code', body.get('grant_type'));
  assert(body.get('code_verifier'), 'no code_verifier');
  assert(body.get('resource') === MCP, `resource ${body.get('resource')}`);
  const at = provider.savedTokens[0]?.access_token;
  if (OPAQUE !== undefined) {
    // Opaque: nothing to decode; the AS says what it is.
    assert(at && at.split('.').length !== 3, 'a JWT, not an opaque token');
    const type = provider.savedTokens[0]?.token_type;
    assert(String(type).toLowerCase() === 'bearer', `token_type ${type}`);
    if (!OPAQUE) return `opaque (${at.length} chars), token_type ${type}`;
    const i = await introspect(at);
    assert(i.active === true, `introspection ${JSON.stringify(i)}`);
    assert(i.aud === MCP || (Array.isArray(i.aud) && i.aud.includes(MCP)), `aud ${JSON.stringify(i.aud)}`);
    assert(i.iss === ISSUER, `iss ${i.iss}`);
    assert(String(i.token_type).toLowerCase() === 'bearer', `token_type ${i.token_type}`);
    return `opaque (${at.length} chars); introspected: aud ${i.aud}, scope "${i.scope}", client_id ${i.client_id}`;
  }
  const h = jwtHeader(at);
  const c = jwtPayload(at);
  assert(h?.typ?.toLowerCase() === 'at+jwt', `typ ${h?.typ}`);
  assert(c?.aud === MCP || (Array.isArray(c?.aud) && c.aud.includes(MCP)), `aud ${JSON.stringify(c?.aud)}`);
  assert(c?.iss === ISSUER, `iss ${c?.iss}`);
  return `typ ${h.typ}, alg ${h.alg}, aud ${c.aud}, scope "${c.scope}"`;
});

if (connected) {
  await step('tools/list', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert(names.includes('whoami') && names.includes('echo'), `tools ${names}`);
    return names.join(', ');
  });

  await step('tools/call whoami (identity from the token)', async () => {
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    assert(!r.isError, JSON.stringify(r.content));
    const me = r.structuredContent;
    assert(me?.issuer === ISSUER, `issuer ${me?.issuer}`);
    assert(me?.client_id === provider.client.client_id, `client_id ${me?.client_id}`);
    return `sub ${me.subject}, client ${me.client_id}, scopes ${me.scopes.join(' ')}`;
  });

  await step('tools/call echo', async () => {
    const r = await client.callTool({ name: 'echo', arguments: { text: 'interop' } });
    assert(!r.isError && r.content?.[0]?.text === 'interop', JSON.stringify(r.content));
    return 'echoed';
  });
}

/**
 * Step-up: `tool` needs `scope`; the token lacks it. Expect HTTP 403 insufficient_scope naming
 * `challenge`, the SDK re-authorizing with exactly those scopes, then success.
 */
async function stepUp(tool, args, challenge) {
  const before = wire.length;
  const authBefore = provider.authorizationUrls.length;
  let r = await withAuthorization(transport, () => client.callTool({ name: tool, arguments: args }));
  if (r === null) r = await client.callTool({ name: tool, arguments: args });
  const forbidden = wire.slice(before).find((w) => w.status === 403);
  assert(forbidden, `no HTTP 403 for ${tool}: ${wire.slice(before).map((w) => `${w.status} ${w.method} ${w.url}`).join(', ')}`);
  const ch = parseChallenge(forbidden.www);
  const sameSet = (a, b) => [...new Set(a.split(' '))].sort().join(' ') === [...new Set(b.split(' '))].sort().join(' ');
  assert(ch.params.error === 'insufficient_scope', `error ${ch.params.error}`);
  assert(sameSet(ch.params.scope ?? '', challenge), `challenge scope "${ch.params.scope}" (expected "${challenge}")`);
  assert(ch.params.resource_metadata === PRM, `403 resource_metadata ${ch.params.resource_metadata}`);
  const reauth = provider.authorizationUrls.slice(authBefore);
  assert(reauth.length === 1, `${reauth.length} new authorization requests (refreshed instead of re-authorizing?)`);
  assert(reauth[0].searchParams.get('scope') === ch.params.scope, `re-authorization scope ${reauth[0].searchParams.get('scope')}, challenge ${ch.params.scope}`);
  assert(!r.isError, `${tool} after step-up: ${JSON.stringify(r.content)}`);
  const granted = OPAQUE !== undefined ? provider.tokenSet.scope : jwtPayload(provider.tokenSet.access_token)?.scope;
  return { r, detail: `403 scope="${ch.params.scope}" -> re-authorized with scope="${reauth[0].searchParams.get('scope')}" -> ${tool} ok (token scope "${granted}")` };
}

if (connected && opts['step-up']) {
  const wrote = await step('step-up 1: add_note (mcp:write) 403 -> re-authorize -> success', async () => {
    const { detail } = await stepUp('add_note', { text: 'written after step-up' }, 'mcp:read mcp:write');
    return detail;
  });
  await step('after step-up 1: earlier tools still work (whoami, list_notes)', async () => {
    const me = await client.callTool({ name: 'whoami', arguments: {} });
    assert(!me.isError, JSON.stringify(me.content));
    const scopes = me.structuredContent.scopes;
    assert(scopes.includes('mcp:read') && scopes.includes('mcp:write'), `scopes ${scopes}`);
    const list = await client.callTool({ name: 'list_notes', arguments: {} });
    assert(!list.isError, JSON.stringify(list.content));
    const notes = list.structuredContent.notes.map((n) => n.text);
    if (wrote) assert(notes.includes('written after step-up'), `notes ${JSON.stringify(notes)}`);
    return `scopes ${scopes.join(' ')}; notes ${JSON.stringify(notes)}`;
  });
  await step('step-up 2: note_stats (mcp:admin) 403 -> re-authorize -> success', async () => {
    // The token holds mcp:read mcp:write; the layer names what it holds plus what is needed.
    const { r, detail } = await stepUp('note_stats', {}, 'mcp:read mcp:write mcp:admin');
    assert(typeof r.structuredContent?.notes === 'number', JSON.stringify(r.structuredContent));
    return detail;
  });
  await step('after step-up 2: earlier tools still work (echo, list_notes)', async () => {
    const e = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
    assert(!e.isError && e.content?.[0]?.text === 'still here', JSON.stringify(e.content));
    const list = await client.callTool({ name: 'list_notes', arguments: {} });
    assert(!list.isError, JSON.stringify(list.content));
    const dropped = provider.droppedRefreshTokens ? `, refresh tokens dropped ${provider.droppedRefreshTokens}` : '';
    return `registrations ${provider.registrations}, authorizations ${provider.authorizationUrls.length}, token requests ${tokenRequests().length}${dropped}`;
  });
}

await client?.close().catch(() => {});
if (process.env.INTEROP_VERBOSE) {
  for (const w of wire) console.error(`wire: ${w.status} ${w.method} ${w.url}${w.www ? ` [${w.www}]` : ''}`);
}
process.exit(failures ? 1 : 0);
