//! Access tokens: one [`AccessGrant`] record, rendered as an RFC 9068 JWT or handed out as an
//! opaque random string, and the RFC 7662 introspection answer for it.

use serde_json::{Map, Value, json};

use super::Shared;
use super::error::OAuthError;
use super::options::TokenFormat;
use super::store::{AccessGrant, hash_secret};
use crate::keys::{self, random_string};

/// Random bytes in an opaque access token: 256 bits. RFC 6749 §10.10: the chance of guessing
/// a token MUST be at most 2^-128 and SHOULD be at most 2^-160.
const OPAQUE_TOKEN_BYTES: usize = 32;

/// An issued access token, its lifetime in seconds (`expires_in`) and whether it is
/// DPoP-bound.
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) expires_in: i64,
    pub(crate) dpop: bool,
}

/// The record of a token for `subject`, issued now to `client_id` for `resource`.
pub(crate) fn grant(
    shared: &Shared,
    subject: &str,
    client_id: &str,
    resource: &str,
    scopes: &[String],
    now: i64,
) -> AccessGrant {
    AccessGrant {
        issuer: shared.config.issuer.clone(),
        subject: subject.to_owned(),
        resource: resource.to_owned(),
        client_id: client_id.to_owned(),
        scopes: scopes.to_vec(),
        issued_at: now,
        expires_at: now.saturating_add(shared.config.access_token_lifetime),
        jti: random_string(16),
        username: None,
        family: None,
        jkt: None,
    }
}

/// Binds `grant` to the DPoP key of thumbprint `jkt` (RFC 9449 §6), if any.
pub(crate) fn bound_to(mut grant: AccessGrant, jkt: Option<&str>) -> AccessGrant {
    grant.jkt = jkt.map(str::to_owned);
    grant
}

/// Marks `grant` as approved by its subject (a user) within the grant `family`.
pub(crate) fn approved_by_user(mut grant: AccessGrant, family: &str) -> AccessGrant {
    grant.username = Some(grant.subject.clone());
    grant.family = Some(family.to_owned());
    grant
}

/// Issues `grant` in the configured format and records it under the token's hash.
pub(crate) fn issue(shared: &Shared, grant: AccessGrant) -> Result<Issued, OAuthError> {
    let token = match shared.config.token_format {
        TokenFormat::Jwt => jwt(shared, &grant)?,
        TokenFormat::Opaque => random_string(OPAQUE_TOKEN_BYTES),
    };
    let expires_in = grant.expires_at.saturating_sub(grant.issued_at);
    let dpop = grant.jkt.is_some();
    let mut store = shared.store();
    if !store.has_room_for_access(shared.now()) {
        return Err(OAuthError::new(
            "temporarily_unavailable",
            "too many live access tokens",
        ));
    }
    store.access.insert(hash_secret(&token), grant);
    Ok(Issued {
        token,
        expires_in,
        dpop,
    })
}

/// The RFC 9068 §2.2 claims of `grant`.
fn claims(grant: &AccessGrant) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(grant.issuer));
    claims.insert("sub".into(), json!(grant.subject));
    claims.insert("aud".into(), json!(grant.resource));
    claims.insert("client_id".into(), json!(grant.client_id));
    if !grant.scopes.is_empty() {
        claims.insert("scope".into(), json!(grant.scopes.join(" ")));
    }
    claims.insert("iat".into(), json!(grant.issued_at));
    claims.insert("exp".into(), json!(grant.expires_at));
    claims.insert("jti".into(), json!(grant.jti));
    // RFC 9449 §6.1: a DPoP-bound token carries the key's thumbprint.
    if let Some(jkt) = &grant.jkt {
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    claims
}

/// `grant` signed as an RFC 9068 JWT (`typ: at+jwt`) with the current signing key.
fn jwt(shared: &Shared, grant: &AccessGrant) -> Result<String, OAuthError> {
    let cfg = &shared.config;
    let key = shared
        .authority
        .keys()
        .current(cfg.signing_slot)
        .ok_or_else(|| OAuthError::server_error("no signing key"))?;
    let mut header = Map::new();
    header.insert("alg".into(), json!(cfg.signing_alg));
    header.insert("typ".into(), json!("at+jwt"));
    header.insert("kid".into(), json!(key.kid()));
    keys::compact_jws(&header, &claims(grant), &key, &cfg.signing_alg)
        .map_err(|_| OAuthError::server_error("signing failed"))
}

/// The RFC 7662 §2.2 answer for a live `grant`: `active: true`, the JWT's claims, `username`
/// when a user approved it, and `token_type`: `DPoP` with `cnf.jkt` for a DPoP-bound token
/// (RFC 9449 §6.2), `Bearer` otherwise.
pub(crate) fn introspection(grant: &AccessGrant) -> Value {
    let mut out = claims(grant);
    out.insert("active".into(), json!(true));
    let token_type = if grant.jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    out.insert("token_type".into(), json!(token_type));
    if let Some(name) = &grant.username {
        out.insert("username".into(), json!(name));
    }
    Value::Object(out)
}

/// The RFC 7662 §2.2 answer for a token that is not active: "the authorization server MUST
/// return an introspection response with the `active` field set to `false`" and SHOULD NOT
/// include anything else, so nothing is said about why (unknown, expired or revoked).
pub(crate) fn inactive() -> Value {
    json!({ "active": false })
}
