// Credentials holds a raw token: it must not implement `Debug`.
use mcp_auth_core::credentials::Credentials;

fn requires<T: std::fmt::Debug>() {}

fn main() {
    requires::<Credentials>();
}
