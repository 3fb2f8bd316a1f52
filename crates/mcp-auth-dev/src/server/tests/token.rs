//! `/token`: code exchange, refresh rotation and reuse, client authentication,
//! `client_credentials`.

use std::sync::atomic::{AtomicI64, Ordering};

use super::*;

#[tokio::test]
async fn wrong_or_missing_verifier_is_invalid_grant() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    let other = "x".repeat(43);
    exchange(&app, &client_id, &code, &other)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // The code was burnt by the failed attempt.
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let code = get_code(&app, &client_id).await;
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn refresh_token_only_with_offline_access() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    assert!(t["access_token"].is_string());
    assert!(t.get("refresh_token").is_none(), "{t}");
    let code = get_offline_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    assert!(t["refresh_token"].is_string(), "{t}");
    assert_eq!(
        t["scope"], "mcp:read",
        "offline_access is not an access-token scope"
    );
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let t = exchange(&app, &client_id, &code, VERIFIER).await.json();
    let rt = t["refresh_token"].as_str().unwrap();
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // The refresh token issued from the code is revoked.
    refresh(&app, &client_id, rt)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Codes are bound to their client.
    let other = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    exchange(&app, &other, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn expired_code_is_refused() {
    let app = builder()
        .code_lifetime(Duration::ZERO)
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    exchange(&app, &client_id, &code, VERIFIER)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // With an injected clock: valid at 59 s, expired at 60 s.
    let now = Arc::new(AtomicI64::new(1_700_000_000));
    let clock = Arc::clone(&now);
    let app = builder()
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap()
        .router();
    let client_id = register_public(&app).await;
    let code = get_code(&app, &client_id).await;
    now.fetch_add(59, Ordering::SeqCst);
    assert_eq!(
        exchange(&app, &client_id, &code, VERIFIER).await.status,
        StatusCode::OK
    );
    let code = get_code(&app, &client_id).await;
    now.fetch_add(60, Ordering::SeqCst);
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn refresh_token_reuse_after_rotation() {
    let app = builder().build().unwrap().router();
    let client_id = register_public(&app).await;
    let code = get_offline_code(&app, &client_id).await;
    let rt1 = exchange(&app, &client_id, &code, VERIFIER).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = refresh(&app, &client_id, &rt1).await;
    assert_eq!(r.status, StatusCode::OK);
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    // Old token again: refused, and the whole grant is revoked.
    refresh(&app, &client_id, &rt1)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    refresh(&app, &client_id, &rt2)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    refresh(&app, &client_id, "garbage")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn confidential_client_and_client_credentials() {
    let app = builder().build().unwrap().router();
    let r = post_json(
        &app,
        "/register",
        &json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    let v = r.json();
    let id = v["client_id"].as_str().unwrap().to_owned();
    let secret = v["client_secret"].as_str().unwrap().to_owned();

    let cc = |extra: Vec<(&'static str, String)>| {
        let mut p = vec![("grant_type", "client_credentials".to_owned())];
        p.extend(extra);
        p
    };
    let post = |pairs: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let app = app.clone();
        async move {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let basic = basic.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
            post_form(&app, "/token", &refs, basic).await
        }
    };
    // client_secret_post.
    let r = post(
        cc(vec![
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json().get("refresh_token").is_none());
    // client_secret_basic works too.
    let r = post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some((id.clone(), secret.clone())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Wrong secret, unknown client, no secret: 401 invalid_client.
    post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some((id.clone(), "wrong".to_owned())),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let r = post(
        cc(vec![("resource", RESOURCE.to_owned())]),
        Some(("nobody".to_owned(), "x".to_owned())),
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(r.headers.contains_key("www-authenticate"));
    post(
        cc(vec![
            ("client_id", id.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Two authentication methods at once.
    post(
        cc(vec![
            ("client_secret", secret.clone()),
            ("resource", RESOURCE.to_owned()),
        ]),
        Some((id.clone(), secret.clone())),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // resource is required.
    post(cc(vec![]), Some((id.clone(), secret.clone())))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_target");
    // A public client cannot use client_credentials.
    let public = register_public(&app).await;
    post(
        cc(vec![
            ("client_id", public),
            ("resource", RESOURCE.to_owned()),
        ]),
        None,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // Unknown grant type; missing grant type; not a form.
    post(
        vec![("grant_type", "password".to_owned())],
        Some((id.clone(), secret.clone())),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    post(vec![], Some((id, secret)))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let r = send(
        &app,
        Request::post("/token")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
}
