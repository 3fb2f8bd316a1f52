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

/// What a [`KeySource`] holds in memory for an issuer right now: [`KeySource::current`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Current {
    /// Judge the token with this set, now.
    Keys {
        /// The issuer's current key set.
        keys: Arc<KeySet>,
        /// Whether a `kid` absent from `keys` may be fetched now (key rotation): `true` sends
        /// such a token to [`KeySource::keys`]; `false` (a refetch is cooling down) means it
        /// is refused at once, so a flood of forged `kid`s never leaves memory.
        refetch_unknown_kid: bool,
    },
    /// Nothing usable without I/O (never loaded, a refresh must be started, or the set is
    /// past the source's maximum staleness): await [`KeySource::keys`].
    Load,
    /// The issuer cannot be served at all now (not configured, or backing off after a
    /// failed first load).
    Failed(KeyError),
}

/// A source of issuer key sets: one plain read of memory, one fetch, one warm-up.
///
/// Contract:
/// - [`current`](Self::current) reads what is in memory and never waits: it is asked on
///   every request, and a request whose keys are there is decided without any future.
/// - [`keys`](Self::keys)`(issuer, kid)` does the I/O `current` asked for: the first load, a
///   refresh that is due, or one refetch for an unknown `kid` (key rotation), rate-limited so
///   forged `kid`s cannot cause a fetch per request. `issuer` must be one of the issuers the
///   source was configured with (RFC 8725 §3.8: keys are per issuer; the token's unverified
///   `iss` only selects among configured issuers).
/// - While an issuer is unreachable, the last good set should be served, for a bounded time
///   (the JWKS source's maximum staleness); after that, [`KeyError::Unavailable`].
///
/// The validation state machine ([`validation`](crate::validation)) asks `current` first and
/// returns [`Step::NeedKeys`](crate::validation::Step::NeedKeys) when it answers
/// [`Current::Load`], or [`Current::Keys`] without the token's `kid` and with
/// `refetch_unknown_kid`; the driver (the `mcp-auth` layer) then awaits `keys`.
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The key set of `issuer` in memory right now, without I/O, locks held across an
    /// await, or waiting. Implementations must be cheap: it runs on every request. The
    /// default has nothing in memory ([`Current::Load`]): always correct, but every token
    /// then waits for [`keys`](Self::keys).
    fn current(&self, issuer: &str) -> Current {
        let _ = issuer;
        Current::Load
    }

    /// The key set of `issuer`, loaded or refreshed as needed, refetched once if `kid` is
    /// unknown and the source's rate limit allows.
    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a>;

    /// Loads every issuer's keys now, so the first request does not pay for it. The default
    /// does nothing.
    fn warm_up(&self) -> WarmUpFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl<K: KeySource + ?Sized> KeySource for Arc<K> {
    fn current(&self, issuer: &str) -> Current {
        (**self).current(issuer)
    }

    fn keys<'a>(&'a self, issuer: &'a str, kid: Option<&'a str>) -> KeysFuture<'a> {
        (**self).keys(issuer, kid)
    }

    fn warm_up(&self) -> WarmUpFuture<'_> {
        (**self).warm_up()
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
    /// A static source never does I/O: always the configured set, never a refetch.
    fn current(&self, issuer: &str) -> Current {
        match self.lookup(issuer) {
            Ok(keys) => Current::Keys {
                keys,
                refetch_unknown_kid: false,
            },
            Err(e) => Current::Failed(e),
        }
    }

    fn keys<'a>(&'a self, issuer: &'a str, _kid: Option<&'a str>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(self.lookup(issuer)))
    }
}
