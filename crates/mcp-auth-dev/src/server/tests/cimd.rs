//! Client ID Metadata Documents served over loopback.

use std::net::Ipv4Addr;

use super::*;

/// Serves `make(<document URL>)` at `http://127.0.0.1:PORT/client.json`.
async fn serve_cimd(make: impl Fn(&str) -> Value) -> (String, RunningDoc) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let doc = make(&url);
    let app = Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, RunningDoc(task))
}

struct RunningDoc(tokio::task::JoinHandle<()>);
impl Drop for RunningDoc {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test]
async fn cimd_happy_path() {
    let (client_id, _doc) = serve_cimd(|url| {
        json!({
            "client_id": url,
            "client_name": "CIMD Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        })
    })
    .await;
    let server = builder().allow_loopback_cimd(true).build().unwrap();
    let app = server.router();
    let code = get_code(&app, &client_id).await;
    let r = exchange(&app, &client_id, &code, VERIFIER).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, claims) = verify_jwt(
        &server,
        r.json()["access_token"].as_str().unwrap(),
        RESOURCE,
    );
    assert_eq!(claims["client_id"], client_id);

    // Consent page names the document's host.
    let app = builder()
        .auto_approve(false)
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    let page = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("CIMD Client"));
    assert!(page.text().contains("identified by its metadata document"));

    // Without allow_loopback_cimd an http loopback client_id is refused (page, no redirect).
    let app = builder().build().unwrap().router();
    get(&app, &authorize_uri(&client_id, &[], &[]))
        .await
        .assert_error_page("invalid_client");
}

#[tokio::test]
async fn cimd_client_id_mismatch_is_refused() {
    let (client_id, _doc) = serve_cimd(|_url| {
        json!({
            "client_id": "https://someone-else.example/client.json",
            "client_name": "Impostor",
            "redirect_uris": [REDIRECT],
        })
    })
    .await;
    let app = builder()
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    let r = get(&app, &authorize_uri(&client_id, &[], &[])).await;
    r.assert_error_page("invalid_client");
    // Also at the token endpoint.
    let r = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn cimd_fetch_failures() {
    let app = builder()
        .allow_loopback_cimd(true)
        .build()
        .unwrap()
        .router();
    // Nothing listening on the port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/client.json", listener.local_addr().unwrap());
    drop(listener);
    get(&app, &authorize_uri(&dead, &[], &[]))
        .await
        .assert_error_page("invalid_client");
    // Too large.
    let (big, _doc) = serve_cimd(
        |url| json!({"client_id": url, "redirect_uris": [REDIRECT], "pad": "x".repeat(70 * 1024)}),
    )
    .await;
    let r = get(&app, &authorize_uri(&big, &[], &[])).await;
    r.assert_error_page("invalid_client");
    assert!(r.text().contains("too large"));
}
