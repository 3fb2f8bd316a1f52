//! `/introspect` (RFC 7662): opaque and JWT access tokens, the inactive answer, the
//! resource server's authentication; opaque tokens at `/token`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use super::*;

/// The member names of an introspection answer.
fn members(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const USER_MEMBERS: [&str; 11] = [
    "active",
    "aud",
    "client_id",
    "exp",
    "iat",
    "iss",
    "jti",
    "scope",
    "sub",
    "token_type",
    "username",
];

#[tokio::test]
async fn opaque_token_is_random_and_introspects_with_every_member() {
    let server = rs_builder(TokenFormat::Opaque).build().unwrap();
    assert_eq!(server.token_format(), TokenFormat::Opaque);
    let app = server.router();
    let client_id = register_public(&app).await;
    let t = offline_tokens(&app, &client_id).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    let token = str_of(&t, "access_token");
    // 32 CSPRNG bytes, base64url without padding: an RFC 6750 b64token, not a JWT.
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    let other = offline_tokens(&app, &client_id).await;
    assert_ne!(token, str_of(&other, "access_token"));

    let v = introspect(&app, token).await;
    assert_eq!(members(&v), BTreeSet::from(USER_MEMBERS), "{v}");
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iss"], ISSUER);
    assert_eq!(v["aud"], RESOURCE);
    assert_eq!(v["sub"], "dev-user");
    assert_eq!(v["username"], "dev-user");
    assert_eq!(v["client_id"], client_id.as_str());
    assert_eq!(v["scope"], "mcp:read");
    assert_eq!(str_of(&v, "jti").len(), 22);
    let iat = v["iat"].as_i64().unwrap();
    assert!((iat - crate::keys::now_unix()).abs() < 5);
    assert_eq!(v["exp"].as_i64().unwrap(), iat + 3600);
    // Each token has its own jti.
    let v2 = introspect(&app, str_of(&other, "access_token")).await;
    assert_ne!(v["jti"], v2["jti"]);

    // Refresh keeps working in opaque mode and gives another live opaque token.
    let r = refresh(&app, &client_id, str_of(&t, "refresh_token")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let refreshed = r.json();
    let token2 = str_of(&refreshed, "access_token");
    assert_eq!(token2.len(), 43);
    assert_ne!(token2, token);
    let v = introspect(&app, token2).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], client_id.as_str());
}

#[tokio::test]
async fn jwt_introspects_with_its_own_claims() {
    let server = rs_builder(TokenFormat::Jwt).build().unwrap();
    let app = server.router();
    let client_id = register_public(&app).await;
    let t = offline_tokens(&app, &client_id).await;
    let token = str_of(&t, "access_token");
    let (_, claims) = verify_jwt(&server, token, RESOURCE);
    let v = introspect(&app, token).await;
    assert_eq!(members(&v), BTreeSet::from(USER_MEMBERS), "{v}");
    for name in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "iat",
        "exp",
        "jti",
    ] {
        assert_eq!(v[name], claims[name], "{name}");
    }
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["username"], "dev-user");
    // A hint, right, wrong or unknown, changes nothing (RFC 7662 §2.1).
    for hint in ["access_token", "refresh_token", "something_else"] {
        let r = introspect_with(
            &app,
            token,
            Auth::Post(RS_ID, RS_SECRET),
            &[("token_type_hint", hint)],
        )
        .await;
        assert_eq!(r.json(), v, "{hint}");
    }
}

#[tokio::test]
async fn client_credentials_token_has_no_username() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let server = rs_builder(format).build().unwrap();
        server.register_confidential_client("svc", "svc-secret", &[REDIRECT]);
        let app = server.router();
        let r = post_form(
            &app,
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", RESOURCE),
                ("scope", "mcp:write"),
            ],
            Some(("svc", "svc-secret")),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = introspect(&app, str_of(&r.json(), "access_token")).await;
        assert_eq!(v["active"], true, "{format}");
        assert_eq!(v["sub"], "svc");
        assert_eq!(v["client_id"], "svc");
        assert_eq!(v["scope"], "mcp:write");
        assert!(v.get("username").is_none(), "{v}");
    }
}

#[tokio::test]
async fn unknown_expired_refresh_and_unissued_tokens_are_only_inactive() {
    let now = Arc::new(AtomicI64::new(1_700_000_000));
    let clock = Arc::clone(&now);
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        now.store(1_700_000_000, Ordering::SeqCst);
        let clock = Arc::clone(&clock);
        let server = rs_builder(format)
            .access_token_lifetime(Duration::from_secs(60))
            .clock(move || clock.load(Ordering::SeqCst))
            .build()
            .unwrap();
        let app = server.router();
        let client_id = register_public(&app).await;
        let t = offline_tokens(&app, &client_id).await;
        let token = str_of(&t, "access_token");

        assert_inactive(&app, &crate::keys::random_string(32)).await;
        assert_inactive(&app, "not-a-token").await;
        // A refresh token is never an active access token.
        assert_inactive(&app, str_of(&t, "refresh_token")).await;
        // Signed with the server's keys but issued by no grant.
        let minted = server.authority().token().aud(RESOURCE).sign();
        assert_inactive(&app, &minted).await;

        // Live one second before `exp`, inactive at `exp`.
        now.fetch_add(59, Ordering::SeqCst);
        assert_eq!(introspect(&app, token).await["active"], true, "{format}");
        now.fetch_add(1, Ordering::SeqCst);
        assert_inactive(&app, token).await;
    }
}

#[tokio::test]
async fn introspection_needs_the_resource_server_client() {
    let server = rs_builder(TokenFormat::Opaque).build().unwrap();
    server.register_confidential_client("svc", "svc-secret", &[REDIRECT]);
    let app = server.router();
    let client_id = register_public(&app).await;
    let token = str_of(&offline_tokens(&app, &client_id).await, "access_token").to_owned();

    // Both methods work.
    for auth in [Auth::Basic(RS_ID, RS_SECRET), Auth::Post(RS_ID, RS_SECRET)] {
        let r = introspect_with(&app, &token, auth, &[]).await;
        assert_eq!(r.json()["active"], true);
    }
    // 401 invalid_client, with the RFC 6749 §5.2 Basic challenge, for everything else.
    let refused = [
        Auth::None,
        Auth::Basic(RS_ID, "wrong"),
        Auth::Basic("someone", RS_SECRET),
        Auth::Post(RS_ID, "wrong"),
        Auth::Post("svc", "svc-secret"),
        Auth::Basic("svc", "svc-secret"),
        Auth::Basic(&client_id, ""),
    ];
    for auth in refused {
        let r = introspect_with(&app, &token, auth, &[]).await;
        r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(
            r.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert!(!r.text().contains(&token) && !r.text().contains(RS_SECRET));
    }
    // A public client's id alone, and a Bearer header carrying the token itself.
    let r = introspect_with(&app, &token, Auth::None, &[("client_id", &client_id)]).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let r = send(
        &app,
        Request::post("/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(form(&[("token", &token)])))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(!r.text().contains(&token));
}

#[tokio::test]
async fn malformed_introspection_requests_are_oauth_errors() {
    let app = rs_builder(TokenFormat::Opaque).build().unwrap().router();
    // Authenticated, but no token.
    let r = post_form(&app, "/introspect", &[], Some((RS_ID, RS_SECRET))).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // Two authentication methods at once.
    let r = introspect_with(
        &app,
        "t",
        Auth::Basic(RS_ID, RS_SECRET),
        &[("client_id", RS_ID), ("client_secret", RS_SECRET)],
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // A repeated token names the parameter, not its values.
    let r = post_form(
        &app,
        "/introspect",
        &[("token", "first-secret"), ("token", "second-secret")],
        Some((RS_ID, RS_SECRET)),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(!r.text().contains("first-secret"));
    // JSON instead of a form; undecodable Basic credentials.
    let r = post_json(&app, "/introspect", &json!({"token": "t"})).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let r = send(
        &app,
        Request::post("/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", "Basic %%%")
            .body(Body::from("token=t"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // GET is not a route.
    assert_eq!(
        get(&app, "/introspect?token=t").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn resource_server_client_defaults_and_rules() {
    let server = builder().build().unwrap();
    let rs = server.resource_server_client();
    assert_eq!(rs.client_id(), DEFAULT_RESOURCE_SERVER_CLIENT_ID);
    assert_eq!(rs.client_secret().len(), 43, "a random 256-bit secret");
    assert_ne!(
        builder()
            .build()
            .unwrap()
            .resource_server_client()
            .client_secret(),
        rs.client_secret()
    );
    let shown = format!("{server:?} {rs:?}");
    assert!(!shown.contains(rs.client_secret()), "{shown}");
    let b = rs_builder(TokenFormat::Opaque);
    assert!(!format!("{b:?}").contains(RS_SECRET));
    // The generated credentials work.
    let app = server.router();
    let r = post_form(
        &app,
        "/introspect",
        &[("token", "unknown")],
        Some((rs.client_id(), rs.client_secret())),
    )
    .await;
    assert_eq!(r.text(), r#"{"active":false}"#);

    for (id, secret) in [("", "s"), ("rs", ""), ("r\ns", "s")] {
        assert!(matches!(
            builder().resource_server_client(id, secret).build(),
            Err(DevServerError::InvalidResourceServerClient)
        ));
    }
}
