//! In-memory state: clients, pending consents, authorization codes, refresh tokens, issued
//! access tokens.
//!
//! Codes, refresh tokens and access tokens are stored under their SHA-256 hash, never in
//! clear.

use std::collections::HashMap;

use mcp_auth_core::dpop::JtiHash;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// Token endpoint authentication methods this server supports.
pub(crate) const AUTH_NONE: &str = "none";
pub(crate) const AUTH_POST: &str = "client_secret_post";
pub(crate) const AUTH_BASIC: &str = "client_secret_basic";

pub(crate) const GRANT_CODE: &str = "authorization_code";
pub(crate) const GRANT_REFRESH: &str = "refresh_token";
pub(crate) const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// Where a client came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientSource {
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// A Client ID Metadata Document fetched from the `client_id` URL.
    MetadataDocument,
    /// Registered through the Rust API.
    Preregistered,
}

/// A known client.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) auth_method: &'static str,
    pub(crate) grant_types: Vec<String>,
    /// Scopes this client may be granted.
    pub(crate) scopes: Vec<String>,
    pub(crate) source: ClientSource,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_uris", &self.redirect_uris)
            .field("name", &self.name)
            .field("auth_method", &self.auth_method)
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("source", &self.source)
            .finish()
    }
}

impl Client {
    pub(crate) fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
            // Refresh tokens are offered to every client that may use the code grant.
            || (grant == GRANT_REFRESH && self.allows_grant(GRANT_CODE))
    }
}

/// A validated authorization request waiting for consent or turned into a code.
#[derive(Debug, Clone)]
pub(crate) struct AuthzRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// Whether `redirect_uri` was present in the request (then it is required at /token).
    pub(crate) redirect_uri_sent: bool,
    pub(crate) code_challenge: String,
    pub(crate) resource: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
    /// `offline_access` was asked for: the code grant also gets a refresh token.
    pub(crate) offline: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) request: AuthzRequest,
    pub(crate) subject: String,
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
    /// Grant family shared with the refresh tokens derived from this code.
    pub(crate) family: String,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) resource: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) subject: String,
    pub(crate) family: String,
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
    /// The RFC 7638 thumbprint of the DPoP key this refresh token is bound to (RFC 9449 §5:
    /// one issued to a public client that presented a proof); a refresh needs a proof of it.
    pub(crate) jkt: Option<String>,
}

/// An issued access token: everything its JWT form carries (RFC 9068 §2.2), kept in both
/// token formats. For an opaque token it is the token's only meaning; for a JWT it is what
/// introspection and revocation consult (a JWT not found here is not active).
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    /// The RFC 8707 resource: the `aud`.
    pub(crate) resource: String,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) jti: String,
    /// The resource owner's name when a user approved the grant (RFC 7662 `username`);
    /// `None` for `client_credentials`.
    pub(crate) username: Option<String>,
    /// The grant family (code and its refresh tokens); `None` for `client_credentials`.
    pub(crate) family: Option<String>,
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6); `None`
    /// for a Bearer token.
    pub(crate) jkt: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) request: AuthzRequest,
    /// Value of the consent cookie bound to this request.
    pub(crate) csrf: String,
    pub(crate) expires_at: i64,
}

/// Upper bound on stored items of each kind (dev server; oldest expired entries are pruned).
const MAX_ITEMS: usize = 10_000;
/// Upper bound on live access tokens (every issued one is recorded, in both formats).
const MAX_ACCESS_TOKENS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) cimd_cache: HashMap<String, (Client, i64)>,
    pub(crate) pending: HashMap<String, Pending>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    pub(crate) access: HashMap<String, AccessGrant>,
    /// The `jti` hashes of DPoP proofs accepted at `/token`, with how long each is kept.
    pub(crate) dpop_jtis: HashMap<JtiHash, i64>,
}

/// SHA-256, base64url: the storage key of a code or refresh token.
pub(crate) fn hash_secret(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(s.as_bytes()))
}

impl Store {
    /// Drops expired pending requests, codes and refresh tokens.
    pub(crate) fn prune(&mut self, now: i64) {
        // Keep used codes a little longer than their lifetime so reuse is still detected.
        self.pending.retain(|_, p| p.expires_at > now);
        self.codes
            .retain(|_, c| c.expires_at.saturating_add(600) > now);
        self.refresh.retain(|_, r| r.expires_at > now);
        self.access.retain(|_, a| a.expires_at > now);
        self.dpop_jtis.retain(|_, until| *until >= now);
    }

    /// Whether there is room for another item in a map of `len` entries.
    pub(crate) const fn has_room(len: usize) -> bool {
        len < MAX_ITEMS
    }

    /// Whether another access token may be recorded; drops expired ones first when full.
    pub(crate) fn has_room_for_access(&mut self, now: i64) -> bool {
        if self.access.len() >= MAX_ACCESS_TOKENS {
            self.access.retain(|_, a| a.expires_at > now);
        }
        self.access.len() < MAX_ACCESS_TOKENS
    }

    /// Revokes every refresh token of `family` and every access token issued from it
    /// (RFC 7009 §2.1: "SHOULD also invalidate all access tokens based on the same
    /// authorization grant"; OAuth 2.1 §4.1.3 for a reused code).
    pub(crate) fn revoke_family(&mut self, family: &str) {
        self.refresh.retain(|_, r| r.family != family);
        self.access
            .retain(|_, a| a.family.as_deref() != Some(family));
    }
}
