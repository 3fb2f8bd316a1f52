//! Metrics of the introspector, through the [`metrics`] facade (recorded nowhere until the
//! application installs a recorder).
//!
//! Labels: `issuer`, the introspector's configured issuer as configured, and `outcome`, one of
//! a closed set. No label holds a token, a subject, a client id or anything from an answer.
//! The keys are built once per introspector, so a recording allocates nothing. The schema and
//! suggested alerts are in docs/operations.md, "Metrics".

use metrics::{Key, Label, Level, Metadata};

/// Counter: introspection outcomes, by `issuer` and `outcome`: `active` (accepted),
/// `refused` (`active: false` or a rule refused it), `unavailable` (no usable answer),
/// `timeout`, `overloaded` (refused before any call: the in-flight cap).
pub const CALLS: &str = "mcp_auth_introspection_calls_total";
/// Counter: requests answered without a call of their own (a kept answer, or a call in
/// flight for the same token), by `issuer`.
pub const CACHE_HITS: &str = "mcp_auth_introspection_cache_hits_total";

/// An outcome of [`CALLS`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Active,
    Refused,
    Unavailable,
    Timeout,
    Overloaded,
}

const OUTCOMES: [&str; 5] = ["active", "refused", "unavailable", "timeout", "overloaded"];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// One introspector's keys.
pub(crate) struct Keys {
    calls: [Key; 5],
    hits: Key,
}

impl Keys {
    pub(crate) fn new(issuer: &str) -> Self {
        let issuer = Label::new("issuer", issuer.to_owned());
        let call = |outcome: &'static str| {
            Key::from_parts(CALLS, vec![issuer.clone(), Label::new("outcome", outcome)])
        };
        Self {
            calls: OUTCOMES.map(call),
            hits: Key::from_parts(CACHE_HITS, vec![issuer.clone()]),
        }
    }

    pub(crate) fn call(&self, outcome: Outcome) {
        let key = &self.calls[outcome as usize];
        metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
    }

    pub(crate) fn hit(&self) {
        metrics::with_recorder(|r| r.register_counter(&self.hits, &METADATA).increment(1));
    }
}
