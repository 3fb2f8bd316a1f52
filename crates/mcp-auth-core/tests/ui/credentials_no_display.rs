// Credentials holds a raw token: it must not implement `Display`.
use mcp_auth_core::credentials::Credentials;

fn requires<T: std::fmt::Display>() {}

fn main() {
    requires::<Credentials>();
}
