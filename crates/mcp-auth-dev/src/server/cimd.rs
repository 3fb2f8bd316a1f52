//! Client lookup: registered clients and Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25 "Client ID Metadata Documents").

use axum::http::header;
use serde_json::Value;

use super::Shared;
use super::error::OAuthError;
use super::rules;
use super::store::{AUTH_NONE, Client, ClientSource, GRANT_CLIENT_CREDENTIALS, GRANT_CODE};

/// Size cap of a metadata document.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Finds a registered client, or fetches (or takes from cache) the metadata document when
/// `client_id` is a URL.
pub(crate) async fn resolve_client(shared: &Shared, client_id: &str) -> Result<Client, OAuthError> {
    let now = shared.now();
    {
        let store = shared.store();
        if let Some(c) = store.clients.get(client_id) {
            return Ok(c.clone());
        }
        if let Some((c, fetched_at)) = store.cimd_cache.get(client_id)
            && now < fetched_at.saturating_add(shared.config.cimd_cache_ttl)
        {
            return Ok(c.clone());
        }
    }
    if !(client_id.starts_with("https://") || client_id.starts_with("http://")) {
        return Err(OAuthError::invalid_client("unknown client_id"));
    }
    let url = rules::check_cimd_url(client_id, shared.config.allow_loopback_cimd)
        .map_err(OAuthError::invalid_client)?;
    let doc = fetch_document(&shared.http, url).await?;
    let client = client_from_document(client_id, &doc, &shared.config.anonymous_scopes)?;
    let mut store = shared.store();
    if store.cimd_cache.len() >= 1000 {
        store.cimd_cache.clear();
    }
    store
        .cimd_cache
        .insert(client_id.to_owned(), (client.clone(), now));
    Ok(client)
}

/// GET the document: 200 only, no redirects (client policy), at most
/// [`MAX_DOCUMENT_BYTES`], JSON object.
async fn fetch_document(http: &reqwest::Client, url: url::Url) -> Result<Value, OAuthError> {
    let fail = |why: &str| OAuthError::invalid_client(format!("client metadata document: {why}"));
    let mut resp = http
        .get(url)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                fail("fetch timed out")
            } else {
                fail("fetch failed")
            }
        })?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(fail(&format!(
            "fetch answered HTTP {}",
            resp.status().as_u16()
        )));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(fail("document too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| fail("read failed"))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(fail("document too large"));
        }
        body.extend_from_slice(&chunk);
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|_| fail("not valid JSON"))?;
    if !doc.is_object() {
        return Err(fail("not a JSON object"));
    }
    Ok(doc)
}

/// Validates a fetched document and turns it into a (public) client.
pub(crate) fn client_from_document(
    client_id: &str,
    doc: &Value,
    anonymous_scopes: &[String],
) -> Result<Client, OAuthError> {
    let bad = |why: &str| OAuthError::invalid_client(format!("client metadata document: {why}"));
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(bad("its client_id does not equal the document URL"));
    }
    let redirect_uris: Vec<String> = match doc.get("redirect_uris").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.len() <= 20 => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("redirect_uris must be strings"))?,
        _ => return Err(bad("redirect_uris must be a non-empty array")),
    };
    for uri in &redirect_uris {
        rules::check_redirect_uri(uri).map_err(|p| bad(p.describe()))?;
    }
    if doc.get("client_secret").is_some() || doc.get("client_secret_expires_at").is_some() {
        return Err(bad("must not contain a client_secret"));
    }
    match doc.get("token_endpoint_auth_method") {
        None => {}
        Some(v) if v.as_str() == Some(AUTH_NONE) => {}
        Some(_) => {
            return Err(bad(
                "only token_endpoint_auth_method none is supported for metadata documents",
            ));
        }
    }
    let grant_types: Vec<String> = match doc.get("grant_types") {
        None => vec![GRANT_CODE.to_owned()],
        Some(v) => v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|g| g.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("grant_types must be an array of strings"))?,
    };
    if grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err(bad("client_credentials needs a confidential client"));
    }
    let name = doc
        .get("client_name")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(100).collect::<String>());
    let scopes = match doc.get("scope").and_then(Value::as_str) {
        Some(s) => rules::intersect_scopes(&rules::split_scope(s), anonymous_scopes),
        None => anonymous_scopes.to_vec(),
    };
    Ok(Client {
        client_id: client_id.to_owned(),
        secret: None,
        redirect_uris,
        name,
        auth_method: AUTH_NONE,
        grant_types,
        scopes,
        source: ClientSource::MetadataDocument,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "https://app.example.com/client.json";

    fn scopes() -> Vec<String> {
        vec!["mcp:read".to_owned(), "mcp:write".to_owned()]
    }

    #[test]
    fn valid_document() {
        let doc = json!({
            "client_id": ID,
            "client_name": "Example",
            "redirect_uris": ["http://127.0.0.1:3000/cb", "https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "mcp:read admin",
        });
        let c = client_from_document(ID, &doc, &scopes()).unwrap();
        assert_eq!(c.redirect_uris.len(), 2);
        assert_eq!(c.scopes, ["mcp:read"]);
        assert_eq!(c.auth_method, "none");
        assert_eq!(c.name.as_deref(), Some("Example"));
    }

    #[test]
    fn invalid_documents() {
        let base = json!({"client_id": ID, "redirect_uris": ["https://app.example.com/cb"]});
        assert!(client_from_document(ID, &base, &scopes()).is_ok());
        let with = |k: &str, v: Value| {
            let mut d = base.clone();
            d[k] = v;
            d
        };
        for doc in [
            with("client_id", json!("https://app.example.com/client.json/")),
            with("client_id", json!("https://evil.example.com/client.json")),
            with("client_id", json!(null)),
            with("redirect_uris", json!([])),
            with("redirect_uris", json!("https://app.example.com/cb")),
            with("redirect_uris", json!(["http://app.example.com/cb"])),
            with("redirect_uris", json!([1])),
            with("client_secret", json!("s")),
            with("token_endpoint_auth_method", json!("client_secret_basic")),
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            with("grant_types", json!(["client_credentials"])),
            with("grant_types", json!("authorization_code")),
        ] {
            let err = client_from_document(ID, &doc, &scopes()).unwrap_err();
            assert_eq!(err.code, "invalid_client", "{doc}");
        }
    }
}
