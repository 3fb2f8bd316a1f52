//! Helpers of the cache tests (`cache_*.rs`): one issuer with a configured `jwks_uri`, a
//! fake fetcher and a manual clock.

use super::FakeFetcher;
use mcp_auth_core::jwk::KeySet;
use mcp_auth_core::keys::KeySource;
use mcp_auth_jwks::{JwksKeySource, ManualClock};
use std::sync::Arc;
use std::time::Duration;

pub const ISS: &str = "https://as.example.com";
pub const JWKS: &str = "https://as.example.com/jwks";
pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(24 * 3600);

pub fn source(f: &Arc<FakeFetcher>, clock: &ManualClock) -> JwksKeySource {
    JwksKeySource::builder()
        .issuer_with_jwks_uri(ISS, JWKS)
        .fetcher(Arc::clone(f))
        .clock(clock.clone())
        .build()
        .unwrap()
}

pub fn setup(
    kids: &[&str],
    cache_control: Option<&str>,
) -> (Arc<FakeFetcher>, ManualClock, JwksKeySource) {
    let f = FakeFetcher::new();
    f.set_jwks(JWKS, kids, cache_control);
    let clock = ManualClock::new();
    let src = source(&f, &clock);
    (f, clock, src)
}

pub async fn keys(src: &JwksKeySource, kid: Option<&str>) -> Arc<KeySet> {
    src.keys(ISS, kid).await.unwrap()
}

/// Lets spawned refreshes finish: yields until `cond` holds on the current key set.
pub async fn until_keys(src: &JwksKeySource, cond: impl Fn(&KeySet) -> bool) {
    for _ in 0..10_000 {
        if cond(&src.keys(ISS, None).await.unwrap()) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("key set never satisfied the condition: {:?}", src.stats());
}

/// A small deterministic generator, so the forged kids are unpredictable-looking but the test
/// is reproducible.
pub fn forged_kids(seed: u64, n: usize) -> Vec<String> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("forged-{x:016x}-{i}")
        })
        .collect()
}

/// What the validation state machine takes from memory for a token of `issuer` with `kid`
/// (`KeySource::current`): `None` when it would await `keys` (nothing usable in memory, or
/// `kid` unknown while a refetch is allowed), else the set to judge with or the error.
#[allow(dead_code)] // not every cache_*.rs asks it
pub fn memory_of(
    src: &JwksKeySource,
    issuer: &str,
    kid: Option<&str>,
) -> Option<Result<Arc<KeySet>, mcp_auth_core::keys::KeyError>> {
    use mcp_auth_core::keys::Current;
    match src.current(issuer) {
        Current::Keys {
            keys,
            refetch_unknown_kid,
        } => {
            let unknown = kid.is_some_and(|k| !keys.contains_kid(k));
            (!(unknown && refetch_unknown_kid)).then_some(Ok(keys))
        }
        Current::Load => None,
        Current::Failed(e) => Some(Err(e)),
        _ => unreachable!("a Current this test does not know"),
    }
}

/// [`memory_of`] for [`ISS`].
#[allow(dead_code)]
pub fn memory(
    src: &JwksKeySource,
    kid: Option<&str>,
) -> Option<Result<Arc<KeySet>, mcp_auth_core::keys::KeyError>> {
    memory_of(src, ISS, kid)
}
