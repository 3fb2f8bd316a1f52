//! The maximum staleness of a key set: how long the last good keys of an issuer may still be
//! used when they cannot be revalidated.
//!
//! A set is usable until `max_staleness` after the fetch that loaded it (`Cached::usable_until`).
//! Until then it is served as before, fresh or stale (never reject a valid token within the
//! window). From then on [`Inner::keys`] answers only with a newly loaded set: it waits for
//! the load in flight (or starts one), and answers [`KeyError::Unavailable`] (503 with
//! `Retry-After`) when that load fails or the last one failed less than the back-off ago.
//!
use super::jwks::{Cached, Jwks};
use super::{Inner, bump};
use crate::rules::retry_after_secs;
use mcp_auth_core::keys::KeyError;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default maximum staleness: the last good keys of an issuer are used for at most this long
/// after the last successful fetch when the issuer cannot be reached.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(24 * 60 * 60);

impl Cached {
    /// Whether this set may no longer be used at `now`.
    pub(super) fn unusable(&self, now: Instant) -> bool {
        now >= self.usable_until
    }
}

impl Inner {
    /// What `current` answers for a set past its window without I/O: `Unavailable` while the
    /// last load failed less than the back-off ago and none is in flight; `None` when `keys`
    /// would start or join a load.
    pub(super) fn unusable_now(&self, iss: &Jwks, now: Instant) -> Option<KeyError> {
        let st = iss.lock();
        if st.inflight.is_some() {
            return None;
        }
        let until = st.retry_not_before.filter(|t| now < *t)?;
        let reason = unusable_reason(self, st.last_error.as_deref().map(ToString::to_string));
        drop(st);
        bump(&self.stats.staleness_refusals);
        crate::metrics::staleness_refusal(&iss.name);
        Some(KeyError::Unavailable {
            retry_after: retry_after_secs(until - now),
            reason,
        })
    }

    /// The keys of `iss` once its set is past its window: a newly loaded set (joining the
    /// load in flight, or starting one unless backing off), or `Unavailable`.
    pub(super) async fn revalidate(
        self: &Arc<Self>,
        iss: &Arc<Jwks>,
        now: Instant,
    ) -> Result<Arc<Cached>, KeyError> {
        if let Some(err) = self.unusable_now(iss, now) {
            return Err(err);
        }
        let load = {
            let mut st = iss.lock();
            self.start_load(&mut st, iss).0
        };
        bump(&self.stats.misses);
        match load.await {
            Ok(fresh) => Ok(fresh),
            Err(e) => {
                bump(&self.stats.staleness_refusals);
                crate::metrics::staleness_refusal(&iss.name);
                Err(KeyError::Unavailable {
                    retry_after: retry_after_secs(self.cfg.retry_backoff),
                    reason: unusable_reason(self, Some(e.to_string())),
                })
            }
        }
    }
}

fn unusable_reason(inner: &Inner, last_error: Option<String>) -> String {
    format!(
        "the last good keys are older than the maximum staleness ({} s) and could not be revalidated: {}",
        inner.cfg.max_staleness.as_secs(),
        last_error.as_deref().unwrap_or("no successful fetch since")
    )
}
