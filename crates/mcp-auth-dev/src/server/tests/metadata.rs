//! `/.well-known/...` metadata, `/jwks`, key rotation, and an issuer with a path.

use super::*;

#[tokio::test]
async fn metadata_and_jwks() {
    let server = builder().build().unwrap();
    let app = server.router();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::OK);
        let m = r.json();
        assert_eq!(m["issuer"], ISSUER);
        assert_eq!(m["authorization_endpoint"], "http://as.test/authorize");
        assert_eq!(m["token_endpoint"], "http://as.test/token");
        assert_eq!(m["registration_endpoint"], "http://as.test/register");
        assert_eq!(m["jwks_uri"], "http://as.test/jwks");
        assert_eq!(m["response_types_supported"], json!(["code"]));
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_post", "client_secret_basic"])
        );
        assert_eq!(m["scopes_supported"], json!(["mcp:read", "mcp:write"]));
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert!(
            m["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("refresh_token"))
        );
    }
    let r = get(&app, "/jwks").await;
    let kids: Vec<String> = r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["rs256-1", "es256-1"]);

    let new = server.rotate_keys().unwrap();
    assert_eq!(new, ["rs256-2", "es256-2"]);
    assert_eq!(
        get(&app, "/jwks").await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // The admin endpoint is off by default.
    let r = post_form(&app, "/admin/rotate", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let admin = builder().admin_endpoints(true).build().unwrap();
    let r = post_form(&admin.router(), "/admin/rotate", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["kids"], json!(["rs256-2", "es256-2"]));
    // CORS for browser clients on metadata.
    let r = send(
        &app,
        Request::get("/.well-known/oauth-authorization-server")
            .header("origin", "http://localhost:6274")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn issuer_with_path_mounts_under_it() {
    let server = DevAuthorizationServer::builder()
        .issuer("http://127.0.0.1:3000/auth")
        .build()
        .unwrap();
    let app = server.router();
    assert_eq!(
        server.metadata_url(),
        "http://127.0.0.1:3000/.well-known/oauth-authorization-server/auth"
    );
    let r = get(&app, "/.well-known/oauth-authorization-server/auth").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["token_endpoint"],
        "http://127.0.0.1:3000/auth/token"
    );
    assert_eq!(
        get(&app, "/auth/.well-known/openid-configuration")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(get(&app, "/auth/jwks").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/jwks").await.status, StatusCode::NOT_FOUND);
}
