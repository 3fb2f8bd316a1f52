//! Replay stores for DPoP proofs (RFC 9449 §11.1): each proof's `jti` is recorded once, and a
//! second use within its acceptance window is refused.
//!
//! The proof checks are pure and live in [`mcp_auth_core::dpop`]; what passes them is a
//! [`CheckedProof`](mcp_auth_core::dpop::CheckedProof) with a fixed-size
//! [`JtiHash`] and the instant until which it must be remembered (`iat` + window + leeway,
//! never insert time + window: a proof dated in the future stays refused as long as it could
//! be accepted). Once the token verified too, the caller asks a [`ReplayStore`]:
//!
//! | answer | meaning | response |
//! |---|---|---|
//! | `Ok(`[`Replay::Fresh`]`)` | first use, now recorded | go on |
//! | `Ok(`[`Replay::Replayed`]`)` | seen before | 401 `invalid_dpop_proof` |
//! | `Err(`[`StoreError`]`)` | the store cannot say (full, down) | 503 with `Retry-After`, never accept |
//!
//! Two stores:
//! - [`MemoryReplayStore`]: one process, bounded, exact.
//! - `RedisReplayStore` (feature `redis`): every instance of a fleet behind a load balancer
//!   shares one Redis, so a proof replayed to another instance is refused.
//!
//! # Example
//!
//! ```
//! use mcp_auth_dpop::{MemoryReplayStore, Replay, ReplayStore};
//! # use mcp_auth_core::dpop::JtiHash;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemoryReplayStore::new(100_000);
//! # let hash = JtiHash::from_bytes([7; 32]);
//! # let until = i64::MAX;
//! // hash = checked.jti_hash(), until = checked.remember_until()
//! assert_eq!(store.check_and_insert(&hash, until).await.unwrap(), Replay::Fresh);
//! assert_eq!(store.check_and_insert(&hash, until).await.unwrap(), Replay::Replayed);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::exhaustive_enums)]

mod memory;
#[cfg(feature = "redis")]
mod redis_store;

pub use mcp_auth_core::dpop::JtiHash;
pub use memory::MemoryReplayStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisReplayStore, RedisReplayStoreBuilder, describe_redis_error};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a replay store says about a proof.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not seen before; recorded now.
    Fresh,
    /// Seen before, and not yet past its `until`: refuse the proof.
    Replayed,
}

/// Why a store could not answer. The layer answers 503 with `Retry-After`
/// ([`retry_after`](Self::retry_after)) and never lets the request through.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Every slot holds a `jti` that must still be remembered: rather than forget one early
    /// (which would let that proof be replayed), the new proof is refused.
    #[error("replay store full ({capacity} entries)")]
    Full {
        /// The store's capacity.
        capacity: usize,
        /// Seconds until the earliest entry expires and frees a slot.
        retry_after: u32,
    },
    /// The store's backend cannot be reached or answered an error.
    #[error("replay store unavailable: {reason}")]
    Unavailable {
        /// What failed, for logs (no secret, no proof content).
        reason: String,
        /// Seconds after which a retry may succeed.
        retry_after: u32,
    },
    /// The backend is configured so that it may forget an entry early (Redis without
    /// `maxmemory-policy noeviction`).
    #[error("replay store misconfigured: {0}")]
    Misconfigured(String),
}

impl StoreError {
    /// Seconds for the 503's `Retry-After`.
    pub fn retry_after(&self) -> u32 {
        match self {
            Self::Full { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                (*retry_after).max(1)
            }
            Self::Misconfigured(_) => 60,
        }
    }
}

/// The future returned by [`ReplayStore::check_and_insert`].
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<Replay, StoreError>> + Send + 'a>>;

/// Records each proof's `jti` once, atomically.
///
/// Contract:
/// - [`check_and_insert`](Self::check_and_insert)`(jti, until)` answers [`Replay::Fresh`] and
///   records `jti` if it is not recorded (or its record is past its `until`), and
///   [`Replay::Replayed`] otherwise; check and record are one atomic step, so two concurrent
///   uses of one proof get one `Fresh` at most.
/// - A record is kept at least until `until` (seconds since the epoch): never dropped early
///   to make room. A store that cannot keep it answers [`StoreError`].
/// - [`check_in_memory`](Self::check_in_memory) is the same step without a future, for a store
///   that never waits (the memory store); the default says "ask the future" (`None`).
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `jti` until `until` (seconds since the epoch) unless it is recorded already.
    fn check_and_insert<'a>(&'a self, jti: &'a JtiHash, until: i64) -> ReplayFuture<'a>;

    /// [`check_and_insert`](Self::check_and_insert) answered at once, by a store that needs
    /// no I/O; `None` (the default) when the future must be awaited.
    fn check_in_memory(&self, jti: &JtiHash, until: i64) -> Option<Result<Replay, StoreError>> {
        let _ = (jti, until);
        None
    }
}

impl<S: ReplayStore + ?Sized> ReplayStore for Arc<S> {
    fn check_and_insert<'a>(&'a self, jti: &'a JtiHash, until: i64) -> ReplayFuture<'a> {
        (**self).check_and_insert(jti, until)
    }

    fn check_in_memory(&self, jti: &JtiHash, until: i64) -> Option<Result<Replay, StoreError>> {
        (**self).check_in_memory(jti, until)
    }
}

/// Where a store reads the time: seconds (or milliseconds) since the epoch. Replaceable in
/// tests.
#[derive(Clone)]
pub(crate) struct Clock(Option<Arc<dyn Fn() -> i64 + Send + Sync>>);

impl Clock {
    pub(crate) fn system() -> Self {
        Self(None)
    }

    pub(crate) fn custom(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(f) => f(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}
