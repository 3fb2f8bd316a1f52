//! Where verification keys come from: the [`KeySource`] trait.
//!
//! Implementations do the I/O (the `mcp-auth-jwks` crate fetches and caches JWKS documents);
//! this crate only defines the contract, so validation stays pure.

use crate::jwk::KeySet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Why keys could not be had.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The issuer is not one this source serves. Answered as `invalid_token`.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// No usable key set (none was ever loaded, or the last one is older than the source
    /// allows to keep using it) and the issuer cannot be reached now. Answered 503 with
    /// `Retry-After`, since the token may be fine.
    #[error("keys unavailable: {reason}")]
    Unavailable {
        /// Seconds after which a retry may succeed.
        retry_after: u32,
        /// A description for logs (no secrets).
        reason: String,
    },
}

/// The future returned by [`KeySource::keys`].
pub type KeysFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<KeySet>, KeyError>> + Send + 'a>>;

/// The future returned by [`KeySource::warm_up`].
pub type WarmUpFuture<'a> = Pin<Box<dyn Future<Output = Result<(), KeyError>> + Send + 'a>>;

/// A source of issuer key sets.
///
/// Contract:
/// - `keys(issuer, kid)` returns the current key set of `issuer`, which must be one of the
///   issuers the source was configured with (RFC 8725 §3.8: keys are per issuer; the token's
///   unverified `iss` only selects among configured issuers).
/// - When `kid` is `Some` and absent from the cached set, the source may refresh once (for
///   key rotation), rate-limited so forged `kid`s cannot cause a fetch per request.
/// - While an issuer is unreachable, the last good set should be served, for a bounded time
///   (the JWKS source's maximum staleness); after that, [`KeyError::Unavailable`].
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The key set of `issuer`, refreshed if `kid` is unknown and policy allows.
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a>;

    /// What [`keys`](Self::keys)`(issuer, kid)` would answer right now, if it can be told
    /// from memory alone: `None` whenever that call could do any I/O or wait (nothing loaded
    /// yet, a refresh is due, or `kid` is unknown and a refetch would be allowed).
    ///
    /// Validators call it first, so a request whose keys are already known is decided without
    /// a future, an allocation or a lock held across an await; they fall back to `keys` on
    /// `None`. An implementation must never block, and a `Some` must be exactly what `keys`
    /// would return, including the bookkeeping `keys` does (counters, negative caches). The
    /// default answers `None`, which is always correct.
    fn cached(&self, issuer: &str, kid: Option<&str>) -> Option<Result<Arc<KeySet>, KeyError>> {
        let _ = (issuer, kid);
        None
    }

    /// Loads every issuer's keys now, so the first request does not pay for it. The default
    /// does nothing.
    fn warm_up(&self) -> WarmUpFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// A number that changes (grows) whenever a key set this source answers with is replaced,
    /// for any issuer: a caller that found a key in a set [`cached`](Self::cached) returned
    /// after reading the epoch knows, while the epoch still reads the same, that the key is
    /// still there, without asking again. `None`, the default, offers no such number: ask
    /// `cached` every time.
    ///
    /// An implementation must make the new set visible before the new epoch (store, then
    /// increment with `Release`; read with `Acquire`). The epoch says nothing about time: a
    /// refresh falling due leaves it unchanged, so a caller must still ask `cached` from time
    /// to time for request-driven refreshes to start (the `JwtValidator`'s token cache asks
    /// at least once per second of its clock for each token in use).
    ///
    /// It may also move when no set was replaced, which only makes callers ask again: a
    /// source that stops using a set at a given time (the JWKS source past its maximum
    /// staleness) moves it on every answer from one second before then, so that a key found
    /// in that last second is not trusted, without asking, once the set is no longer used.
    fn epoch(&self) -> Option<u64> {
        None
    }
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        (**self).keys(issuer, kid)
    }

    fn cached(&self, issuer: &str, kid: Option<&str>) -> Option<Result<Arc<KeySet>, KeyError>> {
        (**self).cached(issuer, kid)
    }

    fn warm_up(&self) -> WarmUpFuture<'_> {
        (**self).warm_up()
    }

    fn epoch(&self) -> Option<u64> {
        (**self).epoch()
    }
}

/// A fixed key set per issuer: for tests, offline deployments and issuers whose keys are
/// pinned in configuration.
#[derive(Debug, Default, Clone)]
pub struct StaticKeySource {
    issuers: Vec<(String, Arc<KeySet>)>,
}

impl StaticKeySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key set of `issuer`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>, keys: KeySet) -> Self {
        let issuer = issuer.into();
        self.issuers.retain(|(i, _)| *i != issuer);
        self.issuers.push((issuer, Arc::new(keys)));
        self
    }
}

impl StaticKeySource {
    fn lookup(&self, issuer: &str) -> Result<Arc<KeySet>, KeyError> {
        self.issuers
            .iter()
            .find(|(i, _)| i == issuer)
            .map(|(_, k)| k.clone())
            .ok_or(KeyError::UnknownIssuer)
    }
}

impl KeySource for StaticKeySource {
    fn keys<'a>(&'a self, issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(self.lookup(issuer)))
    }

    /// A static source never does I/O: always `Some`.
    fn cached(&self, issuer: &str, _kid: Option<&str>) -> Option<Result<Arc<KeySet>, KeyError>> {
        Some(self.lookup(issuer))
    }

    /// Its sets never change once built (`with_issuer` consumes the source).
    fn epoch(&self) -> Option<u64> {
        Some(0)
    }
}
