//! [`McpAuthBuilder::dpop`]: DPoP (RFC 9449) on the layer, and what it changes in the
//! claims policies, the metadata document and the challenges.

use super::McpAuthBuilder;
use crate::decision::dpop::DpopConfig;
use crate::dpop::DpopMode;
use mcp_auth_core::challenge::ChallengeTemplate;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::dpop::DpopPolicy;
use mcp_auth_core::metadata::ProtectedResourceMetadata;
use mcp_auth_dpop::ReplayStore;
use std::sync::Arc;

impl McpAuthBuilder {
    /// Sender-constrained tokens (RFC 9449): which schemes the layer takes (`mode`), how
    /// proofs are checked (`policy`: algorithms, the `iat` window, nonces) and where each
    /// proof's `jti` is recorded (`store`: a
    /// [`MemoryReplayStore`](crate::dpop::MemoryReplayStore) for one instance, a shared
    /// `RedisReplayStore` (feature `redis`) for a fleet). [`DpopMode::Off`] (the default)
    /// keeps the layer as it is without this call. See [`crate::dpop`].
    ///
    /// With DPoP on, the metadata lists `dpop_signing_alg_values_supported` (and, in
    /// [`DpopMode::Required`], `dpop_bound_access_tokens_required: true`), `DPoP`
    /// challenges name the algorithms in `algs`, and tokens with `cnf.jkt` are accepted on
    /// the `DPoP` scheme only (from JWT claims, or from introspection answers).
    pub fn dpop(mut self, mode: DpopMode, policy: DpopPolicy, store: impl ReplayStore) -> Self {
        self.dpop = match mode {
            DpopMode::Off => None,
            mode => Some(DpopConfig {
                mode,
                policy,
                store: Arc::new(store),
            }),
        };
        self
    }
}

/// A claims policy as DPoP needs it: `cnf` taken (RFC 9449 §6.1), since the layer itself
/// refuses it on `Bearer` and matches it with the proof on `DPoP`.
pub(super) fn take_cnf(dpop: Option<&DpopConfig>, claims: &mut ClaimsPolicy) {
    if dpop.is_some() {
        claims.allow_cnf = true;
    }
}

/// The metadata's DPoP members (RFC 9728 §2) and the challenges' `algs` (RFC 9449 §7.1).
pub(super) fn advertised(
    dpop: Option<&DpopConfig>,
    metadata: &mut ProtectedResourceMetadata,
    challenge: ChallengeTemplate,
) -> ChallengeTemplate {
    let Some(d) = dpop else {
        return challenge;
    };
    metadata.dpop_signing_alg_values_supported = d
        .policy
        .algorithm_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if d.mode == DpopMode::Required {
        metadata.dpop_bound_access_tokens_required = Some(true);
    }
    challenge.with_dpop_algs(d.policy.algorithms())
}
