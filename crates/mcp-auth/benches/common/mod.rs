//! Shared by the benches: the layer under test, a realistic token, the raw keys.

#![allow(dead_code)] // each bench uses its own part

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth::McpAuthLayer;
use mcp_auth::core::jwk::KeySet;
use mcp_auth::core::jws::Algorithm;
use mcp_auth::core::keys::StaticKeySource;
use mcp_auth_dev::TestAuthority;

pub(crate) const RES: &str = "https://mcp.example.com/mcp";
pub(crate) const ISS: &str = "https://auth.example.com";

pub(crate) fn layer(a: &TestAuthority, cache: u64) -> McpAuthLayer {
    layer_for_jwks(&a.jwks(), cache)
}

/// [`layer`] for the keys of a JWKS document (a fixed one, for the instruction gauge).
pub(crate) fn layer_for_jwks(jwks: &serde_json::Value, cache: u64) -> McpAuthLayer {
    builder_for_jwks(jwks, cache).build().unwrap()
}

/// The builder of [`layer_for_jwks`], to add settings to.
pub(crate) fn builder_for_jwks(jwks: &serde_json::Value, cache: u64) -> mcp_auth::McpAuthBuilder {
    let jwks = serde_json::to_vec(jwks).unwrap();
    let set = KeySet::from_jwks(&jwks, &Algorithm::ALL, 32).unwrap().keys;
    McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(StaticKeySource::new().with_issuer(ISS, set))
        .algorithms([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ])
        .scopes_supported(["mcp:read", "mcp:write"])
        .require_scopes(["mcp:read"])
        .token_cache(cache)
}

/// A realistic RFC 9068 token (~800 bytes for RS256).
pub(crate) fn token(a: &TestAuthority, alg: &str) -> String {
    token_builder(a, alg).expires_in(3600).sign()
}

/// The claims of [`token`], without `exp`.
pub(crate) fn token_builder(a: &TestAuthority, alg: &str) -> mcp_auth_dev::TokenBuilder {
    a.token()
        .alg(alg)
        .aud(RES)
        .scope("mcp:read mcp:write")
        .subject("248289761001")
        .client_id("s6BhdRkqt3")
        .claim("auth_time", serde_json::json!(1_700_000_000))
        .claim("acr", serde_json::json!("urn:mace:incommon:iap:silver"))
}

pub(crate) fn raw_key(
    a: &TestAuthority,
    alg: &str,
) -> (aws_lc_rs::signature::ParsedPublicKey, String) {
    let kid = a.current_kid(alg).unwrap();
    (raw_key_for_jwks(&a.jwks(), &kid, alg), kid)
}

/// The pre-parsed aws-lc-rs key of `kid` in a JWKS document, for `alg`.
pub(crate) fn raw_key_for_jwks(
    jwks: &serde_json::Value,
    kid: &str,
    alg: &str,
) -> aws_lc_rs::signature::ParsedPublicKey {
    use aws_lc_rs::signature as s;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone();
    let b = |k: &str| URL_SAFE_NO_PAD.decode(jwk[k].as_str().unwrap()).unwrap();
    match alg {
        "RS256" | "PS256" => {
            let n = b("n");
            let e = b("e");
            let der = rsa_der(&n, &e);
            let params: &'static dyn s::VerificationAlgorithm = if alg == "RS256" {
                &s::RSA_PKCS1_2048_8192_SHA256
            } else {
                &s::RSA_PSS_2048_8192_SHA256
            };
            s::ParsedPublicKey::new(params, der).unwrap()
        }
        "ES256" => {
            let mut p = vec![4u8];
            p.extend(b("x"));
            p.extend(b("y"));
            s::ParsedPublicKey::new(&s::ECDSA_P256_SHA256_FIXED, p).unwrap()
        }
        _ => s::ParsedPublicKey::new(&s::ED25519, b("x")).unwrap(),
    }
}

pub(crate) fn rsa_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let mut out = vec![0x02];
        let pad = v[0] & 0x80 != 0;
        let len = v.len() + usize::from(pad);
        len_bytes(&mut out, len);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    }
    fn len_bytes(out: &mut Vec<u8>, len: usize) {
        if len < 128 {
            out.push(len as u8);
        } else if len < 256 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
    }
    let body = [int(n), int(e)].concat();
    let mut out = vec![0x30];
    len_bytes(&mut out, body.len());
    out.extend(body);
    out
}

pub(crate) fn jsonwebtoken_key(a: &TestAuthority, kid: &str) -> jsonwebtoken::DecodingKey {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(a.jwks()).unwrap();
    jsonwebtoken::DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap()
}

/// A fetcher serving one JWKS document from memory, for the key-source benches.
#[derive(Debug)]
pub(crate) struct MemoryJwks(pub(crate) String);

impl mcp_auth_jwks::Fetcher for MemoryJwks {
    fn get<'a>(&'a self, _url: &'a str, _max: usize) -> mcp_auth_jwks::FetchFuture<'a> {
        let body = self.0.clone();
        Box::pin(async move { Ok(mcp_auth_jwks::FetchResponse::json(body)) })
    }
}

/// The layer with the real JWKS key source (served from memory, loaded on `rt`) and a token
/// cache of `cache` entries.
pub(crate) fn jwks_layer(
    rt: &tokio::runtime::Runtime,
    a: &TestAuthority,
    cache: u64,
) -> McpAuthLayer {
    jwks_layer_for(rt, &a.jwks(), cache).0
}

/// [`jwks_layer`] for a JWKS document; also returns (a clone of) the key source, for its
/// counters.
pub(crate) fn jwks_layer_for(
    rt: &tokio::runtime::Runtime,
    jwks: &serde_json::Value,
    cache: u64,
) -> (McpAuthLayer, mcp_auth_jwks::JwksKeySource) {
    let source = mcp_auth_jwks::JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, "https://auth.example.com/jwks")
        .fetcher(MemoryJwks(jwks.to_string()))
        .build()
        .unwrap();
    rt.block_on(mcp_auth::core::keys::KeySource::warm_up(&source))
        .unwrap();
    let layer = McpAuthLayer::builder(RES)
        .issuer(ISS)
        .key_source(source.clone())
        .require_scopes(["mcp:read"])
        .token_cache(cache)
        .build()
        .unwrap();
    (layer, source)
}

/// The bare service behind every layer in the benches: an empty 200, whatever the request
/// body (`axum::body::Body` for the bare service, `mcp_auth::RequestBody<_>` behind the
/// layer).
pub(crate) async fn echo<B>(
    _req: http::Request<B>,
) -> Result<http::Response<axum::body::Body>, std::convert::Infallible> {
    Ok(http::Response::new(axum::body::Body::empty()))
}

/// A request to the MCP endpoint carrying `token` as a bearer token (built on every request
/// of a measurement, on both sides of a ratio).
pub(crate) fn bearer_request(token: &str) -> http::Request<axum::body::Body> {
    http::Request::post("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

/// The floor layer in front of [`echo`]: it knows `token` in advance and does only what any
/// bearer layer must do for a token it has already verified (find the header, compare the
/// token, read the clock against an expiry, remove the header, put a context in the
/// extensions). Like the load harness's `Floor`: an unknown token gets a bare 401, never the
/// inner service; a known one goes to it without its header, with a context.
pub(crate) fn floor(
    token: &str,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = http::Response<axum::body::Body>,
    Error = std::convert::Infallible,
> {
    use tower::ServiceExt;
    let expected = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let exp = 4_102_444_800_u64; // 2100-01-01
    tower::service_fn(move |mut req: http::Request<axum::body::Body>| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let known = req.headers().get(http::header::AUTHORIZATION) == Some(&expected) && now < exp;
        let inner = known.then(|| {
            req.headers_mut().remove(http::header::AUTHORIZATION);
            req.extensions_mut().insert(std::sync::Arc::new(exp));
            tower::service_fn(echo::<axum::body::Body>).oneshot(req)
        });
        async move {
            match inner {
                Some(fut) => fut.await,
                None => {
                    let mut res = http::Response::new(axum::body::Body::empty());
                    *res.status_mut() = http::StatusCode::UNAUTHORIZED;
                    Ok::<_, std::convert::Infallible>(res)
                }
            }
        }
    })
}
