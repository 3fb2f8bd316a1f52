//! DPoP at the token endpoint (RFC 9449 §5): the proof a token request carries, checked with
//! mcp-auth-core's rules ([`DpopPolicy::check`] on a [`ProofRequest::token_endpoint`]), its
//! `jti` refused a second time, and the optional server nonce (§8).

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use mcp_auth_core::dpop::{DpopError, DpopPolicy, JtiHash, Nonces, ProofRequest};
use mcp_auth_core::resource::ResourceUri;

use super::Shared;
use super::error::OAuthError;

/// The `DPoP` request header (RFC 9449 §4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Upper bound on remembered proof `jti`s. When full (after dropping the expired ones), a
/// token request with a proof is refused rather than an entry forgotten early, which would let
/// its proof be replayed.
const MAX_JTIS: usize = 100_000;

/// The server's DPoP settings.
#[derive(Debug)]
pub(crate) struct DpopSettings {
    pub(crate) policy: DpopPolicy,
    /// A token request without a proof is refused (`require_dpop(true)`).
    pub(crate) required: bool,
    /// The token endpoint's public URL (the `htu` a proof must name) and its path.
    endpoint: ResourceUri,
    endpoint_path: Uri,
}

impl DpopSettings {
    /// Settings for the token endpoint at `endpoint_url`; `None` if that is not a URL a proof
    /// can name (the issuer was checked before, so this does not happen).
    pub(crate) fn new(endpoint_url: &str, policy: DpopPolicy, required: bool) -> Option<Self> {
        let endpoint = ResourceUri::parse(endpoint_url).ok()?;
        let path = if endpoint.path().is_empty() {
            "/"
        } else {
            endpoint.path()
        };
        let endpoint_path = path.parse().ok()?;
        Some(Self {
            policy,
            required,
            endpoint,
            endpoint_path,
        })
    }

    /// The nonces, when `use_dpop_nonce(true)`.
    pub(crate) fn nonces(&self) -> Option<&Nonces> {
        self.policy.nonces()
    }
}

/// The outcome of a token request's proof: the key the issued tokens are bound to, and a
/// fresh nonce to send along when the proof's one is from the previous slot (RFC 9449 §8.2).
#[derive(Debug)]
pub(crate) struct TokenProof {
    pub(crate) jkt: String,
    pub(crate) fresh_nonce: Option<String>,
}

/// Checks the `DPoP` header of a token request: `Ok(None)` without one (unless DPoP is
/// required), the proof's key thumbprint when it passes RFC 9449 §4.3 with `htm` POST and
/// `htu` the token endpoint, and its `jti` was not used before (§11.1).
pub(crate) fn token_request_proof(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<Option<TokenProof>, OAuthError> {
    let settings = &shared.config.dpop;
    let now = shared.now();
    if headers.get(DPOP).is_none() {
        if settings.required {
            return Err(refused(shared, DpopError::MissingProof, now));
        }
        return Ok(None);
    }
    let request = ProofRequest::token_endpoint(
        &Method::POST,
        &settings.endpoint_path,
        &settings.endpoint,
        now,
    );
    let checked = settings
        .policy
        .check(headers.get_all(DPOP), &request)
        .map_err(|e| refused(shared, e, now))?;
    // RFC 9449 §11.1: a proof is accepted once; its jti (as a hash) is remembered as long as
    // its iat keeps it acceptable.
    remember(shared, *checked.jti_hash(), checked.remember_until(), now)?;
    let fresh_nonce = settings
        .nonces()
        .filter(|_| checked.fresh_nonce_due())
        .map(|n| n.issue(now));
    Ok(Some(TokenProof {
        jkt: checked.thumbprint().to_owned(),
        fresh_nonce,
    }))
}

fn remember(shared: &Shared, hash: JtiHash, until: i64, now: i64) -> Result<(), OAuthError> {
    let mut store = shared.store();
    let seen = &mut store.dpop_jtis;
    if seen.get(&hash).is_some_and(|&until| until >= now) {
        return Err(refused(shared, DpopError::Replayed, now));
    }
    if seen.len() >= MAX_JTIS {
        seen.retain(|_, &mut until| until >= now);
        if seen.len() >= MAX_JTIS {
            return Err(OAuthError::new(
                "temporarily_unavailable",
                "too many recent DPoP proofs",
            ));
        }
    }
    seen.insert(hash, until);
    Ok(())
}

/// The RFC 9449 answer to a refused proof: 400 with `invalid_dpop_proof`, or `use_dpop_nonce`
/// and a fresh nonce in `DPoP-Nonce` (§8). The description is the fixed one of the reason.
fn refused(shared: &Shared, e: DpopError, now: i64) -> OAuthError {
    let mut err = OAuthError::new(e.error_code(), e.description());
    if e.needs_nonce()
        && let Some(nonces) = shared.config.dpop.nonces()
    {
        err.dpop_nonce = HeaderValue::from_str(&nonces.issue(now)).ok();
    }
    err
}
