//! `/revoke` (RFC 7009): access and refresh tokens, by public and confidential clients,
//! seen through `/introspect`; the metadata of both endpoints.

use super::*;

/// `POST /revoke` of `token` by a public client (its `client_id` in the form).
async fn revoke_public(app: &Router, client_id: &str, token: &str) -> Resp {
    post_form(
        app,
        "/revoke",
        &[("token", token), ("client_id", client_id)],
        None,
    )
    .await
}

fn assert_revoked_ok(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn revoked_access_token_is_inactive() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let app = rs_builder(format).build().unwrap().router();
        let client_id = register_public(&app).await;
        let t = offline_tokens(&app, &client_id).await;
        let token = str_of(&t, "access_token");
        let kept = offline_tokens(&app, &client_id).await;

        // Another client may not revoke it (RFC 7009 §2.1); the token stays live.
        let other = register_public(&app).await;
        revoke_public(&app, &other, token)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(introspect(&app, token).await["active"], true);
        // No client identification at all.
        post_form(&app, "/revoke", &[("token", token)], None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

        assert_revoked_ok(&revoke_public(&app, &client_id, token).await);
        assert_inactive(&app, token).await;
        // Revoking it again, or a token never issued, is still 200 (RFC 7009 §2.2).
        assert_revoked_ok(&revoke_public(&app, &client_id, token).await);
        assert_revoked_ok(&revoke_public(&app, &client_id, "never-issued").await);
        // Only that token: the client's other grant and this grant's refresh token live on.
        assert_eq!(
            introspect(&app, str_of(&kept, "access_token")).await["active"],
            true
        );
        let r = refresh(&app, &client_id, str_of(&t, "refresh_token")).await;
        assert_eq!(r.status, StatusCode::OK, "{format}: {}", r.text());
    }
}

#[tokio::test]
async fn revoked_refresh_token_ends_its_grant() {
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let app = rs_builder(format).build().unwrap().router();
        let client_id = register_public(&app).await;
        let first = offline_tokens(&app, &client_id).await;
        let r = refresh(&app, &client_id, str_of(&first, "refresh_token")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let second = r.json();
        let other_grant = offline_tokens(&app, &client_id).await;

        let rt = str_of(&second, "refresh_token");
        let r = post_form(
            &app,
            "/revoke",
            &[
                ("token", rt),
                ("token_type_hint", "refresh_token"),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
        assert_revoked_ok(&r);
        refresh(&app, &client_id, rt)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
        // RFC 7009 §2.1: the access tokens of the same grant go too.
        assert_inactive(&app, str_of(&first, "access_token")).await;
        assert_inactive(&app, str_of(&second, "access_token")).await;
        // Another grant of the same client does not.
        assert_eq!(
            introspect(&app, str_of(&other_grant, "access_token")).await["active"],
            true
        );
        let r = refresh(&app, &client_id, str_of(&other_grant, "refresh_token")).await;
        assert_eq!(r.status, StatusCode::OK, "{format}: {}", r.text());
    }
}

#[tokio::test]
async fn confidential_client_revokes_with_either_secret_method() {
    let server = rs_builder(TokenFormat::Opaque).build().unwrap();
    server.register_confidential_client("svc", "svc-secret", &[REDIRECT]);
    let app = server.router();
    let token = || {
        let app = app.clone();
        async move {
            let r = post_form(
                &app,
                "/token",
                &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
                Some(("svc", "svc-secret")),
            )
            .await;
            str_of(&r.json(), "access_token").to_owned()
        }
    };
    let (a, b) = (token().await, token().await);
    // A wrong secret, or the id alone, is refused and revokes nothing.
    post_form(&app, "/revoke", &[("token", &a)], Some(("svc", "wrong")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    post_form(
        &app,
        "/revoke",
        &[("token", &a), ("client_id", "svc")],
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // The resource-server client is not a client of /revoke.
    post_form(&app, "/revoke", &[("token", &a)], Some((RS_ID, RS_SECRET)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(introspect(&app, &a).await["active"], true);

    let r = post_form(
        &app,
        "/revoke",
        &[("token", &a)],
        Some(("svc", "svc-secret")),
    )
    .await;
    assert_revoked_ok(&r);
    let r = post_form(
        &app,
        "/revoke",
        &[
            ("token", &b),
            ("client_id", "svc"),
            ("client_secret", "svc-secret"),
        ],
        None,
    )
    .await;
    assert_revoked_ok(&r);
    assert_inactive(&app, &a).await;
    assert_inactive(&app, &b).await;
    // Malformed: no token, not a form.
    post_form(&app, "/revoke", &[], Some(("svc", "svc-secret")))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    post_json(&app, "/revoke", &json!({"token": "x"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn reused_code_makes_its_access_token_inactive() {
    let app = rs_builder(TokenFormat::Opaque).build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    let token = str_of(&t, "access_token");
    assert_eq!(introspect(&app, token).await["active"], true);
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_inactive(&app, token).await;
}

#[tokio::test]
async fn metadata_lists_introspection_and_revocation() {
    let server = builder().issuer("http://as.test/auth").build().unwrap();
    let app = server.router();
    let m = get(&app, "/.well-known/oauth-authorization-server/auth")
        .await
        .json();
    assert_eq!(
        m["introspection_endpoint"],
        "http://as.test/auth/introspect"
    );
    assert_eq!(m["revocation_endpoint"], "http://as.test/auth/revoke");
    assert_eq!(
        m["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        m["revocation_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_post", "client_secret_basic"])
    );
    assert_eq!(server.introspection_endpoint(), m["introspection_endpoint"]);
    assert_eq!(server.revocation_endpoint(), m["revocation_endpoint"]);
    // The advertised paths are served (under the issuer's path).
    let rs = server.resource_server_client();
    let r = post_form(
        &app,
        "/auth/introspect",
        &[("token", "x")],
        Some((rs.client_id(), rs.client_secret())),
    )
    .await;
    assert_eq!(r.text(), r#"{"active":false}"#);
    let r = post_form(&app, "/auth/revoke", &[("token", "x")], None).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}
