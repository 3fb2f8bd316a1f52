//! Issue 14: the builder options only the default JWKS key source reads (`jwks_uri`,
//! `allow_insecure_http`, `max_key_staleness`) are a `ConfigError` together with a custom
//! `key_source(..)`, instead of being dropped without a word.
#![cfg(feature = "jwks")]

use mcp_auth::core::keys::StaticKeySource;
use mcp_auth::{ConfigError, McpAuthBuilder, McpAuthLayer};
use std::time::Duration;

const RES: &str = "https://mcp.example.com/mcp";
const ISS: &str = "https://auth.example.com";

fn b() -> McpAuthBuilder {
    McpAuthLayer::builder(RES).issuer(ISS)
}

/// Each option, set before and after `key_source`, names itself in the error.
#[test]
fn each_default_source_option_is_refused_with_a_key_source() {
    let options: [(&str, fn(McpAuthBuilder) -> McpAuthBuilder); 4] = [
        ("jwks_uri", |b| {
            b.jwks_uri(ISS, "https://auth.example.com/jwks")
        }),
        ("allow_insecure_http", |b| b.allow_insecure_http(true)),
        // `false` is refused too: the custom source has its own setting, and accepting it
        // would suggest this one applies.
        ("allow_insecure_http", |b| b.allow_insecure_http(false)),
        ("max_key_staleness", |b| {
            b.max_key_staleness(Duration::from_secs(3600))
        }),
    ];
    for (name, set) in options {
        for result in [
            set(b()).key_source(StaticKeySource::new()).build(),
            set(b().key_source(StaticKeySource::new())).build(),
        ] {
            match result {
                Err(ConfigError::IgnoredByKeySource(n)) => assert_eq!(n, name),
                other => panic!("{name}: expected IgnoredByKeySource, got {other:?}"),
            }
        }
        let msg = set(b())
            .key_source(StaticKeySource::new())
            .build()
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("`.{name}(..)`")), "{msg}");
        assert!(msg.contains("`.key_source(..)`"), "{msg}");
    }
}

/// A `jwks_uri` for another issuer than the first, and all three at once, are refused too.
#[test]
fn combinations_are_refused() {
    let r = b()
        .jwks_uri(
            "https://other.example.com",
            "https://other.example.com/jwks",
        )
        .key_source(StaticKeySource::new())
        .build();
    assert!(matches!(
        r,
        Err(ConfigError::IgnoredByKeySource("jwks_uri"))
    ));
    let r = b()
        .jwks_uri(ISS, "https://auth.example.com/jwks")
        .allow_insecure_http(true)
        .max_key_staleness(Duration::from_secs(60))
        .key_source(StaticKeySource::new())
        .build();
    assert!(matches!(r, Err(ConfigError::IgnoredByKeySource(_))));
}

/// Without `key_source` the options configure the default JWKS key source and build.
#[test]
fn the_options_still_build_the_default_key_source() {
    assert!(b().key_source(StaticKeySource::new()).build().is_ok());
    assert!(
        b().jwks_uri(ISS, "https://auth.example.com/jwks")
            .build()
            .is_ok()
    );
    assert!(b().allow_insecure_http(true).build().is_ok());
    assert!(b().allow_insecure_http(false).build().is_ok());
    assert!(
        b().max_key_staleness(Duration::from_secs(3600))
            .build()
            .is_ok()
    );
    // The option really reaches the default source: a plain-http `jwks_uri` off loopback
    // is refused by it unless allowed.
    let insecure = || b().jwks_uri(ISS, "http://auth.example.com/jwks");
    assert!(matches!(insecure().build(), Err(ConfigError::Jwks(_))));
    assert!(insecure().allow_insecure_http(true).build().is_ok());
}
