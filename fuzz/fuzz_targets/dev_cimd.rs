//! Client ID Metadata Documents as the dev AS reads them (draft-ietf-oauth-client-id-
//! metadata-document, MCP 2025-11-25): the `client_id` URL rules, then the fetched body.
//! An accepted document names itself, and every redirect URI it brings is acceptable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_auth_dev::server::__fuzz::cimd_document;
use mcp_auth_dev::server::redirect_uri_is_acceptable;

// The input: the `client_id` line (prefixed with `L ` to allow loopback documents), then
// the document body.
fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(first) = std::str::from_utf8(first) else {
        return;
    };
    let (allow_loopback, client_id) = match first.strip_prefix("L ") {
        Some(id) => (true, id),
        None => (false, first),
    };
    struct Input<'a> {
        allow_loopback: bool,
        body: &'a [u8],
    }
    let input = Input {
        allow_loopback,
        body,
    };
    let anon = ["mcp:read".to_owned()];
    if let Ok(c) = cimd_document(client_id, input.body, input.allow_loopback, &anon) {
        assert!(client_id.starts_with("https://") || client_id.starts_with("http://"));
        let doc: serde_json::Value = serde_json::from_slice(input.body).unwrap();
        assert_eq!(doc["client_id"].as_str(), Some(client_id));
        assert!(!c.redirect_uris.is_empty() && c.redirect_uris.len() <= 20);
        for r in &c.redirect_uris {
            assert!(redirect_uri_is_acceptable(r), "accepted redirect URI {r:?}");
        }
        for s in &c.scopes {
            assert!(
                anon.contains(s),
                "scope {s:?} beyond the anonymous allow-list"
            );
        }
    }
});
