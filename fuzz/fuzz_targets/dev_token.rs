//! The dev AS's token endpoint (RFC 6749 §3.2, §4.1.3, §6; RFC 7636 §4.6; RFC 8707): any
//! form body, with or without `Authorization: Basic`. The placeholders `CODE` and `VERIFIER`
//! in a value are replaced by a fresh authorization code and its PKCE verifier, so the
//! fuzzer reaches the grant checks. Never a 5xx; a code is exchanged only with its verifier,
//! by its client, at most once.
#![no_main]

#[path = "common/dev.rs"]
mod dev;

use axum::body::Body;
use base64::Engine;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;

struct Input<'a> {
    basic: Option<(&'a str, &'a str)>,
    content_type: u8,
    body: &'a [u8],
    replay: bool,
}

fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The input: a flags line (`R`: send the request twice, `J`: a JSON content type), a line
/// `id:secret` for `Authorization: Basic` (empty: none), then the form body.
fn input(data: &[u8]) -> Option<Input<'_>> {
    let (flags, rest) = line(data);
    let (basic, body) = line(rest);
    let basic = std::str::from_utf8(basic).ok()?;
    Some(Input {
        basic: basic.split_once(':'),
        content_type: if flags.contains(&b'J') { 2 } else { 0 },
        body,
        replay: flags.contains(&b'R'),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = input(data) else {
        return;
    };
    let raw = dev::params(input.body);
    if raw
        .iter()
        .any(|(k, v)| k == "client_id" && dev::would_fetch(v))
        || input.basic.is_some_and(|(id, _)| dev::would_fetch(id))
    {
        return;
    }
    let wants_code = raw.iter().any(|(_, v)| v.contains("CODE"));
    let code = if wants_code {
        dev::authorize_code(dev::PUBLIC_CLIENT, "mcp:read offline_access")
    } else {
        None
    };
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &raw {
        let v = match &code {
            Some(c) => v.replace("CODE", c),
            None => v.clone(),
        };
        form.append_pair(k, &v.replace("VERIFIER", dev::VERIFIER));
    }
    let body = form.finish();
    let sent = dev::params(body.as_bytes());
    let content_type = match input.content_type % 3 {
        0 | 1 => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    let mk = || {
        let mut b = Request::post("/token").header("content-type", content_type);
        if let Some((id, secret)) = input.basic {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let v = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ));
            b = b.header("authorization", format!("Basic {v}"));
        }
        b.body(Body::from(body.clone())).unwrap()
    };
    let r = dev::send(mk());
    dev::assert_not_5xx(&r);
    if r.status != StatusCode::OK {
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON answer");
    assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["token_type"].as_str(), Some("Bearer"));
    assert_eq!(
        r.headers.get("cache-control").map(|h| h.as_bytes()),
        Some(&b"no-store"[..])
    );
    if dev::get(&sent, "grant_type") == Some("authorization_code") {
        let c = code
            .as_deref()
            .expect("a code grant succeeded without a real code");
        assert_eq!(dev::get(&sent, "code"), Some(c));
        assert_eq!(
            dev::get(&sent, "code_verifier"),
            Some(dev::VERIFIER),
            "PKCE bypassed"
        );
        // The code was issued to the public client: no one else may redeem it.
        let who = input
            .basic
            .map(|(id, _)| id.to_owned())
            .or_else(|| dev::get(&sent, "client_id").map(str::to_owned));
        assert_eq!(who.as_deref(), Some(dev::PUBLIC_CLIENT));
        if input.replay {
            let again = dev::send(mk());
            assert_eq!(
                again.status,
                StatusCode::BAD_REQUEST,
                "a code redeemed twice"
            );
        }
    }
});
