//! RFC 8414 metadata and the JWKS.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::store::{AUTH_BASIC, AUTH_NONE, AUTH_POST};

/// The path-inserted RFC 8414 URL of the issuer's metadata.
pub(crate) fn metadata_url(shared: &Shared) -> String {
    let url = url::Url::parse(&shared.config.issuer);
    let origin = url
        .as_ref()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    format!(
        "{origin}/.well-known/oauth-authorization-server{}",
        shared.config.path_prefix
    )
}

/// The metadata document.
pub(crate) fn document(shared: &Shared) -> Value {
    let c = &shared.config;
    json!({
        "issuer": c.issuer,
        "authorization_endpoint": shared.endpoint("/authorize"),
        "token_endpoint": shared.endpoint("/token"),
        "registration_endpoint": shared.endpoint("/register"),
        "introspection_endpoint": shared.endpoint("/introspect"),
        "revocation_endpoint": shared.endpoint("/revoke"),
        "jwks_uri": shared.endpoint("/jwks"),
        "scopes_supported": c.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [AUTH_NONE, AUTH_POST, AUTH_BASIC],
        // RFC 7662 §2.1: the protected resource authenticates with a secret.
        "introspection_endpoint_auth_methods_supported": [AUTH_BASIC, AUTH_POST],
        // RFC 7009 §2.1: as at the token endpoint; public clients send their client_id.
        "revocation_endpoint_auth_methods_supported": [AUTH_NONE, AUTH_POST, AUTH_BASIC],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [c.signing_alg],
        // RFC 9449 §5.1: the JWS algorithms this server accepts in DPoP proofs.
        "dpop_signing_alg_values_supported": c.dpop.policy.algorithm_names(),
    })
}

pub(crate) async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    Json(document(&shared)).into_response()
}

pub(crate) async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    let mut resp = Json(shared.authority.jwks()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}
