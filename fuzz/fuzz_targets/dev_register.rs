//! Dynamic Client Registration (RFC 7591) at the dev AS: any JSON body. Never a 5xx; a 201
//! registers a client whose redirect URIs are all acceptable and which gets a `client_id`.
#![no_main]

#[path = "common/dev.rs"]
mod dev;

use axum::body::Body;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcp_auth_dev::server::redirect_uri_is_acceptable;

fuzz_target!(|data: &[u8]| {
    let Some((&ct, body)) = data.split_first() else {
        return;
    };
    let content_type = match ct % 4 {
        0 | 1 => "application/json",
        2 => "application/json; charset=utf-8",
        _ => "text/plain",
    };
    let r = dev::send(
        Request::post("/register")
            .header("content-type", content_type)
            .body(Body::from(body.to_vec()))
            .unwrap(),
    );
    dev::assert_not_5xx(&r);
    if r.status == StatusCode::CREATED {
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON answer");
        assert!(v["client_id"].as_str().is_some_and(|c| !c.is_empty()));
        let uris = v["redirect_uris"].as_array().expect("redirect_uris echoed");
        assert!(!uris.is_empty());
        for u in uris {
            let u = u.as_str().expect("a string");
            assert!(redirect_uri_is_acceptable(u), "registered {u:?}");
        }
    } else {
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
});
