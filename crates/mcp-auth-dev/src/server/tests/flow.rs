//! Whole flows: the builder's checks, DCR + PKCE + refresh, ES256 signing, `serve` over
//! loopback.

use super::*;

#[tokio::test]
async fn builder_rejects_bad_config() {
    assert!(matches!(
        DevAuthorizationServer::builder().build(),
        Err(DevServerError::MissingIssuer)
    ));
    for bad in ["not a url", "ftp://x/", "https://x/?q", "https://x/#f"] {
        assert!(matches!(
            DevAuthorizationServer::builder().issuer(bad).build(),
            Err(DevServerError::InvalidIssuer(_))
        ));
    }
    assert!(matches!(
        builder().scopes_supported(["a b"]).build(),
        Err(DevServerError::InvalidScope(_))
    ));
    assert!(matches!(
        builder().signing_alg("HS256").build(),
        Err(DevServerError::UnsupportedSigningAlg(_))
    ));
}

#[tokio::test]
async fn happy_path_dcr_pkce_refresh() {
    let server = builder()
        .scopes_supported(["mcp:read", "mcp:write"])
        .build()
        .unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["cache-control"], "no-store");
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "mcp:read");
    let (header, claims) = verify_jwt(&server, t["access_token"].as_str().unwrap(), RESOURCE);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["sub"], "dev-user");
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "mcp:read");
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // Refresh: new tokens, rotated refresh token, narrowing allowed, widening refused.
    let rt1 = t["refresh_token"].as_str().unwrap();
    let r = refresh(&app, &client_id, rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t2 = r.json();
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    verify_jwt(&server, t2["access_token"].as_str().unwrap(), RESOURCE);
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("client_id", &client_id),
            ("scope", "mcp:read mcp:write"),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn es256_signing() {
    let server = builder().signing_alg("ES256").build().unwrap();
    let app = server.router();
    server.register_public_client("pub", &[REDIRECT]);
    let code = get_code(&app, "pub").await;
    let t = exchange(&app, "pub", &code, VERIFIER).await.json();
    let (header, _) = verify_jwt(&server, t["access_token"].as_str().unwrap(), RESOURCE);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "es256-1");
}

#[tokio::test]
async fn serve_over_loopback() {
    let running = DevAuthorizationServer::builder()
        .auto_approve(true)
        .serve()
        .await
        .unwrap();
    let base = running.base_url();
    assert_eq!(running.issuer(), base);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    assert_eq!(meta["issuer"], base);
    let reg: Value = http
        .post(meta["registration_endpoint"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap();
    let resp = http
        .get(format!("{base}{}", authorize_uri(client_id, &[], &[])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tok: Value = http
        .post(meta["token_endpoint"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ]))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let (_, claims) = verify_jwt(
        running.server(),
        tok["access_token"].as_str().unwrap(),
        RESOURCE,
    );
    assert_eq!(claims["iss"], base);
    running.shutdown().await;
}
