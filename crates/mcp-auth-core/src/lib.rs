//! Pure, synchronous building blocks of MCP authorization.
//!
//! This crate has no I/O: no tokio, tower, reqwest or axum. Each module holds the logic of one
//! standard, so a reader can audit it in one place:
//!
//! | module | standard |
//! |---|---|
//! | [`credentials`] | RFC 6750 §2 (where a token may come from), RFC 9449 §7.1 (`DPoP` scheme) |
//! | [`resource`] | RFC 8707 §2, MCP "Canonical Server URI" |
//! | [`scope`] | RFC 6749 §3.3, MCP "Scope Selection Strategy" (hierarchies) |
//! | [`jws`] and [`jwk`] | RFC 7515, RFC 7517, RFC 8725 (algorithm allow-list, one key one family) |
//! | [`claims`] | RFC 9068 §4, RFC 7519 §4.1, RFC 8725 §3.8–3.12 |
//! | [`checks`] | a deployment's own claim rules (maximum token age, allow-lists), cache-aware |
//! | [`dpop`] | RFC 9449 §4.3 (proofs), §8–9 (stateless nonces), §11.1 (the `jti` hash) |
//! | [`challenge`] | RFC 6750 §3, RFC 9728 §5.1, RFC 9449 §7.1 (`DPoP` challenges) |
//! | [`metadata`] | RFC 9728 §2–3 |
//! | [`mcp`] | MCP transport SEP-2243 headers, per-method and per-tool scopes |
//! | [`origin`] | MCP Streamable HTTP transport, "Security Warning" (`Origin`, DNS rebinding) |
//! | [`sealed`] | MCP 2026-07-28: state handles bound to the user (HMAC-SHA256, RFC 2104) |
//! | [`keys`] | the [`KeySource`](keys::KeySource) trait the I/O crates implement |
//! | [`introspection`] | RFC 7662 (token introspection), RFC 9701 (JWT answers), RFC 6749 §2.3.1 |
//! | [`validation`] | the sans-IO state machine that decides on a token (RFC 9068 §4 order of checks) |
//!
//! Most users depend on the `mcp-auth` crate, which re-exports this one.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::exhaustive_enums)]

pub mod challenge;
pub mod checks;
pub mod claims;
pub mod credentials;
pub mod dpop;
mod error;
pub mod introspection;
mod json;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod mcp;
pub mod metadata;
pub mod origin;
pub mod resource;
pub mod scope;
pub mod sealed;
mod token;
pub mod validation;

pub use error::{AuthError, ErrorKind};
pub use token::{AccessToken, TokenHash};
