//! Opaque access tokens: [`Introspection`] makes a [`TrustedIssuer`](crate::TrustedIssuer)
//! entry judge tokens by RFC 7662 introspection at its authorization server, beside (or,
//! with [`always`](Introspection::always), instead of) local JWT validation.
//!
//! Which tokens go where (the routing, decided before any I/O, never by the request):
//! - a token that has the shape of a compact JWS (three base64url segments) is validated
//!   locally as a JWT, unless its (unverified) `iss` names an entry configured with
//!   [`always`](Introspection::always): then it is introspected at that issuer, and the JWT
//!   path never sees it. A JWT-shaped token whose `iss` is not trusted is never sent to any
//!   endpoint;
//! - any other token (opaque; a five-segment JWE too) goes to the one entry whose
//!   [`token_prefix`](Introspection::token_prefix) it starts with, else to the one entry that
//!   introspects every other opaque token (at most one may); else it is refused
//!   (`invalid_token`) without a call. Never to each endpoint in turn: that would hand a token
//!   to servers that did not issue it.
//!
//! The answer is judged by the entry's own [`ClaimsPolicy`]
//! under RFC 7662's rules ([`mcp_auth_core::introspection`]). An accepted answer is kept by
//! the introspector (single flight, bounded, until `min(exp, maximum)`) and, from its second
//! use, by the layer's verified-token cache, which keeps it no longer than the introspector
//! may: until `checked_at + cache_for`, so the configured maximum is the revocation delay
//! whichever cache answers. Every hit re-checks the time claims.

use crate::config_error::ConfigError;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::introspection::{IntrospectionRules, TokenIntrospector};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How one issuer's tokens are introspected: given to
/// [`TrustedIssuer::introspection`](crate::TrustedIssuer::introspection).
///
/// ```
/// # #[cfg(feature = "introspection")] {
/// use mcp_auth::introspection::{ClientAuth, Introspection};
/// use mcp_auth::{McpAuthLayer, TrustedIssuer};
/// use std::time::Duration;
///
/// let layer = McpAuthLayer::builder("https://mcp.example.com/mcp")
///     .trusted_issuer(
///         TrustedIssuer::new("https://idp.example.com").introspection(
///             Introspection::new(ClientAuth::client_secret_basic("mcp-server", "s3cret"))
///                 .endpoint("https://idp.example.com/oauth2/introspect")
///                 // The revocation delay: a revoked token is refused at most this late.
///                 .max_cache(Duration::from_secs(30)),
///         ),
///     )
///     .build()?;
/// # }
/// # Ok::<(), mcp_auth::ConfigError>(())
/// ```
#[must_use]
pub struct Introspection {
    source: Source,
    max_cache: Option<Duration>,
    prefix: Option<String>,
    always: bool,
}

/// Builds the introspector of an entry from the rules the layer made for it.
type MakeIntrospector =
    Box<dyn FnOnce(IntrospectionRules) -> Result<Arc<dyn TokenIntrospector>, ConfigError> + Send>;

enum Source {
    #[cfg(feature = "introspection")]
    Http {
        client: mcp_auth_introspect::ClientAuth,
        endpoint: Option<String>,
        configure: Option<
            Box<
                dyn FnOnce(
                        mcp_auth_introspect::IntrospectorBuilder,
                    ) -> mcp_auth_introspect::IntrospectorBuilder
                    + Send,
            >,
        >,
    },
    Custom(MakeIntrospector),
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            #[cfg(feature = "introspection")]
            Source::Http {
                client, endpoint, ..
            } => format!("http({}, {endpoint:?})", client.method()),
            Source::Custom(_) => "custom".to_owned(),
        };
        f.debug_struct("Introspection")
            .field("source", &source)
            .field("max_cache", &self.max_cache)
            .field("prefix", &self.prefix)
            .field("always", &self.always)
            .finish()
    }
}

#[cfg(feature = "introspection")]
pub use mcp_auth_introspect::{AssertionKey, ClientAuth, IntrospectorBuilder};

impl Introspection {
    /// RFC 7662 introspection over HTTP ([`mcp_auth_introspect::Introspector`]), this
    /// resource server authenticating as `client`. The endpoint is the issuer's
    /// `introspection_endpoint` (RFC 8414 metadata) unless [`endpoint`](Self::endpoint)
    /// names it.
    #[cfg(feature = "introspection")]
    pub fn new(client: ClientAuth) -> Self {
        Self::with_source(Source::Http {
            client,
            endpoint: None,
            configure: None,
        })
    }

    /// Introspection by an implementation of one's own, made from the rules the layer
    /// builds for the entry (its issuer and claims policy; `max_cache`).
    pub fn custom<F, T>(make: F) -> Self
    where
        F: FnOnce(IntrospectionRules) -> T + Send + 'static,
        T: TokenIntrospector,
    {
        Self::with_source(Source::Custom(Box::new(move |rules| {
            Ok(Arc::new(make(rules)) as Arc<dyn TokenIntrospector>)
        })))
    }

    fn with_source(source: Source) -> Self {
        Self {
            source,
            max_cache: None,
            prefix: None,
            always: false,
        }
    }

    /// The introspection endpoint, instead of the one the issuer's metadata names.
    #[cfg(feature = "introspection")]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        if let Source::Http { endpoint, .. } = &mut self.source {
            *endpoint = Some(url.into());
        }
        self
    }

    /// Any other option of the HTTP introspector (timeout, in-flight cap, cache size,
    /// negative lifetime, RFC 9701 signed answers, ...).
    #[cfg(feature = "introspection")]
    pub fn configure(
        mut self,
        f: impl FnOnce(IntrospectorBuilder) -> IntrospectorBuilder + Send + 'static,
    ) -> Self {
        if let Source::Http { configure, .. } = &mut self.source {
            *configure = Some(Box::new(f));
        }
        self
    }

    /// How long an accepted answer may be reused (default 60 s,
    /// [`mcp_auth_core::introspection::DEFAULT_MAX_CACHE`]), and never past the token's
    /// `exp`: **the revocation delay**, since a token revoked at the authorization server is
    /// still accepted until its answer is asked again.
    pub fn max_cache(mut self, max: Duration) -> Self {
        self.max_cache = Some(max);
        self
    }

    /// Opaque tokens that start with `prefix` (e.g. Clerk's `oat_`) go to this issuer; with
    /// several introspecting issuers, each names its prefix, or one takes every other
    /// opaque token.
    pub fn token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// JWT-shaped tokens whose `iss` names this issuer are introspected too, never validated
    /// locally (revocation-sensitive deployments): the JWT verified-token cache never
    /// answers for them, only the introspection answer within its maximum.
    pub fn always(mut self) -> Self {
        self.always = true;
        self
    }
}

/// Where tokens are introspected, built once at build.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Opaque tokens by prefix, in configuration order.
    prefixed: Vec<(String, Arc<dyn TokenIntrospector>)>,
    /// Every other opaque token.
    rest: Option<Arc<dyn TokenIntrospector>>,
    /// JWT-shaped tokens of these issuers.
    always: Vec<Arc<dyn TokenIntrospector>>,
}

impl Routes {
    /// Adds the introspection of `issuer`, judged by `claims`.
    pub(crate) fn add(
        &mut self,
        issuer: &str,
        claims: &ClaimsPolicy,
        introspection: Introspection,
    ) -> Result<(), ConfigError> {
        let mut rules = IntrospectionRules::new(issuer, claims.clone())
            .map_err(|e| ConfigError::Introspection(e.to_string()))?;
        if let Some(max) = introspection.max_cache {
            rules = rules.with_max_cache(max);
        }
        // A layer with DPoP on takes `cnf` in its claims policies (and only then): its
        // answers keep `cnf.jkt`, which the layer matches with the proof (RFC 9449 §6.2).
        rules = rules.with_dpop_bound_tokens(claims.allow_cnf);
        let introspector: Arc<dyn TokenIntrospector> = match introspection.source {
            #[cfg(feature = "introspection")]
            Source::Http {
                client,
                endpoint,
                configure,
            } => {
                let mut b = mcp_auth_introspect::Introspector::builder(rules, client);
                if let Some(url) = endpoint {
                    b = b.endpoint(url);
                }
                if let Some(f) = configure {
                    b = f(b);
                }
                Arc::new(b.build()?)
            }
            Source::Custom(make) => make(rules)?,
        };
        match introspection.prefix {
            Some(p) if p.is_empty() => {
                return Err(ConfigError::Introspection(
                    "an introspection token prefix is not empty".to_owned(),
                ));
            }
            Some(p) => {
                if self
                    .prefixed
                    .iter()
                    .any(|(q, _)| p.starts_with(q.as_str()) || q.starts_with(p.as_str()))
                {
                    return Err(ConfigError::Introspection(format!(
                        "two issuers introspect opaque tokens starting with {p:?}"
                    )));
                }
                self.prefixed.push((p, introspector.clone()));
            }
            None if self.rest.is_some() => {
                return Err(ConfigError::Introspection(
                    "two issuers introspect every opaque token: give each a token_prefix"
                        .to_owned(),
                ));
            }
            None => self.rest = Some(introspector.clone()),
        }
        if introspection.always {
            self.always.push(introspector);
        }
        Ok(())
    }

    /// Whether any token is introspected.
    pub(crate) fn is_empty(&self) -> bool {
        self.prefixed.is_empty() && self.rest.is_none()
    }

    /// The introspector of an opaque token, if one is configured for it.
    pub(crate) fn opaque(&self, token: &str) -> Option<&Arc<dyn TokenIntrospector>> {
        self.prefixed
            .iter()
            .find(|(p, _)| token.starts_with(p.as_str()))
            .map(|(_, i)| i)
            .or(self.rest.as_ref())
    }

    /// The introspector of a JWT-shaped token whose unverified `iss` is `issuer`, when that
    /// issuer introspects its JWTs too.
    pub(crate) fn always_for(&self, issuer: &str) -> Option<&Arc<dyn TokenIntrospector>> {
        self.always.iter().find(|i| i.issuer() == issuer)
    }

    /// Whether some issuer introspects its JWT-shaped tokens.
    pub(crate) fn has_always(&self) -> bool {
        !self.always.is_empty()
    }
}
