//! The claims policy of a JWT access token (RFC 9068 §4, RFC 7519 §4.1, RFC 8725 §3.8–3.12,
//! MCP "Token Handling"). Pure: the clock is an argument.

use crate::AuthError;
use crate::resource::{AudiencePolicy, ResourceUri};
use crate::scope::ScopeSet;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;

/// The claims of an access token that mcp-auth reads; every other claim through
/// [`get`](Claims::get) and [`extra`](Claims::extra).
///
/// Only the registered claims are parsed on the request path; the payload is kept as-is and
/// other claims are parsed when asked for (serde's `flatten` would buffer every claim on every
/// request).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`: must be a string (an array is refused at parse time).
    #[serde(default)]
    pub iss: Option<String>,
    /// `sub`.
    #[serde(default)]
    pub sub: Option<String>,
    /// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Option<Vec<String>>,
    /// `exp`, seconds since the epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub exp: Option<i64>,
    /// `nbf`.
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: Option<i64>,
    /// `iat`.
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: Option<i64>,
    /// `jti`.
    #[serde(default)]
    pub jti: Option<String>,
    /// `client_id` (RFC 9068 §2.2, RFC 8693 §4.3).
    #[serde(default)]
    pub client_id: Option<String>,
    /// `azp`, used by some providers in place of `client_id`.
    #[serde(default)]
    pub azp: Option<String>,
    /// `scope`: space-delimited (RFC 9068 §2.2.3).
    #[serde(default)]
    pub scope: Option<String>,
    /// `scp`: an array (or a string) of scopes, as some providers emit.
    #[serde(default, deserialize_with = "one_or_many")]
    pub scp: Option<Vec<String>>,
    /// `cnf`: confirmation (RFC 7800; RFC 9449 §6 `jkt`, RFC 8705 `x5t#S256`).
    #[serde(default)]
    pub cnf: Option<serde_json::Value>,
    /// The whole payload, as received (after verification: trusted).
    #[serde(skip)]
    raw: Box<str>,
}

/// A string or an array of strings. A visitor, not `#[serde(untagged)]`, which buffers the
/// value before trying each form (measurable on every token).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct OneOrMany;
    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![v.to_owned()]))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(vec![v]))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            Ok(Some(v))
        }
    }
    d.deserialize_option(OneOrMany)
}

fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
        Some(_) => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

impl Claims {
    /// Parses a JWT payload. Wrong types (an `iss` array, a string `exp`) are refused.
    pub fn from_json(payload: &[u8]) -> Result<Self, AuthError> {
        Self::from_json_vec(payload.to_vec())
    }

    /// [`from_json`](Self::from_json), keeping `payload` as the raw claims without a copy.
    pub fn from_json_vec(payload: Vec<u8>) -> Result<Self, AuthError> {
        let malformed = || AuthError::invalid_token("token claims are malformed");
        let raw = String::from_utf8(payload).map_err(|_| malformed())?;
        // A claims set is a JSON object (RFC 7519 §7.2); serde would also take an array.
        if raw.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(malformed());
        }
        let mut c: Self = serde_json::from_str(&raw).map_err(|_| malformed())?;
        c.raw = raw.into_boxed_str();
        Ok(c)
    }

    /// Any claim by name (parses the payload; not for the hot path).
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.extra().remove(name)
    }

    /// Every claim as a JSON object (parses the payload).
    pub fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.raw).unwrap_or_default()
    }

    /// The granted scopes: `scope` (RFC 9068 §2.2.3) and `scp`, merged.
    pub fn scopes(&self) -> Result<ScopeSet, AuthError> {
        let invalid = |_| AuthError::invalid_token("token scope is malformed");
        let mut set = match &self.scope {
            Some(s) => ScopeSet::parse(s).map_err(invalid)?,
            None => ScopeSet::new(),
        };
        if let Some(scp) = &self.scp {
            for s in scp {
                set = set.union(&ScopeSet::parse(s).map_err(invalid)?);
            }
        }
        Ok(set)
    }

    /// The client identifier: `client_id`, else `azp`.
    pub fn client(&self) -> Option<&str> {
        self.client_id.as_deref().or(self.azp.as_deref())
    }
}

/// What a token's claims must satisfy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimsPolicy {
    /// Accepted issuers, compared exactly (RFC 9068 §4, RFC 8414 §3.3).
    pub issuers: Vec<String>,
    /// This server's canonical resource URI: `aud` must name it (RFC 8707, MCP "Token
    /// Handling": tokens whose audience is not this server MUST be rejected).
    pub resource: ResourceUri,
    /// Other audiences accepted (several resources served by one layer).
    pub extra_audiences: Vec<ResourceUri>,
    /// How `aud` is compared.
    pub audience_policy: AudiencePolicy,
    /// Allowed clock skew in seconds for `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Require every claim RFC 9068 §2.2 lists (`sub`, `client_id`, `iat`, `jti`), not only
    /// `iss`, `exp` and `aud`.
    pub require_rfc9068_claims: bool,
    /// If set, only these clients (`client_id`/`azp`) are accepted.
    pub allowed_client_ids: Option<Arc<[String]>>,
    /// Whether a `cnf` claim is acceptable. While DPoP (RFC 9449) or mTLS (RFC 8705) binding
    /// is not verified, a sender-constrained token must be refused (RFC 9449 §7.2).
    pub allow_cnf: bool,
}

impl ClaimsPolicy {
    /// A strict policy for `resource` and one issuer.
    pub fn new(resource: ResourceUri, issuer: impl Into<String>) -> Self {
        Self {
            issuers: vec![issuer.into()],
            resource,
            extra_audiences: Vec::new(),
            audience_policy: AudiencePolicy::Exact,
            leeway: 60,
            require_rfc9068_claims: true,
            allowed_client_ids: None,
            allow_cnf: false,
        }
    }

    /// Whether `iss` is one of the configured issuers.
    pub fn accepts_issuer(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i == iss)
    }

    /// Checks `claims` at time `now` (seconds since the epoch).
    pub fn check(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        self.check_scopes(claims, now).map(drop)
    }

    /// [`check`](Self::check), returning the granted scopes it had to parse anyway.
    pub fn check_scopes(&self, claims: &Claims, now: i64) -> Result<ScopeSet, AuthError> {
        match &claims.iss {
            Some(iss) if self.accepts_issuer(iss) => {}
            Some(_) => return Err(AuthError::invalid_token("token issuer is not trusted")),
            None => return Err(AuthError::invalid_token("token has no issuer")),
        }
        self.check_time(claims, now)?;
        let aud = claims
            .aud
            .as_deref()
            .ok_or_else(|| AuthError::invalid_token("token has no audience"))?;
        let ours = |a: &String| {
            self.resource.matches(a, self.audience_policy)
                || self
                    .extra_audiences
                    .iter()
                    .any(|r| r.matches(a, self.audience_policy))
        };
        if !aud.iter().any(ours) {
            return Err(AuthError::invalid_token(
                "token audience is not this resource",
            ));
        }
        if self.require_rfc9068_claims {
            if claims.sub.is_none() {
                return Err(AuthError::invalid_token("token has no subject"));
            }
            if claims.client_id.is_none() {
                return Err(AuthError::invalid_token("token has no client_id"));
            }
            if claims.iat.is_none() {
                return Err(AuthError::invalid_token("token has no iat"));
            }
            if claims.jti.is_none() {
                return Err(AuthError::invalid_token("token has no jti"));
            }
        }
        if let Some(allowed) = &self.allowed_client_ids
            && !claims
                .client()
                .is_some_and(|c| allowed.iter().any(|a| a == c))
        {
            return Err(AuthError::invalid_token("token client is not allowed"));
        }
        if claims.cnf.is_some() && !self.allow_cnf {
            return Err(AuthError::invalid_token(
                "sender-constrained token presented without proof of possession",
            ));
        }
        claims.scopes()
    }

    /// Only the time-dependent part of [`check`](Self::check): `exp` (required), `nbf` and
    /// `iat`, each with the leeway. Everything else `check` decides is a function of the
    /// claims and the policy alone, so a token that passed `check` once needs only this at a
    /// later instant (the verified-token cache relies on it).
    pub fn check_time(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        // RFC 7519 §4.1.4: reject at or after exp (plus leeway). MCP: expired tokens MUST get 401.
        match claims.exp {
            Some(exp) if now < exp.saturating_add(leeway) => {}
            Some(_) => return Err(AuthError::invalid_token("token expired")),
            None => return Err(AuthError::invalid_token("token has no expiry")),
        }
        if claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
        {
            return Err(AuthError::invalid_token("token not yet valid"));
        }
        if claims
            .iat
            .is_some_and(|iat| now.saturating_add(leeway) < iat)
        {
            return Err(AuthError::invalid_token("token issued in the future"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://as.example.com";
    const RES: &str = "https://mcp.example.com/mcp";

    fn policy() -> ClaimsPolicy {
        ClaimsPolicy::new(ResourceUri::parse(RES).unwrap(), ISS)
    }

    fn good() -> serde_json::Value {
        json!({"iss": ISS, "sub": "u1", "aud": RES, "exp": NOW + 300, "iat": NOW - 10,
               "jti": "j1", "client_id": "c1", "scope": "mcp:read"})
    }

    fn check(v: serde_json::Value) -> Result<(), &'static str> {
        check_with(v, &policy())
    }

    fn check_with(v: serde_json::Value, p: &ClaimsPolicy) -> Result<(), &'static str> {
        let c = Claims::from_json(&serde_json::to_vec(&v).unwrap()).map_err(|e| e.description())?;
        p.check(&c, NOW).map_err(|e| {
            assert_eq!(e.kind(), crate::ErrorKind::InvalidToken);
            e.description()
        })
    }

    fn with(k: &str, v: serde_json::Value) -> serde_json::Value {
        let mut g = good();
        g[k] = v;
        g
    }

    fn without(k: &str) -> serde_json::Value {
        let mut g = good();
        g.as_object_mut().unwrap().remove(k);
        g
    }

    #[test]
    fn accepts_a_good_token() {
        assert_eq!(check(good()), Ok(()));
        assert_eq!(check(with("aud", json!(["https://other", RES]))), Ok(()));
        assert_eq!(check(with("exp", json!((NOW + 300) as f64 + 0.5))), Ok(()));
    }

    #[test]
    fn issuer() {
        assert_eq!(
            check(with("iss", json!("https://evil"))),
            Err("token issuer is not trusted")
        );
        assert_eq!(
            check(with("iss", json!("https://as.example.com/"))),
            Err("token issuer is not trusted")
        );
        assert_eq!(
            check(with("iss", json!([ISS]))),
            Err("token claims are malformed")
        );
        assert_eq!(check(without("iss")), Err("token has no issuer"));
    }

    #[test]
    fn audience() {
        assert_eq!(check(without("aud")), Err("token has no audience"));
        assert_eq!(
            check(with("aud", json!("https://mcp.example.com/other"))),
            Err("token audience is not this resource")
        );
        assert_eq!(
            check(with("aud", json!([]))),
            Err("token audience is not this resource")
        );
        assert_eq!(
            check(with("aud", json!(format!("{RES}/")))),
            Err("token audience is not this resource")
        );
        assert_eq!(
            check(with("aud", json!(7))),
            Err("token claims are malformed")
        );
        let mut p = policy();
        p.audience_policy = AudiencePolicy::AllowTrailingSlash;
        assert_eq!(
            check_with(with("aud", json!(format!("{RES}/"))), &p),
            Ok(())
        );
        p.extra_audiences
            .push(ResourceUri::parse("https://second.example.com").unwrap());
        assert_eq!(
            check_with(with("aud", json!("https://second.example.com")), &p),
            Ok(())
        );
    }

    #[test]
    fn time() {
        assert_eq!(check(with("exp", json!(NOW - 61))), Err("token expired"));
        assert_eq!(check(with("exp", json!(NOW - 59))), Ok(()));
        assert_eq!(check(without("exp")), Err("token has no expiry"));
        assert_eq!(
            check(with("exp", json!("soon"))),
            Err("token claims are malformed")
        );
        assert_eq!(
            check(with("nbf", json!(NOW + 120))),
            Err("token not yet valid")
        );
        assert_eq!(check(with("nbf", json!(NOW + 30))), Ok(()));
        assert_eq!(
            check(with("iat", json!(NOW + 120))),
            Err("token issued in the future")
        );
    }

    #[test]
    fn rfc9068_claims() {
        for (k, why) in [
            ("sub", "token has no subject"),
            ("client_id", "token has no client_id"),
            ("iat", "token has no iat"),
            ("jti", "token has no jti"),
        ] {
            assert_eq!(check(without(k)), Err(why));
            let mut p = policy();
            p.require_rfc9068_claims = false;
            assert_eq!(check_with(without(k), &p), Ok(()));
        }
    }

    #[test]
    fn cnf_and_clients() {
        assert_eq!(
            check(with("cnf", json!({"jkt": "abc"}))),
            Err("sender-constrained token presented without proof of possession")
        );
        let mut p = policy();
        p.allowed_client_ids = Some(Arc::from(vec!["c2".to_owned()]));
        assert_eq!(check_with(good(), &p), Err("token client is not allowed"));
        p.allowed_client_ids = Some(Arc::from(vec!["c1".to_owned()]));
        assert_eq!(check_with(good(), &p), Ok(()));
    }

    #[test]
    fn aud_and_scp_take_a_string_or_an_array_of_strings_only() {
        let aud = |j: &str| Claims::from_json(j.as_bytes()).map(|c| c.aud);
        assert_eq!(aud(r#"{"aud":"a"}"#).unwrap(), Some(vec!["a".to_owned()]));
        assert_eq!(
            aud(r#"{"aud":["a","b"]}"#).unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(aud(r#"{"aud":[]}"#).unwrap(), Some(vec![]));
        assert_eq!(aud(r#"{"aud":null}"#).unwrap(), None);
        assert_eq!(aud(r#"{}"#).unwrap(), None);
        for bad in [
            r#"{"aud":1}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"aud":{"a":1}}"#,
            r#"{"aud":[["a"]]}"#,
            r#"{"aud":true}"#,
        ] {
            assert!(aud(bad).is_err(), "{bad}");
        }
        let c = Claims::from_json(br#"{"scp":"x"}"#).unwrap();
        assert_eq!(c.scp, Some(vec!["x".to_owned()]));
        assert!(Claims::from_json(br#"{"scp":[1]}"#).is_err());
        // The raw payload is kept as received.
        let c = Claims::from_json_vec(br#"{"aud":"a","x":{"y":[1]}}"#.to_vec()).unwrap();
        assert_eq!(c.get("x"), Some(json!({"y": [1]})));
    }

    #[test]
    fn other_claims_on_demand_and_object_only() {
        let c = Claims::from_json(br#"{"iss":"a","acr":"silver","n":{"x":1}}"#).unwrap();
        assert_eq!(c.get("acr"), Some(json!("silver")));
        assert_eq!(c.get("n"), Some(json!({"x": 1})));
        assert_eq!(c.get("missing"), None);
        assert_eq!(c.extra().len(), 3);
        assert!(Claims::from_json(b"[1,2]").is_err());
        assert!(Claims::from_json(b"\xff").is_err());
    }

    #[test]
    fn scope_forms() {
        let c = Claims::from_json(br#"{"scope":"b a"}"#).unwrap();
        assert_eq!(c.scopes().unwrap().to_scope_string(), "a b");
        let c = Claims::from_json(br#"{"scp":["x","y"]}"#).unwrap();
        assert_eq!(c.scopes().unwrap().to_scope_string(), "x y");
        let c = Claims::from_json(br#"{"scp":"x y","scope":"z"}"#).unwrap();
        assert_eq!(c.scopes().unwrap().to_scope_string(), "x y z");
        assert_eq!(
            check(with("scope", json!("a \"b"))),
            Err("token scope is malformed")
        );
        assert_eq!(
            check(with("scope", json!(["a"]))),
            Err("token claims are malformed")
        );
    }
}
