//! The claims policy of a JWT access token (RFC 9068 §4, RFC 7519 §4.1, RFC 8725 §3.8–3.12,
//! MCP "Token Handling"). Pure: the clock is an argument.

use crate::AuthError;
use crate::checks::ClaimChecks;
use crate::resource::{AudiencePolicy, ResourceUri};
use crate::scope::ScopeSet;
use std::sync::Arc;

mod audience;
pub mod mapping;
mod parse;
pub use audience::{Audience, AudienceError};
pub use mapping::{ClaimMapping, MappingError, RequiredClaims, RoleMap, ScopeSource};

/// The deepest nesting of arrays and objects accepted in a claims set or a JOSE header, the
/// top-level object being level 1: a deeper payload is refused at parse time.
pub const MAX_DEPTH: usize = crate::json::MAX_DEPTH;

/// The claims of an access token that mcp-auth reads; every other claim through
/// [`get`](Claims::get) and [`extra`](Claims::extra).
///
/// Only the registered claims are parsed on the request path; the payload is kept as-is and
/// other claims are parsed when asked for (serde's `flatten` would buffer every claim on every
/// request).
///
/// Parsing refuses a payload with a duplicate member name at any depth (RFC 7519 §4 allows
/// it: parsers disagree on which duplicate wins, and a deny rule on a claim must not depend
/// on that) or nested deeper than [`MAX_DEPTH`], so every claim present in a payload that
/// was accepted can be read by [`get`](Claims::get): access to other claims never fails
/// open. The same rules hold when `Claims` is deserialized with serde directly.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`: must be a string (an array is refused at parse time).
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
    pub aud: Option<Vec<String>>,
    /// `exp`, seconds since the epoch.
    pub exp: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
    /// `client_id` (RFC 9068 §2.2, RFC 8693 §4.3).
    pub client_id: Option<String>,
    /// `azp`, used by some providers in place of `client_id`.
    pub azp: Option<String>,
    /// `scope`: space-delimited (RFC 9068 §2.2.3).
    pub scope: Option<String>,
    /// `scp`: an array (or a string) of scopes, as some providers emit.
    pub scp: Option<Vec<String>>,
    /// `cnf`: confirmation (RFC 7800; RFC 9449 §6 `jkt`, RFC 8705 `x5t#S256`).
    pub cnf: Option<serde_json::Value>,
    /// The whole payload, as received (after verification: trusted). Empty when the claims
    /// were not parsed from a payload ([`Default`], serde).
    raw: Box<str>,
    /// What a non-default [`ClaimMapping`] resolved ([`from_json_with`](Claims::from_json_with)).
    mapped: Option<Box<mapping::Mapped>>,
}

/// Why [`Claims::get`] or [`Claims::extra`] could not answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// These claims were not parsed from a token payload by [`Claims::from_json`] (they were
    /// built with `Default` or deserialized with serde), so only the registered claims are
    /// known: whether another claim is present cannot be told.
    #[error("the token payload was not kept with these claims")]
    NotKept,
    /// The kept payload could not be read again. Not expected: it passed the same rules
    /// when it was parsed; answered as an error rather than as an absent claim.
    #[error("token claims are malformed")]
    Malformed,
}

impl Claims {
    /// Parses a JWT payload. Refused (as `invalid_token`): not a JSON object, wrong types (an
    /// `iss` array, a string `exp`), a duplicate member name at any depth, nesting deeper
    /// than [`MAX_DEPTH`].
    pub fn from_json(payload: &[u8]) -> Result<Self, AuthError> {
        Self::from_json_vec(payload.to_vec())
    }

    /// [`from_json`](Self::from_json), keeping `payload` as the raw claims without a copy.
    pub fn from_json_vec(payload: Vec<u8>) -> Result<Self, AuthError> {
        Self::parse(payload, None)
    }

    /// [`from_json_vec`](Self::from_json_vec), reading the client id and the subject where
    /// `mapping` says ([`client`](Self::client), [`subject`](Self::subject)). The claims it
    /// names are captured in the same pass over the payload; one that is present and neither
    /// a string nor `null` is refused (`invalid_token`, "token claims are malformed"), as a
    /// non-string `client_id` is.
    pub fn from_json_with(payload: Vec<u8>, mapping: &ClaimMapping) -> Result<Self, AuthError> {
        Self::parse(payload, (!mapping.is_default()).then_some(mapping))
    }

    fn parse(payload: Vec<u8>, mapping: Option<&ClaimMapping>) -> Result<Self, AuthError> {
        use serde::Deserializer as _;
        let malformed = || AuthError::invalid_token("token claims are malformed");
        let raw = String::from_utf8(payload).map_err(|_| malformed())?;
        // A claims set is a JSON object (RFC 7519 §7.2); serde would also take an array.
        if raw.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(malformed());
        }
        let mut de = serde_json::Deserializer::from_str(&raw);
        let mut c = de
            .deserialize_map(parse::ClaimsVisitor(mapping))
            .and_then(|c| de.end().map(|()| c))
            .map_err(|e| {
                AuthError::invalid_token(match crate::json::checked_error(&e) {
                    Some(crate::json::DUPLICATE) => "token claims have a duplicate member name",
                    Some(_) => "token claims are nested too deeply",
                    None => "token claims are malformed",
                })
            })?;
        c.raw = raw.into_boxed_str();
        Ok(c)
    }

    /// These claims as `mapping` reads them: themselves when they were parsed with it,
    /// otherwise parsed again from the kept payload (typed fields only without one).
    pub(crate) fn remapped(&self, mapping: &ClaimMapping) -> Result<Self, AuthError> {
        if !self.raw.is_empty() {
            return Self::from_json_with(self.raw.as_bytes().to_vec(), mapping);
        }
        let mut c = self.clone();
        c.mapped = mapping
            .resolve(self, mapping.captured())
            .map_err(|_| AuthError::invalid_token("token claims are malformed"))?;
        Ok(c)
    }

    /// Any claim by name (parses the payload; not for the hot path): `Ok(None)` only when the
    /// payload has no such claim.
    ///
    /// ```
    /// use mcp_auth_core::claims::Claims;
    /// let c = Claims::from_json(br#"{"iss":"https://as.example","tenant":"acme"}"#)?;
    /// assert_eq!(c.get("tenant")?, Some(serde_json::json!("acme")));
    /// assert_eq!(c.get("restricted")?, None);
    /// // Which `tenant` would win is not left to a parser: the payload is refused.
    /// assert!(Claims::from_json(br#"{"tenant":"acme","tenant":"evil"}"#).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ClaimError::NotKept`] for claims not made by [`from_json`](Self::from_json); never a
    /// silent `None` for a claim that is there.
    pub fn get(&self, name: &str) -> Result<Option<serde_json::Value>, ClaimError> {
        Ok(self.extra()?.remove(name))
    }

    /// The claim `name` as captured in the parse pass, when the claims were parsed with a
    /// [`ClaimMapping`] that captures it ([`ClaimMapping::with_captured_claims`], or a claim
    /// the mapping reads anyway): `Some(None)` when the token has no such claim. `None` when
    /// it was not captured: read it with [`get`](Self::get), which parses the payload again.
    /// For the hot path of claim checks.
    pub fn captured(&self, name: &str) -> Option<Option<&serde_json::Value>> {
        self.mapped.as_ref()?.captured(name)
    }

    /// Every claim as a JSON object (parses the payload).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn extra(&self) -> Result<serde_json::Map<String, serde_json::Value>, ClaimError> {
        if self.raw.is_empty() {
            return Err(ClaimError::NotKept);
        }
        serde_json::from_str(&self.raw).map_err(|_| ClaimError::Malformed)
    }

    /// The granted scopes: `scope` (RFC 9068 §2.2.3) and `scp`, merged; for claims parsed
    /// with a [`ClaimMapping`] that has scope sources, what those sources grant (resolved
    /// once, when the claims were parsed).
    pub fn scopes(&self) -> Result<ScopeSet, AuthError> {
        if let Some(mapped) = self.mapped.as_ref().and_then(|m| m.scopes()) {
            return mapped
                .cloned()
                .map_err(|_| AuthError::invalid_token("token scope is malformed"));
        }
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

    /// The client identifier: `client_id`, else `azp`; for claims parsed with a
    /// [`ClaimMapping`] ([`from_json_with`](Self::from_json_with)), its client-id claims.
    pub fn client(&self) -> Option<&str> {
        match &self.mapped {
            Some(m) => m.client(),
            None => self.client_id.as_deref().or(self.azp.as_deref()),
        }
    }

    /// The subject: `sub`; for claims parsed with a [`ClaimMapping`], its subject claim.
    pub fn subject(&self) -> Option<&str> {
        match &self.mapped {
            Some(m) => m.subject(),
            None => self.sub.as_deref(),
        }
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
    /// Other audiences a token may carry instead (the name an authorization server gives
    /// this API: Entra's client-id GUID, `api://…`, an Auth0 identifier): RFC 7519 StringOrURI
    /// values, compared byte for byte (RFC 7519 §4.1.3), never under `audience_policy`.
    pub extra_audiences: Vec<Audience>,
    /// How `aud` is compared with [`resource`](Self::resource) (and only with it).
    pub audience_policy: AudiencePolicy,
    /// Whether a token must carry `aud` (default `true`, RFC 9068 §2.2, RFC 8707). `false`
    /// is for an authorization server that never sets it (AWS Cognito access tokens): a
    /// token without `aud` is then accepted, so **nothing binds it to this resource**, and
    /// the caller must bind it otherwise (a client-id allow-list); a token that does carry
    /// `aud` must still name this resource or an extra audience.
    pub require_audience: bool,
    /// Allowed clock skew in seconds for `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Require the claims RFC 9068 §2.2 lists that [`required_claims`](Self::required_claims)
    /// names (by default all: `sub`, `client_id`, `iat`, `jti`), not only `iss`, `exp` and
    /// `aud`. `false` requires none of them, whatever `required_claims` says.
    pub require_rfc9068_claims: bool,
    /// Which RFC 9068 §2.2 claims are required, one by one (default [`RequiredClaims::ALL`]).
    pub required_claims: RequiredClaims,
    /// Where the client id and the subject are (default: `client_id` else `azp`, `sub`).
    /// The state machine parses the payload with it; [`check`](Self::check) given claims
    /// parsed otherwise parses their payload again with it.
    pub mapping: ClaimMapping,
    /// If set, only these clients ([`Claims::client`] under [`mapping`](Self::mapping)) are
    /// accepted.
    pub allowed_client_ids: Option<Arc<[String]>>,
    /// Whether a `cnf` claim is acceptable. While DPoP (RFC 9449) or mTLS (RFC 8705) binding
    /// is not verified, a sender-constrained token must be refused (RFC 9449 §7.2).
    pub allow_cnf: bool,
    /// The deployment's own rules on the verified claims ([`crate::checks`]).
    pub checks: ClaimChecks,
}

impl ClaimsPolicy {
    /// A strict policy for `resource` and one issuer.
    pub fn new(resource: ResourceUri, issuer: impl Into<String>) -> Self {
        Self {
            issuers: vec![issuer.into()],
            resource,
            extra_audiences: Vec::new(),
            audience_policy: AudiencePolicy::Exact,
            require_audience: true,
            leeway: 60,
            require_rfc9068_claims: true,
            required_claims: RequiredClaims::ALL,
            mapping: ClaimMapping::new(),
            allowed_client_ids: None,
            allow_cnf: false,
            checks: ClaimChecks::new(),
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
        self.check_as(claims, now, Profile::Jwt)
    }

    /// [`check_scopes`](Self::check_scopes) under `profile`: the one place every claim rule
    /// is written, for JWT access tokens and for introspection answers alike.
    pub(crate) fn check_as(
        &self,
        claims: &Claims,
        now: i64,
        profile: Profile,
    ) -> Result<ScopeSet, AuthError> {
        let remapped;
        let claims = if self.mapping.resolved(claims) {
            claims
        } else {
            remapped = claims.remapped(&self.mapping)?;
            &remapped
        };
        match &claims.iss {
            Some(iss) if self.accepts_issuer(iss) => {}
            Some(_) => return Err(AuthError::invalid_token("token issuer is not trusted")),
            None => return Err(AuthError::invalid_token("token has no issuer")),
        }
        self.check_time_as(claims, now, profile)?;
        // The resource under its policy (RFC 8707); any other configured audience byte for
        // byte, case-sensitively (RFC 7519 §4.1.3, §2 StringOrURI comparison).
        let ours = |a: &String| {
            self.resource.matches(a, self.audience_policy)
                || self.extra_audiences.iter().any(|x| x.matches(a))
        };
        match claims.aud.as_deref() {
            None if !self.require_audience => {}
            None => return Err(AuthError::invalid_token("token has no audience")),
            Some(aud) if aud.iter().any(ours) => {}
            Some(_) => {
                return Err(AuthError::invalid_token(
                    "token audience is not this resource",
                ));
            }
        }
        // RFC 9068 §2.2 names the claims of a JWT access token; RFC 7662 §2.2 makes every
        // member of an introspection answer but `active` optional, so none is required there.
        if self.require_rfc9068_claims && profile == Profile::Jwt {
            let required = self.required_claims;
            if required.sub && claims.subject().is_none() {
                return Err(AuthError::invalid_token("token has no subject"));
            }
            if required.client_id && !self.mapping.has_required_client(claims) {
                return Err(AuthError::invalid_token("token has no client_id"));
            }
            if required.iat && claims.iat.is_none() {
                return Err(AuthError::invalid_token("token has no iat"));
            }
            if required.jti && claims.jti.is_none() {
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

    /// The claim checks ([`checks`](Self::checks)) on claims whose signature was verified:
    /// run by the validation state machine after the signature check.
    pub fn check_verified(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        if self.checks.is_empty() {
            return Ok(());
        }
        self.checks
            .run_all(claims, now)
            .map_err(|r| AuthError::invalid_token(r.description()))
    }

    /// What a later use of an accepted token must check again: [`check_time`](Self::check_time)
    /// and the claim checks that read the clock. Everything else was settled by the
    /// byte-identical token and this immutable policy (the verified-token cache relies on it).
    #[inline]
    pub fn recheck(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        self.recheck_as(claims, now, Profile::Jwt)
    }

    /// [`recheck`](Self::recheck) for claims an RFC 7662 introspection answer vouched for
    /// ([`crate::introspection`]): the same rules, with `exp` optional as RFC 7662 makes it.
    #[inline]
    pub fn recheck_introspected(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        self.recheck_as(claims, now, Profile::Introspection)
    }

    /// [`recheck`](Self::recheck) under `profile`.
    #[inline]
    pub(crate) fn recheck_as(
        &self,
        claims: &Claims,
        now: i64,
        profile: Profile,
    ) -> Result<(), AuthError> {
        self.check_time_as(claims, now, profile)?;
        if !self.checks.any_timed() {
            return Ok(());
        }
        self.checks
            .run_timed(claims, now)
            .map_err(|r| AuthError::invalid_token(r.description()))
    }

    /// Only the time-dependent part of [`check`](Self::check): `exp` (required), `nbf` and
    /// `iat`, each with the leeway. Everything else `check` decides is a function of the
    /// claims and the policy alone, so a token that passed `check` once needs only this at a
    /// later instant (the verified-token cache relies on it).
    pub fn check_time(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        self.check_time_as(claims, now, Profile::Jwt)
    }

    /// [`check_time`](Self::check_time) under `profile`: an introspection answer need not
    /// carry `exp` (RFC 7662 §2.2: optional); one it carries is checked the same way.
    fn check_time_as(&self, claims: &Claims, now: i64, profile: Profile) -> Result<(), AuthError> {
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        // RFC 7519 §4.1.4: reject at or after exp (plus leeway). MCP: expired tokens MUST get 401.
        match claims.exp {
            Some(exp) if now < exp.saturating_add(leeway) => {}
            Some(_) => return Err(AuthError::invalid_token("token expired")),
            None if profile == Profile::Introspection => {}
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

/// Which kind of claims set a [`ClaimsPolicy`] judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// A JWT access token (RFC 9068): `exp` required, the RFC 9068 §2.2 claims as configured.
    Jwt,
    /// An RFC 7662 introspection answer: `exp` optional, no RFC 9068 claim required.
    Introspection,
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
            .push(Audience::parse("https://second.example.com").unwrap());
        assert_eq!(
            check_with(with("aud", json!("https://second.example.com")), &p),
            Ok(())
        );
    }

    #[test]
    fn an_absent_audience_is_accepted_only_when_not_required() {
        let mut p = policy();
        p.require_audience = false;
        assert_eq!(check_with(without("aud"), &p), Ok(()));
        // A token that carries `aud` is still bound by it, even an empty array.
        assert_eq!(
            check_with(with("aud", json!("https://mcp.example.com/other")), &p),
            Err("token audience is not this resource")
        );
        assert_eq!(
            check_with(with("aud", json!([])), &p),
            Err("token audience is not this resource")
        );
        assert_eq!(check_with(with("aud", json!(RES)), &p), Ok(()));
        assert_eq!(check(without("aud")), Err("token has no audience"));
    }

    #[test]
    fn extra_audiences_are_compared_byte_for_byte() {
        const GUID: &str = "0000000a-1111-2222-3333-444444444444";
        let mut p = policy();
        p.audience_policy = AudiencePolicy::Normalized;
        for a in [GUID, "api://default", "https://api.example.com"] {
            p.extra_audiences.push(Audience::parse(a).unwrap());
        }
        for a in [GUID, "api://default", "https://api.example.com"] {
            assert_eq!(check_with(with("aud", json!(a)), &p), Ok(()), "{a}");
            assert_eq!(check_with(with("aud", json!(["x", a])), &p), Ok(()), "{a}");
        }
        // No transformation for an extra audience, whatever the resource's policy.
        for a in [
            "0000000A-1111-2222-3333-444444444444",
            "API://default",
            "api://default/",
            "https://api.example.com/",
            "https://API.example.com",
            "https://api.example.com:443",
        ] {
            assert_eq!(
                check_with(with("aud", json!(a)), &p),
                Err("token audience is not this resource"),
                "{a}"
            );
        }
        // The resource keeps its canonical comparison under its policy.
        for a in [RES, "https://MCP.example.com:443/mcp/"] {
            assert_eq!(check_with(with("aud", json!(a)), &p), Ok(()), "{a}");
        }
        p.audience_policy = AudiencePolicy::AllowTrailingSlash;
        assert_eq!(
            check_with(with("aud", json!(format!("{RES}/"))), &p),
            Ok(())
        );
        assert_eq!(
            check_with(with("aud", json!("https://api.example.com/")), &p),
            Err("token audience is not this resource")
        );
        p.audience_policy = AudiencePolicy::Exact;
        assert_eq!(
            check_with(with("aud", json!(format!("{RES}/"))), &p),
            Err("token audience is not this resource")
        );
        assert_eq!(check_with(with("aud", json!(GUID)), &p), Ok(()));
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
        assert_eq!(c.get("x"), Ok(Some(json!({"y": [1]}))));
    }

    #[test]
    fn other_claims_on_demand_and_object_only() {
        let c = Claims::from_json(br#"{"iss":"a","acr":"silver","n":{"x":1}}"#).unwrap();
        assert_eq!(c.get("acr"), Ok(Some(json!("silver"))));
        assert_eq!(c.get("n"), Ok(Some(json!({"x": 1}))));
        assert_eq!(c.get("missing"), Ok(None));
        assert_eq!(c.extra().map(|m| m.len()), Ok(3));
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
