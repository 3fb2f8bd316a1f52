//! The authorization endpoint (`GET /authorize`) and the consent form target
//! (`POST /authorize/decision`).
//!
//! Errors about `client_id` or `redirect_uri` are shown as a 400 page and never redirected
//! (OAuth 2.1 §4.1.2.1); every other error is redirected with `error`, `state` and RFC 9207
//! `iss`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use super::Shared;
use super::cimd;
use super::params::Params;
use super::rules;
use super::store::{AuthzRequest, Client, ClientSource, CodeGrant, GRANT_CODE, Pending, Store};
use crate::keys::random_string;

/// How long a consent page stays valid.
const CONSENT_TTL_SECS: i64 = 600;
const CSRF_COOKIE_PREFIX: &str = "mcp_dev_consent_";

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    no_store(&mut resp);
    let h = resp.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}\
.dev{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}\
dt{font-weight:600;margin-top:.75rem}dd{margin:.25rem 0 0 0}code{word-break:break-all}\
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.75rem;border-radius:4px;border:1px solid #888;cursor:pointer}\
button[value=approve]{background:#1a7f37;color:#fff;border-color:#1a7f37}";

/// A 400 (or other) HTML error page. Never redirects.
pub(crate) fn error_page(status: StatusCode, code: &str, description: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title>\
<style>{STYLE}</style></head><body><p class=\"dev\">mcp-auth-dev: development authorization server, not for production.</p>\
<h1>Authorization request refused</h1><p><strong>{}</strong>: {}</p>\
<p>The client application sent an invalid request. You were not redirected back to it.</p></body></html>",
        html_escape(code),
        html_escape(description),
    );
    html_response(status, body)
}

/// Redirects to `redirect_uri` with `params` appended to its query.
fn redirect_to(redirect_uri: &str, params: &[(&str, &str)], status: StatusCode) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not a valid URL",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not a valid URL",
        );
    };
    let mut resp = status.into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    no_store(&mut resp);
    resp
}

/// An error redirect with `error`, `error_description`, `state` and `iss`.
fn redirect_error(
    shared: &Shared,
    redirect_uri: &str,
    state: Option<&str>,
    code: &str,
    description: &str,
    status: StatusCode,
) -> Response {
    let desc = super::error::sanitize_description(description);
    let mut params = vec![("error", code), ("error_description", desc.as_str())];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", shared.config.issuer.as_str()));
    redirect_to(redirect_uri, &params, status)
}

/// Issues a code for an approved request and redirects with `code`, `state` and `iss`.
fn approve(shared: &Shared, request: AuthzRequest, status: StatusCode) -> Response {
    let code = random_string(32);
    let now = shared.now();
    {
        let mut store = shared.store();
        store.prune(now);
        if !Store::has_room(store.codes.len()) {
            return redirect_error(
                shared,
                &request.redirect_uri,
                request.state.as_deref(),
                "temporarily_unavailable",
                "too many outstanding authorization codes",
                status,
            );
        }
        store.codes.insert(
            super::store::hash_secret(&code),
            CodeGrant {
                request: request.clone(),
                subject: shared.config.subject.clone(),
                expires_at: now.saturating_add(shared.config.code_lifetime),
                used: false,
                family: random_string(16),
            },
        );
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = request.state.as_deref() {
        params.push(("state", state));
    }
    params.push(("iss", shared.config.issuer.as_str()));
    redirect_to(&request.redirect_uri, &params, status)
}

pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    authorize_inner(&shared, query.as_deref().unwrap_or_default()).await
}

async fn authorize_inner(shared: &Shared, query: &str) -> Response {
    let bad = |code: &str, d: &str| error_page(StatusCode::BAD_REQUEST, code, d);
    let params = match Params::parse(query.as_bytes(), &["resource"]) {
        Ok(p) => p,
        Err(name) => {
            return bad("invalid_request", &format!("parameter {name} is repeated"));
        }
    };
    let Some(client_id) = params.get("client_id") else {
        return bad("invalid_request", "client_id is required");
    };
    let client = match cimd::resolve_client(shared, client_id).await {
        Ok(c) => c,
        Err(e) => return bad(e.code, &e.description),
    };
    let (redirect_uri, redirect_uri_sent) = match params.get("redirect_uri") {
        Some(r)
            if rules::redirect_uri_matches(
                &client.redirect_uris,
                r,
                shared.config.loopback_redirect_any_port,
            ) =>
        {
            (r.to_owned(), true)
        }
        Some(_) => {
            return bad(
                "invalid_request",
                "redirect_uri does not match any redirect URI registered for this client",
            );
        }
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => return bad("invalid_request", "redirect_uri is required"),
        },
    };
    let state = params.get("state");
    let fail = |code: &str, d: &str| {
        redirect_error(shared, &redirect_uri, state, code, d, StatusCode::FOUND)
    };

    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    if !client.allows_grant(GRANT_CODE) {
        return fail(
            "unauthorized_client",
            "this client is not registered for the authorization_code grant",
        );
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "code_challenge is required (PKCE with S256)",
        );
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") => {
            return fail(
                "invalid_request",
                "code_challenge_method plain is not allowed; use S256",
            );
        }
        None => return fail("invalid_request", "code_challenge_method=S256 is required"),
        Some(_) => {
            return fail(
                "invalid_request",
                "unsupported code_challenge_method; use S256",
            );
        }
    }
    if challenge.len() != 43 || !rules::is_pkce_value(challenge) {
        return fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let resource = match params.all("resource").as_slice() {
        [] => return fail("invalid_target", "resource is required (RFC 8707)"),
        [one] => (*one).to_owned(),
        _ => return fail("invalid_target", "exactly one resource must be requested"),
    };
    if let Err(d) = rules::check_resource(&resource) {
        return fail("invalid_target", d);
    }
    if let Some(list) = &shared.config.resources
        && !list.contains(&resource)
    {
        return fail("invalid_target", "unknown resource");
    }
    let scopes = match rules::grant_scopes(
        params.get("scope"),
        &client.scopes,
        &shared.config.scopes_supported,
    ) {
        Ok(s) => s,
        Err(d) => return fail("invalid_scope", d),
    };
    let request = AuthzRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        code_challenge: challenge.to_owned(),
        resource,
        scopes,
        state: state.map(str::to_owned),
        offline: params
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|t| t == "offline_access")),
    };
    if shared.config.auto_approve {
        return approve(shared, request, StatusCode::FOUND);
    }

    let request_id = random_string(24);
    let csrf = random_string(24);
    let now = shared.now();
    {
        let mut store = shared.store();
        store.prune(now);
        if !Store::has_room(store.pending.len()) {
            return redirect_error(
                shared,
                &request.redirect_uri,
                request.state.as_deref(),
                "temporarily_unavailable",
                "too many pending authorization requests",
                StatusCode::FOUND,
            );
        }
        store.pending.insert(
            request_id.clone(),
            Pending {
                request: request.clone(),
                csrf: csrf.clone(),
                expires_at: now.saturating_add(CONSENT_TTL_SECS),
            },
        );
    }
    let mut resp = html_response(
        StatusCode::OK,
        consent_page(shared, &client, &request, &request_id),
    );
    let cookie = format!(
        "{CSRF_COOKIE_PREFIX}{request_id}={csrf}; Path={}; HttpOnly; SameSite=Strict; Max-Age={CONSENT_TTL_SECS}",
        shared.route("/authorize")
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Host (and port) of the redirect URI, described for a human.
fn redirect_target(redirect_uri: &str) -> String {
    let Ok(url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return redirect_uri.to_owned(),
    };
    if rules::is_loopback_host(url.host()) {
        format!("{host} (an application on this computer)")
    } else {
        host
    }
}

/// The consent page. Every interpolated value is escaped.
fn consent_page(shared: &Shared, client: &Client, req: &AuthzRequest, request_id: &str) -> String {
    let e = html_escape;
    let client_desc = match client.source {
        ClientSource::MetadataDocument => {
            let host = Url::parse(&client.client_id)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            format!(
                "{} <br><small>identified by its metadata document at <strong>{}</strong>: <code>{}</code></small>",
                e(client.name.as_deref().unwrap_or("Unnamed client")),
                e(&host),
                e(&client.client_id),
            )
        }
        ClientSource::Dynamic => format!(
            "{} <small>(name chosen by the client itself, not verified)</small><br><small>client_id <code>{}</code></small>",
            e(client.name.as_deref().unwrap_or("Unnamed client")),
            e(&client.client_id),
        ),
        ClientSource::Preregistered => format!(
            "{} <br><small>client_id <code>{}</code></small>",
            e(client.name.as_deref().unwrap_or("Unnamed client")),
            e(&client.client_id),
        ),
    };
    let scopes = if req.scopes.is_empty() {
        "<li>(no specific permissions)</li>".to_owned()
    } else {
        req.scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", e(s)))
            .collect::<String>()
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Authorize MCP client</title>\
<style>{STYLE}</style></head><body>\
<p class=\"dev\">mcp-auth-dev: development authorization server, not for production.</p>\
<h1>Authorize access</h1>\
<p>An MCP client is asking to access <strong>{resource}</strong> on your behalf.</p>\
<dl><dt>Client</dt><dd>{client_desc}</dd>\
<dt>If you decide, you will be sent to</dt><dd><strong>{target}</strong><br><small><code>{redirect}</code></small></dd>\
<dt>Permissions</dt><dd><ul>{scopes}</ul></dd>\
<dt>Signed in as</dt><dd><code>{subject}</code></dd></dl>\
<p>Only approve if you started this connection yourself and you recognise both the client and the site you will be sent to.</p>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\
<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></body></html>",
        resource = e(&req.resource),
        target = e(&redirect_target(&req.redirect_uri)),
        redirect = e(&req.redirect_uri),
        subject = e(&shared.config.subject),
        action = e(&shared.route("/authorize/decision")),
        request_id = e(request_id),
    )
}

/// The value of cookie `name` in the `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) async fn decision(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return bad("expected a form submission");
    }
    // Cross-site form posts are refused (the consent cookie is SameSite=Strict as well).
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return error_page(
            StatusCode::FORBIDDEN,
            "access_denied",
            "cross-site form submission refused",
        );
    }
    let Ok(params) = Params::parse(&body, &[]) else {
        return bad("repeated form fields");
    };
    let Some(request_id) = params.get("request_id") else {
        return bad("request_id is missing");
    };
    let now = shared.now();
    let pending = {
        let mut store = shared.store();
        store.prune(now);
        store.pending.remove(request_id)
    };
    let Some(pending) = pending else {
        return bad("unknown, expired or already answered authorization request");
    };
    let cookie = cookie_value(&headers, &format!("{CSRF_COOKIE_PREFIX}{request_id}"));
    if !cookie.is_some_and(|c| {
        aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), pending.csrf.as_bytes())
            .is_ok()
    }) {
        return error_page(
            StatusCode::FORBIDDEN,
            "access_denied",
            "this form was not submitted from the consent page shown to you",
        );
    }
    let mut resp = match params.get("decision") {
        Some("approve") => approve(&shared, pending.request, StatusCode::SEE_OTHER),
        Some("deny") => redirect_error(
            &shared,
            &pending.request.redirect_uri,
            pending.request.state.as_deref(),
            "access_denied",
            "the user denied the request",
            StatusCode::SEE_OTHER,
        ),
        _ => return bad("decision must be approve or deny"),
    };
    // Expire the consent cookie.
    let clear = format!(
        "{CSRF_COOKIE_PREFIX}{request_id}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0",
        shared.route("/authorize")
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/script&gt;"
        );
    }

    #[test]
    fn redirect_targets() {
        assert_eq!(
            redirect_target("https://app.example.com/cb?x=1"),
            "app.example.com"
        );
        assert_eq!(
            redirect_target("http://127.0.0.1:4000/cb"),
            "127.0.0.1:4000 (an application on this computer)"
        );
    }

    #[test]
    fn redirects_append_to_query() {
        let r = redirect_to(
            "https://app.example.com/cb?keep=1",
            &[("code", "a b"), ("state", "s&t")],
            StatusCode::FOUND,
        );
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://app.example.com/cb?keep=1&code=a+b&state=s%26t"
        );
    }
}
