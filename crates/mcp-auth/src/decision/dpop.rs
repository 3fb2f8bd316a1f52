//! The DPoP step of the decision (RFC 9449), sans-IO like the rest of it.
//!
//! 1. **Scheme** ([`gate`], before any token work): the token only from `Authorization`,
//!    the proof only from `DPoP` (header-only for both). [`DpopMode::Required`] refuses
//!    `Bearer`; [`DpopMode::Allowed`] refuses a `Bearer` request that also carries a `DPoP`
//!    header (400: the client meant to bind the request, and dropping the proof silently
//!    would turn a sender-constrained request into a bearer one).
//! 2. **Token**: the usual path (JWT, cache, introspection). On `Bearer` a token with `cnf`
//!    is refused (RFC 9449 §7.2) before the cache may admit it; on `DPoP` the cache answers
//!    only from entries verified on `DPoP` requests.
//! 3. **Proof** ([`check_proof`], on every request, cache hit or not): every rule of
//!    RFC 9449 §4.3 ([`DpopPolicy::check`]), with `htu` against the configured resource's
//!    origin and the request path, `ath` against the presented token and `cnf.jkt` against
//!    the proof key's thumbprint.
//! 4. **Replay** ([`replayed`]): the `jti` hash is recorded only now, after proof and token
//!    both verified, so a forged request cannot use up a client's proofs. A second use is
//!    401 `invalid_dpop_proof`; a store that cannot answer is 503 with `Retry-After`.

use super::{Next, Rejection, State, presented, unknown_step_error};
use crate::context::AuthContext;
use crate::dpop::DpopMode;
use crate::layer::Shared;
use http::HeaderName;
use http::request::Parts;
use mcp_auth_core::credentials::{self, Scheme};
use mcp_auth_core::dpop::{CheckedProof, DpopError, DpopPolicy, ProofRequest, cnf_jkt};
use mcp_auth_core::{AccessToken, AuthError};
use mcp_auth_dpop::{Replay, ReplayStore, StoreError};
use std::sync::Arc;

/// The `DPoP` request header (RFC 9449 §4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// A layer's DPoP configuration (only when its mode is not [`DpopMode::Off`]).
pub(crate) struct DpopConfig {
    pub(crate) mode: DpopMode,
    pub(crate) policy: DpopPolicy,
    pub(crate) store: Arc<dyn ReplayStore>,
}

impl std::fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopConfig")
            .field("mode", &self.mode)
            .field("policy", &self.policy)
            .field("store", &self.store)
            .finish()
    }
}

impl State {
    /// The token is accepted as `ctx`: on a layer with DPoP on, the scheme's last rules
    /// (RFC 9449 §7.2 on `Bearer`; the proof, then the replay store, on `DPoP`). `Ok(None)`
    /// once the caller is known.
    pub(super) fn accepted(
        &mut self,
        shared: &Shared,
        parts: &Parts,
        ctx: AuthContext,
        grants_route: bool,
    ) -> Result<Option<Next>, Rejection> {
        self.grants_route = grants_route;
        if let Some(d) = &shared.dpop {
            // The scheme from the header alone; the token's bytes (checked again) only for
            // a proof, so a `Bearer` request pays one header lookup here.
            let raw = credentials::locate(parts, shared.max_token_len)
                .ok()
                .flatten();
            let dpop = raw.is_some_and(|r| r.scheme == Scheme::DPoP);
            let token = if dpop {
                presented(parts, shared).0
            } else {
                None
            };
            match (dpop, token) {
                (true, Some(token)) => {
                    let now = (shared.clock)();
                    let checked = check_proof(d, shared, parts, token, &ctx, now)
                        .map_err(Rejection::Proof)?;
                    self.nonce_due = checked.fresh_nonce_due();
                    self.ctx = Some(ctx);
                    let (jti, until) = (*checked.jti_hash(), checked.remember_until());
                    self.proof_jkt = Some(checked.thumbprint().into());
                    return match d.store.check_in_memory(&jti, until) {
                        Some(answer) => {
                            replayed(answer)?;
                            self.bind_proof();
                            Ok(None)
                        }
                        None => Ok(Some(Next::ReplayCheck { jti, until })),
                    };
                }
                (true, None) => return Err(unknown_step_error().into()),
                _ => {
                    if let Some(e) = bound_on_bearer(&ctx) {
                        return Err(e.into());
                    }
                }
            }
        }
        self.ctx = Some(ctx);
        Ok(None)
    }

    /// The proof's `jti` was fresh: the caller is the key's holder.
    fn bind_proof(&mut self) {
        if let (Some(ctx), Some(jkt)) = (self.ctx.take(), self.proof_jkt.take()) {
            self.ctx = Some(ctx.with_dpop(&jkt));
        }
    }

    pub(super) fn replay_answered(
        &mut self,
        shared: &Shared,
        parts: &mut Parts,
        answer: Result<mcp_auth_dpop::Replay, mcp_auth_dpop::StoreError>,
    ) -> Next {
        if self.proof_jkt.is_none() {
            return Next::Reject(unknown_step_error().into());
        }
        match replayed(answer) {
            Ok(()) => {
                self.bind_proof();
                self.known(shared, parts)
            }
            Err(r) => Next::Reject(r),
        }
    }
}

/// The scheme rules of the mode, before any token work. Without DPoP configured nothing
/// changes (a `DPoP` token is refused by the token step, as it always was).
#[inline]
pub(crate) fn gate(shared: &Shared, scheme: Scheme, parts: &Parts) -> Result<(), AuthError> {
    let Some(d) = &shared.dpop else {
        return Ok(());
    };
    if scheme != Scheme::Bearer {
        return Ok(());
    }
    if d.mode == DpopMode::Required {
        // RFC 9449 §7.1: answered with a `DPoP` challenge (see `on_dpop_scheme`).
        return Err(AuthError::invalid_token(
            "this resource accepts only DPoP-bound access tokens",
        ));
    }
    if parts.headers.contains_key(DPOP) {
        return Err(AuthError::invalid_request(
            "a DPoP proof came with a Bearer token: use the DPoP scheme",
        ));
    }
    Ok(())
}

/// RFC 9449 §7.2: a token bound to a key (`cnf`), presented as a bearer token, is refused.
pub(crate) fn bound_on_bearer(ctx: &AuthContext) -> Option<AuthError> {
    ctx.claims().cnf.is_some().then(|| {
        AuthError::invalid_token("sender-constrained token presented without proof of possession")
    })
}

/// The proof of a `DPoP` request whose token (`token`, accepted as `ctx`) verified: every
/// rule of RFC 9449 §4.3, at `now`.
pub(crate) fn check_proof(
    d: &DpopConfig,
    shared: &Shared,
    parts: &Parts,
    token: &str,
    ctx: &AuthContext,
    now: i64,
) -> Result<CheckedProof, DpopError> {
    let access = AccessToken::new(token);
    let jkt = cnf_jkt(ctx.claims().cnf.as_ref());
    let req = ProofRequest::new(
        &parts.method,
        &parts.uri,
        &shared.resource,
        &access,
        jkt,
        now,
    );
    d.policy.check(parts.headers.get_all(DPOP), &req)
}

/// The replay store's answer: `Ok` for a first use only (RFC 9449 §11.1).
pub(crate) fn replayed(answer: Result<Replay, StoreError>) -> Result<(), Rejection> {
    match answer {
        Ok(Replay::Fresh) => Ok(()),
        Ok(Replay::Replayed) => Err(Rejection::Proof(DpopError::Replayed)),
        Ok(_) => Err(AuthError::replay_store_unavailable(30).into()),
        Err(e) => {
            tracing::warn!(
                target: "mcp_auth::dpop",
                error = %e,
                "DPoP replay store cannot answer: request refused with 503"
            );
            Err(AuthError::replay_store_unavailable(e.retry_after()).into())
        }
    }
}

/// Whether a rejection of this request is rendered on the `DPoP` scheme: always in
/// [`DpopMode::Required`], and in [`DpopMode::Allowed`] for a request made with it.
pub(crate) fn on_dpop_scheme(shared: &Shared, parts: &Parts) -> bool {
    match &shared.dpop {
        None => false,
        Some(d) if d.mode == DpopMode::Required => true,
        Some(_) => matches!(
            credentials::locate(parts, shared.max_token_len),
            Ok(Some(raw)) if raw.scheme == Scheme::DPoP
        ),
    }
}

/// Whether a 401 without credentials carries both a `Bearer` and a `DPoP` challenge.
pub(crate) fn both_schemes(shared: &Shared) -> bool {
    shared
        .dpop
        .as_ref()
        .is_some_and(|d| d.mode == DpopMode::Allowed)
}

/// A fresh `DPoP-Nonce` value (RFC 9449 §8), when nonces are configured.
pub(crate) fn fresh_nonce(shared: &Shared) -> Option<http::HeaderValue> {
    let nonces = shared.dpop.as_ref()?.policy.nonces()?;
    http::HeaderValue::from_str(&nonces.issue((shared.clock)())).ok()
}
