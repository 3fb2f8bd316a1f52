//! The token endpoint (`POST /token`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::access::{self, Issued};
use super::client_auth::authenticate;
use super::dpop::{DPOP_NONCE, TokenProof, token_request_proof};
use super::error::{OAuthError, no_store_json};
use super::params::{Params, form_params};
use super::rules;
use super::store::{
    Client, GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, RefreshGrant, Store, hash_secret,
};
use crate::keys::random_string;

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&shared, &headers, &body).await {
        Ok((body, fresh_nonce)) => {
            let mut resp = no_store_json(body);
            // RFC 9449 §8.2: a fresh nonce once the proof's one is from the previous slot.
            if let Some(nonce) = fresh_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                resp.headers_mut().insert(DPOP_NONCE, nonce);
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The token response and, when due, a fresh DPoP nonce.
async fn token_inner(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Value, Option<String>), OAuthError> {
    let params = form_params(headers, body)?;
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
    // RFC 9449 §5: a proof binds the tokens issued to its key. Checked (and its jti
    // recorded) before the grant, so a refused proof burns no code or refresh token.
    let proof = token_request_proof(shared, headers)?;
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let body = match grant_type {
        GRANT_CODE => code_grant(shared, &client, &params, jkt),
        GRANT_REFRESH => refresh_grant(shared, &client, &params, jkt),
        _ => client_credentials_grant(shared, &client, &params, jkt),
    }?;
    Ok((body, proof.and_then(|p: TokenProof| p.fresh_nonce)))
}

/// The key a new refresh token is bound to (RFC 9449 §5): a public client's proof key.
/// Refresh tokens of confidential clients are not bound; their client authentication
/// already constrains them.
fn refresh_binding(client: &Client, jkt: Option<&str>) -> Option<String> {
    if client.secret.is_none() {
        jkt.map(str::to_owned)
    } else {
        None
    }
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

fn response(access: Issued, scopes: &[String], refresh: Option<String>) -> Value {
    // RFC 9449 §5: a DPoP-bound access token is answered with `token_type: DPoP`.
    let token_type = if access.dpop { "DPoP" } else { "Bearer" };
    let mut out = json!({
        "access_token": access.token,
        "token_type": token_type,
        "expires_in": access.expires_in,
        "scope": scopes.join(" "),
    });
    if let Some(rt) = refresh {
        out["refresh_token"] = json!(rt);
    }
    out
}

fn code_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
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
    let access = access::issue(
        shared,
        access::bound_to(
            access::approved_by_user(
                access::grant(
                    shared,
                    &grant.subject,
                    &client.client_id,
                    &req.resource,
                    &req.scopes,
                    now,
                ),
                &grant.family,
            ),
            jkt,
        ),
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
                jkt: refresh_binding(client, jkt),
            },
        )?)
    } else {
        None
    };
    Ok(response(access, &req.scopes, refresh))
}

fn refresh_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
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
        // RFC 9449 §5: the binding of a DPoP-bound refresh token is validated on use. Before
        // the reuse check, so a holder without the key cannot set off reuse detection.
        if let Some(bound) = &g.jkt
            && jkt != Some(bound.as_str())
        {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to a DPoP key: a proof of that key is required",
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
    let access = access::issue(
        shared,
        access::bound_to(
            access::approved_by_user(
                access::grant(
                    shared,
                    &grant.subject,
                    &client.client_id,
                    &grant.resource,
                    &scopes,
                    now,
                ),
                &grant.family,
            ),
            jkt,
        ),
    )?;
    let refresh = {
        let mut store = shared.store();
        // A bound grant stays bound (the proof is of its key); an unbound one of a public
        // client is bound from the first refresh with a proof (RFC 9449 §5).
        let jkt = grant.jkt.clone().or_else(|| refresh_binding(client, jkt));
        new_refresh_token(&mut store, shared, RefreshGrant { jkt, ..grant })?
    };
    Ok(response(access, &scopes, Some(refresh)))
}

fn client_credentials_grant(
    shared: &Shared,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
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
    let access = access::issue(
        shared,
        access::bound_to(
            access::grant(
                shared,
                &client.client_id,
                &client.client_id,
                resource,
                &scopes,
                shared.now(),
            ),
            jkt,
        ),
    )?;
    Ok(response(access, &scopes, None))
}
