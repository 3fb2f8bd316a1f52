//! The production [`KeySource`] of mcp-auth: each configured issuer's JSON Web Key Set,
//! fetched over HTTP, parsed once and cached.
//!
//! [`JwksKeySource`] is what `McpAuthLayer` uses to find the key that verifies a token. It:
//!
//! - keeps **one key set per issuer**, shared by every clone. Issuers are isolated (RFC 8725
//!   §3.8): the unverified `iss` of a token only selects among the configured issuers; an
//!   unconfigured one gets [`KeyError::UnknownIssuer`] without any fetch.
//! - **shares one set between issuers configured with one `jwks_uri`** (byte-identical, as
//!   the Entra ID multi-tenant issuers are): the configuration says they share keys, so they
//!   share one fetch, one store, one single flight, one unknown-`kid` cooldown and one
//!   negative cache. An issuer whose `jwks_uri` is discovered always has a set of its own,
//!   even when its metadata names a URL another issuer uses: that binding is learnt at run
//!   time and may move when the metadata does.
//! - **discovers** the `jwks_uri` with RFC 8414 (`/.well-known/oauth-authorization-server`, with
//!   path insertion for issuers with a path), then OpenID Connect discovery, and accepts a
//!   document only if its `issuer` is the configured issuer, byte for byte. An explicit
//!   `jwks_uri` skips discovery.
//! - fetches **once** for any number of concurrent misses on one set (single-flight), and
//!   never holds a lock across a fetch (see [The store](#the-store-single-flight-and-version)).
//! - refetches **once** for an unknown `kid`, then not again for that set during a
//!   cooldown (60 s by default), and remembers unknown `kid`s as long: a forged `kid` on
//!   every request, naming any of the issuers of one set, causes at most one fetch per
//!   cooldown window. The answer is the current key
//!   set without that `kid`, so the token is refused as `invalid_token`, not 503.
//! - keeps a set for its `Cache-Control: max-age`, clamped to a floor and a ceiling (5 min and
//!   24 h by default; the floor without `max-age` or with `no-store`), refreshes it in the
//!   background after four fifths of that, and **serves the last good keys** while
//!   revalidating and while the issuer is unreachable, for at most the **maximum staleness**
//!   (24 h by default, [`max_staleness`](JwksKeySourceBuilder::max_staleness)) after the
//!   last successful fetch. [`KeyError::Unavailable`] (503 with `Retry-After`) comes when no
//!   key set was ever loaded, or when the last good set is past the maximum staleness and a
//!   new fetch fails (or the last one failed less than the back-off ago). Within the
//!   maximum staleness a valid token is never refused for want of a refresh.
//! - bounds its I/O: one HTTP client per source, a timeout, a body cap read chunk by chunk
//!   (256 KiB), a key-count cap, at most 3 redirects and never https to http, a JSON content
//!   type (an HTML page is refused with a clear error), plain http only on loopback unless
//!   [`allow_insecure_http`](JwksKeySourceBuilder::allow_insecure_http). Core's
//!   [`KeySet::from_jwks`](mcp_auth_core::jwk::KeySet::from_jwks) keeps only `use: sig` keys
//!   whose `alg` agrees with their `kty`, and skips a malformed key without losing the set.
//!   A refused document never replaces the last good set.
//!
//! Counters are in [`JwksKeySource::stats`]; fetches, refreshes, cooldown hits and outages are
//! `tracing` events (tokens are never logged). The HTTP layer is a [`Fetcher`]
//! ([`ReqwestFetcher`] with the default `reqwest` feature) and time is a [`Clock`], so both
//! can be replaced in tests.
//!
//! # The store, single flight and version
//!
//! - **One store.** Each key set (fixed at build time: one per explicit `jwks_uri`, one per
//!   discovered issuer) holds its newest loaded version, with its lifetime, in an atomically swapped pointer (`arc_swap::ArcSwapOption`): the
//!   only place the source keeps key sets. [`KeySource::current`] reads it with one atomic
//!   load and no lock on every request (the set's lock is taken only once a refresh is
//!   due or the set is past the maximum staleness); [`KeySource::keys`] reads the same
//!   pointer. There is no second copy and no
//!   snapshot to keep in agreement. Not a `moka` cache: measured with the instruction gauge,
//!   a `moka::sync::Cache` read costs about 620 instructions more per `current` than this
//!   load (a forged-`kid` request refused from memory went from about 11 500 to 12 100
//!   instructions), and nothing of moka
//!   would be used (no eviction for a fixed set of issuers; expiry would drop the last good
//!   keys that must be served up to the maximum staleness).
//! - **One single flight.** Every load of a set (the first, a background refresh, the
//!   refetch for an unknown `kid`, the revalidation past the maximum staleness,
//!   [`warm_up`](JwksKeySource::warm_up), [`refresh`](JwksKeySource::refresh)) starts in one
//!   function, which joins the load in flight if there is one. The load runs as a spawned
//!   task on the current tokio runtime (so it completes even if every caller goes away), or,
//!   with no runtime, in the request that awaits it. It ends in one critical section under
//!   the set's lock that installs the new set, or records the failure and keeps the last
//!   good set, and marks the set as no longer loading: the one place a key set is ever
//!   installed.
//! - **One version.** Each installed set carries a generation: 1 for the first, the stored
//!   set's plus one for each later one, so it counts the successful loads of that set.
//!   It is how a request that read an older set learns that a newer one is already in (and
//!   starts no refresh). The source keeps no other counter of sets.
//!
//! # Example
//!
//! ```no_run
//! use mcp_auth_core::keys::KeySource;
//! use mcp_auth_jwks::JwksKeySource;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = JwksKeySource::builder()
//!     // jwks_uri discovered from the issuer's metadata
//!     .issuer("https://auth.example.com")
//!     // jwks_uri given: no discovery
//!     .issuer_with_jwks_uri(
//!         "https://login.example.org/tenant-1",
//!         "https://login.example.org/tenant-1/keys",
//!     )
//!     .kid_cooldown(Duration::from_secs(60))
//!     .build()?;
//!
//! // Load every issuer's keys before serving, so the first request does not wait.
//! keys.warm_up().await?;
//!
//! // What the validator does for each token (after its header checks):
//! let set = keys.keys("https://auth.example.com", Some("key-2026-01")).await?;
//! println!("{} keys, {:?}", set.len(), keys.stats());
//! # Ok(())
//! # }
//! ```
//!
//! # Testing
//!
//! Replace the HTTP layer with your own [`Fetcher`] and the time with a [`ManualClock`]:
//!
//! ```
//! use mcp_auth_jwks::{FetchFuture, FetchResponse, Fetcher, JwksKeySource, ManualClock};
//!
//! #[derive(Debug)]
//! struct Offline;
//!
//! impl Fetcher for Offline {
//!     fn get<'a>(&'a self, url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
//!         Box::pin(async move {
//!             Err(mcp_auth_jwks::FetchError::Transport { url: url.to_owned(), reason: "offline".into() })
//!         })
//!     }
//! }
//!
//! let clock = ManualClock::new();
//! let source = JwksKeySource::builder()
//!     .issuer_with_jwks_uri("https://as.example.com", "https://as.example.com/jwks")
//!     .fetcher(Offline)
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! # let _ = source;
//! ```
//!
//! # Deployment caveats
//!
//! - Refreshes run on the tokio runtime of the request that triggers them; there is no timer,
//!   so an idle issuer is refreshed by its next request (which is still served at once).
//! - Configure the issuer exactly as it appears in tokens' `iss` and in its metadata: no
//!   normalization is applied (`https://as/` and `https://as` are different issuers).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::exhaustive_enums)]

/// The fuzz targets' view of the crate-private rules (see `fuzz/`); feature `fuzzing` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz_hooks.rs"]
pub mod __fuzz;
mod clock;
mod error;
mod fetch;
pub mod metrics;
#[cfg(feature = "reqwest")]
mod reqwest_fetcher;
mod rules;
mod source;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::JwksError;
pub use fetch::{FetchError, FetchFuture, FetchResponse, Fetcher};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_fetcher::ReqwestFetcher;
pub use source::{
    DEFAULT_KID_COOLDOWN, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STALENESS,
    DEFAULT_MAX_TTL, DEFAULT_MIN_TTL, DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT, JwksKeySource,
    JwksKeySourceBuilder, JwksStats,
};

#[cfg(doc)]
use mcp_auth_core::keys::{KeyError, KeySource};
