//! Which principal opened each `Mcp-Session-Id` (MCP 2025-06-18 and 2025-11-25 transports).
//!
//! The MCP security best practices say session ids MUST NOT be used for authentication and
//! SHOULD be bound to the user. A [`SessionStore`] records, from the response that assigns a
//! new session id, the principal (issuer, subject, client id) of the token that opened it;
//! later requests carrying that id are checked against the principal of their own token:
//!
//! - [`Binding::Bound`]: same principal, go on;
//! - [`Binding::OtherPrincipal`] and [`Binding::Unknown`]: the layer answers both with 404,
//!   as for a session the server does not know, so the answer reveals nothing;
//! - a binding that expired (idle timeout) or was evicted (capacity bound) reads as
//!   [`Binding::Unknown`], never as "unbound, so allowed";
//! - `DELETE` with the session id ends the binding ([`SessionStore::end`]).
//!
//! Session ids are kept as a keyed hash (HMAC-SHA256), not as text, so a memory dump or a
//! shared store does not hand out live session ids; principals as a keyed hash of their
//! verified issuer, subject and client id.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth::core::sealed::Principal;
//! use mcp_auth::session::{Binding, MemorySessionStore, SessionStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemorySessionStore::new(10_000, Duration::from_secs(30 * 60));
//! let alice = Principal::new("https://as.example", Some("alice"), Some("app"));
//! let bob = Principal::new("https://as.example", Some("bob"), Some("app"));
//! store.bind("3f2a9c", &alice).await.unwrap();
//! assert_eq!(store.check("3f2a9c", &alice).await.unwrap(), Binding::Bound);
//! assert_eq!(store.check("3f2a9c", &bob).await.unwrap(), Binding::OtherPrincipal);
//! store.end("3f2a9c").await.unwrap();
//! assert_eq!(store.check("3f2a9c", &alice).await.unwrap(), Binding::Unknown);
//! # }
//! ```

#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_SESSION_PREFIX, RedisSessionFuture, RedisSessionStore};

use aws_lc_rs::hmac;
use mcp_auth_core::sealed::Principal;
use moka::sync::Cache;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use zeroize::{Zeroize, Zeroizing};

/// How a session id relates to the principal of the request carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Binding {
    /// Opened by this principal.
    Bound,
    /// Never bound, ended, expired or evicted. Answer 404.
    Unknown,
    /// Opened by another principal. Answer 404, as for [`Unknown`](Self::Unknown).
    OtherPrincipal,
}

/// The store could not answer (unreachable, timed out). The layer answers 503.
#[derive(Debug, thiserror::Error)]
#[error("session store unavailable")]
pub struct SessionStoreError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SessionStoreError {
    /// An error caused by `source`.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
        }
    }
}

/// Where session bindings live: in memory ([`MemorySessionStore`]) or fleet-wide (Redis,
/// `RedisSessionStore` with the feature `redis`).
/// The futures own what they need (`'static`).
pub trait SessionStore: Send + Sync + 'static {
    /// The answer of each method.
    type Future<T: Send + 'static>: Future<Output = Result<T, SessionStoreError>> + Send + 'static;

    /// Records that `principal` opened `session_id`. If the id is already bound to another
    /// principal the binding is kept and [`Binding::OtherPrincipal`] returned; otherwise
    /// [`Binding::Bound`] (and a binding to the same principal is refreshed).
    fn bind(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding>;

    /// Whether `session_id` was opened by `principal`. A `Bound` answer counts as activity
    /// for the idle timeout.
    fn check(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding>;

    /// Forgets `session_id` (the client's `DELETE`, or the server ended it).
    fn end(&self, session_id: &str) -> Self::Future<()>;
}

/// The keyed hashes a store keeps instead of session ids and principals: HMAC-SHA256 under
/// a key of its own. A fleet store shares one secret across processes; the in-memory store
/// draws a random key.
pub struct SessionHasher {
    key: hmac::Key,
}

impl fmt::Debug for SessionHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionHasher([redacted])")
    }
}

/// A secret shorter than 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the session secret has {len} bytes, at least 32 are needed")]
pub struct WeakSessionSecret {
    len: usize,
}

impl SessionHasher {
    /// A hasher keyed from `secret` (at least 32 bytes), zeroized when this returns.
    pub fn new(secret: impl Into<Zeroizing<Vec<u8>>>) -> Result<Self, WeakSessionSecret> {
        let secret: Zeroizing<Vec<u8>> = secret.into();
        if secret.len() < 32 {
            return Err(WeakSessionSecret { len: secret.len() });
        }
        // A label, so the same secret used for sealed handles gives another key.
        let mut derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            b"mcp-auth session binding v1",
        )
        .as_ref()
        .to_vec();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &derived);
        derived.zeroize();
        Ok(Self { key })
    }

    /// A hasher with a random key, for one process.
    pub fn random() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // aws-lc's generator fails only if the OS has no entropy source at all.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &entropy_fallback()));
        Self { key }
    }

    /// The keyed hash of a session id.
    pub fn session_id(&self, session_id: &str) -> [u8; 32] {
        self.mac(b's', session_id.as_bytes())
    }

    /// The keyed hash of a principal.
    pub fn principal(&self, principal: &Principal<'_>) -> [u8; 32] {
        let mut buf = Vec::with_capacity(96);
        principal.write_canonical(&mut buf);
        self.mac(b'p', &buf)
    }

    fn mac(&self, tag: u8, data: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&[tag]);
        ctx.update(data);
        let mut out = [0; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

/// Key material if aws-lc's generator fails: std's `RandomState` keys, which come from the
/// OS random source by another path (getrandom, then `/dev/urandom`).
fn entropy_fallback() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut out = Vec::with_capacity(32);
    for i in 0..4u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    out
}

/// The future of [`MemorySessionStore`]: already resolved.
pub type MemorySessionFuture<T> = std::future::Ready<Result<T, SessionStoreError>>;

/// Session bindings in this process: a moka cache of at most `max_sessions` bindings, each
/// dropped after `idle` without a request ([`SessionStore::check`] answering `Bound`, or a
/// re-bind). For one process only; a fleet behind a load balancer needs a shared store.
pub struct MemorySessionStore {
    bindings: Cache<[u8; 32], [u8; 32]>,
    hasher: SessionHasher,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &self.bindings.entry_count())
            .field("max_sessions", &self.bindings.policy().max_capacity())
            .field("idle", &self.bindings.policy().time_to_idle())
            .finish_non_exhaustive()
    }
}

impl MemorySessionStore {
    /// At most `max_sessions` bindings (at least 1), each expiring after `idle` unused.
    pub fn new(max_sessions: u64, idle: Duration) -> Self {
        Self {
            bindings: Cache::builder()
                .max_capacity(max_sessions.max(1))
                .time_to_idle(idle)
                .build(),
            hasher: SessionHasher::random(),
        }
    }

    /// The bindings held now, after moka's pending evictions ran.
    pub fn len(&self) -> u64 {
        self.bindings.run_pending_tasks();
        self.bindings.entry_count()
    }

    /// Whether no binding is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bind_now(&self, session_id: &str, principal: &Principal<'_>) -> Binding {
        let id = self.hasher.session_id(session_id);
        let who = self.hasher.principal(principal);
        // Atomic per key: of two concurrent binds, one wins and the other sees it.
        let entry = self.bindings.entry(id).or_insert(who);
        if entry.into_value() == who {
            Binding::Bound
        } else {
            Binding::OtherPrincipal
        }
    }

    fn check_now(&self, session_id: &str, principal: &Principal<'_>) -> Binding {
        let id = self.hasher.session_id(session_id);
        match self.bindings.get(&id) {
            None => Binding::Unknown,
            Some(who) if who == self.hasher.principal(principal) => Binding::Bound,
            Some(_) => Binding::OtherPrincipal,
        }
    }
}

impl SessionStore for MemorySessionStore {
    type Future<T: Send + 'static> = MemorySessionFuture<T>;

    fn bind(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding> {
        std::future::ready(Ok(self.bind_now(session_id, principal)))
    }

    fn check(&self, session_id: &str, principal: &Principal<'_>) -> Self::Future<Binding> {
        std::future::ready(Ok(self.check_now(session_id, principal)))
    }

    fn end(&self, session_id: &str) -> Self::Future<()> {
        self.bindings
            .invalidate(&self.hasher.session_id(session_id));
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Principal<'static> = Principal::new("https://as", Some("alice"), Some("app"));

    fn p(sub: &str) -> Principal<'_> {
        Principal::new("https://as", Some(sub), Some("app"))
    }

    fn store() -> MemorySessionStore {
        MemorySessionStore::new(1_000, Duration::from_secs(60))
    }

    fn check(s: &MemorySessionStore, id: &str, who: &Principal<'_>) -> Binding {
        s.check(id, who).into_inner().unwrap()
    }

    #[test]
    fn bind_then_check_then_end() {
        let s = store();
        assert_eq!(check(&s, "s1", &ALICE), Binding::Unknown);
        assert_eq!(s.bind("s1", &ALICE).into_inner().unwrap(), Binding::Bound);
        assert_eq!(check(&s, "s1", &ALICE), Binding::Bound);
        assert_eq!(check(&s, "s2", &ALICE), Binding::Unknown);
        s.end("s1").into_inner().unwrap();
        assert_eq!(check(&s, "s1", &ALICE), Binding::Unknown);
        s.end("never-bound").into_inner().unwrap();
    }

    #[test]
    fn another_principal_is_told_apart_and_cannot_rebind() {
        let s = store();
        s.bind("s1", &ALICE).into_inner().unwrap();
        for other in [
            p("bob"),
            Principal::new("https://as", Some("alice"), Some("other-app")),
            Principal::new("https://other-as", Some("alice"), Some("app")),
            Principal::new("https://as", Some("alice"), None),
        ] {
            assert_eq!(
                check(&s, "s1", &other),
                Binding::OtherPrincipal,
                "{other:?}"
            );
            assert_eq!(
                s.bind("s1", &other).into_inner().unwrap(),
                Binding::OtherPrincipal
            );
        }
        // The first binding stands.
        assert_eq!(check(&s, "s1", &ALICE), Binding::Bound);
        assert_eq!(s.bind("s1", &ALICE).into_inner().unwrap(), Binding::Bound);
    }

    #[test]
    fn idle_bindings_expire_to_unknown() {
        let s = MemorySessionStore::new(100, Duration::from_millis(400));
        s.bind("busy", &ALICE).into_inner().unwrap();
        s.bind("idle", &ALICE).into_inner().unwrap();
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(150));
            assert_eq!(
                check(&s, "busy", &ALICE),
                Binding::Bound,
                "use keeps it alive"
            );
        }
        assert_eq!(check(&s, "idle", &ALICE), Binding::Unknown, "600 ms idle");
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(check(&s, "busy", &ALICE), Binding::Unknown);
    }

    #[test]
    fn capacity_is_bounded_and_evicted_bindings_read_unknown() {
        let s = MemorySessionStore::new(100, Duration::from_secs(60));
        for i in 0..1_000 {
            s.bind(&format!("s{i}"), &ALICE).into_inner().unwrap();
        }
        assert!(s.len() <= 100, "{} bindings", s.len());
        let known = (0..1_000)
            .filter(|i| check(&s, &format!("s{i}"), &ALICE) == Binding::Bound)
            .count();
        assert!(known <= 100, "{known} still bound");
        assert!(known > 0, "the store keeps some");
    }

    #[test]
    fn ids_are_stored_hashed_and_keyed() {
        let a = SessionHasher::random();
        let b = SessionHasher::random();
        assert_ne!(a.session_id("s1"), b.session_id("s1"), "per-process key");
        assert_ne!(a.session_id("s1"), a.session_id("s2"));
        let fixed = |s: &str| SessionHasher::new(vec![3u8; 32]).unwrap().session_id(s);
        assert_eq!(
            fixed("s1"),
            fixed("s1"),
            "a shared secret gives one hash per id"
        );
        assert!(SessionHasher::new(vec![3u8; 31]).is_err());
        // The principal hash separates parts.
        assert_ne!(
            a.principal(&Principal::new("i", Some("ab"), Some("c"))),
            a.principal(&Principal::new("i", Some("a"), Some("bc")))
        );
        let s = store();
        s.bind("secret-session-id", &ALICE).into_inner().unwrap();
        let dbg = format!("{s:?} {:?}", s.hasher);
        assert!(!dbg.contains("secret-session-id"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }
}
