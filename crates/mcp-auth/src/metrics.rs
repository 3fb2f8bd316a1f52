//! Metrics of the layer, through the [`metrics`] facade.
//!
//! Nothing is recorded anywhere until the application installs a recorder
//! (`metrics::set_global_recorder`, or an exporter such as `metrics-exporter-prometheus`);
//! without one each recording is a thread-local read and a call of the no-op recorder.
//!
//! Every label comes from a closed set known when the crate is built (an outcome, an
//! [`ErrorKind`], a path, a limit stage): no subject, client id, token or other request text is
//! ever a label value, so the number of series is bounded whatever the traffic. The keys are
//! `static`, so a recording allocates nothing. The schema, with suggested alerts, is in
//! docs/operations.md, "Metrics".
//!
//! A layer registers its decision metrics once, with the recorder in force when it decides its
//! first request, and then records through the handles (no registry lookup per request):
//! install the recorder before the layer serves.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`DECISIONS`] | counter | `outcome` (`allowed`, `refused`), `reason` ([`reason`]) |
//! | [`DECISION_DURATION`] | histogram (seconds) | `path` (`memory`, `io`) |
//! | [`DPOP_REPLAYS`] | counter | none |
//! | [`RATE_LIMIT_REFUSALS`] | counter | `stage` (`pre_auth`, `post_auth`) |
//! | [`RATE_LIMIT_FAIL_OPEN`] | counter | `stage` (`pre_auth`, `post_auth`) |
//! | [`SESSION_REFUSALS`] | counter | `reason` (`unknown`, `other_principal`, `store_unavailable`) |
//!
//! The key source (`mcp_auth_jwks::metrics`) and the introspector
//! (`mcp_auth_introspect::metrics`) record their own, labelled by configured issuer.

use ::metrics::{Counter, Histogram, Key, Label, Level, Metadata};
use mcp_auth_core::ErrorKind;
use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

/// Counter: authorization decisions, by `outcome` and `reason`.
pub const DECISIONS: &str = "mcp_auth_decisions_total";
/// Histogram, seconds: from the request entering the layer to its decision, by `path`:
/// `memory` (decided inside `call`, no I/O awaited; one decision in [`MEMORY_PATH_SAMPLE`]
/// is timed) or `io` (after a body read, a key fetch, a custom validator or an
/// introspection; every one, from its first I/O unless sampled at entry).
pub const DECISION_DURATION: &str = "mcp_auth_decision_duration_seconds";
/// Counter: DPoP proofs refused because their `jti` was seen before (RFC 9449 §11.1).
pub const DPOP_REPLAYS: &str = "mcp_auth_dpop_replays_total";
/// Counter: requests refused with 429 by a rate limit, by `stage`.
pub const RATE_LIMIT_REFUSALS: &str = "mcp_auth_rate_limit_refusals_total";
/// Counter: limit checks let through because the limit store could not answer (fail open),
/// by `stage`.
pub const RATE_LIMIT_FAIL_OPEN: &str = "mcp_auth_rate_limit_fail_open_total";
/// Counter: requests refused by the session binding, by `reason`.
pub const SESSION_REFUSALS: &str = "mcp_auth_session_refusals_total";

/// The `reason` label of [`DECISIONS`] for a refusal of `kind`: the kind in snake case
/// (`missing_credentials`, `invalid_request`, `invalid_token`, `insufficient_scope`,
/// `key_source_unavailable`, `payload_too_large`, `origin_not_allowed`), `other` for a kind
/// added after this list. `none` is the reason of an allowed request and
/// `mcp_header_mismatch` that of the MCP transport's -32020 refusal.
pub fn reason(kind: ErrorKind) -> &'static str {
    REASONS[reason_index(kind)]
}

pub(crate) const REASONS: [&str; 10] = [
    "none",
    "missing_credentials",
    "invalid_request",
    "invalid_token",
    "insufficient_scope",
    "key_source_unavailable",
    "payload_too_large",
    "origin_not_allowed",
    "mcp_header_mismatch",
    "other",
];
const ALLOWED: usize = 0;
pub(crate) const MISMATCH: usize = 8;

pub(crate) fn reason_index(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::MissingCredentials => 1,
        ErrorKind::InvalidRequest => 2,
        ErrorKind::InvalidToken => 3,
        ErrorKind::InsufficientScope => 4,
        ErrorKind::KeySourceUnavailable => 5,
        ErrorKind::PayloadTooLarge => 6,
        ErrorKind::OriginNotAllowed => 7,
        _ => 9,
    }
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

macro_rules! labels {
    ($($k:literal => $v:expr),*) => { [$(Label::from_static_parts($k, $v)),*] };
}

static DECISION_LABELS: [[Label; 2]; 10] = [
    labels!("outcome" => "allowed", "reason" => REASONS[0]),
    labels!("outcome" => "refused", "reason" => REASONS[1]),
    labels!("outcome" => "refused", "reason" => REASONS[2]),
    labels!("outcome" => "refused", "reason" => REASONS[3]),
    labels!("outcome" => "refused", "reason" => REASONS[4]),
    labels!("outcome" => "refused", "reason" => REASONS[5]),
    labels!("outcome" => "refused", "reason" => REASONS[6]),
    labels!("outcome" => "refused", "reason" => REASONS[7]),
    labels!("outcome" => "refused", "reason" => REASONS[8]),
    labels!("outcome" => "refused", "reason" => REASONS[9]),
];
static DECISION_KEYS: [Key; 10] = {
    let l = &DECISION_LABELS;
    [
        Key::from_static_parts(DECISIONS, &l[0]),
        Key::from_static_parts(DECISIONS, &l[1]),
        Key::from_static_parts(DECISIONS, &l[2]),
        Key::from_static_parts(DECISIONS, &l[3]),
        Key::from_static_parts(DECISIONS, &l[4]),
        Key::from_static_parts(DECISIONS, &l[5]),
        Key::from_static_parts(DECISIONS, &l[6]),
        Key::from_static_parts(DECISIONS, &l[7]),
        Key::from_static_parts(DECISIONS, &l[8]),
        Key::from_static_parts(DECISIONS, &l[9]),
    ]
};

static PATH_LABELS: [[Label; 1]; 2] = [labels!("path" => "memory"), labels!("path" => "io")];
static DURATION_KEYS: [Key; 2] = [
    Key::from_static_parts(DECISION_DURATION, &PATH_LABELS[0]),
    Key::from_static_parts(DECISION_DURATION, &PATH_LABELS[1]),
];

fn count(key: &'static Key) {
    ::metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
}

/// How a decision was reached: the `path` label of [`DECISION_DURATION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Inside `McpAuth::call`, without awaiting anything.
    Memory,
    /// In the response future, after at least one piece of I/O.
    Io,
}

/// A layer's handles of [`DECISIONS`] and [`DECISION_DURATION`], registered at its first
/// decision.
#[derive(Default)]
pub(crate) struct LayerMetrics {
    handles: OnceLock<Handles>,
}

struct Handles {
    decisions: [Counter; 10],
    durations: [Histogram; 2],
}

impl LayerMetrics {
    fn handles(&self) -> &Handles {
        self.handles.get_or_init(|| {
            ::metrics::with_recorder(|r| Handles {
                decisions: std::array::from_fn(|i| {
                    r.register_counter(&DECISION_KEYS[i], &METADATA)
                }),
                durations: std::array::from_fn(|i| {
                    r.register_histogram(&DURATION_KEYS[i], &METADATA)
                }),
            })
        })
    }
}

impl fmt::Debug for LayerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerMetrics")
            .field("registered", &self.handles.get().is_some())
            .finish()
    }
}

/// One decision in this many decided in memory is timed, per thread (every decision that
/// waits for I/O is): reading the clock twice and computing the duration cost about as much as
/// the rest of a cache hit's recording, for a histogram whose shape a sample shows as well.
pub const MEMORY_PATH_SAMPLE: u32 = 16;

thread_local! {
    static DECISIONS_SEEN: Cell<u32> = const { Cell::new(0) };
}

/// When a request entered the layer, if its decision is timed; [`Timer::allowed`] and
/// [`Timer::decided`] record the decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timer {
    started: Option<Instant>,
}

impl Timer {
    /// At a request's entry: timed one time in [`MEMORY_PATH_SAMPLE`].
    pub(crate) fn start() -> Self {
        let n = DECISIONS_SEEN.with(|seen| {
            let n = seen.get().wrapping_add(1);
            seen.set(n);
            n
        });
        Self {
            started: n.is_multiple_of(MEMORY_PATH_SAMPLE).then(Instant::now),
        }
    }

    /// The decision goes on after I/O: timed from its entry if it was sampled, else from
    /// now (the first step, in memory, is then left out: about a microsecond).
    pub(crate) fn for_io(self) -> Self {
        Self {
            started: Some(self.started.unwrap_or_else(Instant::now)),
        }
    }

    /// An allowed request: [`DECISIONS`] `{outcome="allowed", reason="none"}` and, when
    /// timed, its duration.
    pub(crate) fn allowed(self, metrics: &LayerMetrics, path: Path) {
        self.decided(metrics, ALLOWED, path);
    }

    /// A decision by the reason at `index` of the table (the -32020 mismatch has no kind).
    pub(crate) fn decided(self, metrics: &LayerMetrics, index: usize, path: Path) {
        let handles = metrics.handles();
        handles.decisions[index].increment(1);
        if let Some(started) = self.started {
            handles.durations[path as usize].record(started.elapsed().as_secs_f64());
        }
    }
}

/// A refusal decided before the decision state machine (the `Origin` check, a CORS
/// preflight's 400): counted in [`DECISIONS`], with no duration.
pub(crate) fn refused_early(kind: ErrorKind) {
    count(&DECISION_KEYS[reason_index(kind)]);
}

static DPOP_REPLAY_KEY: Key = Key::from_static_name(DPOP_REPLAYS);

/// A DPoP proof refused as a replay ([`DPOP_REPLAYS`]). Called where the replay store
/// answers "seen"; the refusal itself is counted in [`DECISIONS`] as `invalid_token` (or
/// whatever the decision answers) when it is rendered.
pub(crate) fn dpop_replay() {
    count(&DPOP_REPLAY_KEY);
}

/// Where a rate limit was checked: the `stage` label of [`RATE_LIMIT_REFUSALS`] and
/// [`RATE_LIMIT_FAIL_OPEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitStage {
    /// `pre_auth`: per client address, before any token work.
    PreAuth,
    /// `post_auth`: per principal (issuer and subject) and per client id, after the decision.
    /// Both are counted by one store call, whose answer does not say which of them refused.
    PostAuth,
}

impl LimitStage {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PreAuth => "pre_auth",
            Self::PostAuth => "post_auth",
        }
    }
}

static STAGE_LABELS: [[Label; 1]; 2] = [
    labels!("stage" => "pre_auth"),
    labels!("stage" => "post_auth"),
];
static LIMIT_REFUSAL_KEYS: [Key; 2] = [
    Key::from_static_parts(RATE_LIMIT_REFUSALS, &STAGE_LABELS[0]),
    Key::from_static_parts(RATE_LIMIT_REFUSALS, &STAGE_LABELS[1]),
];
static FAIL_OPEN_KEYS: [Key; 2] = [
    Key::from_static_parts(RATE_LIMIT_FAIL_OPEN, &STAGE_LABELS[0]),
    Key::from_static_parts(RATE_LIMIT_FAIL_OPEN, &STAGE_LABELS[1]),
];

/// A request refused with 429 at `stage` ([`RATE_LIMIT_REFUSALS`]).
pub(crate) fn rate_limited(stage: LimitStage) {
    count(&LIMIT_REFUSAL_KEYS[stage as usize]);
}

/// A limit check at `stage` let through because the store could not answer
/// ([`RATE_LIMIT_FAIL_OPEN`]); the caller also logs its warning.
pub(crate) fn rate_limit_failed_open(stage: LimitStage) {
    count(&FAIL_OPEN_KEYS[stage as usize]);
}

/// Why the session binding refused a request: the `reason` label of [`SESSION_REFUSALS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionRefusal {
    /// `unknown`: no binding for the session id (never bound, expired, evicted, deleted).
    Unknown,
    /// `other_principal`: bound to another principal (a hijack attempt, answered as unknown).
    OtherPrincipal,
    /// `store_unavailable`: the binding store could not answer (503).
    StoreUnavailable,
}

static SESSION_LABELS: [[Label; 1]; 3] = [
    labels!("reason" => "unknown"),
    labels!("reason" => "other_principal"),
    labels!("reason" => "store_unavailable"),
];
static SESSION_KEYS: [Key; 3] = [
    Key::from_static_parts(SESSION_REFUSALS, &SESSION_LABELS[0]),
    Key::from_static_parts(SESSION_REFUSALS, &SESSION_LABELS[1]),
    Key::from_static_parts(SESSION_REFUSALS, &SESSION_LABELS[2]),
];

/// A request refused by the session binding ([`SESSION_REFUSALS`]).
pub(crate) fn session_refused(reason: SessionRefusal) {
    count(&SESSION_KEYS[reason as usize]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    fn counters(recorder: &DebuggingRecorder) -> Vec<(String, Vec<(String, String)>, u64)> {
        let mut out: Vec<_> = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(k, _, _, v)| match v {
                DebugValue::Counter(n) => {
                    let key = k.key();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    Some((key.name().to_owned(), labels, n))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn every_reason_has_its_own_static_key_and_the_named_counters_count_once() {
        for (i, reason) in REASONS.iter().enumerate() {
            let labels: Vec<_> = DECISION_KEYS[i].labels().map(|l| l.value()).collect();
            assert_eq!(labels[1], *reason);
            assert_eq!(labels[0], if i == 0 { "allowed" } else { "refused" });
        }
        assert_eq!(reason(ErrorKind::InvalidToken), "invalid_token");
        assert_eq!(reason(ErrorKind::OriginNotAllowed), "origin_not_allowed");
        let recorder = DebuggingRecorder::new();
        ::metrics::with_local_recorder(&recorder, || {
            dpop_replay();
            rate_limited(LimitStage::PreAuth);
            rate_limited(LimitStage::PreAuth);
            rate_limited(LimitStage::PostAuth);
            rate_limit_failed_open(LimitStage::PostAuth);
            session_refused(SessionRefusal::OtherPrincipal);
            refused_early(ErrorKind::OriginNotAllowed);
        });
        assert_eq!(
            counters(&recorder),
            vec![
                (
                    DECISIONS.to_owned(),
                    vec![
                        pair("outcome", "refused"),
                        pair("reason", "origin_not_allowed")
                    ],
                    1
                ),
                (DPOP_REPLAYS.to_owned(), vec![], 1),
                (
                    RATE_LIMIT_FAIL_OPEN.to_owned(),
                    vec![pair("stage", "post_auth")],
                    1
                ),
                (
                    RATE_LIMIT_REFUSALS.to_owned(),
                    vec![pair("stage", "post_auth")],
                    1
                ),
                (
                    RATE_LIMIT_REFUSALS.to_owned(),
                    vec![pair("stage", "pre_auth")],
                    2
                ),
                (
                    SESSION_REFUSALS.to_owned(),
                    vec![pair("reason", "other_principal")],
                    1
                ),
            ]
        );
    }
}
