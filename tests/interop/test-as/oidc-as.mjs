// An external, certified authorization server for the interop suite: panva's `oidc-provider`
// (OpenID Certified), configured as an MCP authorization server:
//
// - RFC 8707 resource indicators, and RFC 9068 JWT access tokens (`typ: at+jwt`, RS256) whose
//   `aud` is the resource indicator;
// - RFC 7591 dynamic client registration (open), PKCE S256 required for public clients;
// - RFC 8414 metadata at /.well-known/oauth-authorization-server and OpenID discovery at
//   /.well-known/openid-configuration (oidc-provider 9 serves both itself);
// - consent given automatically, for tests: the interaction page logs the fixed test user in and
//   grants what was asked, then redirects back (no HTML, no human);
// - a dynamically registered client may later ask for any scope of this server, not only the
//   one it registered with (oidc-provider would refuse a step-up with `invalid_scope`; MCP
//   clients register with the scope of their first challenge and step up later).
//
// With --opaque (issue 16): opaque access tokens instead of JWTs, the RFC 7662 introspection
// endpoint enabled (advertised in the metadata) for one confidential resource-server client
// (OPAQUE_RS_CLIENT below, client_secret_basic), and RFC 7009 revocation.
//
// DPoP (RFC 9449, issue 17): oidc-provider's `features.dPoP`, on by default and set explicitly
// below: a token request with a DPoP proof gets `token_type: DPoP` and, in its JWT, `cnf.jkt`
// (the proof key's thumbprint). With --dpop-nonce the token endpoint also wants a server
// nonce in every proof (RFC 9449 §8: 400 `use_dpop_nonce` with `DPoP-Nonce` first).
//
// Usage: node oidc-as.mjs --port <port> [--scopes "mcp:read mcp:write mcp:admin"] [--opaque]
//        [--dpop-nonce]
// Prints `oidc-as ready <issuer>` once it accepts connections. For tests only.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    scopes: { type: 'string', default: 'mcp:read mcp:write mcp:admin' },
    subject: { type: 'string', default: 'interop-user' },
    // oidc-provider's own behaviour (a client may only ever get the scope it registered with),
    // to see the step-up fail with invalid_scope.
    'no-widen': { type: 'boolean', default: false },
    opaque: { type: 'boolean', default: false },
    'dpop-nonce': { type: 'boolean', default: false },
  },
});
const OPAQUE = opts.opaque;
/** The MCP server's credentials at the introspection endpoint (--opaque; run.mjs has them too). */
const OPAQUE_RS_CLIENT = { id: 'interop-mcp-rs', secret: 'interop-mcp-rs-secret-not-secret' };
/** The suite's own confidential client (tokens for chosen resources, revocation). */
const SERVICE_CLIENT_ID = 'interop-service';
const RESOURCE_SCOPES = opts.scopes.split(/[\s,]+/).filter(Boolean);
const SUBJECT = opts.subject;

// Listen first, so the issuer carries the real port.
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(opts.port), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// One RS256 signing key, made now.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `rs256-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

// In-memory storage that widens a dynamically registered client's `scope` to every scope of
// this server (see the header comment).
const stores = new Map();
class WideningMemoryAdapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }
  async upsert(id, payload, expiresIn) {
    if (this.model === 'Client' && payload.scope !== undefined && !opts['no-widen']) {
      const wanted = new Set(payload.scope.split(' ').filter(Boolean));
      for (const s of RESOURCE_SCOPES) wanted.add(s);
      payload = { ...payload, scope: [...wanted].join(' ') };
    }
    this.store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    if (payload.grantId) this.index('grantId', payload.grantId).add(id);
    // Secondary keys point at the latest holder (a session is re-saved under a new id).
    for (const key of ['uid', 'userCode']) {
      if (!payload[key]) continue;
      const ids = this.index(key, payload[key]);
      ids.clear();
      ids.add(id);
    }
  }
  index(key, value) {
    const k = `${this.model}:${key}:${value}`;
    if (!stores.has(k)) stores.set(k, new Set());
    return stores.get(k);
  }
  async find(id) {
    const e = this.store.get(id);
    if (!e) return undefined;
    if (e.expiresAt && e.expiresAt < Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return e.payload;
  }
  async findByUid(uid) {
    for (const id of this.index('uid', uid)) {
      const found = await this.find(id);
      if (found) return found;
    }
    return undefined;
  }
  async findByUserCode(userCode) {
    for (const id of this.index('userCode', userCode)) {
      const found = await this.find(id);
      if (found) return found;
    }
    return undefined;
  }
  async consume(id) {
    const e = this.store.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    this.store.delete(id);
  }
  async revokeByGrantId(grantId) {
    for (const id of this.index('grantId', grantId)) this.store.delete(id);
  }
}

/** RFC 8707: any http(s) loopback URL is a resource this AS issues tokens for. */
function isAcceptableResource(indicator) {
  try {
    const u = new URL(indicator);
    return (u.protocol === 'http:' || u.protocol === 'https:') && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && !u.hash;
  } catch {
    return false;
  }
}

const provider = new Provider(issuer, {
  adapter: WideningMemoryAdapter,
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES],
  claims: { openid: ['sub'] },
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  // A confidential client for the suite's own requests (tokens for chosen resources).
  clients: [
    {
      client_id: 'interop-service',
      client_secret: 'interop-service-secret-not-secret',
      // Explicit: clientDefaults below would make it `none`, and its secret unusable.
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: RESOURCE_SCOPES.join(' '),
    },
    // The MCP server, introspecting (--opaque only): it obtains no tokens of its own.
    ...(OPAQUE
      ? [
          {
            client_id: OPAQUE_RS_CLIENT.id,
            client_secret: OPAQUE_RS_CLIENT.secret,
            grant_types: [],
            redirect_uris: [],
            response_types: [],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ]
      : []),
  ],
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => opts['dpop-nonce'],
    },
    introspection: {
      enabled: OPAQUE,
      // Only the MCP server may read an answer (the default also lets any confidential
      // client introspect any token).
      allowedPolicy: (_ctx, client) => client.clientId === OPAQUE_RS_CLIENT.id,
    },
    revocation: {
      enabled: true,
      // A token's own client, or the suite's service client (which revokes in the tests).
      allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId || client.clientId === SERVICE_CLIENT_ID,
    },
    resourceIndicators: {
      enabled: true,
      // One resource per token; a request without `resource` gets no access token audience
      // and is refused below.
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (!isAcceptableResource(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPES.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: 3600,
          ...(OPAQUE
            ? { accessTokenFormat: 'opaque' } // RFC 7662 introspection
            : { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }), // RFC 9068
        };
      },
    },
  },
  // RFC 9068 §2.2: client_id is in oidc-provider's JWT access tokens; nothing extra needed.
  clientBasedCORS: () => true,
  renderError(ctx, out) {
    ctx.type = 'application/json';
    ctx.body = out;
  },
});
provider.proxy = false;

// Test-only auto-consent: log the fixed user in, grant exactly what is asked (OIDC scopes,
// claims, and the resource's scopes), finish the interaction.
async function autoInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: SUBJECT } }, { mergeWithLastSubmission: false });
    return;
  }
  const accountId = session?.accountId ?? SUBJECT;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId, clientId: params.client_id });
  const d = prompt.details ?? {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      await autoInteraction(req, res);
      return;
    }
    callback(req, res);
  } catch (e) {
    res.statusCode = 500;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: 'server_error', error_description: String(e?.message ?? e) }));
  }
});

provider.on('server_error', (_ctx, e) => console.error('oidc-provider server_error', e));
provider.on('grant.error', (_ctx, e) => console.error('oidc-provider grant.error', e.error, e.error_description, e.error_detail ?? ''));
provider.on('authorization.error', (_ctx, e) => console.error('oidc-provider authorization.error', e.error, e.error_description));
provider.on('registration_create.error', (_ctx, e) => console.error('oidc-provider registration.error', e.error, e.error_description));

console.log(`oidc-as ready ${issuer}`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
