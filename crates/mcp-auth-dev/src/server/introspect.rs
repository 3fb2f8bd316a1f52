//! RFC 7662 token introspection (`POST /introspect`) and RFC 7009 token revocation
//! (`POST /revoke`).
//!
//! Both look a token up by its SHA-256 hash in the store, so they know the access tokens this
//! server issued at `/token` (either format) and its refresh tokens. A JWT minted directly
//! with [`TestAuthority`](crate::TestAuthority) was issued by no grant and is not active here.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Shared;
use super::access;
use super::client_auth::{authenticate, authenticate_resource_server};
use super::error::{OAuthError, no_store_json};
use super::params::form_params;
use super::store::hash_secret;

pub(crate) async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match introspect_inner(&shared, &headers, &body) {
        Ok(answer) => no_store_json(answer),
        Err(e) => e.into_response(),
    }
}

fn introspect_inner(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    // RFC 7662 §2.1: the caller authenticates before anything is said about a token.
    authenticate_resource_server(shared, headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // `token_type_hint` is optional and only a hint (RFC 7662 §2.1): every kind is searched.
    // Only access tokens are ever active: a refresh token is no business of a protected
    // resource, and answering `active: true` for one would let it pass as an access token
    // at a resource that does not check `token_type`.
    let now = shared.now();
    let store = shared.store();
    Ok(match store.access.get(&hash_secret(token)) {
        // RFC 7662 §2.2: active means issued here, not revoked, and not expired.
        Some(grant) if now < grant.expires_at => access::introspection(grant),
        _ => access::inactive(),
    })
}

pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_inner(&shared, &headers, &body).await {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn revoke_inner(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = form_params(headers, body)?;
    // RFC 7009 §2.1: a confidential client authenticates as at the token endpoint; a public
    // client sends its `client_id`.
    let client = authenticate(shared, headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let not_yours = || OAuthError::invalid_request("the token was issued to another client");
    let key = hash_secret(token);
    let mut store = shared.store();
    // `token_type_hint` may be ignored (RFC 7009 §2.1: the server MUST extend its search
    // across all of its supported token types); both maps are searched.
    if let Some(grant) = store.access.get(&key) {
        // RFC 7009 §2.1: the server "verifies whether the token was issued to the client
        // making the revocation request"; if not, the request is refused.
        if grant.client_id != client.client_id {
            return Err(not_yours());
        }
        store.access.remove(&key);
    } else if let Some(grant) = store.refresh.get(&key) {
        if grant.client_id != client.client_id {
            return Err(not_yours());
        }
        // RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens
        // of the same grant; the rest of the grant's refresh tokens go with it.
        let family = grant.family.clone();
        store.refresh.remove(&key);
        store.revoke_family(&family);
    }
    // RFC 7009 §2.2: an invalid or unknown token is answered 200 too.
    Ok(())
}
