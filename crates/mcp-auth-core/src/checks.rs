//! Claim checks: a deployment's own rules on the verified claims (`tid`, `acr`, `token_use`,
//! a maximum token age, ...), run by the validation state machine beside the built-in claims
//! policy.
//!
//! A check says whether its answer depends on the clock ([`ClaimCheck::reads_clock`]):
//! - one that does not (`token_use == "access"`, a tenant allow-list, `acr` values) runs when
//!   a token is validated; the verified-token cache only holds tokens that passed it, and the
//!   policy cannot change afterwards, so a cache hit does not run it again;
//! - one that does ([`MaxTokenAge`], anything comparing a claim with `now`) runs at validation
//!   **and again on every cache hit**, like `exp` (see
//!   [`ClaimsPolicy::check_time`](crate::claims::ClaimsPolicy::check_time)).
//!
//! A refused token is `invalid_token` (RFC 6750 §3.1) with the check's fixed description.

use crate::claims::Claims;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A rule on a token's verified claims. See the [module docs](self).
///
/// Implemented for every `Fn(&Claims) -> Result<(), ClaimRejection> + Send + Sync` (a check
/// that does not read the clock).
pub trait ClaimCheck: Send + Sync + 'static {
    /// Whether the answer depends on `now`: then the check runs again on every cache hit.
    /// The default is `false`.
    fn reads_clock(&self) -> bool {
        false
    }

    /// Checks `claims` (signature and the built-in policy already passed) at `now`
    /// (seconds since the epoch). Must not panic.
    fn check(&self, claims: &Claims, now: i64) -> Result<(), ClaimRejection>;

    /// The top-level claims the check reads that are not typed fields of [`Claims`]: the
    /// layer has them captured in the one parse pass of the token
    /// ([`ClaimMapping::with_captured_claims`](crate::claims::ClaimMapping::with_captured_claims)),
    /// so [`Claims::captured`] answers without parsing the payload again. The default is
    /// none (a check may still read any claim with [`Claims::get`], at the cost of a parse).
    fn claims_read(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The claim `name` of `claims`: as captured in the parse pass when it was, else parsed
/// again from the kept payload. `Err` when the payload cannot be read again (never for a
/// parsed token): checks fail closed on it.
fn claim<'c>(
    claims: &'c Claims,
    name: &str,
) -> Result<Option<std::borrow::Cow<'c, serde_json::Value>>, ()> {
    match claims.captured(name) {
        Some(v) => Ok(v.map(std::borrow::Cow::Borrowed)),
        None => claims
            .get(name)
            .map(|v| v.map(std::borrow::Cow::Owned))
            .map_err(drop),
    }
}

impl<F> ClaimCheck for F
where
    F: Fn(&Claims) -> Result<(), ClaimRejection> + Send + Sync + 'static,
{
    fn check(&self, claims: &Claims, _now: i64) -> Result<(), ClaimRejection> {
        self(claims)
    }
}

/// Why a [`ClaimCheck`] refused a token: a fixed description, sent to the client as the
/// challenge's `error_description` (so never a claim value or a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRejection(&'static str);

impl ClaimRejection {
    /// Said when a description cannot be sent as it is.
    pub const GENERIC: &'static str = "token claims are not accepted by this resource";

    /// A rejection saying `description`. RFC 6750 §3 allows only `%x20-21 / %x23-5B /
    /// %x5D-7E` in `error_description`; a description with any other character (a quote, a
    /// backslash, a control character, non-ASCII) or an empty one is replaced by
    /// [`GENERIC`](Self::GENERIC), so a check cannot break the challenge header.
    pub const fn new(description: &'static str) -> Self {
        let b = description.as_bytes();
        if b.is_empty() {
            return Self(Self::GENERIC);
        }
        let mut i = 0;
        while i < b.len() {
            if !matches!(b[i], 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E) {
                return Self(Self::GENERIC);
            }
            i += 1;
        }
        Self(description)
    }

    /// The description.
    pub fn description(&self) -> &'static str {
        self.0
    }
}

/// The claim checks of a policy, kept apart by whether they read the clock.
#[derive(Clone, Default)]
pub struct ClaimChecks {
    fixed: Vec<Arc<dyn ClaimCheck>>,
    timed: Vec<Arc<dyn ClaimCheck>>,
}

impl fmt::Debug for ClaimChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimChecks")
            .field("fixed", &self.fixed.len())
            .field("timed", &self.timed.len())
            .finish()
    }
}

impl ClaimChecks {
    /// No checks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `check`.
    pub fn push(&mut self, check: impl ClaimCheck) {
        let check: Arc<dyn ClaimCheck> = Arc::new(check);
        if check.reads_clock() {
            self.timed.push(check);
        } else {
            self.fixed.push(check);
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.timed.is_empty()
    }

    /// Every check, in the order they were added within each kind (those that do not read
    /// the clock first): what a validation runs.
    pub fn run_all(&self, claims: &Claims, now: i64) -> Result<(), ClaimRejection> {
        self.fixed.iter().try_for_each(|c| c.check(claims, now))?;
        self.run_timed(claims, now)
    }

    /// The claims every check reads ([`ClaimCheck::claims_read`]), each once.
    pub fn claims_read(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for n in self
            .fixed
            .iter()
            .chain(&self.timed)
            .flat_map(|c| c.claims_read())
        {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// Whether any check reads the clock.
    pub fn any_timed(&self) -> bool {
        !self.timed.is_empty()
    }

    /// Only the checks that read the clock: what a cache hit runs again.
    pub fn run_timed(&self, claims: &Claims, now: i64) -> Result<(), ClaimRejection> {
        self.timed.iter().try_for_each(|c| c.check(claims, now))
    }
}

/// A maximum token age: `iat` (required) no more than `max` before `now`. Reads the clock,
/// so it runs on every cache hit too. For providers whose tokens live longer than the
/// resource wants to trust a grant (the token's `exp` still applies).
#[derive(Debug, Clone, Copy)]
pub struct MaxTokenAge(Duration);

impl MaxTokenAge {
    /// At most `max` old.
    pub fn new(max: Duration) -> Self {
        Self(max)
    }
}

impl ClaimCheck for MaxTokenAge {
    fn reads_clock(&self) -> bool {
        true
    }

    fn check(&self, claims: &Claims, now: i64) -> Result<(), ClaimRejection> {
        let Some(iat) = claims.iat else {
            return Err(ClaimRejection::new("token has no iat"));
        };
        let max = i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX);
        if now > iat.saturating_add(max) {
            return Err(ClaimRejection::new(
                "token is older than this resource accepts",
            ));
        }
        Ok(())
    }
}

/// A claim that must be one of the given string values (a tenant allow-list on `tid`,
/// `acr` values, `token_use == "access"`): absent, not a string, or another value is
/// refused. Does not read the clock. Reads the claim from the verified payload (a parse per
/// validation, never per cache hit).
#[derive(Debug, Clone)]
pub struct ClaimIn {
    name: String,
    allowed: Vec<String>,
    refusal: ClaimRejection,
}

impl ClaimIn {
    /// `name` must be one of `allowed`.
    pub fn new<I, S>(name: impl Into<String>, allowed: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            allowed: allowed.into_iter().map(Into::into).collect(),
            refusal: ClaimRejection::new("token claim does not have an accepted value"),
        }
    }

    /// Refuses with `refusal` instead of the generic description.
    #[must_use]
    pub fn refusing_with(mut self, refusal: ClaimRejection) -> Self {
        self.refusal = refusal;
        self
    }
}

impl ClaimCheck for ClaimIn {
    fn check(&self, claims: &Claims, _now: i64) -> Result<(), ClaimRejection> {
        let value = claim(claims, &self.name).map_err(|()| self.refusal)?;
        match value.as_deref() {
            Some(serde_json::Value::String(s)) if self.allowed.contains(s) => Ok(()),
            _ => Err(self.refusal),
        }
    }

    fn claims_read(&self) -> Vec<String> {
        vec![self.name.clone()]
    }
}

/// `iss` equals a template with one claim's value put in its placeholder: Entra's
/// `https://login.microsoftonline.com/{tid}/v2.0` with `tid`, so a token's tenant is the
/// tenant of the issuer that signed it (an issuer allow-list alone does not say which tenant
/// the token speaks for). The claim must be a non-empty string without `/`, `?` or `#` (it
/// fills one path segment); absent, another type, or another value is refused. Does not read
/// the clock.
///
/// ```
/// use mcp_auth_core::checks::{ClaimCheck, IssuerTemplate};
/// use mcp_auth_core::claims::Claims;
///
/// let check = IssuerTemplate::new("https://login.microsoftonline.com/{tid}/v2.0", "tid");
/// let ok = Claims::from_json(br#"{"iss":"https://login.microsoftonline.com/t1/v2.0","tid":"t1"}"#)?;
/// let other = Claims::from_json(br#"{"iss":"https://login.microsoftonline.com/t1/v2.0","tid":"t2"}"#)?;
/// assert!(check.check(&ok, 0).is_ok());
/// assert!(check.check(&other, 0).is_err());
/// # Ok::<(), mcp_auth_core::AuthError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IssuerTemplate {
    prefix: String,
    suffix: String,
    claim: String,
}

impl IssuerTemplate {
    /// `template` holds `{claim}` once (the first occurrence is the placeholder; a template
    /// without it matches no token).
    pub fn new(template: impl Into<String>, claim: impl Into<String>) -> Self {
        let template = template.into();
        let claim = claim.into();
        let placeholder = format!("{{{claim}}}");
        let (prefix, suffix) = match template.split_once(&placeholder) {
            Some((p, s)) => (p.to_owned(), s.to_owned()),
            // No placeholder: a prefix no issuer can have (issuers never hold a NUL).
            None => ("\0".to_owned(), String::new()),
        };
        Self {
            prefix,
            suffix,
            claim,
        }
    }
}

impl ClaimCheck for IssuerTemplate {
    fn check(&self, claims: &Claims, _now: i64) -> Result<(), ClaimRejection> {
        const REFUSED: ClaimRejection =
            ClaimRejection::new("token tenant does not match its issuer");
        let value = claim(claims, &self.claim).map_err(|()| REFUSED)?;
        let Some(serde_json::Value::String(value)) = value.as_deref() else {
            return Err(REFUSED);
        };
        if value.is_empty() || value.contains(['/', '?', '#']) {
            return Err(REFUSED);
        }
        let iss = claims.iss.as_deref().unwrap_or_default();
        let matches = iss
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_suffix(&self.suffix))
            == Some(value.as_str());
        if matches { Ok(()) } else { Err(REFUSED) }
    }

    fn claims_read(&self) -> Vec<String> {
        vec![self.claim.clone()]
    }
}

/// At least one of the named claims is present (and not `null`): Entra access tokens carry
/// `scp` (delegated) or `roles` (application), ID tokens neither; Auth0 access tokens carry
/// `scope` or `permissions`. Does not read the clock.
#[derive(Debug, Clone)]
pub struct AnyClaimPresent {
    names: Vec<String>,
    refusal: ClaimRejection,
}

impl AnyClaimPresent {
    /// One of `names` must be present.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            refusal: ClaimRejection::new("token lacks the claims of an access token"),
        }
    }

    /// Refuses with `refusal` instead of the generic description.
    #[must_use]
    pub fn refusing_with(mut self, refusal: ClaimRejection) -> Self {
        self.refusal = refusal;
        self
    }
}

impl ClaimCheck for AnyClaimPresent {
    fn check(&self, claims: &Claims, _now: i64) -> Result<(), ClaimRejection> {
        for name in &self.names {
            // The typed fields the presets name, without a parse.
            let typed = match name.as_str() {
                "scope" => Some(claims.scope.is_some()),
                "scp" => Some(claims.scp.is_some()),
                "client_id" => Some(claims.client_id.is_some()),
                "azp" => Some(claims.azp.is_some()),
                _ => None,
            };
            let present = match typed {
                Some(p) => p,
                None => match claim(claims, name).map_err(|()| self.refusal)? {
                    Some(v) => !v.is_null(),
                    None => false,
                },
            };
            if present {
                return Ok(());
            }
        }
        Err(self.refusal)
    }

    fn claims_read(&self) -> Vec<String> {
        self.names.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        Claims::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn issuer_template_binds_the_claim_to_the_issuer_segment() {
        let t = IssuerTemplate::new("https://login.example/{tid}/v2.0", "tid");
        let ok = claims(r#"{"iss":"https://login.example/a1/v2.0","tid":"a1"}"#);
        assert!(t.check(&ok, 0).is_ok());
        for bad in [
            r#"{"iss":"https://login.example/a1/v2.0","tid":"b2"}"#,
            r#"{"iss":"https://login.example/a1/v2.0"}"#,
            r#"{"iss":"https://login.example/a1/v2.0","tid":7}"#,
            r#"{"iss":"https://login.example/a1/v2.0","tid":""}"#,
            r#"{"iss":"https://login.example/a1/x/v2.0","tid":"a1/x"}"#,
            r#"{"iss":"https://other.example/a1/v2.0","tid":"a1"}"#,
            r#"{"iss":"https://login.example/a1/","tid":"a1"}"#,
            r#"{"tid":"a1"}"#,
        ] {
            assert_eq!(
                t.check(&claims(bad), 0).unwrap_err().description(),
                "token tenant does not match its issuer",
                "{bad}"
            );
        }
        let none = IssuerTemplate::new("https://login.example/v2.0", "tid");
        assert!(
            none.check(&ok, 0).is_err(),
            "no placeholder matches nothing"
        );
    }

    #[test]
    fn any_claim_present_needs_one_non_null_claim() {
        let c = AnyClaimPresent::new(["scp", "roles"]);
        assert!(c.check(&claims(r#"{"scp":"a"}"#), 0).is_ok());
        assert!(c.check(&claims(r#"{"roles":["r"]}"#), 0).is_ok());
        assert!(c.check(&claims(r#"{"scp":null}"#), 0).is_err());
        assert!(c.check(&claims(r#"{"sub":"x"}"#), 0).is_err());
        assert!(!c.reads_clock());
    }
}
