//! Claim mapping: where the client id and the subject are, and the RFC 9068 claims required
//! one by one.

use mcp_auth_core::claims::{ClaimMapping, Claims, ClaimsPolicy, MappingError, RequiredClaims};
use mcp_auth_core::resource::ResourceUri;
use serde_json::{Value, json};
use std::sync::Arc;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://as.example.com";
const RES: &str = "https://mcp.example.com/mcp";

fn policy(mapping: ClaimMapping) -> ClaimsPolicy {
    let mut p = ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS);
    p.mapping = mapping;
    p
}

fn base() -> Value {
    json!({"iss": ISS, "aud": RES, "exp": NOW + 300, "iat": NOW - 10, "jti": "j1",
           "sub": "u1", "scope": "mcp:read"})
}

fn token(extra: Value) -> Value {
    let mut v = base();
    for (k, x) in extra.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v
}

fn parse(v: &Value, m: &ClaimMapping) -> Result<Claims, &'static str> {
    Claims::from_json_with(serde_json::to_vec(v).unwrap(), m).map_err(|e| e.description())
}

fn check(v: &Value, p: &ClaimsPolicy) -> Result<(), &'static str> {
    let c = parse(v, &p.mapping)?;
    p.check(&c, NOW).map_err(|e| e.description())
}

#[test]
fn the_default_mapping_is_rfc_9068() {
    let m = ClaimMapping::new();
    assert!(m.is_default());
    assert_eq!(m.client_id_claims(), None);
    assert_eq!(m.subject_claim(), "sub");
    let c = parse(&token(json!({"client_id": "c1", "azp": "a1"})), &m).unwrap();
    assert_eq!(c.client(), Some("c1"));
    assert_eq!(c.subject(), Some("u1"));
    let c = parse(&token(json!({"azp": "a1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a1"));
    // The strict profile wants `client_id` itself by default: `azp` is read, not enough.
    let p = policy(m);
    assert_eq!(
        check(&token(json!({"azp": "a1"})), &p),
        Err("token has no client_id")
    );
    assert_eq!(check(&token(json!({"client_id": "c1"})), &p), Ok(()));
    // `cid` means nothing to the default mapping.
    assert_eq!(
        check(&token(json!({"cid": "c1"})), &p),
        Err("token has no client_id")
    );
}

#[test]
fn client_id_from_cid_and_appid() {
    for name in ["cid", "appid"] {
        let m = ClaimMapping::new().with_client_id_claims([name]);
        assert_eq!(m.client_id_claims(), Some(&[name.to_owned()][..]));
        let v = token(json!({name: "app-1", "client_id": "other"}));
        let c = parse(&v, &m).unwrap();
        assert_eq!(c.client(), Some("app-1"), "{name}");
        let mut p = policy(m);
        assert_eq!(check(&token(json!({name: "app-1"})), &p), Ok(()));
        // `client_id` is not among the configured claims: it does not satisfy the requirement.
        assert_eq!(
            check(&token(json!({"client_id": "c1"})), &p),
            Err("token has no client_id")
        );
        p.allowed_client_ids = Some(Arc::from(vec!["app-1".to_owned()]));
        assert_eq!(check(&v, &p), Ok(()));
        p.allowed_client_ids = Some(Arc::from(vec!["other".to_owned()]));
        assert_eq!(check(&v, &p), Err("token client is not allowed"));
    }
}

#[test]
fn the_first_configured_client_claim_present_wins_and_azp_satisfies_the_profile() {
    let m = ClaimMapping::new().with_client_id_claims(["azp", "client_id"]);
    let c = parse(&token(json!({"azp": "a1", "client_id": "c1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a1"));
    let c = parse(&token(json!({"client_id": "c1"})), &m).unwrap();
    assert_eq!(c.client(), Some("c1"));
    // Keycloak, Auth0, Entra v2: `azp` without `client_id` passes the strict profile.
    let p = policy(m);
    assert_eq!(check(&token(json!({"azp": "a1"})), &p), Ok(()));
    assert_eq!(check(&base(), &p), Err("token has no client_id"));
}

#[test]
fn mapped_claims_must_be_strings() {
    let m = ClaimMapping::new()
        .with_client_id_claims(["cid", "appid"])
        .with_subject_claim("oid");
    for bad in [
        json!({"cid": 7}),
        json!({"appid": ["a"]}),
        json!({"oid": {"x": 1}}),
    ] {
        assert_eq!(
            parse(&token(bad.clone()), &m).map(drop),
            Err("token claims are malformed"),
            "{bad}"
        );
    }
    // `null` is an absent claim, as for the typed claims.
    let c = parse(&token(json!({"cid": (), "appid": "a2", "oid": "o1"})), &m).unwrap();
    assert_eq!(c.client(), Some("a2"));
    assert_eq!(c.subject(), Some("o1"));
    // A duplicate of a captured claim is refused like any other.
    let dup = br#"{"iss":"x","cid":"a","cid":"b"}"#.to_vec();
    assert!(Claims::from_json_with(dup, &m).is_err());
}

#[test]
fn subject_from_another_claim() {
    let m = ClaimMapping::new().with_subject_claim("oid");
    assert_eq!(m.subject_claim(), "oid");
    let p = policy(m);
    let v = token(json!({"client_id": "c1", "oid": "o-1"}));
    let c = parse(&v, &p.mapping).unwrap();
    assert_eq!(c.subject(), Some("o-1"));
    assert_eq!(c.sub.as_deref(), Some("u1"));
    assert_eq!(check(&v, &p), Ok(()));
    // `sub` is present but is not the configured subject.
    assert_eq!(
        check(&token(json!({"client_id": "c1"})), &p),
        Err("token has no subject")
    );
}

#[test]
fn required_claims_one_by_one() {
    let full = token(json!({"client_id": "c1"}));
    for (k, why) in [
        ("sub", "token has no subject"),
        ("client_id", "token has no client_id"),
        ("iat", "token has no iat"),
        ("jti", "token has no jti"),
    ] {
        let mut missing = full.clone();
        missing.as_object_mut().unwrap().remove(k);
        let mut p = policy(ClaimMapping::new());
        assert_eq!(check(&full, &p), Ok(()));
        assert_eq!(check(&missing, &p), Err(why), "{k}");
        // Only this claim not required: accepted.
        let mut r = RequiredClaims::ALL;
        match k {
            "sub" => r.sub = false,
            "client_id" => r.client_id = false,
            "iat" => r.iat = false,
            _ => r.jti = false,
        }
        p.required_claims = r;
        assert_eq!(check(&missing, &p), Ok(()), "{k}");
        // Only this claim required: refused.
        let mut only = RequiredClaims::NONE;
        match k {
            "sub" => only.sub = true,
            "client_id" => only.client_id = true,
            "iat" => only.iat = true,
            _ => only.jti = true,
        }
        p.required_claims = only;
        assert_eq!(check(&missing, &p), Err(why), "{k}");
        // The all-or-nothing switch still turns every requirement off.
        p.require_rfc9068_claims = false;
        assert_eq!(check(&missing, &p), Ok(()), "{k}");
    }
    assert_eq!(RequiredClaims::default(), RequiredClaims::ALL);
    assert_eq!(RequiredClaims::all(false), RequiredClaims::NONE);
}

#[test]
fn claims_parsed_without_the_mapping_are_read_again_with_it() {
    // A caller of `ClaimsPolicy::check` with claims from `from_json`: the policy's mapping
    // still decides, never the default one.
    let mut p = policy(ClaimMapping::new().with_client_id_claims(["cid"]));
    p.allowed_client_ids = Some(Arc::from(vec!["good".to_owned()]));
    let v = token(json!({"client_id": "good", "cid": "bad"}));
    let c = Claims::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(c.client(), Some("good"));
    assert_eq!(
        p.check(&c, NOW).map_err(|e| e.description()),
        Err("token client is not allowed")
    );
    // Claims not parsed from a payload: the typed fields only.
    p.require_rfc9068_claims = false;
    let mut c = Claims::default();
    c.iss = Some(ISS.into());
    c.aud = Some(vec![RES.into()]);
    c.exp = Some(NOW + 10);
    c.client_id = Some("good".into());
    assert_eq!(
        p.check(&c, NOW).map_err(|e| e.description()),
        Err("token client is not allowed")
    );
}

#[test]
fn invalid_mappings_are_refused() {
    assert_eq!(ClaimMapping::new().validate(), Ok(()));
    let empty: [&str; 0] = [];
    assert_eq!(
        ClaimMapping::new().with_client_id_claims(empty).validate(),
        Err(MappingError::NoClientIdClaim)
    );
    assert_eq!(
        ClaimMapping::new().with_client_id_claims([""]).validate(),
        Err(MappingError::EmptyName)
    );
    for bad in ["iss", "aud", "scope", "sub"] {
        assert_eq!(
            ClaimMapping::new().with_client_id_claims([bad]).validate(),
            Err(MappingError::Registered(bad.into())),
            "{bad}"
        );
    }
    assert_eq!(
        ClaimMapping::new().with_subject_claim("jti").validate(),
        Err(MappingError::Registered("jti".into()))
    );
    assert_eq!(
        ClaimMapping::new()
            .with_client_id_claims(["cid", "azp", "client_id"])
            .with_subject_claim("uid")
            .validate(),
        Ok(())
    );
}
