//! Shared test fixtures: JWKS documents and a counting, failing-on-demand fetcher.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod cache;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_jwks::{FetchError, FetchFuture, FetchResponse, Fetcher, JwksKeySource, JwksStats};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// An ES256 public JWK with `kid` (one generated point, reused: only the `kid` matters here).
pub fn ec_jwk(kid: &str) -> Value {
    static POINT: OnceLock<(String, String)> = OnceLock::new();
    let (x, y) = POINT.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..]),
        )
    });
    json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid, "x": x, "y": y})
}

/// A JWKS document with one ES256 key per `kid`.
pub fn jwks(kids: &[&str]) -> String {
    json!({"keys": kids.iter().map(|k| ec_jwk(k)).collect::<Vec<_>>()}).to_string()
}

/// A fetcher answering from a table of URL -> response, counting requests per URL. Unknown
/// URLs answer 404. `fail_all` makes every request a transport error; the gate, when closed,
/// holds every request until opened.
#[derive(Debug)]
pub struct FakeFetcher {
    routes: Mutex<HashMap<String, Result<FetchResponse, FetchError>>>,
    counts: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    fail_all: std::sync::atomic::AtomicBool,
    gate: tokio::sync::watch::Sender<bool>,
}

impl FakeFetcher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            routes: Mutex::default(),
            counts: Mutex::default(),
            total: AtomicUsize::new(0),
            fail_all: false.into(),
            gate: tokio::sync::watch::channel(true).0,
        })
    }

    pub fn set(&self, url: &str, response: FetchResponse) {
        self.routes
            .lock()
            .unwrap()
            .insert(url.to_owned(), Ok(response));
    }

    pub fn set_error(&self, url: &str, error: FetchError) {
        self.routes
            .lock()
            .unwrap()
            .insert(url.to_owned(), Err(error));
    }

    pub fn set_jwks(&self, url: &str, kids: &[&str], cache_control: Option<&str>) {
        let mut resp = FetchResponse::json(jwks(kids));
        if let Some(cc) = cache_control {
            resp = resp.with_cache_control(cc);
        }
        self.set(url, resp);
    }

    pub fn fail_all(&self, fail: bool) {
        self.fail_all.store(fail, Ordering::SeqCst);
    }

    pub fn close_gate(&self) {
        self.gate.send_replace(false);
    }

    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Requests made, all URLs.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Requests made to `url`.
    pub fn count(&self, url: &str) -> usize {
        self.counts.lock().unwrap().get(url).copied().unwrap_or(0)
    }

    /// The URLs requested, sorted.
    pub fn urls(&self) -> Vec<String> {
        let mut v: Vec<_> = self.counts.lock().unwrap().keys().cloned().collect();
        v.sort();
        v
    }
}

impl Fetcher for FakeFetcher {
    fn get<'a>(&'a self, url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
        self.total.fetch_add(1, Ordering::SeqCst);
        *self
            .counts
            .lock()
            .unwrap()
            .entry(url.to_owned())
            .or_default() += 1;
        Box::pin(async move {
            let mut gate = self.gate.subscribe();
            gate.wait_for(|open| *open).await.unwrap();
            // Let other tasks run, as a real request would.
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::task::yield_now().await;
            }
            if self.fail_all.load(Ordering::SeqCst) {
                return Err(FetchError::Transport {
                    url: url.to_owned(),
                    reason: "connection refused (simulated outage)".to_owned(),
                });
            }
            match self.routes.lock().unwrap().get(url) {
                Some(r) => r.clone(),
                None => Ok(FetchResponse::new(http::StatusCode::NOT_FOUND, "not found")
                    .with_content_type("text/plain")),
            }
        })
    }
}

/// Lets spawned background work run until `done` holds (bounded; no real sleep).
pub async fn settle(source: &JwksKeySource, done: impl Fn(&JwksStats) -> bool) {
    for _ in 0..10_000 {
        if done(&source.stats()) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached: {:?}", source.stats());
}

pub const SECOND: Duration = Duration::from_secs(1);
