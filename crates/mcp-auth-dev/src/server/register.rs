//! RFC 7591 dynamic client registration (`POST /register`).

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Shared;
use super::error::OAuthError;
use super::rules;
use super::store::{
    AUTH_BASIC, AUTH_NONE, AUTH_POST, Client, ClientSource, GRANT_CLIENT_CREDENTIALS, GRANT_CODE,
    GRANT_REFRESH, Store,
};

fn invalid_metadata(d: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", d)
}

fn invalid_redirect(d: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new("invalid_redirect_uri", d)
}

/// What a registration request asks for, validated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: &'static str,
    pub(crate) grant_types: Vec<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) client_uri: Option<String>,
    pub(crate) scopes: Vec<String>,
}

fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, OAuthError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid_metadata(format!("{key} must be a string"))),
    }
}

fn str_list(m: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= 20 => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid_metadata(format!("{key} must be an array of strings"))),
        Some(_) => Err(invalid_metadata(format!(
            "{key} must be an array of at most 20 strings"
        ))),
    }
}

/// Validates registration metadata (RFC 7591 §2) against this server's rules.
pub(crate) fn validate(
    body: &Value,
    anonymous_scopes: &[String],
) -> Result<Registration, OAuthError> {
    let m = body
        .as_object()
        .ok_or_else(|| invalid_metadata("the body must be a JSON object"))?;
    let auth_method = match opt_str(m, "token_endpoint_auth_method")? {
        // RFC 7591 §2: the default is client_secret_basic.
        None => AUTH_BASIC,
        Some(AUTH_NONE) => AUTH_NONE,
        Some(AUTH_POST) => AUTH_POST,
        Some(AUTH_BASIC) => AUTH_BASIC,
        Some(_) => {
            return Err(invalid_metadata(
                "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
            ));
        }
    };
    let grant_types = str_list(m, "grant_types")?.unwrap_or_else(|| vec![GRANT_CODE.to_owned()]);
    if grant_types.is_empty() {
        return Err(invalid_metadata("grant_types must not be empty"));
    }
    for g in &grant_types {
        if ![GRANT_CODE, GRANT_REFRESH, GRANT_CLIENT_CREDENTIALS].contains(&g.as_str()) {
            return Err(invalid_metadata(format!("unsupported grant type {g}")));
        }
    }
    if grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) && auth_method == AUTH_NONE {
        return Err(invalid_metadata(
            "client_credentials requires a confidential client (client_secret_basic or client_secret_post)",
        ));
    }
    if let Some(rt) = str_list(m, "response_types")?
        && rt.iter().any(|r| r != "code")
    {
        return Err(invalid_metadata("only response type code is supported"));
    }
    let redirect_uris = str_list(m, "redirect_uris")?.unwrap_or_default();
    if grant_types.iter().any(|g| g == GRANT_CODE) && redirect_uris.is_empty() {
        return Err(invalid_redirect(
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for uri in &redirect_uris {
        rules::check_redirect_uri(uri).map_err(|p| invalid_redirect(p.describe()))?;
    }
    let client_name = opt_str(m, "client_name")?.map(|s| s.chars().take(100).collect::<String>());
    let client_uri = match opt_str(m, "client_uri")? {
        Some(u) if url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) => {
            Some(u.to_owned())
        }
        Some(_) => return Err(invalid_metadata("client_uri must be an http(s) URL")),
        None => None,
    };
    let scopes = match opt_str(m, "scope")? {
        Some(s) => rules::intersect_scopes(&rules::split_scope(s), anonymous_scopes),
        None => anonymous_scopes.to_vec(),
    };
    Ok(Registration {
        redirect_uris,
        auth_method,
        grant_types,
        client_name,
        client_uri,
        scopes,
    })
}

pub(crate) async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match register_inner(&shared, &headers, &body) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn register_inner(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(invalid_metadata("Content-Type must be application/json"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| invalid_metadata("the body is not valid JSON"))?;
    let reg = validate(&value, &shared.config.anonymous_scopes)?;
    let client_id = format!("dcr_{}", crate::keys::random_string(16));
    let secret = (reg.auth_method != AUTH_NONE).then(|| crate::keys::random_string(32));
    let now = shared.now();
    let client = Client {
        client_id: client_id.clone(),
        secret: secret.clone(),
        redirect_uris: reg.redirect_uris.clone(),
        name: reg.client_name.clone(),
        auth_method: reg.auth_method,
        grant_types: reg.grant_types.clone(),
        // The cap is the anonymous allow-list, not the registered `scope`: MCP clients
        // register with the scope of the first 401 and must be able to step up to a larger
        // one after a 403 insufficient_scope (MCP "Scope Selection Strategy").
        scopes: shared.config.anonymous_scopes.clone(),
        source: ClientSource::Dynamic,
    };
    {
        let mut store = shared.store();
        if !Store::has_room(store.clients.len()) {
            return Err(OAuthError::server_error("too many registered clients"));
        }
        store.clients.insert(client_id.clone(), client);
    }
    let mut out = json!({
        "client_id": client_id,
        "client_id_issued_at": now,
        "redirect_uris": reg.redirect_uris,
        "token_endpoint_auth_method": reg.auth_method,
        "grant_types": reg.grant_types,
        "response_types": ["code"],
        "scope": reg.scopes.join(" "),
    });
    if let Some(secret) = secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    if let Some(name) = reg.client_name {
        out["client_name"] = json!(name);
    }
    if let Some(uri) = reg.client_uri {
        out["client_uri"] = json!(uri);
    }
    let mut resp = (StatusCode::CREATED, Json(out)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Vec<String> {
        vec!["mcp:read".to_owned()]
    }

    #[test]
    fn defaults_follow_rfc7591() {
        let r = validate(
            &json!({"redirect_uris": ["https://a.example/cb"]}),
            &scopes(),
        )
        .unwrap();
        assert_eq!(r.auth_method, AUTH_BASIC);
        assert_eq!(r.grant_types, ["authorization_code"]);
        assert_eq!(r.scopes, ["mcp:read"]);
    }

    #[test]
    fn refusals() {
        for (body, code) in [
            (json!([]), "invalid_client_metadata"),
            (json!({}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": ["http://a.example/cb"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": "https://a.example/cb"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": 5}),
                "invalid_client_metadata",
            ),
        ] {
            assert_eq!(validate(&body, &scopes()).unwrap_err().code, code, "{body}");
        }
        // client_credentials without redirect URIs is fine.
        assert!(
            validate(
                &json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
                &scopes()
            )
            .is_ok()
        );
    }
}
