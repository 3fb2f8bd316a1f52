//! Entry points for the `cargo fuzz` targets (feature `fuzzing`, not part of the API, no
//! semver promise). Registration, authorize and token requests are fuzzed through the public
//! [`router`](super::DevAuthorizationServer::router); a Client ID Metadata Document arrives
//! by an HTTP fetch, so its parser is handed out here to be fed without a network.

use serde_json::Value;

/// What [`cimd_document`] made of a document: the client's redirect URIs and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CimdClient {
    /// `redirect_uris` as accepted.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
}

/// The checks `client_id` and a fetched document body go through (URL rules, then the body
/// as `fetch_document` reads it, then `client_from_document`), without the fetch. The error
/// is the OAuth error code and description.
pub fn cimd_document(
    client_id: &str,
    body: &[u8],
    allow_loopback: bool,
    anonymous_scopes: &[String],
) -> Result<CimdClient, String> {
    super::rules::check_cimd_url(client_id, allow_loopback).map_err(str::to_owned)?;
    if body.len() > super::cimd::MAX_DOCUMENT_BYTES {
        return Err("document too large".to_owned());
    }
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not valid JSON".to_owned())?;
    if !doc.is_object() {
        return Err("not a JSON object".to_owned());
    }
    super::cimd::client_from_document(client_id, &doc, anonymous_scopes)
        .map(|c| CimdClient {
            redirect_uris: c.redirect_uris,
            scopes: c.scopes,
        })
        .map_err(|e| format!("{}: {}", e.code, e.description))
}
