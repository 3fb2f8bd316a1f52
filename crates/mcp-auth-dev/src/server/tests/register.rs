//! `/register`: RFC 7591 dynamic client registration.

use super::*;

#[tokio::test]
async fn dcr_rules() {
    let app = builder()
        .scopes_supported(["mcp:read", "mcp:write", "mcp:admin"])
        .anonymous_client_scopes(["mcp:read", "mcp:write"])
        .build()
        .unwrap()
        .router();
    let r = post_json(
        &app,
        "/register",
        &json!({"redirect_uris": ["http://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    for uri in [
        "http://[::1]:5000/cb",
        "http://localhost/cb",
        "https://app.example.com/cb",
    ] {
        let r = post_json(
            &app,
            "/register",
            &json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{uri}: {}", r.text());
    }
    // Scope intersection with the anonymous allow-list.
    let r = post_json(
        &app,
        "/register",
        &json!({"redirect_uris": [REDIRECT], "scope": "mcp:write mcp:admin"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = r.json();
    assert_eq!(v["scope"], "mcp:write");
    // Default auth method client_secret_basic: a secret is issued.
    assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    assert!(v["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(v["client_secret_expires_at"], 0);
    // Without scope: the whole allow-list.
    let v = post_json(&app, "/register", &json!({"redirect_uris": [REDIRECT]}))
        .await
        .json();
    assert_eq!(v["scope"], "mcp:read mcp:write");
    // Not JSON.
    let r = send(
        &app,
        Request::post("/register")
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_client_metadata");
    let r = send(
        &app,
        Request::post("/register")
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_client_metadata");
}
