//! `additional_audience`: RFC 7519 StringOrURI values as identity providers name an API,
//! compared byte for byte (RFC 7519 §4.1.3), through the layer with signed tokens; the resource
//! URI keeps its canonical comparison under the `AudiencePolicy`.

mod common;

use common::*;
use mcp_auth::ConfigError;
use mcp_auth::core::claims::AudienceError;
use mcp_auth::core::resource::AudiencePolicy;

/// Entra v2: `aud` is the API's application (client) id.
const GUID: &str = "00000000-1111-2222-3333-444444444444";
/// A client id with hex letters, as Entra issues them (lowercase).
const GUID_HEX: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
/// Okta's default custom authorization server.
const OKTA: &str = "api://default";
/// An Auth0 API identifier: a URL, but compared as a string.
const AUTH0: &str = "https://api.example.com";

fn layer(policy: AudiencePolicy) -> mcp_auth::McpAuthLayer {
    builder()
        .audience_policy(policy)
        .additional_audience(GUID)
        .additional_audience(GUID_HEX)
        .additional_audience(OKTA)
        .additional_audience("api://my-api")
        .additional_audience(AUTH0)
        .build()
        .unwrap()
}

async fn status(layer: &mcp_auth::McpAuthLayer, t: &str) -> u16 {
    send(layer.clone(), bearer(t)).await.status.as_u16()
}

#[tokio::test]
async fn provider_audiences_are_accepted() {
    let l = layer(AudiencePolicy::Exact);
    for aud in [GUID, GUID_HEX, OKTA, "api://my-api", AUTH0] {
        let o = send(l.clone(), bearer(&token().aud(aud).sign())).await;
        assert_eq!(o.status, 200, "{aud}");
        assert_eq!(o.calls, 1, "{aud}");
        assert_eq!(o.body["sub"], "user-1", "{aud}");
        let t = token()
            .aud_array(&["https://other.example.com", aud])
            .sign();
        assert_eq!(status(&l, &t).await, 200, "{aud} in an array");
    }
}

#[tokio::test]
async fn the_resource_url_is_still_accepted() {
    let l = layer(AudiencePolicy::Exact);
    assert_eq!(status(&l, &token().sign()).await, 200);
    assert_eq!(
        status(&l, &token().aud_array(&[GUID, RES]).sign()).await,
        200
    );
    // The resource keeps its canonical comparison under its policy.
    let l = layer(AudiencePolicy::AllowTrailingSlash);
    let t = token().aud(&format!("{RES}/")).sign();
    assert_eq!(status(&l, &t).await, 200);
    let l = layer(AudiencePolicy::Normalized);
    let t = token().aud("https://MCP.example.com:443/mcp/").sign();
    assert_eq!(status(&l, &t).await, 200);
}

#[tokio::test]
async fn a_token_for_another_api_is_refused() {
    for aud in [
        "11111111-1111-2222-3333-444444444444",
        "api://other",
        "https://other.example.com",
    ] {
        expect_invalid_token(
            layer(AudiencePolicy::Exact),
            &token().aud(aud).sign(),
            "token audience is not this resource",
        )
        .await;
    }
}

#[tokio::test]
async fn extra_audiences_are_compared_byte_for_byte() {
    // Case, a trailing slash, a default port: each refused under every policy of the resource.
    for policy in [
        AudiencePolicy::Exact,
        AudiencePolicy::AllowTrailingSlash,
        AudiencePolicy::Normalized,
    ] {
        for aud in [
            "6E74172B-BE56-4843-9FF4-E66A39BB12E3",
            "6e74172b-be56-4843-9ff4-E66A39BB12E3",
            "API://default",
            "api://Default",
            "api://default/",
            "https://api.example.com/",
            "https://API.example.com",
            "https://api.example.com:443",
            " 00000000-1111-2222-3333-444444444444",
        ] {
            expect_invalid_token(
                layer(policy),
                &token().aud(aud).sign(),
                "token audience is not this resource",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_value_that_is_not_a_string_or_uri_is_refused_at_build() {
    let refused = |a: &str| builder().additional_audience(a).build().err();
    assert!(matches!(
        refused(""),
        Some(ConfigError::Audience(AudienceError::Empty))
    ));
    for a in ["api://my-api ", "my api", "a\u{0}b"] {
        let e = refused(a);
        assert!(
            matches!(&e, Some(ConfigError::Audience(AudienceError::Character(v))) if v == a),
            "{a:?}: {e:?}"
        );
    }
    for a in ["1api:x", "api://x/%zz", "c:\\api"] {
        let e = refused(a);
        assert!(
            matches!(&e, Some(ConfigError::Audience(AudienceError::NotUri(v))) if v == a),
            "{a:?}: {e:?}"
        );
    }
    let msg = refused("1api:x").unwrap().to_string();
    assert_eq!(
        msg,
        r#"additional audience: audience "1api:x" contains `:` but is not a URI (RFC 7519 §2, StringOrURI)"#
    );
    // Once refused, now any URI: a scheme other than http(s), a query.
    for a in [
        "urn:example:aud",
        "ftp://api.example.com",
        "https://api.example.com/?v=1",
    ] {
        assert!(refused(a).is_none(), "{a}");
    }
}
