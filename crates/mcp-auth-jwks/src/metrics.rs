//! Metrics of the key source, through the [`metrics`] facade (recorded nowhere until the
//! application installs a recorder).
//!
//! Every series is labelled `issuer`: the configured issuer(s) the key set serves, as
//! configured (issuers sharing one `jwks_uri` share one set and one label, joined with `, `),
//! so the number of series is bounded by the configuration. No label holds a `kid`, a URL
//! from a response, or anything else a request or a server chose. These events are rare (a
//! fetch, a refresh, an outage, an unknown `kid`): each builds its label once per event. The
//! schema and suggested alerts are in docs/operations.md, "Metrics".

/// Counter: JWKS fetches started (the `jwks_uri` GET), by `issuer`.
pub const FETCHES: &str = "mcp_auth_jwks_fetches_total";
/// Counter: loads that failed (discovery, transport, status, content type, size, content),
/// by `issuer`.
pub const FETCH_ERRORS: &str = "mcp_auth_jwks_fetch_errors_total";
/// Counter: refreshes started, by `issuer` and `trigger` (`background`: ahead of or after
/// expiry; `unknown_kid`: a token named a `kid` the set lacks).
pub const REFRESHES: &str = "mcp_auth_jwks_refreshes_total";
/// Counter: requests answered with keys past their lifetime (revalidating, or an outage
/// within the maximum staleness), by `issuer`.
pub const STALE_SERVES: &str = "mcp_auth_jwks_stale_serves_total";
/// Counter: unknown-`kid` requests answered without a refetch (the cooldown or the negative
/// cache), by `issuer`.
pub const COOLDOWN_REFUSALS: &str = "mcp_auth_jwks_cooldown_refusals_total";
/// Counter: requests refused (503) because the last good keys were past the maximum
/// staleness and could not be revalidated, by `issuer`.
pub const STALENESS_REFUSALS: &str = "mcp_auth_jwks_staleness_refusals_total";

fn count(name: &'static str, issuer: &str) {
    metrics::counter!(name, "issuer" => issuer.to_owned()).increment(1);
}

pub(crate) fn fetch(issuer: &str) {
    count(FETCHES, issuer);
}

pub(crate) fn fetch_error(issuer: &str) {
    count(FETCH_ERRORS, issuer);
}

pub(crate) fn refresh(issuer: &str, unknown_kid: bool) {
    let trigger = if unknown_kid {
        "unknown_kid"
    } else {
        "background"
    };
    metrics::counter!(REFRESHES, "issuer" => issuer.to_owned(), "trigger" => trigger).increment(1);
}

pub(crate) fn stale_serve(issuer: &str) {
    count(STALE_SERVES, issuer);
}

pub(crate) fn cooldown_refusal(issuer: &str) {
    count(COOLDOWN_REFUSALS, issuer);
}

pub(crate) fn staleness_refusal(issuer: &str) {
    count(STALENESS_REFUSALS, issuer);
}
