//! The token authority of the load benchmark.
//!
//! Starts a `mcp_auth_dev::TestAuthority` served on loopback (`serve_new`: the issuer is
//! `http://127.0.0.1:<port>`, with RFC 8414 + OIDC discovery documents and `/jwks`), mints the
//! RS256 token files every workload uses, then keeps serving until killed. The number of
//! `GET /jwks` requests it has answered is written to `<out>/jwks_fetches` every 50 ms, so
//! the driver can count the JWKS fetches a server makes during a workload.
//!
//! Files written to `--out`:
//! - `issuer.txt`         the issuer (every server flavour trusts exactly this issuer)
//! - `jwks.json`          the public JWKS (for reference; servers fetch it over HTTP)
//! - `tokens_1.txt`       one valid token (the "repeated token" workload)
//! - `tokens_100000.txt`  distinct valid tokens (first 10,000 = `tokens_10000.txt`)
//! - `tokens_10000.txt`   distinct valid tokens (the cold-path workload)
//! - `forged_kid.txt`     valid-looking tokens, each with its own unknown `kid`
//! - `opaque_issuer.txt`  the issuer of the opaque-token server (issue 16): a
//!   `DevAuthorizationServer` issuing opaque tokens, with RFC 7662 introspection for the
//!   resource-server client [`OPAQUE_RS_CLIENT`]
//! - `opaque_1.txt`       one of its opaque tokens (the "opaque-repeated" workload)
//! - `dpop_token.txt`     one valid token bound (`cnf.jkt`) to a client P-256 key (issue 17)
//! - `dpop_proofs.txt`    `--dpop` ES256 proofs of that key for `POST <resource>` with that
//!   token, each with its own `jti` (the "dpop" workload sends each once); dated
//!   [`DPOP_AHEAD_SECS`] ahead, so they stay inside the ±300 s `iat` window for ~10 minutes
//! - `ready`              written last

use mcp_auth_dev::{DevAuthorizationServer, TestAuthority, TokenFormat};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

/// Audience of every token: the canonical resource URI of the benchmarked MCP server.
const RESOURCE: &str = "https://mcp.example.com/mcp";
/// Token lifetime: longer than any run.
const LIFETIME_SECS: i64 = 4 * 3600;
/// The credentials the `mcp-auth-opaque` server flavour introspects with (loopback only;
/// `server.rs` has the same).
const OPAQUE_RS_CLIENT: (&str, &str) = ("load-bench-rs", "load-bench-rs-secret-not-secret");

/// The opaque-token authorization server, serving, and one of its tokens for [`RESOURCE`]
/// (from its token endpoint, client credentials, called in process).
async fn opaque_server() -> (mcp_auth_dev::RunningDevServer, String) {
    let running = DevAuthorizationServer::builder()
        .token_format(TokenFormat::Opaque)
        .resource_server_client(OPAQUE_RS_CLIENT.0, OPAQUE_RS_CLIENT.1)
        .scopes_supported(["mcp:read", "mcp:write"])
        .access_token_lifetime(Duration::from_secs(LIFETIME_SECS as u64))
        .serve()
        .await
        .expect("serve the opaque-token server");
    let server = running.server();
    server.register_confidential_client("load-bench-client", "load-bench-client-secret", &[]);
    let req = axum::http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            mcp_auth::core::introspection::basic_authorization(
                "load-bench-client",
                "load-bench-client-secret",
            ),
        )
        .body(axum::body::Body::from(
            "grant_type=client_credentials&scope=mcp%3Aread%20mcp%3Awrite\
             &resource=https%3A%2F%2Fmcp.example.com%2Fmcp",
        ))
        .expect("token request");
    let res = server.router().oneshot(req).await.expect("token endpoint");
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("token body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
    let token = v["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    assert!(!token.contains('.'), "an opaque token");
    (running, token)
}

/// How far ahead of minting the proofs are dated: a proof is accepted while its `iat` is
/// within ±300 s (RFC 9449 §11.1, the policy's maximum window) of the server's clock, so a
/// file minted at start serves a run of up to 590 s.
const DPOP_AHEAD_SECS: i64 = 290;

/// A DPoP client: its P-256 key and its public JWK.
struct DpopClient {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    jwk: serde_json::Value,
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl DpopClient {
    fn new() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let p = key.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])});
        Self { key, jwk }
    }

    /// An RFC 9449 §4.2 proof for `POST <RESOURCE>` with `token`, dated `iat`.
    fn proof(&self, token: &str, iat: i64, jti: &str) -> String {
        let ath =
            b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let claims = json!({"jti": jti, "htm": "POST", "htu": RESOURCE, "iat": iat, "ath": ath});
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).expect("header")),
            b64(&serde_json::to_vec(&claims).expect("claims"))
        );
        let sig = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

struct Args {
    out: PathBuf,
    dpop: usize,
    distinct: usize,
    forged: usize,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        out: PathBuf::from("benches/load/target-data"),
        distinct: 100_000,
        forged: 10_000,
        dpop: 100_000,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(val()),
            "--distinct" => a.distinct = val().parse().expect("--distinct N"),
            "--forged" => a.forged = val().parse().expect("--forged N"),
            "--dpop" => a.dpop = val().parse().expect("--dpop N"),
            "--threads" => a.threads = val().parse().expect("--threads N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A realistic RFC 9068 access token (~850 bytes), as in the criterion benches.
fn valid(a: &TestAuthority, jti: &str) -> String {
    a.token()
        .aud(RESOURCE)
        .scope("mcp:read mcp:write")
        .subject("248289761001")
        .client_id("s6BhdRkqt3")
        .claim("auth_time", json!(1_700_000_000))
        .claim("acr", json!("urn:mace:incommon:iap:silver"))
        .claim("jti", json!(jti))
        .expires_in(LIFETIME_SECS)
        .sign()
}

/// Mints `n` tokens on `threads` threads; `f(i)` builds token `i`.
fn mint(n: usize, threads: usize, f: impl Fn(usize) -> String + Sync) -> Vec<String> {
    let threads = threads.max(1);
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(f)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("minting thread"))
            .collect()
    })
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create token file"));
    for l in lines {
        writeln!(f, "{l}").expect("write token file");
    }
    f.flush().expect("flush token file");
}

fn write_atomic(dir: &Path, name: &str, content: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.out).expect("create --out");
    let _ = std::fs::remove_file(args.out.join("ready"));

    let (authority, served) = TestAuthority::serve_new().await.expect("serve authority");
    let issuer = authority.issuer();
    eprintln!("authority: issuer {issuer}, jwks {}", served.jwks_uri());

    let t0 = Instant::now();
    let a = &authority;
    let one = valid(a, "bench-repeated");
    let distinct = mint(args.distinct, args.threads, |i| {
        valid(a, &format!("bench-{i:06}"))
    });
    let forged = mint(args.forged, args.threads, |i| {
        a.token()
            .aud(RESOURCE)
            .scope("mcp:read mcp:write")
            .subject("248289761001")
            .client_id("s6BhdRkqt3")
            .claim("jti", json!(format!("forged-{i:06}")))
            .kid(&format!("forged-kid-{i:06}"))
            .expires_in(LIFETIME_SECS)
            .sign()
    });
    let client = DpopClient::new();
    let jkt = mcp_auth::dpop::jwk_thumbprint(client.jwk.as_object().expect("jwk")).expect("jkt");
    let dpop_token = a
        .token()
        .aud(RESOURCE)
        .scope("mcp:read mcp:write")
        .subject("248289761001")
        .client_id("s6BhdRkqt3")
        .claim("auth_time", json!(1_700_000_000))
        .claim("acr", json!("urn:mace:incommon:iap:silver"))
        .claim("jti", json!("bench-dpop"))
        .cnf_jkt(&jkt)
        .expires_in(LIFETIME_SECS)
        .sign();
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        + DPOP_AHEAD_SECS;
    let proofs = mint(args.dpop, args.threads, |i| {
        client.proof(&dpop_token, iat, &format!("bench-dpop-{i:07}"))
    });
    eprintln!(
        "authority: minted {} tokens in {:.1}s",
        1 + distinct.len() + forged.len(),
        t0.elapsed().as_secs_f64()
    );

    let out = &args.out;
    write_atomic(out, "issuer.txt", &format!("{issuer}\n"));
    write_atomic(
        out,
        "jwks.json",
        &serde_json::to_string_pretty(&authority.jwks()).expect("jwks json"),
    );
    write_lines(&out.join("tokens_1.txt"), std::slice::from_ref(&one));
    write_lines(
        &out.join("tokens_10000.txt"),
        &distinct[..distinct.len().min(10_000)],
    );
    write_lines(
        &out.join(format!("tokens_{}.txt", distinct.len())),
        &distinct,
    );
    write_lines(&out.join("forged_kid.txt"), &forged);
    write_lines(
        &out.join("dpop_token.txt"),
        std::slice::from_ref(&dpop_token),
    );
    write_lines(&out.join("dpop_proofs.txt"), &proofs);
    let (opaque, opaque_token) = opaque_server().await;
    write_atomic(out, "opaque_issuer.txt", &format!("{}\n", opaque.issuer()));
    write_lines(&out.join("opaque_1.txt"), &[opaque_token]);
    write_atomic(out, "jwks_fetches", "0\n");
    write_atomic(out, "ready", &format!("{issuer}\n"));
    eprintln!("authority: ready");

    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut last = usize::MAX;
    loop {
        tick.tick().await;
        let n = served.jwks_fetches();
        if n != last {
            write_atomic(out, "jwks_fetches", &format!("{n}\n"));
            last = n;
        }
    }
}
