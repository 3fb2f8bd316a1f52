//! [`JwksKeySourceBuilder`]: the settings, their defaults, and the checks of [`build`](JwksKeySourceBuilder::build).

use super::jwks::{Jwks, Location};
use super::staleness::DEFAULT_MAX_STALENESS;
use super::{Config, Counters, Inner, JwksKeySource};
use crate::clock::{Clock, SystemClock};
use crate::error::JwksError;
use crate::fetch::Fetcher;
use crate::rules::{check_fetch_url, discovery_urls};
use foldhash::fast::RandomState;
use mcp_auth_core::jwk::DEFAULT_MAX_KEYS;
use mcp_auth_core::jws::Algorithm;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use mcp_auth_core::keys::KeyError;

/// Default minimum time between two fetches caused by unknown `kid`s, per key set (the
/// issuers sharing one `jwks_uri` share it).
pub const DEFAULT_KID_COOLDOWN: Duration = Duration::from_secs(60);
/// Default floor of a key set's lifetime (also the lifetime when the response gives none).
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Default ceiling of a key set's lifetime.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default wait after a failed fetch before the next attempt (and the `retry_after` of
/// [`KeyError::Unavailable`]).
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(10);
/// Default cap on a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default timeout of one fetch, connection to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 3;

/// Longest accepted duration setting, so instant arithmetic can never overflow.
const MAX_SETTING: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Builds a [`JwksKeySource`]. See [`JwksKeySource::builder`] for the defaults.
#[must_use]
#[derive(Debug)]
pub struct JwksKeySourceBuilder {
    issuers: Vec<(String, Option<String>)>,
    algorithms: Vec<Algorithm>,
    kid_cooldown: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    retry_backoff: Duration,
    max_staleness: Duration,
    max_response_bytes: usize,
    max_keys: usize,
    timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
    fetcher: Option<Arc<dyn Fetcher>>,
    #[cfg(feature = "reqwest")]
    http_client: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl Default for JwksKeySourceBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            algorithms: Algorithm::DEFAULT_ALLOWED.to_vec(),
            kid_cooldown: DEFAULT_KID_COOLDOWN,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            max_staleness: DEFAULT_MAX_STALENESS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_keys: DEFAULT_MAX_KEYS,
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allow_insecure_http: false,
            fetcher: None,
            #[cfg(feature = "reqwest")]
            http_client: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl JwksKeySourceBuilder {
    /// Adds an issuer whose `jwks_uri` is discovered: RFC 8414
    /// `/.well-known/oauth-authorization-server` (with path insertion), then OpenID Connect
    /// discovery. The document must name this exact issuer. Its key set is its own, even when
    /// the discovered URL is one another issuer uses.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push((issuer.into(), None));
        self
    }

    /// Adds an issuer with a known `jwks_uri` (no discovery).
    ///
    /// Issuers added with the same `jwks_uri` (byte-identical) share one key set: one fetch,
    /// one store, one unknown-`kid` cooldown, as the tenants of a multi-tenant provider do.
    /// Naming one URL for several issuers says they share keys (RFC 8725 §3.8); each token is
    /// still checked only against the set of the issuer it names.
    pub fn issuer_with_jwks_uri(
        mut self,
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
    ) -> Self {
        self.issuers.push((issuer.into(), Some(jwks_uri.into())));
        self
    }

    /// The algorithms keys may be used with (default RS256 and ES256).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// After a fetch caused by an unknown `kid`, no other such fetch for this long (default
    /// 60 s); unknown `kid`s are also remembered this long.
    pub fn kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.kid_cooldown = cooldown;
        self
    }

    /// Floor of a key set's lifetime, also used when the response has no `max-age` or says
    /// `no-store` / `no-cache` (default 5 min).
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = ttl;
        self
    }

    /// Ceiling of a key set's lifetime (default 24 h).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Wait after a failed load before the next background attempt; also the `retry_after`
    /// while no key set was ever loaded (default 10 s).
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// How long the last good keys of an issuer may be used, counted from the last
    /// successful fetch of its key set, while they cannot be revalidated (default 24 h,
    /// [`DEFAULT_MAX_STALENESS`]). Until then they are served through an outage; from then
    /// on a request waits for a new fetch and gets [`KeyError::Unavailable`] (503 with
    /// `Retry-After`) if it fails. A set's lifetime is capped to this, so its refresh always
    /// comes first.
    pub fn max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }

    /// Cap on a response body; reading stops there (default 256 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Cap on the number of keys in a JWKS (default core's [`DEFAULT_MAX_KEYS`]).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Timeout of one fetch, connection to last byte (default 10 s). Applies to the reqwest
    /// fetcher, not to one given with [`fetcher`](Self::fetcher).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Redirects followed by the client this crate builds (default 3). Never from https to
    /// plain http.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Allows plain `http` issuers, JWKS URLs and redirects to non-loopback hosts. Off by
    /// default: only loopback may use plain http. A redirect from https to http is refused
    /// either way.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Uses this client instead of building one. Its redirect policy is yours; the fetcher
    /// still refuses a response that ended on plain http after an https request.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Uses this fetcher (takes precedence over [`http_client`](Self::http_client)). Pass an
    /// `Arc` to keep a handle on it.
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Uses this clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration and builds the source. Nothing is fetched until the first
    /// request or [`JwksKeySource::warm_up`].
    pub fn build(self) -> Result<JwksKeySource, JwksError> {
        if self.issuers.is_empty() {
            return Err(JwksError::NoIssuers);
        }
        if self.algorithms.is_empty() {
            return Err(JwksError::InvalidConfig("no algorithm allowed"));
        }
        if self.min_ttl.is_zero() || self.min_ttl > self.max_ttl {
            return Err(JwksError::InvalidConfig(
                "min_ttl must be positive and at most max_ttl",
            ));
        }
        if self.max_staleness.is_zero() {
            return Err(JwksError::InvalidConfig("max_staleness must be positive"));
        }
        if [
            self.kid_cooldown,
            self.max_ttl,
            self.retry_backoff,
            self.max_staleness,
            self.timeout,
        ]
        .iter()
        .any(|d| *d > MAX_SETTING)
        {
            return Err(JwksError::InvalidConfig(
                "durations are limited to 10 years",
            ));
        }
        if self.timeout.is_zero() {
            return Err(JwksError::InvalidConfig("timeout must be positive"));
        }
        if self.max_response_bytes == 0 || self.max_keys == 0 {
            return Err(JwksError::InvalidConfig(
                "max_response_bytes and max_keys must be positive",
            ));
        }
        // Issuers naming one explicit `jwks_uri` share one key set; each discovered issuer
        // has its own (see `jwks`). Grouped first, so each set knows all the issuers it serves.
        let mut groups: Vec<(Location, Vec<Arc<str>>)> = Vec::new();
        let mut by_uri: HashMap<String, usize> = HashMap::new();
        let mut names: HashSet<Arc<str>> = HashSet::with_capacity(self.issuers.len());
        for (issuer, jwks_uri) in self.issuers {
            let invalid = |reason: String| JwksError::InvalidIssuer {
                issuer: issuer.clone(),
                reason,
            };
            match &jwks_uri {
                Some(url) => {
                    if issuer.is_empty() {
                        return Err(invalid("empty".to_owned()));
                    }
                    check_fetch_url(url, self.allow_insecure_http).map_err(|reason| {
                        JwksError::InvalidUrl {
                            url: url.clone(),
                            reason,
                        }
                    })?;
                }
                None => {
                    check_fetch_url(&issuer, self.allow_insecure_http).map_err(invalid)?;
                    discovery_urls(&issuer).map_err(invalid)?;
                }
            }
            let name: Arc<str> = Arc::from(issuer.as_str());
            if !names.insert(Arc::clone(&name)) {
                return Err(JwksError::DuplicateIssuer(issuer));
            }
            match jwks_uri {
                Some(url) => match by_uri.get(&url) {
                    Some(&at) => groups[at].1.push(name),
                    None => {
                        by_uri.insert(url.clone(), groups.len());
                        groups.push((Location::Uri(url), vec![name]));
                    }
                },
                None => groups.push((Location::Discover(Arc::clone(&name)), vec![name])),
            }
        }
        let mut issuers = HashMap::with_capacity_and_hasher(names.len(), RandomState::default());
        let mut sets = Vec::with_capacity(groups.len());
        for (location, served) in groups {
            let label: Arc<str> = Arc::from(served.join(", "));
            let set = Arc::new(Jwks::new(label, location));
            for name in served {
                issuers.insert(name, Arc::clone(&set));
            }
            sets.push(set);
        }
        let fetcher = match self.fetcher {
            Some(fetcher) => fetcher,
            None => default_fetcher(
                #[cfg(feature = "reqwest")]
                self.http_client,
                self.timeout,
                self.max_redirects,
                self.allow_insecure_http,
            )?,
        };
        let base = self.clock.now();
        Ok(JwksKeySource {
            inner: Arc::new(Inner {
                base,
                issuers,
                sets,
                fetcher,
                clock: self.clock,
                cfg: Config {
                    algorithms: self.algorithms,
                    kid_cooldown: self.kid_cooldown,
                    min_ttl: self.min_ttl,
                    max_ttl: self.max_ttl,
                    retry_backoff: self.retry_backoff,
                    max_staleness: self.max_staleness,
                    max_response_bytes: self.max_response_bytes,
                    max_keys: self.max_keys,
                    allow_insecure_http: self.allow_insecure_http,
                },
                stats: Counters::default(),
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_fetcher(
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_redirects: usize,
    allow_insecure_http: bool,
) -> Result<Arc<dyn Fetcher>, JwksError> {
    let client = match client {
        Some(client) => client,
        None => crate::ReqwestFetcher::client(timeout, max_redirects, allow_insecure_http)?,
    };
    Ok(Arc::new(
        crate::ReqwestFetcher::new(client).with_timeout(timeout),
    ))
}

#[cfg(not(feature = "reqwest"))]
fn default_fetcher(
    _timeout: Duration,
    _max_redirects: usize,
    _allow_insecure_http: bool,
) -> Result<Arc<dyn Fetcher>, JwksError> {
    Err(JwksError::NoFetcher)
}
