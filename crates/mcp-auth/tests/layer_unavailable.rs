//! The status table of design.md, the 503 row: a key source that cannot be reached answers 503
//! with `Retry-After` and no challenge, and junk never reaches the key source.

mod common;

use common::*;
use mcp_auth::core::keys::{KeyError, KeySource, KeysFuture};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// --- 503 --------------------------------------------------------------------------------------

#[derive(Debug)]
struct DownKeySource;

impl KeySource for DownKeySource {
    fn keys<'a>(&'a self, _issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(Err(KeyError::Unavailable {
            retry_after: 7,
            reason: "connection refused".into(),
        })))
    }
}

#[tokio::test]
async fn key_source_unreachable_is_503_with_retry_after_and_no_challenge() {
    let layer = builder().key_source(DownKeySource).build().unwrap();
    let o = send(layer, bearer(&token().sign())).await;
    assert_rejected(&o, 503, None);
    assert_eq!(o.retry_after.as_deref(), Some("7"));
}

#[tokio::test]
async fn junk_never_reaches_the_key_source() {
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);
    impl KeySource for Counting {
        fn keys<'a>(&'a self, _i: &'a str, _k: Option<&'a str>) -> KeysFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::ready(Err(KeyError::UnknownIssuer)))
        }
    }
    let ks = Arc::new(Counting::default());
    let layer = builder().key_source(ks.clone()).build().unwrap();
    for t in [
        "junk".to_owned(),
        token().unsigned(),
        token().expires_in(-3600).sign(),
        token()
            .claim("iss", json!("https://evil.example.com"))
            .sign(),
        authority().token().aud("https://elsewhere").sign(),
    ] {
        assert_eq!(send(layer.clone(), bearer(&t)).await.status, 401);
    }
    assert_eq!(ks.0.load(Ordering::SeqCst), 0);
}
