//! Claim checks (issue 15): the built-ins, closures, and the split between checks that read
//! the clock (run again by `ClaimsPolicy::recheck`, i.e. on every cache hit) and those that
//! do not (run once, after the signature, by `ClaimsPolicy::check_verified`).

use mcp_auth_core::checks::{ClaimCheck, ClaimChecks, ClaimIn, ClaimRejection, MaxTokenAge};
use mcp_auth_core::claims::{Claims, ClaimsPolicy};
use mcp_auth_core::resource::ResourceUri;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const NOW: i64 = 1_800_000_000;

fn claims(v: serde_json::Value) -> Claims {
    Claims::from_json(v.to_string().as_bytes()).unwrap()
}

fn policy(checks: ClaimChecks) -> ClaimsPolicy {
    let mut p = ClaimsPolicy::new(
        ResourceUri::parse("https://mcp.example.com/mcp").unwrap(),
        "https://auth.example.com",
    );
    p.checks = checks;
    p
}

#[test]
fn max_token_age_needs_iat_and_reads_the_clock() {
    let age = MaxTokenAge::new(Duration::from_secs(600));
    assert!(age.reads_clock());
    let fresh = claims(json!({"iat": NOW - 600, "exp": NOW + 3600}));
    assert_eq!(age.check(&fresh, NOW), Ok(()));
    assert_eq!(
        age.check(&fresh, NOW + 1).unwrap_err().description(),
        "token is older than this resource accepts"
    );
    let no_iat = claims(json!({"exp": NOW + 3600}));
    assert_eq!(
        age.check(&no_iat, NOW).unwrap_err().description(),
        "token has no iat"
    );
}

#[test]
fn claim_in_accepts_only_listed_string_values() {
    let tenants = ClaimIn::new("tid", ["t1", "t2"]);
    assert!(!tenants.reads_clock());
    assert_eq!(tenants.check(&claims(json!({"tid": "t2"})), NOW), Ok(()));
    for refused in [
        json!({"tid": "t3"}),
        json!({"tid": "T1"}),
        json!({"tid": ["t1"]}),
        json!({"tid": 1}),
        json!({"other": "t1"}),
    ] {
        let e = tenants.check(&claims(refused.clone()), NOW).unwrap_err();
        assert_eq!(
            e.description(),
            "token claim does not have an accepted value",
            "{refused}"
        );
    }
    // Cognito: only access tokens.
    let access = ClaimIn::new("token_use", ["access"])
        .refusing_with(ClaimRejection::new("token is not an access token"));
    let e = access
        .check(&claims(json!({"token_use": "id"})), NOW)
        .unwrap_err();
    assert_eq!(e.description(), "token is not an access token");
    // Claims not parsed from a payload cannot be read: refused, never a silent pass.
    assert!(tenants.check(&Claims::default(), NOW).is_err());
}

#[test]
fn a_description_that_would_break_the_challenge_is_replaced() {
    for bad in ["", "say \"no\"", "back\\slash", "tab\there", "non-ascii é"] {
        assert_eq!(
            ClaimRejection::new(bad).description(),
            ClaimRejection::GENERIC
        );
    }
    assert_eq!(
        ClaimRejection::new("plain words, fine!").description(),
        "plain words, fine!"
    );
}

#[test]
fn checks_that_read_the_clock_are_the_only_ones_a_recheck_runs() {
    let fixed_calls = Arc::new(AtomicUsize::new(0));
    let calls = fixed_calls.clone();
    let mut checks = ClaimChecks::new();
    assert!(checks.is_empty());
    checks.push(move |_: &Claims| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    checks.push(MaxTokenAge::new(Duration::from_secs(60)));
    let p = policy(checks);
    let c = claims(json!({"iat": NOW - 30, "exp": NOW + 3600}));
    // The validation runs both...
    assert!(p.check_verified(&c, NOW).is_ok());
    assert_eq!(fixed_calls.load(Ordering::SeqCst), 1);
    // ...a later use only the one that reads the clock (and the time claims).
    assert!(p.recheck(&c, NOW).is_ok());
    assert_eq!(fixed_calls.load(Ordering::SeqCst), 1);
    let e = p.recheck(&c, NOW + 31).unwrap_err();
    assert_eq!(e.description(), "token is older than this resource accepts");
    let e = p.recheck(&c, NOW + 3600 + 61).unwrap_err();
    assert_eq!(e.description(), "token expired");
}

#[test]
fn a_refusing_closure_is_invalid_token_with_its_description() {
    let mut checks = ClaimChecks::new();
    checks.push(|c: &Claims| match c.sub.as_deref() {
        Some(s) if s.starts_with("svc-") => Err(ClaimRejection::new("no service accounts")),
        _ => Ok(()),
    });
    let p = policy(checks);
    let e = p
        .check_verified(&claims(json!({"sub": "svc-1"})), NOW)
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.description()),
        (
            mcp_auth_core::ErrorKind::InvalidToken,
            "no service accounts"
        )
    );
    assert!(p.check_verified(&claims(json!({"sub": "u1"})), NOW).is_ok());
    // No checks: nothing to run.
    assert!(
        policy(ClaimChecks::new())
            .check_verified(&Claims::default(), NOW)
            .is_ok()
    );
}

/// The built-in checks read the claims the mapping captured in the parse pass (no second
/// parse of the payload), and agree with a parse of their own when nothing was captured.
#[test]
fn built_in_checks_read_captured_claims_and_agree_without_them() {
    use mcp_auth_core::checks::{AnyClaimPresent, ClaimCheck, ClaimIn, IssuerTemplate};
    use mcp_auth_core::claims::{ClaimMapping, Claims};
    let checks: Vec<Box<dyn ClaimCheck>> = vec![
        Box::new(ClaimIn::new("token_use", ["access"])),
        Box::new(IssuerTemplate::new(
            "https://login.example/{tid}/v2.0",
            "tid",
        )),
        Box::new(AnyClaimPresent::new(["roles", "scp"])),
    ];
    let names: Vec<String> = checks.iter().flat_map(|c| c.claims_read()).collect();
    assert_eq!(names, ["token_use", "tid", "roles", "scp"]);
    let mapping = ClaimMapping::new().with_captured_claims(names);
    // A registered claim (`scp`) is a typed field: never captured.
    let payloads = [
        (
            r#"{"iss":"https://login.example/t1/v2.0","tid":"t1","token_use":"access","roles":["r"]}"#,
            [true, true, true],
        ),
        (
            r#"{"iss":"https://login.example/t1/v2.0","tid":"t2","token_use":"id","scp":"a b"}"#,
            [false, false, true],
        ),
        (
            r#"{"iss":"https://login.example/t1/v2.0","token_use":7,"roles":null}"#,
            [false, false, false],
        ),
    ];
    for (json, want) in payloads {
        let captured = Claims::from_json_with(json.as_bytes().to_vec(), &mapping).unwrap();
        let plain = Claims::from_json(json.as_bytes()).unwrap();
        assert!(captured.captured("tid").is_some(), "{json}");
        assert_eq!(captured.captured("scp"), None, "typed, not captured");
        assert_eq!(plain.captured("tid"), None);
        for (check, want) in checks.iter().zip(want) {
            assert_eq!(check.check(&captured, 0).is_ok(), want, "{json}");
            assert_eq!(check.check(&plain, 0).is_ok(), want, "{json}");
        }
    }
}
