//! Where a provider puts what mcp-auth reads: the client id, the subject and the scopes
//! ([`ScopeSource`], with an optional [`RoleMap`] from provider roles to this server's
//! scopes), and which RFC 9068 §2.2 claims a token must carry ([`RequiredClaims`]).
//!
//! # Scope sources
//!
//! By default the scopes are `scope` (space-separated, RFC 9068 §2.2.3) and `scp` merged.
//! [`ClaimMapping::with_scope_sources`] replaces that list: a top-level claim
//! ([`ScopeSource::claim`], the name taken whole: `cognito:groups`,
//! `https://example.com/roles`) or a path into nested objects ([`ScopeSource::path`]:
//! `realm_access` / `roles`). Each holds a string or an array of strings:
//!
//! - a source of scopes (Auth0 `permissions`): a string, and each element of an array, is
//!   a space-separated list of scope tokens (RFC 6749 §3.3), all granted; a value that is not
//!   valid scope syntax refuses the token, as a malformed `scope` does;
//! - a source of roles ([`ScopeSource::roles`]; Entra `roles`, Keycloak `realm_access.roles`
//!   and `resource_access.<client>.roles`, `cognito:groups`): each element of an array is one
//!   role, matched whole (a Keycloak role may hold a space), a string is a space-separated
//!   list of roles; each role the [`RoleMap`] names grants its scopes, every other role is
//!   ignored, never granted.
//!
//! A source the token lacks (or whose value, or a path segment on the way, is `null`) grants
//! nothing. One with another type (a number, an object at the end of the path, an array
//! holding a non-string, a path segment that is not an object) refuses the token
//! (`invalid_token`, "token scope is malformed"): a provider's claim in an unexpected shape
//! is not guessed at.
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
use crate::scope::{InvalidScope, ScopeSet};
use serde_json::Value;
use std::collections::BTreeMap;
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
    /// An empty list of scope sources.
    #[error("the list of scope sources is empty")]
    NoScopeSource,
    /// A source of roles without a role map: it would grant nothing.
    #[error("a source of roles is configured without a role map")]
    NoRoleMap,
    /// A role map without a source of roles: it would never be used.
    #[error("a role map is configured without a source of roles")]
    UnusedRoleMap,
}

/// Where scopes are: a claim or a path into nested objects, read as scopes or as roles
/// through the [`RoleMap`]. See the [module documentation](self) for the shapes it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSource {
    path: Vec<String>,
    roles: bool,
}

impl ScopeSource {
    /// The top-level claim `name`, taken whole (a `.` in it is no path).
    pub fn claim(name: impl Into<String>) -> Self {
        Self {
            path: vec![name.into()],
            roles: false,
        }
    }

    /// The member at `segments` of nested objects: `["realm_access", "roles"]`,
    /// `["resource_access", "my-client", "roles"]`.
    pub fn path<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            path: segments.into_iter().map(Into::into).collect(),
            roles: false,
        }
    }

    /// Reads this source as roles, mapped to scopes by the mapping's [`RoleMap`].
    #[must_use]
    pub fn roles(mut self) -> Self {
        self.roles = true;
        self
    }

    /// The path (one segment for a top-level claim).
    pub fn segments(&self) -> &[String] {
        &self.path
    }

    /// Whether this source holds roles.
    pub fn is_roles(&self) -> bool {
        self.roles
    }
}

/// From a provider's roles to this server's scopes: a role grants one or more scopes; a role
/// it does not name grants nothing.
///
/// ```
/// use mcp_auth_core::claims::RoleMap;
/// let mut roles = RoleMap::new();
/// roles.insert("mcp-reader", ["mcp:read"])?;
/// roles.insert("mcp-admin", ["mcp:read", "mcp:write"])?;
/// assert_eq!(roles.get("mcp-admin").unwrap().to_scope_string(), "mcp:read mcp:write");
/// assert!(roles.get("offline_access").is_none());
/// assert!(roles.insert("x", ["not a scope"]).is_err());
/// # Ok::<(), mcp_auth_core::scope::InvalidScope>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(BTreeMap<String, ScopeSet>);

impl RoleMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `role` to `scopes` (added to what it already grants).
    ///
    /// # Errors
    ///
    /// A scope that is not RFC 6749 §3.3 syntax (nothing is inserted).
    pub fn insert<I, S>(&mut self, role: impl Into<String>, scopes: I) -> Result<(), InvalidScope>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes = ScopeSet::try_from_iter(scopes)?;
        let entry = self.0.entry(role.into()).or_default();
        *entry = entry.union(&scopes);
        Ok(())
    }

    /// The scopes `role` grants.
    pub fn get(&self, role: &str) -> Option<&ScopeSet> {
        self.0.get(role)
    }

    /// How many roles are mapped.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no role is mapped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    /// `None`: `scope` and `scp`.
    scopes: Option<Vec<ScopeSource>>,
    roles: RoleMap,
    /// Other claims to capture for claim checks ([`ClaimMapping::with_captured_claims`]).
    checked: Vec<String>,
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
    /// `None`: the default sources, read from the typed fields when asked.
    scopes: Option<Result<ScopeSet, MalformedScope>>,
    /// The captured values, one per [`Inner::capture`] name: what claim checks read.
    values: Box<[Option<serde_json::Value>]>,
}

/// A scope source held a value of the wrong shape or syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedScope;

/// The typed fields a mapping may name for the client id and the subject.
const TYPED_CLIENT: [&str; 2] = ["client_id", "azp"];
/// The typed fields a scope source may name (alone, as a top-level claim).
const TYPED_SCOPE: [&str; 2] = ["scope", "scp"];

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

    /// Reads the scopes from `sources` instead of `scope` and `scp` (list them too to keep
    /// them). See the [module documentation](self).
    pub fn with_scope_sources<I>(self, sources: I) -> Self
    where
        I: IntoIterator<Item = ScopeSource>,
    {
        let sources = sources.into_iter().collect();
        self.edit(|i| i.scopes = Some(sources))
    }

    /// Also captures the top-level claims `names` in the one parse pass, for claim checks
    /// to read without parsing the payload again ([`Claims::captured`];
    /// [`ClaimCheck::claims_read`](crate::checks::ClaimCheck::claims_read) says which a
    /// check reads). Registered claims are typed fields already and are not captured. The
    /// default mapping's other rules are kept.
    pub fn with_captured_claims<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.iter().all(|n| super::parse::is_registered(n)) {
            return self;
        }
        self.edit(|i| {
            for n in names {
                if !i.checked.contains(&n) {
                    i.checked.push(n);
                }
            }
        })
    }

    /// Maps the roles of the [`roles`](ScopeSource::roles) sources to scopes.
    pub fn with_role_map(self, roles: RoleMap) -> Self {
        self.edit(|i| i.roles = roles)
    }

    /// The configured scope sources, or `None` for the default (`scope` and `scp`).
    pub fn scope_sources(&self) -> Option<&[ScopeSource]> {
        self.inner.as_ref()?.scopes.as_deref()
    }

    /// The role map (empty by default).
    pub fn role_map(&self) -> Option<&RoleMap> {
        self.inner.as_ref().map(|i| &i.roles)
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
        let sources = i.scopes.as_deref().unwrap_or_default();
        if i.scopes.is_some() && sources.is_empty() {
            return Err(MappingError::NoScopeSource);
        }
        for src in sources {
            let Some((first, rest)) = src.path.split_first() else {
                return Err(MappingError::EmptyName);
            };
            if rest.iter().any(String::is_empty) {
                return Err(MappingError::EmptyName);
            }
            check_name(first, if rest.is_empty() { &TYPED_SCOPE } else { &[] })?;
        }
        let roles = sources.iter().any(ScopeSource::is_roles);
        match (roles, i.roles.is_empty()) {
            (true, true) => Err(MappingError::NoRoleMap),
            (false, false) => Err(MappingError::UnusedRoleMap),
            _ => Ok(()),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match self.inner {
            Some(a) => Arc::try_unwrap(a).unwrap_or_else(|a| Inner {
                client_id: a.client_id.clone(),
                subject: a.subject.clone(),
                scopes: a.scopes.clone(),
                roles: a.roles.clone(),
                checked: a.checked.clone(),
                capture: Vec::new(),
            }),
            None => Inner::default(),
        };
        f(&mut inner);
        let mut capture: Vec<String> = Vec::new();
        let firsts = inner.scopes.iter().flatten().filter_map(|s| s.path.first());
        let names = inner
            .client_id
            .iter()
            .flatten()
            .chain(&inner.subject)
            .chain(firsts)
            .chain(&inner.checked);
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
    pub(crate) fn resolved(&self, claims: &Claims) -> bool {
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
        let scopes = inner.scopes.as_ref().map(|sources| {
            let mut set = ScopeSet::new();
            for src in sources {
                let captured = |name: &str| {
                    let slot = inner.capture.iter().position(|n| n == name)?;
                    values[slot].as_ref()
                };
                inner.grant(src, claims, captured, &mut set)?;
            }
            Ok(set)
        });
        Ok(Some(Box::new(Mapped {
            by: inner.clone(),
            client,
            subject,
            scopes,
            values: values.into_boxed_slice(),
        })))
    }
}

impl Inner {
    /// Adds what `src` grants in `claims` (`captured` gives a captured top-level value).
    fn grant<'v>(
        &self,
        src: &ScopeSource,
        claims: &'v Claims,
        captured: impl Fn(&str) -> Option<&'v Value>,
        set: &mut ScopeSet,
    ) -> Result<(), MalformedScope> {
        let mut add = |s: &str, element: bool| -> Result<(), MalformedScope> {
            if !src.roles {
                *set = set.union(&ScopeSet::parse(s).map_err(|_| MalformedScope)?);
                return Ok(());
            }
            // An array element is one role; a string is a space-separated list of them.
            let one = [s];
            let roles: &mut dyn Iterator<Item = &str> = if element {
                &mut one.into_iter()
            } else {
                &mut s.split(' ').filter(|r| !r.is_empty())
            };
            for role in roles {
                if let Some(scopes) = self.roles.get(role) {
                    *set = set.union(scopes);
                }
            }
            Ok(())
        };
        match src.path.as_slice() {
            [one] if one == "scope" => {
                if let Some(s) = &claims.scope {
                    add(s, false)?;
                }
                return Ok(());
            }
            [one] if one == "scp" => {
                for s in claims.scp.iter().flatten() {
                    add(s, true)?;
                }
                return Ok(());
            }
            _ => {}
        }
        let Some((first, rest)) = src.path.split_first() else {
            return Ok(());
        };
        let mut v = captured(first);
        for seg in rest {
            v = match v {
                None | Some(Value::Null) => None,
                Some(Value::Object(m)) => m.get(seg),
                Some(_) => return Err(MalformedScope),
            };
        }
        match v {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => add(s, false),
            Some(Value::Array(a)) => a.iter().try_for_each(|e| match e {
                Value::String(s) => add(s, true),
                _ => Err(MalformedScope),
            }),
            Some(_) => Err(MalformedScope),
        }
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

    /// The scopes resolved from the mapping's sources; `None` for the default sources.
    pub(super) fn scopes(&self) -> Option<Result<&ScopeSet, MalformedScope>> {
        self.scopes.as_ref().map(|r| r.as_ref().map_err(|e| *e))
    }

    /// The value of the top-level claim `name` if it was captured: `Some(None)` when the
    /// token has no such claim, `None` when `name` is not one the mapping captures.
    pub(super) fn captured(&self, name: &str) -> Option<Option<&serde_json::Value>> {
        let slot = self.by.capture.iter().position(|n| n == name)?;
        Some(self.values.get(slot)?.as_ref())
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
