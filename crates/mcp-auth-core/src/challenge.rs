//! `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP "Error Handling").
//!
//! | [`ErrorKind`] | status | challenge |
//! |---|---|---|
//! | `MissingCredentials` | 401 | `Bearer resource_metadata="…", scope="…"` (no `error`, RFC 6750 §3.1) |
//! | `InvalidRequest` | 400 | `Bearer error="invalid_request", error_description="…", resource_metadata="…"` |
//! | `InvalidToken` | 401 | `Bearer error="invalid_token", error_description="…", resource_metadata="…", scope="…"` |
//! | `InsufficientScope` | 403 | `Bearer error="insufficient_scope", error_description="…", scope="<all needed>", resource_metadata="…"` |
//! | `KeySourceUnavailable` | 503 | none (the token may be fine) |
//! | `PayloadTooLarge` | 413 | none |
//!
//! The same rows on the `DPoP` scheme ([`ChallengeTemplate::render_dpop`]) carry `algs`
//! first (RFC 9449 §7.1); a refused proof ([`ChallengeTemplate::render_dpop_error`]) is a 401
//! with `error="invalid_dpop_proof"`, `"use_dpop_nonce"` or `"invalid_token"`.
//!
//! `resource_metadata` is always the absolute URL of the Protected Resource Metadata
//! (RFC 9728 §5.1), and `offline_access` never appears in `scope` (MCP 2026-07-28, "Refresh
//! Tokens").

use crate::dpop::DpopError;
use crate::jws::Algorithm;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};
use crate::{AuthError, ErrorKind};
use std::fmt::Write;

/// One challenge: a scheme and its auth-params, rendered with quoted-string values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Challenge {
    scheme: &'static str,
    params: Vec<(&'static str, String)>,
}

impl Challenge {
    /// A `Bearer` challenge (RFC 6750 §3).
    pub fn bearer() -> Self {
        Self {
            scheme: "Bearer",
            params: Vec::new(),
        }
    }

    /// A `DPoP` challenge (RFC 9449 §7.1).
    pub fn dpop() -> Self {
        Self {
            scheme: "DPoP",
            params: Vec::new(),
        }
    }

    /// Adds `name="value"`. Each name should appear once (RFC 6750 §3); a repeated name
    /// replaces the earlier value.
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if let Some(p) = self.params.iter_mut().find(|(n, _)| *n == name) {
            p.1 = value;
        } else {
            self.params.push((name, value));
        }
        self
    }

    /// Renders the header value. Values are quoted-strings (RFC 9110 §5.6.4): `"` and `\` are
    /// escaped, and characters no header may carry are dropped. `error_description` keeps only
    /// the characters RFC 6750 §3 allows (`%x20-21 / %x23-5B / %x5D-7E`).
    pub fn render(&self) -> String {
        let mut out = String::from(self.scheme);
        for (i, (name, value)) in self.params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            let _ = write!(out, "{name}=\"");
            for c in value.chars() {
                match c {
                    '"' | '\\' if *name == "error_description" => {}
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    ' '..='~' => out.push(c),
                    _ => {}
                }
            }
            out.push('"');
        }
        out
    }
}

/// Everything needed to render the challenges of one protected resource, built once from the
/// configuration so the 401, the 403 and the metadata can never disagree.
#[derive(Debug, Clone)]
pub struct ChallengeTemplate {
    resource_metadata: String,
    scope: ScopeSet,
    realm: Option<String>,
    error_description: bool,
    include_granted_in_403: bool,
    dpop_algs: Option<String>,
}

impl ChallengeTemplate {
    /// `resource_metadata` is the absolute metadata URL; `scope` is what a client should ask
    /// for on a 401 (MCP "Scope Selection Strategy"). `offline_access` is removed.
    pub fn new(resource_metadata: impl Into<String>, scope: ScopeSet) -> Self {
        Self {
            resource_metadata: resource_metadata.into(),
            scope: scope.without(OFFLINE_ACCESS),
            realm: None,
            error_description: true,
            include_granted_in_403: true,
            dpop_algs: None,
        }
    }

    /// The proof algorithms a `DPoP` challenge names in `algs` (RFC 9449 §7.1: SHOULD be
    /// included), e.g. [`DpopPolicy::algorithms`](crate::dpop::DpopPolicy::algorithms).
    #[must_use]
    pub fn with_dpop_algs(mut self, algs: &[Algorithm]) -> Self {
        let names: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
        self.dpop_algs = Some(names.join(" ")).filter(|s| !s.is_empty());
        self
    }

    /// Adds `realm` (RFC 6750 §3).
    #[must_use]
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Whether to send `error_description` (on by default; its texts are fixed and hold no
    /// token data).
    #[must_use]
    pub fn with_error_description(mut self, on: bool) -> Self {
        self.error_description = on;
        self
    }

    /// Whether a 403's `scope` also lists the scopes the token already holds (on by default).
    ///
    /// MCP clients such as the TypeScript SDK ask for exactly the challenged scopes and then
    /// *replace* their token; without the held scopes, a step-up would lose earlier rights.
    /// MCP 2026-07-28 permits it: servers "are not required to include the client's
    /// previously granted scopes".
    #[must_use]
    pub fn with_granted_scopes_in_403(mut self, on: bool) -> Self {
        self.include_granted_in_403 = on;
        self
    }

    /// The `resource_metadata` URL.
    pub fn resource_metadata(&self) -> &str {
        &self.resource_metadata
    }

    /// The scopes named in a 401 challenge.
    pub fn scope(&self) -> &ScopeSet {
        &self.scope
    }

    /// The challenge for `err`, or `None` where none is sent (503, 413). `granted` is the
    /// token's scopes, for the 403.
    pub fn render(&self, err: &AuthError, granted: Option<&ScopeSet>) -> Option<String> {
        self.render_on(self.start(Challenge::bearer()), err, granted)
    }

    /// The same challenge as [`render`](Self::render), on the `DPoP` scheme (RFC 9449 §7.1)
    /// with `algs` when [`with_dpop_algs`](Self::with_dpop_algs) set it: for a request made
    /// with the `DPoP` scheme (the token invalid, a scope missing), or, next to the `Bearer`
    /// one, for a request without credentials where both schemes are accepted.
    pub fn render_dpop(&self, err: &AuthError, granted: Option<&ScopeSet>) -> Option<String> {
        self.render_on(self.start_dpop(), err, granted)
    }

    /// The `DPoP` challenge for a refused proof or key binding: `error` is the RFC 9449 §7.1
    /// code of `err` (`invalid_dpop_proof`, `use_dpop_nonce` or `invalid_token`), with its
    /// fixed description, `resource_metadata`, and `scope` for `invalid_token` as in the
    /// `Bearer` challenge. The status is always 401; a `use_dpop_nonce` answer also carries a
    /// `DPoP-Nonce` header ([`DpopError::needs_nonce`]).
    pub fn render_dpop_error(&self, err: &DpopError) -> String {
        let mut c = self.start_dpop().param("error", err.error_code());
        if self.error_description {
            c = c.param("error_description", err.description());
        }
        c = c.param("resource_metadata", self.resource_metadata.clone());
        if err.error_code() == "invalid_token" && !self.scope.is_empty() {
            c = c.param("scope", self.scope.to_scope_string());
        }
        c.render()
    }

    fn start(&self, mut c: Challenge) -> Challenge {
        if let Some(realm) = &self.realm {
            c = c.param("realm", realm.clone());
        }
        c
    }

    fn start_dpop(&self) -> Challenge {
        let mut c = self.start(Challenge::dpop());
        if let Some(algs) = &self.dpop_algs {
            c = c.param("algs", algs.clone());
        }
        c
    }

    fn render_on(
        &self,
        mut c: Challenge,
        err: &AuthError,
        granted: Option<&ScopeSet>,
    ) -> Option<String> {
        let kind = err.kind();
        match kind {
            ErrorKind::KeySourceUnavailable
            | ErrorKind::PayloadTooLarge
            | ErrorKind::OriginNotAllowed => return None,
            ErrorKind::MissingCredentials => {
                c = c.param("resource_metadata", self.resource_metadata.clone());
                if !self.scope.is_empty() {
                    c = c.param("scope", self.scope.to_scope_string());
                }
                return Some(c.render());
            }
            _ => {}
        }
        if let Some(code) = kind.error_code() {
            c = c.param("error", code);
        }
        if self.error_description {
            c = c.param("error_description", err.description());
        }
        match kind {
            ErrorKind::InsufficientScope => {
                let mut needed = err.required_scopes().cloned().unwrap_or_default();
                if let Some(g) = granted.filter(|_| self.include_granted_in_403) {
                    needed = needed.union(g);
                }
                let needed = needed.without(OFFLINE_ACCESS);
                c = c.param("scope", needed.to_scope_string());
                c = c.param("resource_metadata", self.resource_metadata.clone());
            }
            ErrorKind::InvalidToken => {
                c = c.param("resource_metadata", self.resource_metadata.clone());
                if !self.scope.is_empty() {
                    c = c.param("scope", self.scope.to_scope_string());
                }
            }
            _ => {
                c = c.param("resource_metadata", self.resource_metadata.clone());
            }
        }
        Some(c.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    fn t() -> ChallengeTemplate {
        ChallengeTemplate::new(MD, ScopeSet::parse("mcp:read offline_access").unwrap())
    }

    #[test]
    fn quoting_and_escaping() {
        let c = Challenge::bearer()
            .param("realm", "a \"b\" \\c\u{7}\u{e9}")
            .param("error_description", "x\"y\\z\u{1}");
        assert_eq!(
            c.render(),
            r#"Bearer realm="a \"b\" \\c", error_description="xyz""#
        );
        assert_eq!(
            Challenge::dpop().param("algs", "ES256 RS256").render(),
            r#"DPoP algs="ES256 RS256""#
        );
    }

    #[test]
    fn every_row() {
        let t = t();
        assert_eq!(
            t.render(&AuthError::missing_credentials(), None).unwrap(),
            format!(r#"Bearer resource_metadata="{MD}", scope="mcp:read""#)
        );
        assert_eq!(
            t.render(
                &AuthError::invalid_request("more than one Authorization header"),
                None
            )
            .unwrap(),
            format!(
                r#"Bearer error="invalid_request", error_description="more than one Authorization header", resource_metadata="{MD}""#
            )
        );
        assert_eq!(
            t.render(&AuthError::invalid_token("token expired"), None)
                .unwrap(),
            format!(
                r#"Bearer error="invalid_token", error_description="token expired", resource_metadata="{MD}", scope="mcp:read""#
            )
        );
        let need = ScopeSet::parse("mcp:write offline_access").unwrap();
        let held = ScopeSet::parse("mcp:read").unwrap();
        assert_eq!(
            t.render(&AuthError::insufficient_scope(need.clone()), Some(&held))
                .unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="mcp:read mcp:write", resource_metadata="{MD}""#
            )
        );
        let only = t
            .clone()
            .with_granted_scopes_in_403(false)
            .with_error_description(false);
        assert_eq!(
            only.render(&AuthError::insufficient_scope(need), Some(&held))
                .unwrap(),
            format!(
                r#"Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="{MD}""#
            )
        );
        assert_eq!(t.render(&AuthError::key_source_unavailable(5), None), None);
        assert_eq!(t.render(&AuthError::payload_too_large(), None), None);
        assert_eq!(
            t.with_realm("mcp")
                .render(&AuthError::missing_credentials(), None)
                .unwrap(),
            format!(r#"Bearer realm="mcp", resource_metadata="{MD}", scope="mcp:read""#)
        );
    }

    #[test]
    fn dpop_rows() {
        let t = t().with_dpop_algs(&[Algorithm::ES256, Algorithm::EdDSA]);
        assert_eq!(
            t.render_dpop(&AuthError::missing_credentials(), None)
                .unwrap(),
            format!(r#"DPoP algs="ES256 EdDSA", resource_metadata="{MD}", scope="mcp:read""#)
        );
        // The Bearer rows are untouched by the DPoP setting.
        assert_eq!(
            t.render(&AuthError::missing_credentials(), None).unwrap(),
            format!(r#"Bearer resource_metadata="{MD}", scope="mcp:read""#)
        );
        assert_eq!(
            t.render_dpop(&AuthError::invalid_token("token expired"), None)
                .unwrap(),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="invalid_token", error_description="token expired", resource_metadata="{MD}", scope="mcp:read""#
            )
        );
        let need = ScopeSet::parse("mcp:write").unwrap();
        assert_eq!(
            t.render_dpop(&AuthError::insufficient_scope(need), None)
                .unwrap(),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="insufficient_scope", error_description="the access token lacks a scope this operation needs", scope="mcp:write", resource_metadata="{MD}""#
            )
        );
        assert_eq!(
            t.render_dpop_error(&DpopError::BadSignature),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof signature invalid", resource_metadata="{MD}""#
            )
        );
        assert_eq!(
            t.render_dpop_error(&DpopError::Replayed),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof already used", resource_metadata="{MD}""#
            )
        );
        assert_eq!(
            t.render_dpop_error(&DpopError::NonceRequired),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="use_dpop_nonce", error_description="resource server requires nonce in DPoP proof", resource_metadata="{MD}""#
            )
        );
        assert_eq!(
            t.clone()
                .with_error_description(false)
                .render_dpop_error(&DpopError::KeyBindingMismatch),
            format!(
                r#"DPoP algs="ES256 EdDSA", error="invalid_token", resource_metadata="{MD}", scope="mcp:read""#
            )
        );
        assert_eq!(
            t.with_realm("mcp")
                .render_dpop(&AuthError::missing_credentials(), None)
                .unwrap(),
            format!(
                r#"DPoP realm="mcp", algs="ES256 EdDSA", resource_metadata="{MD}", scope="mcp:read""#
            )
        );
        // Without algs configured, none is sent; 503 and 413 have no challenge on either scheme.
        assert_eq!(
            super::tests::t()
                .render_dpop(&AuthError::missing_credentials(), None)
                .unwrap(),
            format!(r#"DPoP resource_metadata="{MD}", scope="mcp:read""#)
        );
        assert_eq!(
            super::tests::t().render_dpop(&AuthError::key_source_unavailable(5), None),
            None
        );
    }

    /// Every DPoP error's description is its `Display`, and allowed in `error_description`.
    #[test]
    fn dpop_descriptions_are_fixed_and_quotable() {
        use crate::dpop::ProofClaim;
        let all = [
            DpopError::MissingProof,
            DpopError::MultipleProofs,
            DpopError::Malformed,
            DpopError::TooLarge,
            DpopError::WrongType,
            DpopError::AlgorithmNotAllowed,
            DpopError::CriticalHeader,
            DpopError::MissingKey,
            DpopError::PrivateKey,
            DpopError::InvalidKey,
            DpopError::BadSignature,
            DpopError::MissingClaim(ProofClaim::Jti),
            DpopError::MissingClaim(ProofClaim::Htm),
            DpopError::MissingClaim(ProofClaim::Htu),
            DpopError::MissingClaim(ProofClaim::Iat),
            DpopError::MissingClaim(ProofClaim::Ath),
            DpopError::JtiTooLong,
            DpopError::MethodMismatch,
            DpopError::UriMismatch,
            DpopError::IatOutOfWindow,
            DpopError::AccessTokenHashMismatch,
            DpopError::Replayed,
            DpopError::NonceRequired,
            DpopError::NonceInvalid,
            DpopError::TokenNotBound,
            DpopError::KeyBindingMismatch,
        ];
        for e in all {
            assert_eq!(e.to_string(), e.description(), "{e:?}");
            assert!(
                e.description()
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "{e:?}"
            );
            assert_eq!(e.status(), 401);
            assert!(matches!(
                e.error_code(),
                "invalid_dpop_proof" | "use_dpop_nonce" | "invalid_token"
            ));
        }
    }
}
