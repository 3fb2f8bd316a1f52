// DPoP (RFC 9449, issue 17) with panva's `oauth4webapi`, a certified OAuth client nobody here
// wrote, against example-mcp-server: RFC 9728 resource discovery, RFC 8414 AS discovery,
// RFC 7591 registration, PKCE S256, RFC 8707 `resource`, the token request with a DPoP proof
// (and its `use_dpop_nonce` retry when the AS wants nonces), then MCP calls through
// `protectedResourceRequest` with the DPoP handle (a fresh proof each, and the resource
// server's `use_dpop_nonce` retry). Then the refusals, each with the bound token: as Bearer;
// as DPoP without a proof; with a proof from another key; with a replayed proof.
//
// Only the headless approval (`followAuthorization`) and the JSON-RPC bodies are the suite's
// own. Prints one `RESULT {"check","ok","detail"}` line per check (run.mjs reports them).
//
// Usage: node dpop-client.mjs --mcp <url> --label <prefix> --mode required|allowed
//        [--rs-nonce] (the server wants nonces) [--as-nonce] (the AS wants nonces)

import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as oauth from 'oauth4webapi';
import { followAuthorization, jwtPayload, parseRpcBody, PROTOCOL_VERSION, rpc } from '../lib/common.mjs';

const { values: opts } = parseArgs({
  options: {
    mcp: { type: 'string' },
    label: { type: 'string', default: 'dpop' },
    mode: { type: 'string', default: 'required' },
    'rs-nonce': { type: 'boolean', default: false },
    'as-nonce': { type: 'boolean', default: false },
  },
});
const MCP = new URL(opts.mcp);
const LABEL = opts.label;
const REDIRECT = 'http://127.0.0.1:9/interop/dpop-callback';
const INSECURE = { [oauth.allowInsecureRequests]: true }; // loopback http only

let failures = 0;
function result(check, ok, detail) {
  if (!ok) failures++;
  console.log(`RESULT ${JSON.stringify({ check: `${LABEL}: ${check}`, ok, detail: String(detail ?? '') })}`);
}
async function check(name, fn) {
  try {
    result(name, true, await fn());
    return true;
  } catch (e) {
    result(name, false, e?.stack?.split('\n').slice(0, 3).join(' ') ?? String(e));
    return false;
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Every request the client sends through oauth4webapi, with its answer's status. */
const sent = [];
const recordingFetch = async (url, init) => {
  const r = await fetch(url, init);
  sent.push({ url: String(url), method: init?.method, headers: { ...init?.headers }, body: init?.body, status: r.status });
  return r;
};

async function thumbprint(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  return createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
}

const mcpHeaders = (session) => {
  const h = new Headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL_VERSION });
  if (session) h.set('mcp-session-id', session);
  return h;
};

/**
 * One MCP message through oauth4webapi's protectedResourceRequest with `handle`; on a
 * `use_dpop_nonce` challenge it retries once (the handle has kept the `DPoP-Nonce`).
 * Returns {response, body, attempts} or throws the last challenge.
 */
async function mcpCall(token, handle, message, session) {
  const attempts = [];
  for (;;) {
    try {
      const response = await oauth.protectedResourceRequest(token, 'POST', MCP, mcpHeaders(session), JSON.stringify(message), {
        DPoP: handle,
        ...INSECURE,
        [oauth.customFetch]: recordingFetch,
      });
      attempts.push(response.status);
      const text = await response.text();
      return { response, body: parseRpcBody(response.headers.get('content-type'), text), text, attempts };
    } catch (e) {
      if (oauth.isDPoPNonceError(e) && attempts.length === 0) {
        attempts.push('401 use_dpop_nonce');
        continue;
      }
      e.attempts = attempts;
      throw e;
    }
  }
}

/** A raw request (no oauth4webapi), for the refusals. */
async function rawPost(headers, message, session) {
  const h = Object.fromEntries(mcpHeaders(session).entries());
  const r = await fetch(MCP, { method: 'POST', headers: { ...h, ...headers }, body: JSON.stringify(message), signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  return { status: r.status, www: r.headers.get('www-authenticate'), body: parseRpcBody(r.headers.get('content-type'), text) };
}

/** A 401 with a DPoP or Bearer challenge whose `error` is `error` (RFC 9449 §7.1, §12.2), the tool not run. */
const refused = (r, error) => r.status === 401 && !r.body?.result && /^\s*(DPoP|Bearer)\b/.test(r.www ?? '') && (r.www ?? '').match(/\berror="([^"]*)"/)?.[1] === error;

let rs;
let as;
let client;
let token;
let keyPair;
let handle;
let session;

await check(`RFC 9728 metadata lists dpop_signing_alg_values_supported${opts.mode === 'required' ? ' and dpop_bound_access_tokens_required' : ''}`, async () => {
  rs = await oauth.processResourceDiscoveryResponse(MCP, await oauth.resourceDiscoveryRequest(MCP, INSECURE));
  assert(Array.isArray(rs.dpop_signing_alg_values_supported) && rs.dpop_signing_alg_values_supported.includes('ES256'), `dpop_signing_alg_values_supported ${JSON.stringify(rs.dpop_signing_alg_values_supported)}`);
  if (opts.mode === 'required') assert(rs.dpop_bound_access_tokens_required === true, `dpop_bound_access_tokens_required ${rs.dpop_bound_access_tokens_required}`);
  else assert(rs.dpop_bound_access_tokens_required !== true, `allowed mode, but dpop_bound_access_tokens_required ${rs.dpop_bound_access_tokens_required}`);
  return `algs ${rs.dpop_signing_alg_values_supported.join(' ')}; required ${rs.dpop_bound_access_tokens_required ?? '(absent)'}; AS ${rs.authorization_servers}`;
});

const gotToken = await check(`oauth4webapi: AS discovery, registration, PKCE, resource, token with a DPoP proof${opts['as-nonce'] ? ' (and the AS\'s use_dpop_nonce retry)' : ''}`, async () => {
  const issuer = new URL(rs.authorization_servers[0]);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...INSECURE }));
  assert(as.dpop_signing_alg_values_supported?.includes('ES256'), `AS dpop_signing_alg_values_supported ${JSON.stringify(as.dpop_signing_alg_values_supported)}`);
  client = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(
      as,
      { client_name: 'mcp-auth interop (oauth4webapi DPoP)', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none', scope: 'mcp:read' },
      INSECURE,
    ),
  );
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authz = new URL(as.authorization_endpoint);
  authz.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    scope: 'mcp:read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    resource: MCP.href,
  }).toString();
  const { callback } = await followAuthorization(authz, REDIRECT);
  const params = oauth.validateAuthResponse(as, client, callback, state);
  keyPair = await oauth.generateKeyPair('ES256');
  handle = oauth.DPoP(client, keyPair);
  const attempts = [];
  let tokens;
  for (;;) {
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, {
      DPoP: handle,
      additionalParameters: { resource: MCP.href },
      ...INSECURE,
      [oauth.customFetch]: recordingFetch,
    });
    try {
      tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
      attempts.push(response.status);
      break;
    } catch (e) {
      if (oauth.isDPoPNonceError(e) && attempts.length === 0) {
        attempts.push(`${response.status} use_dpop_nonce`);
        continue;
      }
      throw e;
    }
  }
  if (opts['as-nonce']) assert(attempts.length === 2 && attempts[0] === '400 use_dpop_nonce', `token attempts ${attempts.join(', ')} (expected the AS to want a nonce first)`);
  const proof = sent.at(-1).headers.dpop;
  assert(proof && JSON.parse(Buffer.from(proof.split('.')[0], 'base64url')).typ === 'dpop+jwt', 'the token request had no DPoP proof');
  assert(tokens.token_type === 'dpop', `token_type ${tokens.token_type}`);
  token = tokens.access_token;
  const claims = jwtPayload(token);
  const jkt = await thumbprint(keyPair.publicKey);
  assert(claims?.cnf?.jkt === jkt, `cnf ${JSON.stringify(claims?.cnf)}, the key's thumbprint ${jkt}`);
  const aud = [claims.aud].flat();
  assert(aud.includes(MCP.href), `aud ${JSON.stringify(claims.aud)}`);
  return `token attempts ${attempts.join(' -> ')}; token_type DPoP; cnf.jkt ${jkt}; aud ${claims.aud}`;
});

if (!gotToken) {
  result('MCP calls with DPoP', false, 'no DPoP-bound token (above)');
  process.exit(1);
}

await check(`protectedResourceRequest with DPoP: initialize, tools/list, tools/call${opts['rs-nonce'] ? ' (first the server\'s use_dpop_nonce, then the retry)' : ''}`, async () => {
  const init = await mcpCall(token, handle, rpc.initialize());
  assert(init.response.status === 200 && init.body?.result?.protocolVersion, `initialize ${init.attempts.join(' -> ')} ${init.text.slice(0, 200)}`);
  if (opts['rs-nonce']) assert(init.attempts.join() === '401 use_dpop_nonce,200', `initialize attempts ${init.attempts.join(' -> ')} (expected a use_dpop_nonce first)`);
  else assert(init.attempts.join() === '200', `initialize attempts ${init.attempts.join(' -> ')}`);
  session = init.response.headers.get('mcp-session-id') ?? undefined;
  const list = await mcpCall(token, handle, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, session);
  assert(list.attempts.join() === '200' && list.body?.result?.tools?.some((t) => t.name === 'whoami'), `tools/list ${list.attempts.join(' -> ')} ${list.text.slice(0, 200)}`);
  const who = await mcpCall(token, handle, rpc.toolsCall('whoami'), session);
  const me = who.body?.result?.structuredContent;
  assert(who.attempts.join() === '200' && me?.issuer === as.issuer, `whoami ${who.attempts.join(' -> ')} ${who.text.slice(0, 200)}`);
  const proofs = sent.filter((s) => s.url === MCP.href).map((s) => s.headers.dpop);
  assert(new Set(proofs).size === proofs.length, 'a proof was sent twice');
  return `initialize ${init.attempts.join(' -> ')}; tools/list ${list.body.result.tools.length} tools; whoami ${JSON.stringify(me)}`;
});

await check('the same token as Bearer is refused with 401 invalid_token', async () => {
  const r = await rawPost({ authorization: `Bearer ${token}` }, rpc.toolsCall('whoami'), session);
  assert(refused(r, 'invalid_token'), `${r.status} ${r.www}`);
  return `${r.status} ${r.www}`;
});

await check('the token with the DPoP scheme but no proof is refused with 401 invalid_dpop_proof', async () => {
  const r = await rawPost({ authorization: `DPoP ${token}` }, rpc.toolsCall('whoami'), session);
  assert(refused(r, 'invalid_dpop_proof'), `${r.status} ${r.www}`);
  return `${r.status} ${r.www}`;
});

await check('the token with a proof from another key is refused with 401 invalid_token', async () => {
  const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  try {
    const r = await mcpCall(token, other, rpc.toolsCall('whoami'), session);
    throw new Error(`accepted: ${r.attempts.join(' -> ')} ${r.text.slice(0, 200)}`);
  } catch (e) {
    if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
    const www = e.response.headers.get('www-authenticate');
    assert(refused({ status: e.response.status, www }, 'invalid_token') && !oauth.isDPoPNonceError(e), `${e.response.status} ${www}`);
    return `${[...(e.attempts ?? []), e.response.status].join(' -> ')} ${e.response.headers.get('www-authenticate')}`;
  }
});

await check('a replayed proof (the last accepted request sent again as is) is refused with 401 invalid_dpop_proof', async () => {
  const last = sent.filter((s) => s.url === MCP.href && s.status === 200).at(-1);
  assert(last?.headers.dpop, 'no accepted DPoP request to replay');
  const r = await fetch(last.url, { method: 'POST', headers: last.headers, body: last.body, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  const body = parseRpcBody(r.headers.get('content-type'), text);
  const www = r.headers.get('www-authenticate');
  assert(refused({ status: r.status, www, body }, 'invalid_dpop_proof'), `${r.status} ${www} ${text.slice(0, 200)}`);
  // The key still works with a fresh proof: the refusal was the replay's.
  const again = await mcpCall(token, handle, rpc.toolsCall('whoami'), session);
  assert(again.response.status === 200, `a fresh proof after the replay: ${again.attempts.join(' -> ')}`);
  return `replay ${r.status} ${www}; a fresh proof then ${again.attempts.join(' -> ')}`;
});

process.exit(failures ? 1 : 0);
