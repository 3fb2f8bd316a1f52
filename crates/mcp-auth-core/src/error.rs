//! The one error type of request authorization.

use crate::scope::ScopeSet;
use std::fmt;

/// What went wrong, as far as the response is concerned.
///
/// The mapping to a status code and a `WWW-Authenticate` challenge lives in
/// [`challenge`](crate::challenge) (RFC 6750 §3.1, RFC 9728 §5.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No credentials at all: 401 with a challenge and no `error` (RFC 6750 §3.1).
    MissingCredentials,
    /// A malformed request: 400 `invalid_request` (RFC 6750 §3.1).
    InvalidRequest,
    /// The token is expired, revoked, malformed or otherwise invalid: 401 `invalid_token`.
    InvalidToken,
    /// The token lacks a scope the operation needs: 403 `insufficient_scope`.
    InsufficientScope,
    /// The keys needed to check the token could not be obtained, or the authorization
    /// server's introspection endpoint gave no usable answer (RFC 7662): 503 with
    /// `Retry-After`, no challenge (the token may well be valid).
    KeySourceUnavailable,
    /// The request body is larger than the layer is willing to inspect: 413.
    PayloadTooLarge,
    /// The request's `Origin` is not allowed (MCP Streamable HTTP transport, "Security
    /// Warning": DNS rebinding): 403 without a challenge, since no token can fix it.
    OriginNotAllowed,
}

impl ErrorKind {
    /// The RFC 6750 error code, if the kind has one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge => Some("invalid_request"),
            Self::InvalidToken => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::MissingCredentials | Self::KeySourceUnavailable | Self::OriginNotAllowed => None,
        }
    }

    /// The HTTP status code for this kind.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingCredentials | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::KeySourceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// An authorization failure.
///
/// Opaque on purpose, so that future versions can carry more context. It never holds the
/// token or any secret: its `Display` is safe to log and its [`description`](Self::description)
/// is safe to send to the client as `error_description`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: ErrorKind,
    description: &'static str,
    required_scopes: Option<ScopeSet>,
    retry_after: Option<u32>,
}

impl AuthError {
    /// A new error of `kind`. `description` must be a fixed, human-readable text made only of
    /// the characters RFC 6750 §3 allows in `error_description` (checked in debug builds).
    pub fn new(kind: ErrorKind, description: &'static str) -> Self {
        debug_assert!(
            description
                .bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            "error_description has a character RFC 6750 forbids"
        );
        Self {
            kind,
            description,
            required_scopes: None,
            retry_after: None,
        }
    }

    /// No credentials were presented.
    pub fn missing_credentials() -> Self {
        Self::new(ErrorKind::MissingCredentials, "no access token")
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorKind::InvalidRequest, description)
    }

    /// 401 `invalid_token`.
    pub fn invalid_token(description: &'static str) -> Self {
        Self::new(ErrorKind::InvalidToken, description)
    }

    /// 403 `insufficient_scope`: `required` names every scope the operation needs
    /// (MCP 2026-07-28, "Scope Selection Strategy": one challenge with all of them).
    pub fn insufficient_scope(required: ScopeSet) -> Self {
        let mut e = Self::new(
            ErrorKind::InsufficientScope,
            "the access token lacks a scope this operation needs",
        );
        e.required_scopes = Some(required);
        e
    }

    /// 503: keys could not be obtained. `retry_after` is in seconds.
    pub fn key_source_unavailable(retry_after: u32) -> Self {
        let mut e = Self::new(
            ErrorKind::KeySourceUnavailable,
            "the authorization server keys are unavailable",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503: the introspection endpoint (RFC 7662) could not be reached in time, or answered
    /// something unusable (not 200, not an introspection answer, a signed answer that does
    /// not verify). Never an acceptance, never a 401: the token may be fine. `retry_after` is
    /// in seconds.
    pub fn introspection_unavailable(retry_after: u32) -> Self {
        let mut e = Self::new(
            ErrorKind::KeySourceUnavailable,
            "the authorization server cannot introspect the token now",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503: this resource server already has as many introspection calls in flight to the
    /// issuer as it allows (a flood of new tokens never turns into a flood of calls).
    /// `retry_after` is in seconds.
    pub fn introspection_overloaded(retry_after: u32) -> Self {
        let mut e = Self::new(
            ErrorKind::KeySourceUnavailable,
            "too many token introspections in flight",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503: the DPoP replay store (RFC 9449 §11.1) cannot say whether a proof was used
    /// before (full, or its backend unreachable): never an acceptance, and never a 401 for a
    /// proof that may be fine. `retry_after` is in seconds.
    pub fn replay_store_unavailable(retry_after: u32) -> Self {
        let mut e = Self::new(
            ErrorKind::KeySourceUnavailable,
            "the DPoP replay store is unavailable",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 401 for a refused DPoP proof or key binding (RFC 9449 §7.1), with the proof error's
    /// fixed description. The challenge (`invalid_dpop_proof`, `use_dpop_nonce` or
    /// `invalid_token` on the `DPoP` scheme) is rendered from the [`DpopError`](crate::dpop::DpopError)
    /// itself ([`ChallengeTemplate::render_dpop_error`](crate::challenge::ChallengeTemplate::render_dpop_error)).
    pub fn dpop_refused(e: crate::dpop::DpopError) -> Self {
        Self::new(ErrorKind::InvalidToken, e.description())
    }

    /// 413: body too large to inspect.
    pub fn payload_too_large() -> Self {
        Self::new(ErrorKind::PayloadTooLarge, "request body too large")
    }

    /// 403: the request's `Origin` is not in the allow-list.
    pub fn origin_not_allowed() -> Self {
        Self::new(ErrorKind::OriginNotAllowed, "origin not allowed")
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A short fixed description, safe for logs and for `error_description`.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// For `insufficient_scope`: every scope the operation needs.
    pub fn required_scopes(&self) -> Option<&ScopeSet> {
        self.required_scopes.as_ref()
    }

    /// For a 503: seconds after which to retry.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .field("required_scopes", &self.required_scopes)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.error_code() {
            Some(code) => write!(f, "{code}: {}", self.description),
            None => f.write_str(self.description),
        }
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_rfc6750_statuses() {
        assert_eq!(ErrorKind::MissingCredentials.status(), 401);
        assert_eq!(ErrorKind::MissingCredentials.error_code(), None);
        assert_eq!(ErrorKind::InvalidRequest.status(), 400);
        assert_eq!(ErrorKind::InvalidToken.status(), 401);
        assert_eq!(ErrorKind::InsufficientScope.status(), 403);
        assert_eq!(ErrorKind::KeySourceUnavailable.status(), 503);
        assert_eq!(ErrorKind::KeySourceUnavailable.error_code(), None);
        assert_eq!(ErrorKind::OriginNotAllowed.status(), 403);
        assert_eq!(ErrorKind::OriginNotAllowed.error_code(), None);
    }

    #[test]
    fn display_has_code_and_description() {
        let e = AuthError::invalid_token("token expired");
        assert_eq!(e.to_string(), "invalid_token: token expired");
    }
}
