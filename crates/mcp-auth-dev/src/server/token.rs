//! The token endpoint (`POST /token`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::Shared;
use super::cimd;
use super::error::OAuthError;
use super::params::{Params, form_decode};
use super::rules;
use super::store::{
    Client, GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, RefreshGrant, Store, hash_secret,
};
use crate::keys::{self, random_string};

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&shared, &headers, &body).await {
        Ok(body) => {
            let mut resp = Json(body).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn token_inner(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body, &[])
        .map_err(|name| OAuthError::invalid_request(format!("parameter {name} is repeated")))?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if ![GRANT_CODE, GRANT_REFRESH, GRANT_CLIENT_CREDENTIALS].contains(&grant_type) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "supported grant types: authorization_code, refresh_token, client_credentials",
        ));
    }
    let client = authenticate(shared, headers, &params).await?;
    match grant_type {
        GRANT_CODE => code_grant(shared, &client, &params),
        GRANT_REFRESH => refresh_grant(shared, &client, &params),
        _ => client_credentials_grant(shared, &client, &params),
    }
}

/// `Authorization: Basic` credentials, form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("repeated Authorization header"));
    }
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported client authentication scheme",
        ));
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((
        form_decode(id).ok_or_else(malformed)?,
        form_decode(secret).ok_or_else(malformed)?,
    )))
}

/// Identifies and authenticates the client: Basic, form secret, or a public client's
/// `client_id` alone.
async fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = params.get("client_id");
    let form_secret = params.get("client_secret");
    let (client_id, secret) = match (basic, form_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use only one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_client(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => {
            let id = form_id.ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
            (id.to_owned(), secret.map(str::to_owned))
        }
    };
    let client = cimd::resolve_client(shared, &client_id)
        .await
        .map_err(|e| OAuthError::invalid_client(e.description))?;
    match (&client.secret, secret) {
        (Some(expected), Some(given)) => {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                given.as_bytes(),
            )
            .map_err(|_| OAuthError::invalid_client("client authentication failed"))?;
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_client("client authentication required"));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_client(
                "this client has no secret (token_endpoint_auth_method none)",
            ));
        }
        (None, None) => {}
    }
    Ok(client)
}

/// A signed RFC 9068 access token and its lifetime.
fn access_token(
    shared: &Shared,
    subject: &str,
    client_id: &str,
    resource: &str,
    scopes: &[String],
    now: i64,
) -> Result<(String, i64), OAuthError> {
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
    let lifetime = cfg.access_token_lifetime;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(cfg.issuer));
    claims.insert("sub".into(), json!(subject));
    claims.insert("aud".into(), json!(resource));
    claims.insert("client_id".into(), json!(client_id));
    if !scopes.is_empty() {
        claims.insert("scope".into(), json!(scopes.join(" ")));
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(lifetime)));
    claims.insert("jti".into(), json!(random_string(16)));
    let jwt = keys::compact_jws(&header, &claims, &key, &cfg.signing_alg)
        .map_err(|_| OAuthError::server_error("signing failed"))?;
    Ok((jwt, lifetime))
}

/// Stores a new refresh token of `family`; returns it.
fn new_refresh_token(
    store: &mut Store,
    shared: &Shared,
    template: RefreshGrant,
) -> Result<String, OAuthError> {
    if !Store::has_room(store.refresh.len()) {
        return Err(OAuthError::new(
            "temporarily_unavailable",
            "too many refresh tokens",
        ));
    }
    let token = random_string(32);
    let now = shared.now();
    store.refresh.insert(
        hash_secret(&token),
        RefreshGrant {
            used: false,
            expires_at: now.saturating_add(shared.config.refresh_token_lifetime),
            ..template
        },
    );
    Ok(token)
}

fn response(access: (String, i64), scopes: &[String], refresh: Option<String>) -> Value {
    let mut out = json!({
        "access_token": access.0,
        "token_type": "Bearer",
        "expires_in": access.1,
        "scope": scopes.join(" "),
    });
    if let Some(rt) = refresh {
        out["refresh_token"] = json!(rt);
    }
    out
}

fn code_grant(shared: &Shared, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = shared.now();
    let grant = {
        let mut store = shared.store();
        let Some(g) = store.codes.get_mut(&hash_secret(code)) else {
            return Err(OAuthError::invalid_grant(
                "unknown, expired or revoked authorization code",
            ));
        };
        if g.request.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if g.used {
            // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the code produced.
            let family = g.family.clone();
            store.revoke_family(&family);
            return Err(OAuthError::invalid_grant(
                "authorization code already used; tokens issued from it are revoked",
            ));
        }
        // Single use: burnt on first presentation, whatever the outcome below.
        g.used = true;
        g.clone()
    };
    if now >= grant.expires_at {
        return Err(OAuthError::invalid_grant("authorization code expired"));
    }
    let req = &grant.request;
    match params.get("redirect_uri") {
        Some(r) if r == req.redirect_uri => {}
        None if !req.redirect_uri_sent => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
    }
    let Some(verifier) = params.get("code_verifier") else {
        return Err(OAuthError::invalid_grant(
            "code_verifier is required (PKCE)",
        ));
    };
    if !rules::pkce_s256_matches(verifier, &req.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if params.get("resource").is_some_and(|r| r != req.resource) {
        return Err(OAuthError::invalid_target(
            "resource differs from the one authorized",
        ));
    }
    let access = access_token(
        shared,
        &grant.subject,
        &client.client_id,
        &req.resource,
        &req.scopes,
        now,
    )?;
    // A refresh token only when `offline_access` was asked for (as OpenID Connect §11 and
    // oidc-provider do): an MCP client holding one would refresh instead of re-authorizing on
    // a 403 insufficient_scope, and a refresh cannot add scopes, so the step-up would fail.
    let refresh = if req.offline {
        let mut store = shared.store();
        Some(new_refresh_token(
            &mut store,
            shared,
            RefreshGrant {
                client_id: client.client_id.clone(),
                resource: req.resource.clone(),
                scopes: req.scopes.clone(),
                subject: grant.subject.clone(),
                family: grant.family.clone(),
                expires_at: 0,
                used: false,
            },
        )?)
    } else {
        None
    };
    Ok(response(access, &req.scopes, refresh))
}

fn refresh_grant(shared: &Shared, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    if !client.allows_grant(GRANT_REFRESH) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use refresh tokens",
        ));
    }
    let now = shared.now();
    let grant = {
        let mut store = shared.store();
        let Some(g) = store.refresh.get_mut(&hash_secret(token)) else {
            return Err(OAuthError::invalid_grant(
                "unknown, expired or revoked refresh token",
            ));
        };
        if g.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if g.used {
            // Reuse of a rotated token: assume theft and revoke the whole grant.
            let family = g.family.clone();
            store.revoke_family(&family);
            return Err(OAuthError::invalid_grant(
                "refresh token already used; the grant is revoked",
            ));
        }
        if now >= g.expires_at {
            return Err(OAuthError::invalid_grant("refresh token expired"));
        }
        g.used = true;
        g.clone()
    };
    let scopes = match params.get("scope") {
        None => grant.scopes.clone(),
        Some(s) => {
            let requested = rules::split_scope(s);
            if !requested.iter().all(|r| grant.scopes.contains(r)) {
                return Err(OAuthError::invalid_scope(
                    "scope exceeds the scope originally granted",
                ));
            }
            requested
        }
    };
    if params.get("resource").is_some_and(|r| r != grant.resource) {
        return Err(OAuthError::invalid_target(
            "resource differs from the one authorized",
        ));
    }
    let access = access_token(
        shared,
        &grant.subject,
        &client.client_id,
        &grant.resource,
        &scopes,
        now,
    )?;
    let refresh = {
        let mut store = shared.store();
        new_refresh_token(&mut store, shared, grant)?
    };
    Ok(response(access, &scopes, Some(refresh)))
}

fn client_credentials_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if client.secret.is_none() || !client.allows_grant(GRANT_CLIENT_CREDENTIALS) {
        return Err(OAuthError::unauthorized_client(
            "client_credentials needs a confidential client registered for that grant",
        ));
    }
    let resource = params
        .get("resource")
        .ok_or_else(|| OAuthError::invalid_target("resource is required (RFC 8707)"))?;
    rules::check_resource(resource).map_err(OAuthError::invalid_target)?;
    if let Some(list) = &shared.config.resources
        && !list.iter().any(|r| r == resource)
    {
        return Err(OAuthError::invalid_target("unknown resource"));
    }
    let scopes = rules::grant_scopes(
        params.get("scope"),
        &client.scopes,
        &shared.config.scopes_supported,
    )
    .map_err(OAuthError::invalid_scope)?;
    let access = access_token(
        shared,
        &client.client_id,
        &client.client_id,
        resource,
        &scopes,
        shared.now(),
    )?;
    Ok(response(access, &scopes, None))
}
