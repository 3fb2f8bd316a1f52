//! RFC 8414 / OpenID Connect discovery documents (and the JWKS behind them) through the real
//! `JwksKeySource`, with a fetcher that answers from the fuzz input instead of the network.
//! A `jwks_uri` is fetched only from a document whose `issuer` is the configured issuer,
//! byte for byte (RFC 8414 §3.3), and only when it is an https URL.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mcp_auth_jwks::{FetchFuture, FetchResponse, Fetcher, JwksKeySource};
use std::sync::{Arc, Mutex, OnceLock};

const ISS: &str = "https://as.example.com/tenant";

#[derive(Arbitrary, Debug)]
struct Input {
    /// One answer per discovery URL tried (RFC 8414 path insertion, OIDC insertion, OIDC
    /// appending).
    metadata: Vec<Doc>,
    jwks: Doc,
}

#[derive(Arbitrary, Debug, Clone)]
struct Doc {
    status_ok: bool,
    content_type: u8,
    cache_control: Option<String>,
    body: Vec<u8>,
}

#[derive(Debug)]
struct FuzzFetcher {
    input: Input,
    seen: Mutex<Vec<String>>,
}

impl Fetcher for FuzzFetcher {
    fn get<'a>(&'a self, url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(url.to_owned());
            seen.len() - 1
        };
        let doc = if url.contains("/.well-known/") {
            self.input.metadata.get(n).cloned()
        } else {
            Some(self.input.jwks.clone())
        };
        Box::pin(async move {
            let doc = doc.unwrap_or(Doc {
                status_ok: false,
                content_type: 0,
                cache_control: None,
                body: Vec::new(),
            });
            let status = if doc.status_ok {
                http::StatusCode::OK
            } else {
                http::StatusCode::NOT_FOUND
            };
            let mut r = FetchResponse::new(status, doc.body);
            r = match doc.content_type % 4 {
                0 => r.with_content_type("application/json"),
                1 => r.with_content_type("application/jwk-set+json; charset=utf-8"),
                2 => r.with_content_type("text/html"),
                _ => r,
            };
            if let Some(cc) = doc.cache_control {
                r = r.with_cache_control(cc);
            }
            Ok(r)
        })
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

/// Two input forms: `DOC` seeds a human can write (`DOC\n`, the metadata document every
/// discovery URL answers, `\n--\n`, the JWKS), and anything else read as a structured
/// [`Input`].
fn input(data: &[u8]) -> Option<Input> {
    if let Some(rest) = data.strip_prefix(b"DOC\n") {
        let at = rest
            .windows(4)
            .position(|w| w == b"\n--\n")
            .unwrap_or(rest.len());
        let doc = |body: &[u8]| Doc {
            status_ok: true,
            content_type: 0,
            cache_control: Some("max-age=300".to_owned()),
            body: body.to_vec(),
        };
        let jwks = rest.get(at + 4..).unwrap_or_default();
        return Some(Input {
            metadata: vec![doc(&rest[..at]); 3],
            jwks: doc(jwks),
        });
    }
    Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let fetcher = Arc::new(FuzzFetcher {
        input,
        seen: Mutex::new(Vec::new()),
    });
    let Ok(source) = JwksKeySource::builder()
        .issuer(ISS)
        .fetcher(Arc::clone(&fetcher))
        .build()
    else {
        return;
    };
    let result = runtime().block_on(source.warm_up());
    let seen = fetcher.seen.lock().unwrap().clone();
    let discovery: Vec<&String> = seen
        .iter()
        .filter(|u| u.contains("/.well-known/"))
        .collect();
    let others: Vec<&String> = seen
        .iter()
        .filter(|u| !u.contains("/.well-known/"))
        .collect();
    assert!(others.len() <= 1, "more than one JWKS fetch: {seen:?}");
    if let Some(jwks_uri) = others.first() {
        assert!(
            jwks_uri.starts_with("https://"),
            "fetched a non-https jwks_uri"
        );
        // The document that named it: the last one fetched, which must name our issuer.
        let i = discovery.len() - 1;
        let doc = &fetcher.input.metadata[i];
        // The two members read as RFC 8414 §3.2 defines them (serde_json::Value would also
        // refuse a lone surrogate in a member nobody reads, which RFC 8259 §8.2 allows).
        #[derive(serde::Deserialize)]
        struct Meta {
            issuer: String,
            jwks_uri: Option<String>,
        }
        let m: Meta = serde_json::from_slice(&doc.body).expect("an accepted document parses");
        assert_eq!(
            m.issuer, ISS,
            "jwks_uri taken from another issuer's document"
        );
        assert!(
            std::str::from_utf8(&doc.body).is_ok(),
            "a document that is not UTF-8"
        );
        // Fetched as the URL parser serialized it when the key source checked it.
        let checked = m
            .jwks_uri
            .and_then(|u| url::Url::parse(&u).ok())
            .map(String::from);
        assert_eq!(checked.as_deref(), Some(jwks_uri.as_str()));
    }
    if result.is_ok() {
        assert_eq!(others.len(), 1, "loaded without fetching a JWKS");
        assert!(source.last_error(ISS).is_none());
    }
});
