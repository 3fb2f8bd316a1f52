//! `--trusted-proxy` and `--proxy-header` (issue 18): the per-address rate limit reads the
//! client's address from `X-Forwarded-For` or `Forwarded` only when the request comes from a
//! trusted proxy, and then takes the right-most address that is not a trusted proxy.
//!
//! Every request here comes from the test's socket, 127.0.0.1, to the example's real server
//! on loopback, with a per-address budget of 3 at once and one a minute after (the tests run
//! well inside one refill): a 4th request in one bucket is 429, a request in a fresh bucket
//! is 200.

mod common;

use common::{bounded, example_command, http, run_refused, tools_call};
use example_mcp_server::fleet::{FleetSettings, ProxyHeaderFlag, parse_rate};
use example_mcp_server::{Config, RunningServer, StartError};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;
use std::process::Command;

/// The budget per bucket: 3 at once, then one a minute.
const RATE: &str = "1/60:3";
const BURST: usize = 3;

/// The example with the per-address limit, trusting `proxies` for `header`, and a token
/// of its development authorization server.
async fn start(proxies: &[&str], header: ProxyHeaderFlag) -> (RunningServer, String) {
    let server = try_start(proxies, header).await.expect("example starts");
    let token = server.mint_token("mcp:read").expect("dev AS mints");
    (server, token)
}

async fn try_start(proxies: &[&str], header: ProxyHeaderFlag) -> Result<RunningServer, StartError> {
    example_mcp_server::start(Config {
        fleet: FleetSettings {
            per_address: Some(parse_rate(RATE).unwrap()),
            trusted_proxies: proxies.iter().map(|p| (*p).to_owned()).collect(),
            proxy_header: header,
            ..FleetSettings::default()
        },
        ..Config::ephemeral()
    })
    .await
}

struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    text: String,
}

/// A `whoami` call with a valid token, from 127.0.0.1, with `headers` added.
async fn call(server: &RunningServer, token: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = http()
        .post(format!("http://{}/mcp", server.local_addr))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(tools_call(1, "whoami", json!({})).to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    Reply {
        status: resp.status(),
        retry_after: resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        text: resp.text().await.expect("body"),
    }
}

/// 200: the request's bucket had budget left.
fn assert_ok(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text);
}

/// 429 with `Retry-After` within the minute, and no token in the body.
fn assert_limited(r: &Reply, what: &str, token: &str) {
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        r.text
    );
    let secs: u64 = r
        .retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After {:?}", r.retry_after));
    assert!((1..=60).contains(&secs), "{what}: Retry-After {secs}");
    assert!(!r.text.contains(token), "{what}: the token in the body");
}

/// The burst of one bucket, each request with the headers `vary(i)` gives, then one more:
/// the first [`BURST`] are 200 and the next is 429.
async fn assert_one_bucket<F>(server: &RunningServer, token: &str, name: &str, vary: F)
where
    F: Fn(usize) -> String,
{
    let past = vary(BURST);
    let what = format!("{name}, one bucket");
    assert_rest_of_bucket(server, token, name, (0..BURST).map(&vary), &past, &what).await;
}

/// What is left of one bucket: a request with `name: value` for each of `values` is 200,
/// then one with `name: past` is 429.
async fn assert_rest_of_bucket(
    server: &RunningServer,
    token: &str,
    name: &str,
    values: impl IntoIterator<Item = String>,
    past: &str,
    what: &str,
) {
    for (i, value) in values.into_iter().enumerate() {
        let r = call(server, token, &[(name, &value)]).await;
        assert_ok(&r, &format!("{what}: {value} (request {})", i + 1));
    }
    let r = call(server, token, &[(name, past)]).await;
    assert_limited(&r, &format!("{what}: {past} (past the burst)"), token);
}

/// More requests than one burst, each from another forwarded client: all 200.
async fn assert_own_buckets<F>(server: &RunningServer, token: &str, name: &str, vary: F)
where
    F: Fn(usize) -> String,
{
    for i in 0..2 * BURST + 1 {
        let value = vary(i);
        let r = call(server, token, &[(name, &value)]).await;
        assert_ok(&r, &format!("{name}: {value} (its own bucket)"));
    }
}

#[tokio::test]
async fn without_a_trusted_proxy_forged_forwarding_headers_share_the_sockets_bucket() {
    bounded(async {
        let (server, t) = start(&[], ProxyHeaderFlag::XForwardedFor).await;
        // Each request claims another client; all are 127.0.0.1's.
        assert_one_bucket(&server, &t, "x-forwarded-for", |i| {
            format!("198.51.100.{}", i + 1)
        })
        .await;
        let r = call(&server, &t, &[("forwarded", "for=203.0.113.77")]).await;
        assert_limited(&r, "Forwarded, untrusted", &t);
        let r = call(&server, &t, &[]).await;
        assert_limited(&r, "no header", &t);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    bounded(async {
        let (server, t) = start(&["127.0.0.1/32"], ProxyHeaderFlag::XForwardedFor).await;
        assert_own_buckets(&server, &t, "x-forwarded-for", |i| {
            format!("198.51.100.{}", i + 1)
        })
        .await;
        // One forwarded client is limited: 198.51.100.1 spent one request above.
        let one = "198.51.100.1";
        let rest = (1..BURST).map(|_| one.to_owned());
        let what = "one forwarded client";
        assert_rest_of_bucket(&server, &t, "x-forwarded-for", rest, one, what).await;
        // The proxy's own requests (no header) are the proxy's bucket, still fresh.
        let r = call(&server, &t, &[]).await;
        assert_ok(&r, "the proxy itself");
        // Only the configured header is read: a Forwarded header is ignored, so these are
        // the proxy's bucket too.
        let rest = (1..BURST).map(|i| format!("for=203.0.113.{i}"));
        let what = "Forwarded under --proxy-header x-forwarded-for";
        assert_rest_of_bucket(&server, &t, "forwarded", rest, "for=203.0.113.99", what).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_trusted_proxy_that_is_not_the_peer_changes_nothing() {
    bounded(async {
        let (server, t) = start(&["10.0.0.0/8", "fd00::/8"], ProxyHeaderFlag::XForwardedFor).await;
        assert_one_bucket(&server, &t, "x-forwarded-for", |i| {
            format!("198.51.100.{}", i + 1)
        })
        .await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_two_hop_chain_gives_the_right_most_untrusted_address() {
    bounded(async {
        // The socket peer (127.0.0.1) and an inner proxy (10.0.0.5) are trusted.
        let (server, t) = start(&["127.0.0.1", "10.0.0.0/8"], ProxyHeaderFlag::XForwardedFor).await;
        // What the client wrote itself (left of 198.51.100.7) is never read: one bucket.
        assert_one_bucket(&server, &t, "x-forwarded-for", |i| {
            format!("6.6.6.{i}, 198.51.100.7, 10.0.0.5")
        })
        .await;
        // Other clients behind the same two proxies: their own buckets.
        assert_own_buckets(&server, &t, "x-forwarded-for", |i| {
            format!("198.51.100.{}, 10.0.0.5", 100 + i)
        })
        .await;
        server.shutdown().await;

        // With only the socket peer trusted, 10.0.0.5 is the right-most untrusted hop: the
        // client behind it is not believed, every such request is 10.0.0.5's.
        let (server, t) = start(&["127.0.0.1/32"], ProxyHeaderFlag::XForwardedFor).await;
        assert_one_bucket(&server, &t, "x-forwarded-for", |i| {
            format!("198.51.100.{}, 10.0.0.5", i + 1)
        })
        .await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn forwarded_is_read_with_proxy_header_forwarded_and_ipv6_is_limited_per_64() {
    bounded(async {
        let (server, t) = start(&["127.0.0.1/32"], ProxyHeaderFlag::Forwarded).await;
        assert_own_buckets(&server, &t, "forwarded", |i| {
            format!("for=198.51.100.{};proto=https", i + 1)
        })
        .await;
        // Addresses of one /64 are one client; quoted IPv6 nodes with ports (RFC 7239 §6).
        assert_one_bucket(&server, &t, "forwarded", |i| {
            format!("for=\"[2001:db8:1:2::{:x}]:{}\"", i + 1, 4000 + i)
        })
        .await;
        // The next /64 is another client.
        let r = call(&server, &t, &[("forwarded", "for=\"[2001:db8:1:3::1]\"")]).await;
        assert_ok(&r, "another /64");
        // X-Forwarded-For is not the header these proxies write: ignored, the proxy's own
        // bucket (fresh until now).
        let all = (0..BURST).map(|i| format!("198.51.100.{}", 200 + i));
        let what = "X-Forwarded-For under --proxy-header forwarded";
        assert_rest_of_bucket(&server, &t, "x-forwarded-for", all, "198.51.100.250", what).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_trusted_proxies_in_the_config_are_refused_naming_the_flag() {
    bounded(async {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "not-an-address",
            "10.0.0.0/8/8",
            "",
        ] {
            let e = try_start(&["127.0.0.1", bad], ProxyHeaderFlag::XForwardedFor)
                .await
                .expect_err(bad)
                .to_string();
            assert!(e.contains("--trusted-proxy"), "{bad:?}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
        // Without the per-address limit the proxies would be unused.
        let e = example_mcp_server::start(Config {
            fleet: FleetSettings {
                trusted_proxies: vec!["10.0.0.0/8".to_owned()],
                ..FleetSettings::default()
            },
            ..Config::ephemeral()
        })
        .await
        .expect_err("no per-address limit")
        .to_string();
        assert!(
            e.contains("--trusted-proxy needs --rate-limit-per-address"),
            "{e}"
        );
    })
    .await;
}

/// Runs the example binary with `args` and `env` (and none of this feature's variables
/// from the test's environment); it must refuse them. Returns its standard error.
fn run_failing(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = example_command(&["--bind", "127.0.0.1:0", "--dev-as-bind", "127.0.0.1:0"]);
    cmd.args(args);
    for var in [
        "MCP_AUTH_TRUSTED_PROXIES",
        "MCP_AUTH_PROXY_HEADER",
        "MCP_AUTH_RATE_LIMIT_PER_ADDRESS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    run_refused(cmd, &format!("{args:?} {env:?}"))
}

#[test]
fn bad_trusted_proxy_flags_stop_the_example_with_a_message_naming_the_flag() {
    const LIMIT: [&str; 2] = ["--rate-limit-per-address", "100/1"];
    for bad in ["10.0.0.0/33", "::1/129", "proxy.example.com", "10.0.0.0/-1"] {
        let err = run_failing(&[LIMIT[0], LIMIT[1], "--trusted-proxy", bad], &[]);
        assert!(
            err.contains("invalid value") && err.contains("--trusted-proxy <CIDR>"),
            "{bad}: {err}"
        );
        assert!(
            err.contains("is not an IP address or a CIDR block"),
            "{bad}: {err}"
        );
    }
    // A bad entry of the environment's comma list.
    let err = run_failing(
        &LIMIT,
        &[("MCP_AUTH_TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.0/40")],
    );
    assert!(
        err.contains("'192.168.0.0/40' for '--trusted-proxy <CIDR>'"),
        "{err}"
    );
    let err = run_failing(
        &[
            LIMIT[0],
            LIMIT[1],
            "--trusted-proxy",
            "10.0.0.0/8",
            "--proxy-header",
            "via",
        ],
        &[],
    );
    assert!(
        err.contains("invalid value 'via' for '--proxy-header <HEADER>'"),
        "{err}"
    );
    // Without the limit they would read nothing.
    let err = run_failing(&["--trusted-proxy", "10.0.0.0/8"], &[]);
    assert!(
        err.contains("required arguments were not provided")
            && err.contains("--rate-limit-per-address"),
        "{err}"
    );
    let err = run_failing(&[LIMIT[0], LIMIT[1], "--proxy-header", "forwarded"], &[]);
    assert!(
        err.contains("required arguments were not provided") && err.contains("--trusted-proxy"),
        "{err}"
    );
}

#[test]
fn help_documents_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-mcp-server"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("UTF-8");
    for needle in [
        "--trusted-proxy <CIDR>",
        "[env: MCP_AUTH_TRUSTED_PROXIES=]",
        "--proxy-header <HEADER>",
        "[default: x-forwarded-for]",
        "right-most address",
    ] {
        assert!(help.contains(needle), "{needle} not in --help:\n{help}");
    }
}
