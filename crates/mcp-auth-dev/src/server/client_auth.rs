//! Client authentication (RFC 6749 §2.3.1) for `/token`, `/revoke` and `/introspect`.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Shared;
use super::cimd;
use super::error::OAuthError;
use super::params::{Params, form_decode};
use super::store::Client;

/// `Authorization: Basic` credentials, form-decoded (RFC 6749 §2.3.1).
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
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
pub(crate) async fn authenticate(
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

/// Authenticates the protected resource at the introspection endpoint: RFC 7662 §2.1 "the
/// endpoint MUST also require some form of authorization to access this endpoint", here
/// `client_secret_basic` or `client_secret_post` of the configured resource-server client.
/// Anything else is `invalid_client` (401), before the token is looked at.
pub(crate) fn authenticate_resource_server(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), OAuthError> {
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
            (id, secret)
        }
        (None, Some(secret)) => {
            let id = form_id.ok_or_else(|| OAuthError::invalid_client("client_id is required"))?;
            (id.to_owned(), secret.to_owned())
        }
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication required (client_secret_basic or client_secret_post)",
            ));
        }
    };
    let expected = &shared.config.resource_server;
    let same = |a: &str, b: &str| {
        aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
    };
    // Both compared, whatever the first answer, so timing does not tell which one was wrong.
    let id_ok = same(expected.client_id(), &client_id);
    let secret_ok = same(expected.client_secret(), &secret);
    if id_ok && secret_ok {
        Ok(())
    } else {
        Err(OAuthError::invalid_client("client authentication failed"))
    }
}
