//! Where a provider puts what mcp-auth reads: the client id and the subject, and which RFC
//! 9068 §2.2 claims a token must carry ([`RequiredClaims`]).
//!
//! Providers differ: Okta names the client `cid`, Entra v1 `appid`, Keycloak, Auth0 and Entra
//! v2 `azp`. A [`ClaimMapping`] says which claims to read; the claims it names are captured
//! while the payload is parsed, once, at validation ([`Claims::from_json_with`]), so a cached
//! token never parses its payload again. The default mapping is the RFC 9068 one: the client
//! is `client_id`, else `azp`; the subject is `sub`.
//!
//! ```
//! use mcp_auth_core::claims::{ClaimMapping, Claims};
//! let okta = ClaimMapping::new().with_client_id_claims(["cid"]);
//! let c = Claims::from_json_with(br#"{"sub":"u1","cid":"0oa1"}"#.to_vec(), &okta)?;
//! assert_eq!(c.client(), Some("0oa1"));
//! // A configured claim that is not a string is refused, as a non-string `client_id` is.
//! assert!(Claims::from_json_with(br#"{"cid":7}"#.to_vec(), &okta).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::Claims;
use std::sync::Arc;

/// Which of the RFC 9068 §2.2 claims beyond `iss`, `exp` and `aud` (always required) a token
/// must carry. Default: all of them ([`ALL`](Self::ALL)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequiredClaims {
    /// The subject: the mapping's subject claim (default `sub`).
    pub sub: bool,
    /// A client id. With the default mapping, `client_id` itself (RFC 9068 §2.2: `azp` is
    /// read but does not satisfy it); with
    /// [`with_client_id_claims`](ClaimMapping::with_client_id_claims), any of those claims.
    pub client_id: bool,
    /// `iat`.
    pub iat: bool,
    /// `jti`.
    pub jti: bool,
}

impl RequiredClaims {
    /// Every claim RFC 9068 §2.2 lists: `sub`, `client_id`, `iat`, `jti`.
    pub const ALL: Self = Self {
        sub: true,
        client_id: true,
        iat: true,
        jti: true,
    };
    /// None of them (only `iss`, `exp` and `aud`).
    pub const NONE: Self = Self {
        sub: false,
        client_id: false,
        iat: false,
        jti: false,
    };

    /// [`ALL`](Self::ALL) or [`NONE`](Self::NONE).
    pub const fn all(on: bool) -> Self {
        if on { Self::ALL } else { Self::NONE }
    }
}

impl Default for RequiredClaims {
    fn default() -> Self {
        Self::ALL
    }
}

/// Why a [`ClaimMapping`] cannot work.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// An empty list of client-id claims.
    #[error("the list of client-id claims is empty")]
    NoClientIdClaim,
    /// An empty claim name.
    #[error("a claim name is empty")]
    EmptyName,
    /// A registered claim that cannot hold this value (`iss` as a client id, `aud` as a
    /// subject, ...).
    #[error("claim {0:?} cannot be used for this")]
    Registered(String),
}

/// Where the client id and the subject of a token are. Cheap to clone; the default costs
/// nothing on the request path.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct ClaimMapping {
    /// `None`: the default mapping.
    inner: Option<Arc<Inner>>,
}

#[derive(Debug, Default, PartialEq)]
pub(super) struct Inner {
    /// `None`: `client_id`, else `azp`, with `client_id` required by the RFC 9068 profile.
    client_id: Option<Vec<String>>,
    /// `None`: `sub`.
    subject: Option<String>,
    /// The names of the claims above that are not typed fields of [`Claims`], captured.
    capture: Vec<String>,
}

/// Values captured while parsing, one slot per [`Inner::capture`] name.
pub(super) struct Captured(Vec<Option<serde_json::Value>>);

/// What a mapping resolved from one token, kept with its claims (and so cached with them).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mapped {
    by: Arc<Inner>,
    client: Option<String>,
    subject: Option<String>,
}

/// The typed fields a mapping may name for the client id and the subject.
const TYPED_CLIENT: [&str; 2] = ["client_id", "azp"];

impl ClaimMapping {
    /// The default mapping (RFC 9068): client `client_id` else `azp`, subject `sub`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the client id from the first of `names` the token has (`cid` for Okta, `appid`
    /// for Entra v1, `azp` for Keycloak, Auth0 and Entra v2). Any of them satisfies
    /// [`RequiredClaims::client_id`]. Each must be a string when present (`null` is absent).
    pub fn with_client_id_claims<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names = names.into_iter().map(Into::into).collect();
        self.edit(|i| i.client_id = Some(names))
    }

    /// Reads the subject from `name` instead of `sub` (a string when present).
    pub fn with_subject_claim(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|i| i.subject = Some(name))
    }

    /// The configured client-id claims, or `None` for the default (`client_id`, else `azp`).
    pub fn client_id_claims(&self) -> Option<&[String]> {
        self.inner.as_ref()?.client_id.as_deref()
    }

    /// The subject claim (default `sub`).
    pub fn subject_claim(&self) -> &str {
        self.inner
            .as_ref()
            .and_then(|i| i.subject.as_deref())
            .unwrap_or("sub")
    }

    /// Whether this is the default mapping.
    pub fn is_default(&self) -> bool {
        self.inner.is_none()
    }

    /// Checks that the mapping can work: a non-empty client-id list, non-empty names, no
    /// registered claim used for what it does not hold.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn validate(&self) -> Result<(), MappingError> {
        let Some(i) = &self.inner else { return Ok(()) };
        if let Some(names) = &i.client_id {
            if names.is_empty() {
                return Err(MappingError::NoClientIdClaim);
            }
            for n in names {
                check_name(n, &TYPED_CLIENT)?;
            }
        }
        if let Some(s) = &i.subject {
            check_name(s, &["sub"])?;
        }
        Ok(())
    }

    fn edit(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match self.inner {
            Some(a) => Arc::try_unwrap(a).unwrap_or_else(|a| Inner {
                client_id: a.client_id.clone(),
                subject: a.subject.clone(),
                capture: Vec::new(),
            }),
            None => Inner::default(),
        };
        f(&mut inner);
        let mut capture: Vec<String> = Vec::new();
        let names = inner.client_id.iter().flatten().chain(&inner.subject);
        for n in names {
            if !super::parse::is_registered(n) && !capture.contains(n) {
                capture.push(n.clone());
            }
        }
        inner.capture = capture;
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    /// The slot of a top-level claim this mapping captures.
    pub(super) fn capture_slot(&self, name: &str) -> Option<usize> {
        self.inner.as_ref()?.capture.iter().position(|n| n == name)
    }

    /// Empty slots for one payload.
    pub(super) fn captured(&self) -> Captured {
        let n = self.inner.as_ref().map_or(0, |i| i.capture.len());
        Captured(vec![None; n])
    }

    /// Whether `claims` were resolved with this mapping (or, for the default, with none).
    pub(super) fn resolved(&self, claims: &Claims) -> bool {
        match (&self.inner, &claims.mapped) {
            (None, m) => m.is_none(),
            (Some(a), Some(m)) => Arc::ptr_eq(a, &m.by),
            (Some(_), None) => false,
        }
    }

    /// Whether `claims` (resolved with this mapping) satisfy [`RequiredClaims::client_id`].
    pub(super) fn has_required_client(&self, claims: &Claims) -> bool {
        match self.client_id_claims() {
            None => claims.client_id.is_some(),
            Some(_) => claims.client().is_some(),
        }
    }

    /// Resolves the client id and the subject of `claims` from their typed fields and the
    /// `captured` values. A captured value that is not a string (nor `null`) is an error.
    pub(super) fn resolve(
        &self,
        claims: &Claims,
        captured: Captured,
    ) -> Result<Option<Box<Mapped>>, &'static str> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let values = captured.0;
        let take = |name: &str| -> Result<Option<String>, &'static str> {
            let typed = match name {
                "client_id" => &claims.client_id,
                "azp" => &claims.azp,
                "sub" => &claims.sub,
                _ => {
                    let Some(slot) = inner.capture.iter().position(|n| n == name) else {
                        return Ok(None);
                    };
                    return match values[slot].clone() {
                        None | Some(serde_json::Value::Null) => Ok(None),
                        Some(serde_json::Value::String(s)) => Ok(Some(s)),
                        Some(_) => Err("a mapped claim is not a string"),
                    };
                }
            };
            Ok(typed.clone())
        };
        let client = match &inner.client_id {
            None => claims.client_id.clone().or_else(|| claims.azp.clone()),
            Some(names) => {
                let mut found = None;
                for n in names {
                    // Every configured claim is type-checked, not only the first present.
                    let v = take(n)?;
                    found = found.or(v);
                }
                found
            }
        };
        let subject = match &inner.subject {
            None => claims.sub.clone(),
            Some(n) => take(n)?,
        };
        Ok(Some(Box::new(Mapped {
            by: inner.clone(),
            client,
            subject,
        })))
    }
}

impl Captured {
    pub(super) fn set(&mut self, slot: usize, v: Option<serde_json::Value>) {
        self.0[slot] = v;
    }
}

impl Mapped {
    pub(super) fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    pub(super) fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

fn check_name(name: &str, typed: &[&str]) -> Result<(), MappingError> {
    if name.is_empty() {
        return Err(MappingError::EmptyName);
    }
    if super::parse::is_registered(name) && !typed.contains(&name) {
        return Err(MappingError::Registered(name.to_owned()));
    }
    Ok(())
}
