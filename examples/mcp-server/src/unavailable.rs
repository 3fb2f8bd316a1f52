//! Every 503 of the MCP route carries `Retry-After` (RFC 9110 §10.2.3), as the layer's own
//! 503s do (keys, introspection, DPoP replay store, session store).
//!
//! One 503 the layer does not write: with `--stateful --redis`, a request whose session
//! another instance opened is resumed by rmcp from its session state in Redis
//! ([`crate::fleet::RmcpSessionState`]). When that read fails after the layer's own binding
//! check succeeded (Redis stopped in between, or answered an error), rmcp answers 500 with
//! the store's error text. [`session_store_errors`], around the rmcp service, turns that
//! answer into the layer's 503: a fixed JSON-RPC error body (no session id, no error text)
//! and `Retry-After`. It knows the 500 came from the store, not from anything else, because
//! the store marks the request's task when one of its commands fails
//! ([`note_session_store_failure`]); rmcp reads the store inline, in the request's task.
//!
//! Concurrent requests for a session rmcp is restoring do not read the store: they wait for
//! the first one's restore, and when it fails rmcp answers them 404, as for an unknown
//! session, so a client would drop a good session during an outage. The store also records
//! each failed read in [`RecentLoadFailures`] (a keyed hash of the session id and when, a
//! bounded map in memory); a 404 from rmcp to a request that read nothing itself, for a
//! session whose read failed while that request was in flight, is that 503 too.
//!
//! rmcp logs the failed read itself at `ERROR` with the session id in clear; the example's
//! default log filter ([`crate::DEFAULT_LOG_FILTER`]) turns that event off, and the warning
//! here says what happened with the command and an error kind only.
//!
//! [`retry_after_on_503`], around the whole MCP route, adds `Retry-After` to any 503 that
//! lacks one.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `Retry-After` of the example's own 503s, in seconds: what the mcp-auth layer sends when
/// its session store cannot answer (its `SESSION_RETRY_AFTER_SECS`), so a client sees one
/// value for one outage whichever store noticed it first.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// The body of the 503 for an unreadable rmcp session state: the layer's body for an
/// unavailable session store, so both look alike.
pub(crate) const SESSION_UNAVAILABLE_BODY: &str =
    r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Session store unavailable"}}"#;

/// The session id header of the Streamable HTTP transport.
const SESSION_ID: &str = "mcp-session-id";

/// A failed command of the rmcp session store: which one, and a kind of error that holds no
/// data (not the Redis error's text, which may quote a key or a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreFailure {
    /// `load`, `store` or `delete`.
    pub(crate) op: &'static str,
    /// E.g. `connection`, `timeout`, `server error`, `json`.
    pub(crate) kind: &'static str,
}

/// What the rmcp session store did during one request.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// The last command that failed.
    failure: Option<StoreFailure>,
    /// A `load` ran in this request (whatever its outcome).
    loaded: bool,
}

tokio::task_local! {
    /// What the rmcp session store did during this request.
    static SEEN: Cell<Seen>;
}

fn update(f: impl FnOnce(&mut Seen)) {
    let _ = SEEN.try_with(|seen| {
        let mut s = seen.get();
        f(&mut s);
        seen.set(s);
    });
}

/// Marks the current request: a session store command failed. Outside
/// [`session_store_errors`] (no request scope), nothing happens.
pub(crate) fn note_session_store_failure(failure: StoreFailure) {
    update(|s| s.failure = Some(failure));
}

/// Marks the current request: it read a session state itself (so a 404 it gets is the
/// read's answer, not a wait on another request's restore).
pub(crate) fn note_session_load() {
    update(|s| s.loaded = true);
}

/// How long a failed read of a session's state counts for requests waiting on it: far more
/// than a wait on a restore lasts (the waiters wake when the read fails).
const RECENT: Duration = Duration::from_secs(RETRY_AFTER_SECS);

/// Sessions remembered at most; beyond it, expired entries go, then the oldest.
pub(crate) const RECENT_MAX: usize = 1024;

/// The sessions whose state read failed in the last [`RECENT`], keyed by a hash of the id
/// under a key random per process (never the id itself, never logged).
#[derive(Debug, Default)]
pub(crate) struct RecentLoadFailures {
    hasher: RandomState,
    at: Mutex<HashMap<u64, Instant>>,
}

impl RecentLoadFailures {
    fn key(&self, session_id: &str) -> u64 {
        self.hasher.hash_one(session_id)
    }

    /// A read of `session_id`'s state failed now.
    pub(crate) fn record(&self, session_id: &str) {
        let key = self.key(session_id);
        let now = Instant::now();
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        if at.len() >= RECENT_MAX && !at.contains_key(&key) {
            at.retain(|_, t| now.duration_since(*t) < RECENT);
            if at.len() >= RECENT_MAX
                && let Some(oldest) = at.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
            {
                at.remove(&oldest);
            }
        }
        at.insert(key, now);
    }

    /// Whether a read of the state of the session hashed to `key` failed at or after
    /// `since`, within [`RECENT`].
    fn failed_since(&self, key: u64, since: Instant) -> bool {
        let at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.get(&key)
            .is_some_and(|t| *t >= since && t.elapsed() < RECENT)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.at.lock().unwrap().len()
    }
}

/// Around the rmcp service: rmcp's 500 after a failed session store command, and its 404 to
/// a request that waited on a restore whose read failed, become a 503 with `Retry-After` and
/// a fixed body.
pub(crate) async fn session_store_errors(
    State(recent): State<Arc<RecentLoadFailures>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let session = req
        .headers()
        .get(SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(|id| recent.key(id));
    let (res, seen) = SEEN
        .scope(Cell::new(Seen::default()), async move {
            let res = next.run(req).await;
            (res, SEEN.with(Cell::get))
        })
        .await;
    if let Some(StoreFailure { op, kind }) = seen.failure {
        if res.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(
                target: "example_mcp_server::fleet",
                op,
                error_kind = kind,
                "rmcp's session state could not be read from Redis: answered 503"
            );
            return session_unavailable();
        }
        // rmcp goes on without it (a new session's state not saved, a deleted one's not
        // removed): only the warning, in place of rmcp's, which names the session.
        tracing::warn!(
            target: "example_mcp_server::fleet",
            op,
            error_kind = kind,
            status = res.status().as_u16(),
            "a command of rmcp's session state store failed"
        );
    }
    if res.status() == StatusCode::NOT_FOUND
        && !seen.loaded
        && session.is_some_and(|key| recent.failed_since(key, start))
    {
        tracing::warn!(
            target: "example_mcp_server::fleet",
            "a request waited on a session restore whose state read failed: answered 503"
        );
        return session_unavailable();
    }
    res
}

/// The 503 for a session whose state could not be read.
fn session_unavailable() -> Response {
    let mut res = Response::new(axum::body::Body::from(SESSION_UNAVAILABLE_BODY));
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    res
}

/// Around the MCP route: a 503 without `Retry-After` gets [`RETRY_AFTER_SECS`].
pub(crate) async fn retry_after_on_503(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    ensure_retry_after(&mut res);
    res
}

fn ensure_retry_after<B>(res: &mut http::Response<B>) {
    if res.status() == StatusCode::SERVICE_UNAVAILABLE && !res.headers().contains_key(RETRY_AFTER) {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: StatusCode, retry_after: Option<&'static str>) -> http::Response<()> {
        let mut res = http::Response::new(());
        *res.status_mut() = status;
        if let Some(v) = retry_after {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(v));
        }
        res
    }

    #[test]
    fn a_503_without_retry_after_gets_one_and_nothing_else_changes() {
        let mut res = response(StatusCode::SERVICE_UNAVAILABLE, None);
        ensure_retry_after(&mut res);
        assert_eq!(res.headers()[RETRY_AFTER], "5");
        // The layer's own value stays.
        let mut res = response(StatusCode::SERVICE_UNAVAILABLE, Some("30"));
        ensure_retry_after(&mut res);
        assert_eq!(res.headers()[RETRY_AFTER], "30");
        assert_eq!(res.headers().get_all(RETRY_AFTER).iter().count(), 1);
        // Other statuses are left alone (a 429's Retry-After is the limiter's).
        for status in [StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR] {
            let mut res = response(status, None);
            ensure_retry_after(&mut res);
            assert!(!res.headers().contains_key(RETRY_AFTER), "{status}");
        }
    }

    const FAILURE: StoreFailure = StoreFailure {
        op: "load",
        kind: "server error",
    };

    #[tokio::test]
    async fn a_failure_is_noted_only_inside_a_request_scope() {
        // No scope: no panic, nothing recorded.
        note_session_store_failure(FAILURE);
        note_session_load();
        let seen = SEEN
            .scope(Cell::new(Seen::default()), async {
                note_session_load();
                note_session_store_failure(FAILURE);
                SEEN.with(Cell::get)
            })
            .await;
        assert_eq!(seen.failure, Some(FAILURE));
        assert!(seen.loaded);
        let untouched = SEEN
            .scope(Cell::new(Seen::default()), async { SEEN.with(Cell::get) })
            .await;
        assert_eq!(untouched.failure, None);
        assert!(!untouched.loaded);
    }

    #[test]
    fn a_failed_read_counts_only_for_requests_in_flight_when_it_failed() {
        let recent = RecentLoadFailures::default();
        let before = Instant::now();
        recent.record("session-a");
        let after = Instant::now() + Duration::from_millis(1);
        let (a, b) = (recent.key("session-a"), recent.key("session-b"));
        assert!(recent.failed_since(a, before));
        // A request that began after the failure did its own read (or will).
        assert!(!recent.failed_since(a, after));
        // Another session is not concerned.
        assert!(!recent.failed_since(b, before));
        // The map holds no session id: the key is a hash under a per-process key.
        assert!(!format!("{recent:?}").contains("session-a"));
        assert_ne!(
            RecentLoadFailures::default().key("session-a"),
            a,
            "each map has its own hash key"
        );
    }

    #[test]
    fn the_recent_failures_stay_bounded_and_drop_the_oldest() {
        let recent = RecentLoadFailures::default();
        let start = Instant::now();
        for i in 0..RECENT_MAX + 10 {
            recent.record(&format!("session-{i}"));
        }
        assert_eq!(recent.len(), RECENT_MAX);
        // The newest are kept, the oldest went first.
        let newest = recent.key(&format!("session-{}", RECENT_MAX + 9));
        assert!(recent.failed_since(newest, start));
        assert!(!recent.failed_since(recent.key("session-0"), start));
        // A session already in the map is updated in place.
        recent.record(&format!("session-{}", RECENT_MAX + 9));
        assert_eq!(recent.len(), RECENT_MAX);
    }

    /// The default filter parses, turns off rmcp's events that carry a session id and
    /// nothing else of rmcp's at `WARN` and above.
    #[test]
    fn the_default_log_filter_drops_only_rmcps_events_with_a_session_id() {
        use std::sync::Mutex;
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;

        #[derive(Clone, Default)]
        struct Messages(Arc<Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Messages {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0
                    .lock()
                    .unwrap()
                    .push(event.metadata().target().to_owned());
            }
        }

        let filter = tracing_subscriber::EnvFilter::builder()
            .parse(crate::DEFAULT_LOG_FILTER)
            .expect("the default filter parses");
        let seen = Messages::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            const TOWER: &str = "rmcp::transport::streamable_http_server::tower";
            tracing::error!(target: TOWER, session_id = "s", error = "e", "load failed");
            tracing::warn!(target: TOWER, "rejected request with missing Host header");
            tracing::error!(target: TOWER, stream_id = "1", "failed to persist SSE event");
            tracing::error!(target: "rmcp::service", "other rmcp error");
            tracing::info!(target: "rmcp::service", "rmcp information");
            tracing::warn!(target: "example_mcp_server::fleet", op = "load", "ours");
        });
        let targets = seen.0.lock().unwrap().clone();
        assert_eq!(
            targets,
            [
                "rmcp::transport::streamable_http_server::tower",
                "rmcp::transport::streamable_http_server::tower",
                "rmcp::service",
                "example_mcp_server::fleet",
            ]
        );
    }
}
