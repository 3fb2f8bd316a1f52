//! The validation state machine: one decision path for an access token, with no I/O.
//!
//! [`JwtRules::start`] takes what the caller knows (the token, the policies, the key
//! source's memory and the clock) and returns a [`Step`]: either the decision
//! ([`Step::Done`]) or a request for the one piece of I/O it lacks ([`Step::NeedKeys`]),
//! carrying everything already computed in an opaque [`Resume`]. The caller (the `mcp-auth`
//! layer) does that I/O and hands the answer to [`Resume::keys`], which goes on from where the
//! first step stopped: nothing is split, parsed or checked twice.
//!
//! ```text
//! start(token, now)
//!   ├─ shape, header (alg allow-list, typ, crit)             refused → Done(Err)
//!   ├─ one issuer and a kid: current(iss)                    kid unknown, no refetch → Done(Err)
//!   ├─ payload, claims (iss, exp/nbf/iat, aud, RFC 9068), scopes
//!   ├─ current(iss): Keys with the kid  ──────────────────────────────► signature → Done
//!   │                Load, or kid unknown and refetchable ─► NeedKeys { issuer, kid, resume }
//!   │                Failed ───────────────────────────────────────────────────► Done(Err)
//! resume.keys(answer)                                        signature → Done
//! ```
//!
//! The order of checks is the cheapest first, all before any I/O or crypto, and a token is
//! accepted only when all of them pass. No token costs more than one signature check
//! ([`select_key`](crate::jws::select_key)).
//!
//! The variants of [`Step`] are the kinds of I/O a token may need. The enum is
//! `#[non_exhaustive]`: token kinds added later (introspection, DPoP replay checks) add
//! their own `Need…` variant, each resumed the same way.

use crate::claims::{Claims, ClaimsPolicy};
use crate::jwk::KeySet;
use crate::jws::{CheckedHeader, CompactJws, HeaderPolicy, PendingSignature};
use crate::keys::{Current, KeyError, KeySource};
use crate::scope::ScopeSet;
use crate::{AccessToken, AuthError, TokenHash};
use std::fmt;
use std::sync::Arc;

/// What the state machine says next.
#[non_exhaustive]
#[must_use = "a step is either the decision or I/O to do"]
pub enum Step {
    /// The decision.
    Done(Result<Verified, AuthError>),
    /// The keys of `issuer` must be fetched ([`KeySource::keys`]`(issuer, kid)`), then
    /// handed to [`Resume::keys`].
    NeedKeys {
        /// The token's issuer, already checked against the configured issuers.
        issuer: String,
        /// The token's `kid`, if it has one.
        kid: Option<String>,
        /// Everything computed so far.
        resume: Resume,
    },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done(r) => f.debug_tuple("Done").field(r).finish(),
            Self::NeedKeys { issuer, kid, .. } => f
                .debug_struct("NeedKeys")
                .field("issuer", issuer)
                .field("kid", kid)
                .finish_non_exhaustive(),
        }
    }
}

/// A token that passed every check: its claims, granted scopes and a hash safe to log.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Verified {
    /// Every claim of the token.
    pub claims: Claims,
    /// The granted scopes (`scope` and `scp` merged).
    pub scopes: ScopeSet,
    /// A short hash of the token, safe to log.
    pub token_hash: TokenHash,
    /// The fingerprint of the key that verified the signature (RFC 7638 thumbprint input).
    pub key: [u8; 32],
}

impl Verified {
    /// The verified `iss`.
    pub fn issuer(&self) -> &str {
        self.claims.iss.as_deref().unwrap_or_default()
    }
}

/// The work done before a [`Step::NeedKeys`]: the token (copied once, when the first step
/// could not finish), its checked header and claims. Opaque; no `Debug` (it holds the token).
#[allow(missing_debug_implementations)] // holds the token: no Debug on purpose
pub struct Resume {
    token: AccessToken,
    signature: PendingSignature,
    claims: Claims,
    scopes: ScopeSet,
    /// The policy and the instant of the first step, when it has claim checks to run after
    /// the signature.
    checks: Option<Box<(ClaimsPolicy, i64)>>,
}

impl Resume {
    /// Goes on with the answer of [`KeySource::keys`]: the signature check with the key the
    /// token names (still absent after a refetch: `invalid_token`, "unknown signing key").
    pub fn keys(self, answer: Result<Arc<KeySet>, KeyError>) -> Step {
        let keys = match answer {
            Ok(keys) => keys,
            Err(e) => return Step::Done(Err(key_error(e))),
        };
        let token = self.token.expose();
        let done = self.signature.verify(token, &keys).and_then(|key| {
            if let Some(checks) = &self.checks {
                let (policy, now) = &**checks;
                policy.check_verified(&self.claims, *now)?;
            }
            Ok(verified(token, self.claims, self.scopes, key.fingerprint()))
        });
        Step::Done(done)
    }
}

/// The policies a JWT access token (RFC 9068) must satisfy, and the machine's first step.
///
/// One header and one claims policy per trusted issuer entry ([`per_issuer`](Self::per_issuer)):
/// an entry may name several exact issuers sharing its rules, and each issuer is in one
/// entry. With one entry ([`new`](Self::new)) every check runs as described in the module
/// docs. With several, the header is first checked against the union of the entries' header
/// rules (an algorithm no entry allows is refused before the payload is decoded), the
/// payload's `iss` then picks the entry, and the header is checked again against that
/// entry's own algorithms and `typ` rule before its claims policy runs: a token is judged
/// by exactly the rules of the issuer it names.
#[derive(Debug, Clone)]
pub struct JwtRules {
    entries: Box<[(HeaderPolicy, ClaimsPolicy)]>,
    /// The union of the entries' header rules; the entry's own with one entry.
    union: HeaderPolicy,
}

/// Why [`JwtRules::per_issuer`] refused its entries.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// No entry, or an entry without an issuer.
    #[error("every trusted issuer entry names at least one issuer, and there is one entry")]
    NoIssuer,
    /// The same issuer in two entries (or twice in one): which rules apply would be unclear.
    #[error("issuer {0} is trusted twice")]
    DuplicateIssuer(String),
    /// An entry allows no algorithm.
    #[error("the entry of issuer {0} allows no algorithm")]
    NoAlgorithms(String),
    /// The entries disagree on the maximum token length, which applies before any issuer
    /// is known.
    #[error("every entry has the same maximum token length")]
    TokenLength,
}

impl JwtRules {
    /// Rules from a header and a claims policy, for every issuer of `claims`.
    pub fn new(header: HeaderPolicy, claims: ClaimsPolicy) -> Self {
        Self {
            union: header.clone(),
            entries: Box::new([(header, claims)]),
        }
    }

    /// Rules with one entry per trusted issuer (or group of issuers sharing rules): each
    /// entry's [`ClaimsPolicy::issuers`] are judged by that entry's policies alone.
    pub fn per_issuer(
        entries: impl IntoIterator<Item = (HeaderPolicy, ClaimsPolicy)>,
    ) -> Result<Self, RulesError> {
        let entries: Box<[_]> = entries.into_iter().collect();
        let Some((first, _)) = entries.first() else {
            return Err(RulesError::NoIssuer);
        };
        let mut union = first.clone();
        let mut seen = std::collections::HashSet::new();
        for (header, claims) in &entries[..] {
            let Some(name) = claims.issuers.first() else {
                return Err(RulesError::NoIssuer);
            };
            if header.algorithms.is_empty() {
                return Err(RulesError::NoAlgorithms(name.clone()));
            }
            if header.max_token_len != union.max_token_len {
                return Err(RulesError::TokenLength);
            }
            if let Some(dup) = claims.issuers.iter().find(|i| !seen.insert(i.as_str())) {
                return Err(RulesError::DuplicateIssuer(dup.clone()));
            }
            for alg in &header.algorithms {
                if !union.algorithms.contains(alg) {
                    union.algorithms.push(*alg);
                }
            }
            union.typ = union.typ.either(header.typ);
        }
        Ok(Self { entries, union })
    }

    /// The header policy a token meets before its issuer is known: the union of the
    /// entries' (with one entry, its own).
    pub fn header(&self) -> &HeaderPolicy {
        &self.union
    }

    /// The claims policy of the first entry (with [`new`](Self::new), the only one).
    pub fn claims(&self) -> &ClaimsPolicy {
        &self.entries[0].1
    }

    /// Every entry's header and claims policies, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&HeaderPolicy, &ClaimsPolicy)> {
        self.entries.iter().map(|(h, c)| (h, c))
    }

    /// The position (in [`entries`](Self::entries)) of the entry that trusts `issuer`.
    pub fn position(&self, issuer: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(_, c)| c.accepts_issuer(issuer))
    }

    /// The first step for the access token `token` (the `b64token` of an `Authorization:
    /// Bearer` header, [`RawCredentials::check`](crate::credentials::RawCredentials::check))
    /// at `now` (seconds since the epoch), asking `keys` only what it holds in memory
    /// ([`KeySource::current`]).
    pub fn start(&self, token: &str, keys: &dyn KeySource, now: i64) -> Step {
        match CompactJws::split(token, self.union.max_token_len) {
            Ok(jws) => self.start_compact(jws, keys, now),
            Err(e) => Step::Done(Err(e)),
        }
    }

    /// [`start`](Self::start) for a token already split (by a caller that needed its shape
    /// first, such as a cache that only looks at what has the shape of a compact JWS). The
    /// split must have used [`header`](Self::header)'s `max_token_len`.
    pub fn start_compact(&self, jws: CompactJws<'_>, keys: &dyn KeySource, now: i64) -> Step {
        match self.first(jws, keys, now) {
            Ok(step) => step,
            Err(e) => Step::Done(Err(e)),
        }
    }

    fn first(
        &self,
        jws: CompactJws<'_>,
        source: &dyn KeySource,
        now: i64,
    ) -> Result<Step, AuthError> {
        let token = jws.token();
        let header = jws.check_header(&self.union)?;
        let single = match &*self.entries {
            [(_, claims)] => Some(claims),
            _ => None,
        };
        // One issuer: a `kid` that names no key of the token's algorithm in its current set,
        // while the source would not refetch, is refused before the payload is even decoded
        // (a forged-`kid` flood costs a header parse). With several issuers the payload's
        // `iss` picks the set first.
        let early = match (header.kid(), single.map(|c| c.issuers.as_slice())) {
            (Some(_), Some([iss])) => Some(self.early(&header, source.current(iss))?),
            _ => None,
        };
        let mut jws = header.decode()?;
        let first_mapping = &self.entries[0].1.mapping;
        let mut claims = Claims::from_json_with(jws.take_unverified_payload(), first_mapping)?;
        let policy = match single {
            Some(policy) => policy,
            None => {
                let (header, policy) = self.entry_of(&claims)?;
                jws.check_policy(header)?;
                if !policy.mapping.resolved(&claims) {
                    claims = claims.remapped(&policy.mapping)?;
                }
                policy
            }
        };
        let scopes = policy.check_scopes(&claims, now)?;
        // The claims check has made `iss` a configured issuer; with one issuer, the set
        // looked up for the `kid` above is that one's, so the source is asked once.
        let current = match early {
            Some(current) => current,
            None => source.current(claims.iss.as_deref().unwrap_or_default()),
        };
        match current {
            Current::Keys {
                keys,
                refetch_unknown_kid,
            } => {
                let unknown = jws.kid().is_some_and(|kid| !keys.contains_kid(kid));
                if !(unknown && refetch_unknown_kid) {
                    let key = jws.verify(&keys)?;
                    policy.check_verified(&claims, now)?;
                    let done = verified(token, claims, scopes, key.fingerprint());
                    return Ok(Step::Done(Ok(done)));
                }
            }
            Current::Load => {}
            Current::Failed(e) => return Err(key_error(e)),
        }
        let signature = jws.detach();
        Ok(Step::NeedKeys {
            issuer: claims.iss.clone().unwrap_or_default(),
            kid: signature.kid().map(str::to_owned),
            resume: Resume {
                token: AccessToken::new(token),
                signature,
                claims,
                scopes,
                checks: (!policy.checks.is_empty()).then(|| Box::new((policy.clone(), now))),
            },
        })
    }

    /// With several entries, the one of the payload's (unverified) `iss`.
    fn entry_of(&self, claims: &Claims) -> Result<&(HeaderPolicy, ClaimsPolicy), AuthError> {
        let iss = claims
            .iss
            .as_deref()
            .ok_or_else(|| AuthError::invalid_token("token has no issuer"))?;
        self.entries
            .iter()
            .find(|(_, c)| c.accepts_issuer(iss))
            .ok_or_else(|| AuthError::invalid_token("token issuer is not trusted"))
    }

    /// The early look at the one issuer's set for a token with a `kid`: refused now when no
    /// key could verify it and no refetch may bring one; otherwise what the source said.
    fn early(&self, header: &CheckedHeader<'_>, current: Current) -> Result<Current, AuthError> {
        match &current {
            Current::Keys {
                keys,
                refetch_unknown_kid,
            } => match header.select_key(keys) {
                Ok(_) => {}
                // Only an absent `kid` can be cured by a refetch.
                Err(_)
                    if *refetch_unknown_kid
                        && !header.kid().is_some_and(|k| keys.contains_kid(k)) => {}
                Err(e) => return Err(e),
            },
            Current::Load => {}
            Current::Failed(e) => return Err(key_error(e.clone())),
        }
        Ok(current)
    }
}

fn verified(token: &str, claims: Claims, scopes: ScopeSet, key: &[u8; 32]) -> Verified {
    let signature = token.rsplit('.').next().unwrap_or_default();
    Verified {
        claims,
        scopes,
        token_hash: TokenHash::of_signature(signature.as_bytes()),
        key: *key,
    }
}

/// A key source's failure as the client sees it: an untrusted issuer is the token's fault
/// (`invalid_token`); keys that cannot be had are 503 with `Retry-After` (the token may be
/// fine). Key sources log the reason where it happens.
pub fn key_error(e: KeyError) -> AuthError {
    match e {
        KeyError::UnknownIssuer => AuthError::invalid_token("token issuer is not trusted"),
        KeyError::Unavailable { retry_after, .. } => AuthError::key_source_unavailable(retry_after),
    }
}
