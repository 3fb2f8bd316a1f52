//! Audit events: one `tracing` event, target [`TARGET`], for every request the layer refuses
//! and for every step-up (a 403 `insufficient_scope`, which asks the client for more scopes).
//!
//! The fields (the schema is in docs/operations.md, "Audit events"):
//!
//! | field | value |
//! |---|---|
//! | `event` | `refused`, or `step_up` for `insufficient_scope` |
//! | `reason` | the refusal's reason, the `reason` label of [`crate::metrics::DECISIONS`] |
//! | `status` | the HTTP status answered |
//! | `description` | the fixed `error_description` (a library text, never request text) |
//! | `issuer` | the verified `iss`, only when the token was verified |
//! | `principal` | [`principal_hash`] of the verified `iss` and subject, only when verified |
//! | `client_id` | the verified client id, only when verified |
//! | `method` | the JSON-RPC method: from the body the layer read, else `Mcp-Method` |
//! | `tool` | the tool/prompt name or resource URI: from the body, else `Mcp-Name` |
//!
//! What is never logged: the token (nor any part of it), and any claim of a token that was not
//! verified (an unverified payload is attacker text). `issuer`, `principal` and `client_id`
//! are present only when the refusal comes after the token was verified; otherwise they are
//! absent, not empty. Every value is escaped ([`Escaped`]): bytes outside printable ASCII, `"`
//! and `\` become `\xNN`, `\"`, `\\`, and a value is cut at [`MAX_VALUE_BYTES`] bytes (marked
//! with a trailing `...`), so a value cannot forge a line, a field or a quote in any log
//! format.
//!
//! Refusals are `INFO`. With no subscriber enabling [`TARGET`] an event costs the callsite's
//! interest check, and nothing of the request is read.

use crate::context::AuthContext;
use crate::decision::Rejection;
use crate::metrics::{self as m, Path, Timer};
use aws_lc_rs::hmac;
use http::HeaderMap;
use mcp_auth_core::AuthError;
use mcp_auth_core::mcp::{Classification, McpHeaders, classify};
use std::fmt;
use std::sync::OnceLock;

/// The `tracing` target of audit events.
pub const TARGET: &str = "mcp_auth::audit";

/// The longest value logged, in bytes of the original; longer ones are cut and marked `...`.
pub const MAX_VALUE_BYTES: usize = 128;

static PRINCIPAL_KEY: OnceLock<Option<hmac::Key>> = OnceLock::new();

/// The key of [`principal_hash`] was already set or drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the principal hash key is already set (set it once, before the first request)")]
#[non_exhaustive]
pub struct PrincipalKeyAlreadySet;

/// Sets the key of [`principal_hash`] for this process. By default a random key is drawn at
/// the first audit event, so hashes are comparable within one process only; set the same key
/// (at least 32 random bytes, kept secret like any MAC key) on every instance of a fleet, before
/// it serves, to compare them across instances and restarts.
///
/// # Errors
///
/// [`PrincipalKeyAlreadySet`] when a key was set or drawn before.
pub fn set_principal_hash_key(key: &[u8]) -> Result<(), PrincipalKeyAlreadySet> {
    PRINCIPAL_KEY
        .set(Some(hmac::Key::new(hmac::HMAC_SHA256, key)))
        .map_err(|_| PrincipalKeyAlreadySet)
}

/// The key: set, or drawn at the first use. `None` only if the system has no randomness (then
/// no principal is hashed: a guessable key would make the hash reversible by trial).
fn principal_key() -> Option<&'static hmac::Key> {
    PRINCIPAL_KEY
        .get_or_init(|| {
            let key = hmac::Key::generate(hmac::HMAC_SHA256, &aws_lc_rs::rand::SystemRandom::new());
            if key.is_err() {
                tracing::error!(target: TARGET, "no randomness for the principal hash key");
            }
            key.ok()
        })
        .as_ref()
}

/// A short, keyed, non-reversible hash of a principal (issuer and subject): the first 64 bits
/// of HMAC-SHA256 under the process's key ([`set_principal_hash_key`]), as 16 hex digits.
/// The same principal gets the same hash under one key; without the key a hash tells nothing
/// about the subject, and a subject cannot be found by trying candidates.
///
/// `None` only when no key was set and the system gave no randomness to draw one.
pub fn principal_hash(issuer: &str, subject: &str) -> Option<PrincipalHash> {
    let mut ctx = hmac::Context::with_key(principal_key()?);
    ctx.update(issuer.as_bytes());
    ctx.update(&[0]);
    ctx.update(subject.as_bytes());
    let tag = ctx.sign();
    let mut out = [0u8; 8];
    out.copy_from_slice(&tag.as_ref()[..8]);
    Some(PrincipalHash(out))
}

/// See [`principal_hash`]; displayed as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrincipalHash([u8; 8]);

impl fmt::Display for PrincipalHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for PrincipalHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrincipalHash({self})")
    }
}

/// A value as an audit event logs it: printable ASCII but `"` and `\` as they are, those two
/// as `\"` and `\\`, every other byte (control characters, DEL, any byte of a non-ASCII
/// character) as `\xNN`; at most [`MAX_VALUE_BYTES`] bytes of the original, then `...`.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let cut = self.0.len() > MAX_VALUE_BYTES;
        for &b in &self.0[..self.0.len().min(MAX_VALUE_BYTES)] {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        if cut {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// The MCP operation a refused request asked for: from the JSON-RPC body the layer read
/// (one message: its method and name; a batch: `batch`), else from `Mcp-Method`/`Mcp-Name`.
fn operation(headers: &HeaderMap, body: Option<&[u8]>) -> (Option<String>, Option<String>) {
    if let Some(body) = body
        && let Ok(Classification::Operations(ops)) = classify(&McpHeaders::default(), body)
    {
        return match ops.as_slice() {
            [] => (None, None),
            [op] => (Some(op.method.clone()), op.name.clone()),
            _ => (Some("batch".to_owned()), None),
        };
    }
    match McpHeaders::from_headers(headers) {
        Ok(h) => (h.method, h.name),
        Err(_) => (None, None),
    }
}

/// A refusal of the decision (every `Next::Reject`, decided in memory or after I/O): counted
/// in [`m::DECISIONS`] and [`m::DECISION_DURATION`], and audited. `body` is the body the
/// decision read, if it read one.
pub(crate) fn decision_refused(
    metrics: &m::LayerMetrics,
    r: &Rejection,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    (timer, path): (Timer, Path),
) {
    let (index, status, description, verified) = match r {
        Rejection::Auth(e) => (
            m::reason_index(e.kind()),
            e.kind().status(),
            e.description(),
            None,
        ),
        Rejection::Scope(denied) => {
            let (e, ctx) = &**denied;
            (
                m::reason_index(e.kind()),
                e.kind().status(),
                e.description(),
                Some(ctx),
            )
        }
        Rejection::Proof(e) => {
            if matches!(e, mcp_auth_core::dpop::DpopError::Replayed) {
                m::dpop_replay();
            }
            (
                m::reason_index(mcp_auth_core::ErrorKind::InvalidToken),
                e.status(),
                e.description(),
                None,
            )
        }
        Rejection::Mismatch(mismatch) => (
            m::MISMATCH,
            http::StatusCode::BAD_REQUEST,
            mismatch.reason,
            None,
        ),
        // A rate limit is no authorization decision: its refusal is counted and audited as
        // an operation's (`operation_refused`, by crate::operations::rate_limited). After
        // the token was accepted, the decision was an allow (as on the store path, which
        // asks the limit once the decision allowed).
        Rejection::Limited(l) => {
            if l.after_auth() {
                timer.allowed(metrics, path);
            }
            return;
        }
    };
    timer.decided(metrics, index, path);
    refused(
        m::REASONS[index],
        status.as_u16(),
        description,
        verified,
        headers,
        body,
    );
}

/// A refusal before the decision starts (the `Origin` check, a CORS preflight): counted and
/// audited; no token was looked at.
pub(crate) fn refused_early(e: &AuthError, headers: &HeaderMap) {
    m::refused_early(e.kind());
    let reason = m::reason(e.kind());
    refused(
        reason,
        e.kind().status().as_u16(),
        e.description(),
        None,
        headers,
        None,
    );
}

/// A refusal by the operational checks around the decision (issue 18: a rate limit, the
/// session binding): audited like a decision's refusal, with `reason` one of
/// `rate_limited`, `session_unknown` (unknown, ended, expired or another principal's session:
/// one reason, as the answer is one), `session_unavailable`. `verified` is the caller's
/// context once the token was verified (post-auth limits, sessions), `None` before.
pub(crate) fn operation_refused(
    reason: &'static str,
    status: u16,
    description: &'static str,
    verified: Option<&AuthContext>,
    headers: &HeaderMap,
) {
    refused(reason, status, description, verified, headers, None);
}

/// One refused request: its audit event (when [`TARGET`] is enabled at `INFO`).
/// `verified` is the caller's context when the refusal came after the token was verified
/// (and only then: no claim of an unverified token reaches this function).
fn refused(
    reason: &'static str,
    status: u16,
    description: &'static str,
    verified: Option<&AuthContext>,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let event = if reason == "insufficient_scope" {
        "step_up"
    } else {
        "refused"
    };
    let (method, tool) = operation(headers, body);
    let issuer = verified.map(|c| Escaped(c.issuer().as_bytes()));
    let principal =
        verified.and_then(|c| principal_hash(c.issuer(), c.subject().unwrap_or_default()));
    let client_id = verified
        .and_then(|c| c.client_id())
        .map(|s| Escaped(s.as_bytes()));
    tracing::info!(
        target: TARGET,
        event,
        reason,
        status,
        description,
        issuer = issuer.map(tracing::field::display),
        principal = principal.map(tracing::field::display),
        client_id = client_id.map(tracing::field::display),
        method = method.as_deref().map(|s| tracing::field::display(Escaped(s.as_bytes()))),
        tool = tool.as_deref().map(|s| tracing::field::display(Escaped(s.as_bytes()))),
        "authorization refused"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_control_character_quote_or_non_ascii_byte() {
        let cases: [(&[u8], &str); 5] = [
            (b"tools/call", "tools/call"),
            (b"a\"b\\c", "a\\\"b\\\\c"),
            (
                b"x\r\nlevel=ERROR msg=\"forged\"",
                "x\\x0d\\x0alevel=ERROR msg=\\\"forged\\\"",
            ),
            (
                "caf\u{e9}\u{202e}".as_bytes(),
                "caf\\xc3\\xa9\\xe2\\x80\\xae",
            ),
            (b"\x00\x1b[31m\x7f", "\\x00\\x1b[31m\\x7f"),
        ];
        for (raw, want) in cases {
            assert_eq!(Escaped(raw).to_string(), want);
        }
        let long = vec![b'a'; MAX_VALUE_BYTES + 5];
        let shown = Escaped(&long).to_string();
        assert_eq!(shown.len(), MAX_VALUE_BYTES + 3);
        assert!(shown.ends_with("a..."));
    }

    #[test]
    fn the_principal_hash_is_keyed_short_and_tells_principals_apart() {
        let hash = |iss, sub| principal_hash(iss, sub).expect("a key");
        let a = hash("https://as.example", "alice");
        assert_eq!(a, hash("https://as.example", "alice"));
        assert_ne!(a, hash("https://as.example", "bob"));
        // The separator keeps (iss, sub) pairs apart that concatenate alike.
        assert_ne!(
            hash("https://as.example/a", "lice"),
            hash("https://as.example/", "alice")
        );
        let shown = a.to_string();
        assert_eq!(shown.len(), 16);
        assert!(shown.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!shown.contains("alice"));
        // Not a plain hash of the subject: keyed (the key was drawn at random).
        let plain =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"https://as.example\0alice");
        let plain: String = plain.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(shown, plain);
        assert_eq!(
            set_principal_hash_key(b"too late"),
            Err(PrincipalKeyAlreadySet)
        );
    }
}
