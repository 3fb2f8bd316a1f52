//! The types that hold a raw token cannot be copied into a log line or duplicated by
//! accident: each case under `tests/ui/` must fail to compile, with the committed `.stderr`.
//!
//! - `AccessToken` and `Credentials` (owned): no `Clone`, `Debug` or `Display`.
//! - `CredentialsRef` and `RawCredentials` (borrowed from the request head): no `Debug` or
//!   `Display`. They are `Copy` on purpose: a copy is a pointer to the same bytes, not a new
//!   copy of the secret.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p mcp-auth-core --test
//! compile_fail` and review the diff: each must still say that the trait is not implemented.

#[test]
fn token_types_have_no_clone_debug_or_display() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
