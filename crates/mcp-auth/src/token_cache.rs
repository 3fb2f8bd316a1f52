//! The verified-token cache: its own component, wrapped around validation by the layer (on
//! by default for JWTs, [`McpAuthBuilder::token_cache`](crate::McpAuthBuilder::token_cache)).
//! A token accepted before is answered from here without running the validator again.
//!
//! # Why a hit is safe
//!
//! - A hit requires every byte of the token to be equal to the accepted one (the map finds
//!   the entry by a hash, then the whole token is compared byte for byte), so only the very
//!   same token can hit, whatever the hash does.
//! - Every hit re-checks the token's time claims against the layer's clock (`exp`, `nbf`,
//!   `iat`) and the claim checks that read the clock ([`ClaimsPolicy::recheck`]): the rest
//!   of the claims policy (`iss`, `aud`, the claim checks that do not read the clock,
//!   RFC 9068 claims, scopes, ...) depends only on the byte-identical token and on a policy
//!   that cannot change, so it was settled when the entry was made; an entry is evicted no
//!   later than the token's `exp`.
//! - Every hit of a JWT asks the key source's memory ([`KeySource::current`]) whether the
//!   key that verified the token (by fingerprint) is still in the issuer's current set:
//!   once a rotation or a compromise removes it, the very next request verifies the token
//!   again and refuses it. A source that stops using a key set (the JWKS source past its
//!   maximum staleness) answers with its error (503 `Retry-After`) or asks for a load, which
//!   the layer awaits before the hit is confirmed.
//! - The header (algorithm, `typ`, `crit`) is part of the compared bytes and was checked when
//!   the entry was made.
//! - An entry remembers the scheme it was verified on (`Bearer`, or `DPoP` on a layer with
//!   DPoP on) and answers only for that scheme: a token verified on a DPoP request is never
//!   answered from here when presented as `Bearer`. A hit for a `DPoP` request only stands
//!   for the token: its proof is checked on every request, hit or not.
//! - For a custom validator ([`ValidateToken`](crate::ValidateToken)) the cache is off unless
//!   asked for; then a hit re-checks the time claims only, so enable it only for a validator
//!   whose answer depends on the token's bytes alone.
//!
//! What it cannot do is notice revocation, which a self-contained JWT never allows anyway.
//!
//! # Keeping it cheap
//!
//! - **moka**, bounded, each entry evicted at its token's `exp`.
//! - **Keys** are a seeded 64-bit hash of the length and the last 32 bytes of the token
//!   (signature bytes, in a compact JWS of any allowed algorithm); the entry holds the whole
//!   token, and a hit requires it to equal the presented one byte for byte, so a collision can
//!   only make a token miss. Not the token itself: moka's table rehashes its keys as
//!   entries come and go, and with every token new, rehashing hundred-byte string keys cost
//!   more than the signature checks the cache saved. The tail of a signature is as
//!   unpredictable as all of it, and hashing 32 bytes instead of ~760 is a fixed cost
//!   (foldhash, hashbrown's default hasher). Only someone who already holds a cached token
//!   can make other strings collide with it, and that only sends their own requests through
//!   one more failed compare.
//! - **Admission on second use**: a verified token is inserted only when its key was seen
//!   verified before, remembered in a fixed array of the last key per slot (a "doorkeeper").
//!   A token used once costs no insert, no eviction and no table churn; a token in use costs
//!   one extra signature check, at its second request.
//! - **A presence filter** in front of moka: a counting Bloom filter (two 8-bit counters per
//!   key) incremented before each insert and decremented by moka's eviction listener. A token
//!   the filter has never seen (every forged or new token) skips the moka lookup, whose
//!   bookkeeping (epoch pin, read-op recording for TinyLFU) was the largest cost of refusing a
//!   forged `kid`. The filter can only err towards "maybe present": counters saturate and
//!   then stay (never decremented), a missed decrement leaves a counter high, and a decrement
//!   always follows its increment (the increment happens before the insert). A wrong "absent"
//!   could only cost a signature check, never accept anything.
//! - **Hot slots** between the filter and moka: a small direct-mapped array (slot = low bits
//!   of the key) holding the entry last found in moka for that slot. A token in use is found
//!   there with one atomic load and the byte compare, without moka's per-read bookkeeping
//!   (epoch pin, read-op recording, the clock read of its expiry check), which was the
//!   largest part of a repeated token's cost. One slot hit in 32 (per thread)
//!   still reads the entry through moka, so its eviction policy keeps seeing the token as
//!   used and does not evict it as idle. A slot holds only entries moka held, is cleared when moka drops
//!   its entry (eviction listener) or when the validator drops a hit, and at most one entry
//!   per slot lives on after moka dropped it (a race with the listener, or moka evicting a
//!   token that is only read through its slot): bounded, and harmless, since every hit
//!   re-checks the time claims and the verifying key whatever answered it (and the presence
//!   filter, asked first, no longer lets such a slot answer once moka's listener ran).

use crate::context::AuthContext;
use arc_swap::ArcSwapOption;
use mcp_auth_core::AuthError;
use mcp_auth_core::claims::ClaimsPolicy;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::keys::{Current, KeyError, KeySource};
use mcp_auth_core::validation::key_error;
use moka::Expiry;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An accepted token, as cached under the hash of its end.
pub(crate) struct Entry {
    /// The whole token, compared byte for byte on a hit.
    pub(crate) token: Box<str>,
    pub(crate) ctx: AuthContext,
    /// Fingerprint of the key that verified it (JWTs); `None` for a custom validator's.
    pub(crate) key: Option<[u8; 32]>,
    /// Until when the entry may answer: the token's `exp` (JWTs, custom validators), or for
    /// an introspection answer the instant its reuse ends (`checked_at + cache_for`, at most
    /// the configured maximum: the revocation delay), after which it is asked again.
    pub(crate) exp: i64,
    /// Admitted on an RFC 7662 introspection answer: re-checked under RFC 7662's rules
    /// (`exp` optional), and never past [`exp`](Self::exp).
    pub(crate) introspected: bool,
    /// Whether the token's scopes satisfy the layer's route requirement: a function of the
    /// byte-identical token and the layer's fixed policy, so computed once, at admission.
    pub(crate) grants_route: bool,
    /// Which of the cache's claims policies (one per trusted issuer entry) admitted it: the
    /// one whose timed part every hit re-checks.
    pub(crate) policy: usize,
    /// Verified on a `DPoP` request: answers only `DPoP` requests (and `Bearer` ones only
    /// entries verified on `Bearer`).
    pub(crate) dpop: bool,
}

/// What a hit comes to, once re-checked.
pub(crate) enum Hit {
    /// Still good: the context to answer with, and whether its scopes satisfy the layer's
    /// route requirement ([`Entry::grants_route`]).
    Valid(AuthContext, bool),
    /// Refused now (expired, or the key source's error).
    Refused(AuthError),
    /// The key source must load before the verifying key can be confirmed: await
    /// `KeySource::keys(issuer, None)`, then [`TokenCache::confirm`].
    NeedKeys(Arc<Entry>),
}

type Hasher = foldhash::fast::RandomState;

pub(crate) struct TokenCache {
    /// The claims policies of the trusted issuer entries (one per entry, in order): a hit
    /// re-checks the timed part ([`ClaimsPolicy::recheck`]) of the one that admitted it.
    claims: Box<[ClaimsPolicy]>,
    map: Cache<u64, Arc<Entry>, Hasher>,
    seed: Hasher,
    seen: Box<[AtomicU64]>,
    present: Arc<Presence>,
    hot: Arc<Hot>,
}

/// Most hot slots, whatever the capacity: a few hundred tokens in use at once cover a
/// server's active clients, and a slot is one pointer.
const MAX_HOT_SLOTS: u64 = 256;

/// Bytes of the token's end that make the key.
const KEY_TAIL: usize = 32;

impl TokenCache {
    /// A cache of `capacity` entries for tokens judged by `claims` (one policy per trusted
    /// issuer entry; at least one).
    pub(crate) fn new(capacity: u64, claims: Vec<ClaimsPolicy>) -> Self {
        // About two doorkeeper slots per entry, so a working set that fits is admitted.
        let doorkeeper = slots(capacity, 2);
        let present = Arc::new(Presence::new(slots(capacity, 8)));
        let hot = Arc::new(Hot::new(capacity.clamp(1, MAX_HOT_SLOTS)));
        let (listener, hot_listener) = (Arc::clone(&present), Arc::clone(&hot));
        Self {
            claims: claims.into(),
            map: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .eviction_listener(move |key: Arc<u64>, value, _: RemovalCause| {
                    hot_listener.forget(*key, &value);
                    listener.remove(*key);
                })
                .build_with_hasher(Hasher::default()),
            seed: Hasher::default(),
            seen: (0..doorkeeper).map(|_| AtomicU64::new(0)).collect(),
            present,
            hot,
        }
    }

    /// A token in use, before its syntax is checked: answered only from the presence filter
    /// and its hot slot (no moka read, so junk changes nothing), and only when the re-checks
    /// can be made from memory; `None` leaves the token to the checked path.
    pub(crate) fn recall(
        &self,
        token: &[u8],
        keys: Option<&dyn KeySource>,
        now: i64,
    ) -> Option<Hit> {
        let key = self.key(token);
        if !self.present.may_contain(key) {
            return None;
        }
        match self.lend_slot(key, token, false, |entry| self.judge(key, entry, keys, now))? {
            Some(Hit::NeedKeys(_)) | None => None,
            hit => hit,
        }
    }

    /// The entry of `token` (a checked token) verified on the same scheme (`dpop`),
    /// re-checked: `None` when there is none, or when its key left the issuer's set (the
    /// entry is then dropped).
    pub(crate) fn lookup(
        &self,
        token: &[u8],
        keys: Option<&dyn KeySource>,
        now: i64,
        dpop: bool,
    ) -> Option<Hit> {
        let key = self.key(token);
        let entry = self.get_as(key, token, dpop)?;
        self.judge(key, &entry, keys, now)
    }

    /// The re-checks of a hit: time claims, then the verifying key in the issuer's current
    /// set (from memory).
    fn judge(
        &self,
        key: u64,
        entry: &Arc<Entry>,
        keys: Option<&dyn KeySource>,
        now: i64,
    ) -> Option<Hit> {
        let Some(policy) = self.claims.get(entry.policy) else {
            return Some(Hit::Refused(AuthError::invalid_token(
                "token issuer is not trusted",
            )));
        };
        let recheck = if entry.introspected {
            // The answer's reuse is over: dropped, and the token is introspected again.
            if now >= entry.exp {
                self.remove(key, entry);
                return None;
            }
            policy.recheck_introspected(entry.ctx.claims(), now)
        } else {
            policy.recheck(entry.ctx.claims(), now)
        };
        if let Err(e) = recheck {
            return Some(Hit::Refused(e));
        }
        let (Some(fingerprint), Some(keys)) = (&entry.key, keys) else {
            return Some(Hit::Valid(entry.ctx.clone(), entry.grants_route));
        };
        match keys.current(entry.ctx.issuer()) {
            Current::Keys { keys, .. } => self.still_valid(key, entry, fingerprint, &keys),
            Current::Failed(e) => Some(Hit::Refused(key_error(e))),
            _ => Some(Hit::NeedKeys(Arc::clone(entry))),
        }
    }

    /// A [`Hit::NeedKeys`] once the key source answered: `None` when the key left the set
    /// (the entry is dropped and the token must be validated again).
    pub(crate) fn confirm(
        &self,
        entry: &Arc<Entry>,
        answer: Result<Arc<KeySet>, KeyError>,
    ) -> Option<Hit> {
        let keys = match answer {
            Ok(keys) => keys,
            Err(e) => return Some(Hit::Refused(key_error(e))),
        };
        let fingerprint = entry.key.as_ref()?;
        self.still_valid(self.key(entry.token.as_bytes()), entry, fingerprint, &keys)
    }

    fn still_valid(
        &self,
        key: u64,
        entry: &Arc<Entry>,
        fingerprint: &[u8; 32],
        keys: &KeySet,
    ) -> Option<Hit> {
        if keys.contains_fingerprint(fingerprint) {
            return Some(Hit::Valid(entry.ctx.clone(), entry.grants_route));
        }
        self.remove(key, entry);
        None
    }

    /// Offers a token just accepted on a `Bearer` (`dpop` false) or `DPoP` request
    /// (admitted on its second use, see the module docs); `grants_route` is asked only when
    /// it is admitted.
    pub(crate) fn admit(
        &self,
        token: &str,
        ctx: &AuthContext,
        verified_by: Option<[u8; 32]>,
        dpop: bool,
        grants_route: impl FnOnce(&AuthContext) -> bool,
    ) {
        self.offer(self.key(token.as_bytes()), || Entry {
            token: token.into(),
            ctx: ctx.clone(),
            key: verified_by,
            exp: ctx.claims().exp.unwrap_or_default(),
            introspected: false,
            grants_route: grants_route(ctx),
            policy: self.policy_of(ctx.issuer()),
            dpop,
        });
    }

    /// Offers a token an introspection answer accepted, reusable until `until` (seconds
    /// since the epoch; see [`Entry::exp`]), on a `Bearer` (`dpop` false) or `DPoP` request.
    pub(crate) fn admit_introspected(
        &self,
        token: &str,
        ctx: &AuthContext,
        until: i64,
        dpop: bool,
        grants_route: impl FnOnce(&AuthContext) -> bool,
    ) {
        self.offer(self.key(token.as_bytes()), || Entry {
            token: token.into(),
            ctx: ctx.clone(),
            key: None,
            exp: until,
            introspected: true,
            grants_route: grants_route(ctx),
            policy: self.policy_of(ctx.issuer()),
            dpop,
        });
    }

    /// The position of the claims policy that trusts `issuer`: the first with one entry (a
    /// custom validator may accept issuers of its own; its time rules are the layer's).
    fn policy_of(&self, issuer: &str) -> usize {
        match &*self.claims {
            [_] => 0,
            many => many
                .iter()
                .position(|c| c.accepts_issuer(issuer))
                .unwrap_or_default(),
        }
    }

    /// The key of `token`: its length and its last [`KEY_TAIL`] bytes (which, in a compact
    /// JWS of any allowed algorithm, are signature bytes).
    pub(crate) fn key(&self, token: &[u8]) -> u64 {
        self.seed
            .hash_one((token.len(), &token[token.len().saturating_sub(KEY_TAIL)..]))
    }

    /// The `Bearer` entry of `key` if it holds exactly `token` ([`get_as`](Self::get_as)).
    #[cfg(test)]
    pub(crate) fn get(&self, key: u64, token: &[u8]) -> Option<Arc<Entry>> {
        self.get_as(key, token, false)
    }

    /// The entry of `key` if it holds exactly `token`, verified on the same scheme (`dpop`):
    /// behind the presence filter, from its hot slot, else from moka, which then fills the
    /// slot.
    pub(crate) fn get_as(&self, key: u64, token: &[u8], dpop: bool) -> Option<Arc<Entry>> {
        // An entry in a slot is (but for the race described above) also in the filter.
        if !self.present.may_contain(key) {
            return None;
        }
        if let Some(hit) = self.lend_slot(key, token, dpop, Arc::clone) {
            return Some(hit);
        }
        let hit = self
            .map
            .get(&key)
            .filter(|hit| hit.token.as_bytes() == token && hit.dpop == dpop)?;
        self.hot.slot(key).store(Some(Arc::clone(&hit)));
        Some(hit)
    }

    /// `answer` applied to the entry in the slot of `key` if it holds exactly `token`. One
    /// slot hit in [`TOUCH_EVERY`] (per thread) also reads the entry through moka.
    fn lend_slot<R>(
        &self,
        key: u64,
        token: &[u8],
        dpop: bool,
        answer: impl FnOnce(&Arc<Entry>) -> R,
    ) -> Option<R> {
        let slot = self.hot.slot(key).load();
        let hit = slot
            .as_ref()
            .filter(|hit| hit.token.as_bytes() == token && hit.dpop == dpop)?;
        if touch_now() {
            let _ = self.map.get(&key);
        }
        Some(answer(hit))
    }

    /// Drops `entry`, found under `key`: from its hot slot and from moka.
    pub(crate) fn remove(&self, key: u64, entry: &Arc<Entry>) {
        self.hot.forget(key, entry);
        self.map.invalidate(&key);
    }

    /// Offers a token just verified: cached if it was verified before (admission on second
    /// use). `make` builds the entry only when it is admitted.
    pub(crate) fn offer(&self, key: u64, make: impl FnOnce() -> Entry) {
        let mask = self.seen.len() - 1;
        let slot = &self.seen[usize::try_from(key).unwrap_or_default() & mask];
        if slot.swap(key, Ordering::Relaxed) != key {
            return;
        }
        // Before the insert, so the listener's decrement for this entry always comes after.
        self.present.add(key);
        self.map.insert(key, Arc::new(make()));
    }

    /// Entries (after pending evictions are applied).
    pub(crate) fn len(&self) -> u64 {
        self.map.run_pending_tasks();
        self.map.entry_count()
    }

    pub(crate) fn capacity(&self) -> Option<u64> {
        self.map.policy().max_capacity()
    }
}

/// `per_entry` slots per entry of `capacity`, a power of two in 1,024..=2^22.
fn slots(capacity: u64, per_entry: u64) -> usize {
    usize::try_from(capacity.saturating_mul(per_entry))
        .unwrap_or(usize::MAX)
        .clamp(1024, 1 << 22)
        .next_power_of_two()
}

/// One hot-slot hit in this many (per thread) also reads the entry through moka.
const TOUCH_EVERY: u32 = 32;

/// Whether this hot-slot hit is the one in [`TOUCH_EVERY`] of this thread. A thread-local
/// count: no cache line shared between cores.
fn touch_now() -> bool {
    thread_local! {
        static HITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    HITS.with(|h| {
        let n = h.get().wrapping_add(1);
        h.set(n);
        n % TOUCH_EVERY == 0
    })
}

/// The hot slots: the entry last found in moka, per slot.
struct Hot {
    slots: Box<[ArcSwapOption<Entry>]>,
}

impl Hot {
    fn new(len: u64) -> Self {
        let len = usize::try_from(len).unwrap_or(1).next_power_of_two();
        Self {
            slots: (0..len).map(|_| ArcSwapOption::empty()).collect(),
        }
    }

    fn slot(&self, key: u64) -> &ArcSwapOption<Entry> {
        let mask = self.slots.len() - 1;
        &self.slots[usize::try_from(key).unwrap_or_default() & mask]
    }

    /// Empties the slot of `key` if it holds `entry` (and nothing else).
    fn forget(&self, key: u64, entry: &Arc<Entry>) {
        let _ = self.slot(key).compare_and_swap(entry, None);
    }
}

/// A counting Bloom filter over cache keys: two saturating 8-bit counters per key.
struct Presence {
    counters: Box<[AtomicU8]>,
}

impl Presence {
    fn new(len: usize) -> Self {
        Self {
            counters: (0..len).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// Two counter positions from the two halves of the (already seeded, uniform) key.
    fn positions(&self, key: u64) -> [usize; 2] {
        let mask = self.counters.len() - 1;
        let (lo, hi) = (key as u32, (key >> 32) as u32);
        [lo as usize & mask, hi as usize & mask]
    }

    fn may_contain(&self, key: u64) -> bool {
        self.positions(key)
            .iter()
            .all(|&i| self.counters[i].load(Ordering::Relaxed) > 0)
    }

    fn add(&self, key: u64) {
        for i in self.positions(key) {
            // Saturates at u8::MAX, and a saturated counter is never decremented again.
            let _ = self.counters[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < u8::MAX).then(|| c + 1)
            });
        }
    }

    fn remove(&self, key: u64) {
        for i in self.positions(key) {
            let _ = self.counters[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c > 0 && c < u8::MAX).then(|| c - 1)
            });
        }
    }
}

/// Evicts a cached token at its `exp`.
struct UntilExpiry;

impl Expiry<u64, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &u64,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let left = u64::try_from(value.exp).unwrap_or(0).saturating_sub(now);
        Some(Duration::from_secs(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::TokenHash;
    use mcp_auth_core::claims::Claims;
    use mcp_auth_core::scope::ScopeSet;

    fn entry(token: &str) -> Entry {
        Entry {
            token: token.into(),
            ctx: AuthContext::new(Claims::default(), ScopeSet::new(), TokenHash::of(b"t")),
            key: Some([0; 32]),
            exp: i64::MAX / 2,
            introspected: false,
            grants_route: false,
            policy: 0,
            dpop: false,
        }
    }

    fn cache(capacity: u64) -> TokenCache {
        let resource =
            mcp_auth_core::resource::ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
        TokenCache::new(
            capacity,
            vec![ClaimsPolicy::new(resource, "https://auth.example.com")],
        )
    }

    /// Every entry moka holds is always reported as maybe present, through admissions,
    /// replacements, capacity evictions and explicit removals.
    #[test]
    fn the_filter_never_hides_an_entry() {
        let cache = cache(64);
        let tokens: Vec<String> = (0..2000).map(|i| format!("token-{i}")).collect();
        for round in 0..3 {
            for (i, t) in tokens.iter().enumerate() {
                let key = cache.key(t.as_bytes());
                cache.offer(key, || entry(t));
                cache.offer(key, || entry(t)); // admitted (and replaced from round 1 on)
                if i % 7 == round
                    && let Some(hit) = cache.get(key, t.as_bytes())
                {
                    cache.remove(key, &hit);
                    assert!(cache.get(key, t.as_bytes()).is_none(), "removed, yet found");
                }
                if i % 97 == 0 {
                    cache.len(); // apply pending evictions: the listener runs
                    for (k, v) in &cache.map {
                        assert!(cache.present.may_contain(*k), "entry of {} hidden", v.token);
                        assert!(cache.get(*k, v.token.as_bytes()).is_some());
                    }
                }
            }
        }
        assert!(cache.len() <= 64);
    }

    /// Tokens never admitted are (almost always) answered without a moka lookup, and a hit
    /// needs the very same token.
    #[test]
    fn unknown_tokens_are_filtered_and_hits_need_equal_tokens() {
        let cache = cache(1000);
        for i in 0..1000 {
            let t = format!("cached-{i}");
            let key = cache.key(t.as_bytes());
            cache.offer(key, || entry(&t));
            cache.offer(key, || entry(&t));
        }
        let passed = (0..10_000)
            .filter(|i| {
                cache
                    .present
                    .may_contain(cache.key(format!("forged-{i}").as_bytes()))
            })
            .count();
        // Two counters per key over 8 slots per entry: ~5% false positives expected.
        assert!(
            passed < 1000,
            "{passed} of 10,000 unknown keys passed the filter"
        );
        let key = cache.key(b"cached-1");
        assert!(cache.get(key, b"cached-1").is_some());
        assert!(cache.get(key, b"cached-1x").is_none());
    }

    /// An entry verified on a `DPoP` request answers only `DPoP` lookups, from moka and
    /// from its hot slot alike, and a `Bearer` entry only `Bearer` ones.
    #[test]
    fn an_entry_answers_only_its_scheme() {
        let cache = cache(1000);
        let dpop_entry = |t: &str| Entry {
            dpop: true,
            ..entry(t)
        };
        let key = cache.key(b"bound");
        cache.offer(key, || dpop_entry("bound"));
        cache.offer(key, || dpop_entry("bound"));
        assert!(cache.get_as(key, b"bound", false).is_none(), "moka");
        assert!(cache.get_as(key, b"bound", true).is_some(), "moka");
        // Now in its hot slot too.
        assert!(cache.get_as(key, b"bound", false).is_none(), "hot slot");
        assert!(cache.get_as(key, b"bound", true).is_some(), "hot slot");
        assert!(
            cache.recall(b"bound", None, 0).is_none(),
            "recall is Bearer only"
        );
        let key = cache.key(b"plain");
        cache.offer(key, || entry("plain"));
        cache.offer(key, || entry("plain"));
        assert!(cache.get_as(key, b"plain", true).is_none());
        assert!(cache.get_as(key, b"plain", false).is_some());
        assert!(cache.lookup(b"plain", None, 0, true).is_none());
        assert!(cache.lookup(b"plain", None, 0, false).is_some());
    }

    /// A token found in moka fills its hot slot and is then answered from it; whatever
    /// drops the moka entry (eviction, expiry, invalidation: the listener) or the validator's
    /// removal empties the slot, and a slot never answers for another token.
    #[test]
    fn hot_slots_follow_moka() {
        let cache = cache(1000);
        let admitted = |t: &str| {
            let key = cache.key(t.as_bytes());
            cache.offer(key, || entry(t));
            cache.offer(key, || entry(t));
            key
        };
        let slot_holds = |key: u64, t: &str| {
            cache
                .hot
                .slot(key)
                .load()
                .as_ref()
                .is_some_and(|e| *e.token == *t)
        };
        let a = admitted("hot-a");
        assert!(!slot_holds(a, "hot-a"), "filled only by a lookup");
        let hit = cache.get(a, b"hot-a").expect("in moka");
        assert!(slot_holds(a, "hot-a"));
        assert!(Arc::ptr_eq(&cache.get(a, b"hot-a").unwrap(), &hit));
        assert!(
            cache.get(a, b"hot-b").is_none(),
            "a slot needs the very same token"
        );
        // The race the module docs describe, forced: moka dropped the entry (the listener
        // ran), then the slot was filled. The filter, asked first, no longer lets it answer.
        cache.map.invalidate(&a);
        cache.map.run_pending_tasks();
        cache.hot.slot(a).store(Some(Arc::clone(&hit)));
        assert!(cache.get(a, b"hot-a").is_none());

        // moka drops the entry: the listener empties the slot.
        let b = admitted("hot-b");
        cache.get(b, b"hot-b").expect("in moka");
        assert!(slot_holds(b, "hot-b"));
        cache.map.invalidate(&b);
        cache.map.run_pending_tasks();
        assert!(!slot_holds(b, "hot-b"), "listener left the slot filled");
        assert!(cache.get(b, b"hot-b").is_none());

        // The validator drops a hit whose key is gone.
        let c = admitted("hot-c");
        let hit = cache.get(c, b"hot-c").expect("in moka");
        cache.remove(c, &hit);
        assert!(!slot_holds(c, "hot-c"));
        assert!(cache.get(c, b"hot-c").is_none());

        // A slot holding another token is left alone by a removal.
        let other = entry("other");
        let other = Arc::new(other);
        cache.hot.slot(c).store(Some(Arc::clone(&other)));
        cache.remove(c, &hit);
        assert!(
            cache
                .hot
                .slot(c)
                .load()
                .as_ref()
                .is_some_and(|e| Arc::ptr_eq(e, &other))
        );
    }

    /// A token read only through its hot slot is still seen as used by moka's eviction
    /// policy: a stream of other admitted tokens, many times the capacity, does not evict it.
    #[test]
    fn a_hot_token_is_not_evicted_as_idle() {
        let cache = cache(100);
        let hot = cache.key(b"hot");
        cache.offer(hot, || entry("hot"));
        cache.offer(hot, || entry("hot"));
        for i in 0..5_000 {
            let t = format!("passing-{i}");
            let key = cache.key(t.as_bytes());
            cache.offer(key, || entry(&t));
            cache.offer(key, || entry(&t));
            // Read twice through moka: frequency enough to displace an idle entry.
            let _ = (cache.map.get(&key), cache.map.get(&key));
            for _ in 0..4 {
                assert!(cache.get(hot, b"hot").is_some(), "hot token lost after {i}");
            }
        }
        cache.map.run_pending_tasks();
        assert!(cache.map.contains_key(&hot));
    }

    #[test]
    fn a_token_used_once_is_not_cached() {
        let cache = cache(100);
        for i in 0..500 {
            let t = format!("once-{i}");
            cache.offer(cache.key(t.as_bytes()), || entry(&t));
        }
        assert_eq!(cache.len(), 0);
    }
}
