//! The per-address limit of `/register` and `/token`: 429, `Retry-After`, an OAuth error.

use super::*;
use std::net::SocketAddr;

/// A request from `peer`, as `serve` delivers it (axum's `ConnectInfo`).
async fn from(app: &Router, peer: &str, uri: &str, ctype: &str, body: String) -> Resp {
    let mut req = Request::post(uri)
        .header("content-type", ctype)
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        peer.parse::<SocketAddr>().unwrap(),
    ));
    send(app, req).await
}

async fn register_from(app: &Router, peer: &str) -> Resp {
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    from(app, peer, "/register", "application/json", body.to_string()).await
}

async fn token_from(app: &Router, peer: &str) -> Resp {
    let body = form(&[("grant_type", "client_credentials")]);
    from(
        app,
        peer,
        "/token",
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

fn assert_429(r: &Resp, retry_after: &str) {
    r.assert_error(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable");
    assert_eq!(r.headers["retry-after"], retry_after, "{}", r.text());
    assert!(r.json()["error_description"].is_string());
}

#[tokio::test]
async fn register_and_token_are_limited_per_address() {
    let app = builder()
        .rate_limit(DevRateLimit::new(1, Duration::from_secs(30), 2))
        .build()
        .unwrap()
        .router();
    let me = "192.0.2.1:5000";
    for _ in 0..2 {
        assert_eq!(register_from(&app, me).await.status, StatusCode::CREATED);
    }
    assert_429(&register_from(&app, me).await, "30");
    // Another port of the same address is the same address; another address is not.
    assert_429(&register_from(&app, "192.0.2.1:6000").await, "30");
    assert_eq!(
        register_from(&app, "192.0.2.2:5000").await.status,
        StatusCode::CREATED
    );
    // IPv6 per /64.
    for _ in 0..2 {
        assert_eq!(
            register_from(&app, "[2001:db8:1:2::1]:1").await.status,
            StatusCode::CREATED
        );
    }
    assert_429(&register_from(&app, "[2001:db8:1:2::ffff]:1").await, "30");
    // /token counts apart: its own burst, then 429 before any grant work (a bad grant would
    // be 400/401 otherwise).
    for _ in 0..2 {
        let r = token_from(&app, me).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    }
    assert_429(&token_from(&app, me).await, "30");
    // Other endpoints are not limited.
    let r = get(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_limit_refills_and_can_be_turned_off() {
    let app = builder()
        .rate_limit(DevRateLimit::new(1, Duration::from_millis(300), 1))
        .build()
        .unwrap()
        .router();
    let me = "198.51.100.3:1";
    assert_eq!(register_from(&app, me).await.status, StatusCode::CREATED);
    assert_429(&register_from(&app, me).await, "1");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(register_from(&app, me).await.status, StatusCode::CREATED);

    let open = builder().rate_limit(None).build().unwrap().router();
    for _ in 0..300 {
        assert_eq!(register_from(&open, me).await.status, StatusCode::CREATED);
    }
    // Without a peer address (a router served without connect info) nothing is limited.
    let app = builder()
        .rate_limit(DevRateLimit::new(1, Duration::from_secs(60), 1))
        .build()
        .unwrap()
        .router();
    for _ in 0..5 {
        assert!(!register_public(&app).await.is_empty());
    }
}

#[tokio::test]
async fn the_default_limit_applies_to_a_served_server() {
    let running = DevAuthorizationServer::builder().serve().await.unwrap();
    let url = format!("{}/register", running.base_url());
    let http = reqwest::Client::new();
    let body =
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}).to_string();
    let mut statuses = Vec::new();
    // The default burst is 100 at 10/s: 150 requests in a row from 127.0.0.1 meet the limit
    // (unless they took over 5 s).
    for _ in 0..150 {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(retry, 1, "one request conforms within 100 ms");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(v["error"], "temporarily_unavailable");
        }
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(created + limited, 150, "{statuses:?}");
    assert!(created >= 100, "the burst: {created} created");
    assert!(limited >= 1, "{limited} limited");
    // The burst went first: nothing was refused before the 101st request.
    assert!(statuses[..100].iter().all(|s| *s == 201), "{statuses:?}");
}
