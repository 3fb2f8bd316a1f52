//! Unit tests of the compact JWS checks.

fn fields<'a>(h: &'a super::header::RawHeader<'_>) -> [Option<&'a str>; 3] {
    [h.alg.as_deref(), h.kid.as_deref(), h.typ.as_deref()]
}

/// What `plain_header` takes, serde_json reads the same (and it never takes `crit`,
/// `b64` or anything serde would refuse); it takes the headers issuers write.
#[test]
fn plain_header_reads_what_serde_reads() {
    use super::header::{RawHeader, plain_header};
    for ok in [
        &br#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#[..],
        br#"{"typ":"at+jwt","alg":"ES256"}"#,
        br#"{"alg":"EdDSA"}"#,
        br#"{"kid":"","alg":"none"}"#,
        "{\"alg\":\"RS256\",\"kid\":\"cl\u{e9}\u{7f}\"}".as_bytes(),
    ] {
        let plain = plain_header(ok).expect("taken");
        let serde: RawHeader<'_> = serde_json::from_slice(ok).unwrap();
        assert_eq!(fields(&plain), fields(&serde));
    }
    for other in [
        &br#"{"alg":"RS256","crit":["b64"]}"#[..],
        br#"{"alg":"RS256","b64":false}"#,
        br#"{"alg":"RS256","x5u":"https://x"}"#,
        br#"{"alg":"RS256","alg":"HS256"}"#,
        br#"{"alg":"RS\u0032\u0035\u0036"}"#,
        br#"{"al\u0067":"RS256"}"#,
        br#"{"alg":"RS256"} "#,
        br#" {"alg":"RS256"}"#,
        br#"{"alg" : "RS256"}"#,
        br#"{"alg":"RS256",}"#,
        br#"{"alg":"RS256"}}"#,
        br#"{"alg":256}"#,
        br#"{"alg":"RS"256"}"#,
        b"{\"alg\":\"RS\x01256\"}",
        b"{\"alg\":\"RS\xff256\"}",
        br#"{}"#,
        br#"[]"#,
        b"",
    ] {
        assert!(
            plain_header(other).is_none(),
            "{}",
            String::from_utf8_lossy(other)
        );
    }
}

proptest::proptest! {
    /// On headers built from the members a JOSE header can have, with escapes, control
    /// characters, whitespace, duplicates and stray punctuation mixed in: whenever
    /// `plain_header` answers, serde_json gives the same three members.
    #[test]
    fn plain_header_agrees_with_serde(
        members in proptest::collection::vec(
            (
                "(alg|kid|typ|crit|b64|x|al\\\\u0067| alg)",
                "(\"[A-Za-z0-9+/=\\\\\"\u{1}\u{e9} -]{0,12}\"|[0-9]{1,3}|null|false|\\[\\]|\\{\\})",
                "(,| ,|,,|)",
            ),
            0..5,
        ),
        close in "(}|} | }|}}|)",
    ) {
        let mut h = String::from("{");
        for (i, (k, v, sep)) in members.iter().enumerate() {
            if i > 0 {
                h.push_str(sep);
            }
            h.push_str(&format!("\"{k}\":{v}"));
        }
        h.push_str(&close);
        if let Some(plain) = super::header::plain_header(h.as_bytes()) {
            let serde = serde_json::from_slice::<super::header::RawHeader<'_>>(h.as_bytes());
            proptest::prop_assert!(serde.is_ok(), "{}", h);
            let serde = serde.unwrap();
            proptest::prop_assert!(!serde.crit && !serde.b64);
            proptest::prop_assert_eq!(fields(&plain), fields(&serde), "{}", h);
        }
    }

    /// Arbitrary bytes: no panic, and the same agreement.
    #[test]
    fn plain_header_agrees_with_serde_on_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let mut b = b;
        b.splice(0..0, br#"{"alg":"#.iter().copied());
        if let Some(plain) = super::header::plain_header(&b) {
            let serde = serde_json::from_slice::<super::header::RawHeader<'_>>(&b).unwrap();
            proptest::prop_assert_eq!(fields(&plain), fields(&serde));
        }
    }
}

/// Header strings are borrowed from the decoded header when they have no escapes (no
/// allocation per token), decoded when they do, and absent or `null` ones are `None`.
#[test]
fn header_strings_borrow_when_they_can() {
    use super::header::RawHeader;
    use std::borrow::Cow;
    let h: RawHeader<'_> =
        serde_json::from_slice(br#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#).unwrap();
    assert!(matches!(h.alg, Some(Cow::Borrowed("RS256"))));
    assert!(matches!(h.kid, Some(Cow::Borrowed("k1"))));
    assert!(matches!(h.typ, Some(Cow::Borrowed("at+jwt"))));
    let h: RawHeader<'_> =
        serde_json::from_slice(br#"{"alg":"RS256","kid":"a\/b\u0041","typ":null}"#).unwrap();
    assert_eq!(h.kid.as_deref(), Some("a/bA"));
    assert!(matches!(h.kid, Some(Cow::Owned(_))));
    assert!(h.typ.is_none());
    let h: RawHeader<'_> = serde_json::from_slice(br#"{"kid":"k"}"#).unwrap();
    assert!(h.alg.is_none() && h.typ.is_none());
    // Not a string: refused as before.
    assert!(serde_json::from_slice::<RawHeader<'_>>(br#"{"alg":1}"#).is_err());
    assert!(serde_json::from_slice::<RawHeader<'_>>(br#"{"kid":["k"]}"#).is_err());
}

/// The signature check of `split` (base64-simd's, vectorized) against the `base64`
/// crate's strict decoder, for every byte at positions across the vector block edges and
/// for every length mod 4: a signature passes exactly when it decodes.
#[test]
fn split_takes_exactly_the_signatures_that_decode() {
    // No padding, no trailing bits: the `base64` crate's defaults for this engine.
    let strict = URL_SAFE_NO_PAD;
    for b in 0..=255u8 {
        for len in [1usize, 2, 3, 4, 15, 16, 17, 31, 32, 33, 47, 48, 64, 65, 342] {
            for pos in [0, len / 2, len - 1] {
                let mut sig = vec![b'A'; len];
                sig[pos] = b;
                let expected = strict.decode(&sig).is_ok();
                let Ok(sig) = String::from_utf8(sig) else {
                    continue; // a &str token cannot hold it
                };
                let token = format!("h.p.{sig}");
                assert_eq!(
                    CompactJws::split(&token, 1024).is_ok(),
                    expected,
                    "byte {b:#04x} at {pos} of {len}"
                );
            }
        }
    }
}
use super::compact::MAX_HEADER_LEN;
use super::*;
use crate::ErrorKind;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

fn tok(header: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(r#"{"iss":"x"}"#), b64("sig"))
}

fn parse(t: &str) -> Result<Algorithm, String> {
    UnverifiedJws::parse(t, &HeaderPolicy::default())
        .map(|j| j.alg())
        .map_err(|e| {
            assert_eq!(e.kind(), ErrorKind::InvalidToken);
            e.description().to_owned()
        })
}

#[test]
fn header_prechecks() {
    assert_eq!(
        parse(&tok(r#"{"alg":"RS256","typ":"at+jwt"}"#)),
        Ok(Algorithm::RS256)
    );
    assert_eq!(
        parse(&tok(
            r#"{"alg":"ES256","typ":"application/AT+JWT","kid":"k"}"#
        )),
        Ok(Algorithm::ES256)
    );
    let refused = [
        (
            r#"{"alg":"none","typ":"at+jwt"}"#,
            "token algorithm not allowed",
        ),
        (
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            "token algorithm not allowed",
        ),
        (
            r#"{"alg":"PS256","typ":"at+jwt"}"#,
            "token algorithm not allowed",
        ),
        (r#"{"typ":"at+jwt"}"#, "token algorithm not allowed"),
        (r#"{"alg":"RS256","typ":"JWT"}"#, "token type is not at+jwt"),
        (r#"{"alg":"RS256"}"#, "token type is not at+jwt"),
        (
            r#"{"alg":"RS256","typ":"at+jwt","crit":["exp"]}"#,
            "token has critical header parameters",
        ),
        (
            r#"{"alg":"RS256","typ":"at+jwt","b64":false}"#,
            "token has critical header parameters",
        ),
        (r#"["alg"]"#, "token header is not a JSON object"),
    ];
    for (h, why) in refused {
        assert_eq!(parse(&tok(h)), Err(why.to_owned()), "{h}");
    }
}

#[test]
fn compact_split_refuses_what_is_not_shaped_like_a_jws() {
    fn split(t: &str) -> Result<CompactJws<'_>, &'static str> {
        CompactJws::split(t, 64).map_err(|e| e.description())
    }
    assert_eq!(split("a.b").unwrap_err(), "token is not a compact JWS");
    assert_eq!(split("a.b.c.d").unwrap_err(), "token is not a compact JWS");
    assert_eq!(
        split("a.b.c+d").unwrap_err(),
        "token signature is not base64url"
    );
    assert_eq!(split(&"a".repeat(65)).unwrap_err(), "token too large");
    // Alphabet, length and trailing bits, as the decoder wants them.
    assert_eq!(
        split("a.b.sig-_9").unwrap_err(),
        "token signature is not base64url"
    );
    assert_eq!(
        split("a.b.abcde").unwrap_err(),
        "token signature is not base64url"
    );
    let ok = split("h.p.sig-_w").unwrap();
    assert_eq!((ok.token(), ok.signature_b64()), ("h.p.sig-_w", "sig-_w"));
    // An empty signature is left to the header check, which says "not signed".
    assert_eq!(split("h.p.").unwrap().signature_b64(), "");
}

#[test]
fn structure_prechecks() {
    assert!(parse("a.b").is_err());
    assert!(parse("a.b.c.d").is_err());
    assert!(parse("!!.b.c").is_err());
    let h = b64(r#"{"alg":"RS256","typ":"at+jwt"}"#);
    assert_eq!(
        parse(&format!("{h}.{}.", b64("{}"))),
        Err("token is not signed".to_owned())
    );
    assert!(parse(&format!("{h}.{}.***", b64("{}"))).is_err());
    let big = format!("{h}.{}.{}", "A".repeat(9000), b64("s"));
    assert_eq!(parse(&big), Err("token too large".to_owned()));
}

/// The header is decoded into a fixed buffer: exactly `MAX_HEADER_LEN` bytes fit, one
/// more is refused by name (through every length mod 3 around the edge).
#[test]
fn header_size_limit() {
    let header = |len: usize| {
        let base = r#"{"alg":"RS256","typ":"at+jwt","x":""}"#;
        let pad = "a".repeat(len - base.len());
        format!(r#"{{"alg":"RS256","typ":"at+jwt","x":"{pad}"}}"#)
    };
    let p = HeaderPolicy {
        max_token_len: 16 * 1024,
        ..HeaderPolicy::default()
    };
    let parse = |t: &str| {
        UnverifiedJws::parse(t, &p)
            .map(|j| j.alg())
            .map_err(|e| e.description().to_owned())
    };
    for len in MAX_HEADER_LEN - 3..=MAX_HEADER_LEN {
        assert_eq!(header(len).len(), len);
        assert_eq!(parse(&tok(&header(len))), Ok(Algorithm::RS256), "{len}");
    }
    for len in MAX_HEADER_LEN + 1..=MAX_HEADER_LEN + 4 {
        assert_eq!(
            parse(&tok(&header(len))),
            Err("token header too large".to_owned()),
            "{len}"
        );
    }
}

#[test]
fn lenient_typ() {
    let p = HeaderPolicy {
        typ: TypPolicy::AllowJwt,
        ..HeaderPolicy::default()
    };
    for h in [
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"RS256","typ":"at+jwt"}"#,
    ] {
        assert!(UnverifiedJws::parse(&tok(h), &p).is_ok(), "{h}");
    }
    assert!(UnverifiedJws::parse(&tok(r#"{"alg":"RS256","typ":"dpop+jwt"}"#), &p).is_err());
}

#[test]
fn algorithm_names() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.as_str()), Some(a));
    }
    assert_eq!(Algorithm::from_name("none"), None);
    assert_eq!(Algorithm::from_name("HS256"), None);
    assert_eq!(Algorithm::from_name("rs256"), None);
}
