//! `/authorize` and the consent page (`/authorize/decision`): PKCE, `redirect_uri`, `resource`,
//! errors by redirect or page.

use super::*;

#[tokio::test]
async fn pkce_missing_or_plain_is_refused() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let r = get(&app, &authorize_uri(&client_id, &[], &["code_challenge"])).await;
    r.assert_redirect_error("invalid_request");
    let r = get(
        &app,
        &authorize_uri(&client_id, &[], &["code_challenge_method"]),
    )
    .await;
    r.assert_redirect_error("invalid_request");
    let r = get(
        &app,
        &authorize_uri(
            &client_id,
            &[
                ("code_challenge", VERIFIER),
                ("code_challenge_method", "plain"),
            ],
            &[],
        ),
    )
    .await;
    r.assert_redirect_error("invalid_request");
    assert!(
        r.redirect_param("error_description")
            .unwrap()
            .contains("plain")
    );
    let r = get(
        &app,
        &authorize_uri(&client_id, &[("code_challenge", "short")], &[]),
    )
    .await;
    r.assert_redirect_error("invalid_request");
}

#[tokio::test]
async fn redirect_uri_mismatch() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    // At /authorize: an error page, never a redirect to the unregistered URI.
    for bad in [
        "http://127.0.0.1:4567/callback/",
        "http://127.0.0.1:4568/callback",
        "https://evil.example/callback",
    ] {
        let r = get(
            &app,
            &authorize_uri(&client_id, &[("redirect_uri", bad)], &[]),
        )
        .await;
        r.assert_error_page("invalid_request");
    }
    // Unknown client: page too.
    let r = get(&app, &authorize_uri("nope", &[], &[])).await;
    r.assert_error_page("invalid_client");
    let r = get(&app, &authorize_uri(&client_id, &[], &["client_id"])).await;
    r.assert_error_page("invalid_request");

    // At /token: redirect_uri must equal the authorized one.
    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:4567/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn loopback_any_port_option() {
    let app = builder()
        .loopback_redirect_any_port(true)
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let other_port = "http://127.0.0.1:9999/callback";
    let r = get(
        &app,
        &authorize_uri(&client_id, &[("redirect_uri", other_port)], &[]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(r.location().as_str().starts_with(other_port));
}

#[tokio::test]
async fn resource_rules() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    get(&app, &authorize_uri(&client_id, &[], &["resource"]))
        .await
        .assert_redirect_error("invalid_target");
    for bad in ["mcp.example.test/mcp", "https://mcp.example.test/mcp#frag"] {
        get(&app, &authorize_uri(&client_id, &[("resource", bad)], &[]))
            .await
            .assert_redirect_error("invalid_target");
    }
    let two = format!(
        "{}&resource=https%3A%2F%2Fother.example%2F",
        authorize_uri(&client_id, &[], &[])
    );
    get(&app, &two)
        .await
        .assert_redirect_error("invalid_target");

    // A different resource at /token than the one authorized.
    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
            ("resource", "https://other.example/mcp"),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_target");

    // Allow-listed resources.
    let app = builder().resources([RESOURCE]).build().unwrap().router();
    let client_id = register_public(&app).await;
    get(
        &app,
        &authorize_uri(
            &client_id,
            &[("resource", "https://other.example/mcp")],
            &[],
        ),
    )
    .await
    .assert_redirect_error("invalid_target");
    get_code(&app, &client_id).await;
}

#[tokio::test]
async fn other_authorize_errors_redirect() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    get(
        &app,
        &authorize_uri(&client_id, &[("response_type", "token")], &[]),
    )
    .await
    .assert_redirect_error("unsupported_response_type");
    get(&app, &authorize_uri(&client_id, &[("scope", "admin")], &[]))
        .await
        .assert_redirect_error("invalid_scope");
    // Repeated parameter: not trusted enough to redirect.
    let dup = format!("{}&state=again", authorize_uri(&client_id, &[], &[]));
    get(&app, &dup).await.assert_error_page("invalid_request");
}

#[tokio::test]
async fn consent_page_flow() {
    let server = builder().auto_approve(false).build().unwrap();
    let app = server.router();
    let r = post_json(
        &app,
        "/register",
        &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "client_name": "<script>alert(1)</script> Evil",
        }),
    )
    .await;
    let client_id = r.json()["client_id"].as_str().unwrap().to_owned();

    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let html = page.text();
    assert!(html.contains(&format!(
        "An MCP client is asking to access <strong>{RESOURCE}</strong> on your behalf"
    )));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Evil"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("127.0.0.1:4567"));
    assert!(html.contains("mcp:read"));
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let decide = |decision: &'static str, cookie: Option<String>, id: String| {
        let app = app.clone();
        async move {
            let mut req = Request::post("/authorize/decision")
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let body = form(&[("request_id", &id), ("decision", decision)]);
            send(&app, req.body(Body::from(body)).unwrap()).await
        }
    };
    // Without the consent cookie (cross-site forgery): refused, and the request is consumed.
    let r = decide("approve", None, request_id.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get("location").is_none());
    let r = decide("approve", Some(cookie.clone()), request_id.clone()).await;
    r.assert_error_page("invalid_request");

    // Approve.
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    let html = page.text();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = decide("approve", Some(cookie.clone()), request_id.clone()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.redirect_param("state").as_deref(), Some("xyz"));
    assert_eq!(r.redirect_param("iss").as_deref(), Some(ISSUER));
    let code = r.redirect_param("code").unwrap();
    assert_eq!(
        exchange(&app, &client_id, &code, VERIFIER).await.status,
        StatusCode::OK
    );
    // The request id is single-use.
    decide("approve", Some(cookie), request_id)
        .await
        .assert_error_page("invalid_request");

    // Deny.
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    let html = page.text();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = decide("deny", Some(cookie), request_id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(r.redirect_param("state").as_deref(), Some("xyz"));
    assert_eq!(r.redirect_param("iss").as_deref(), Some(ISSUER));
}
