// Credentials holds a raw token: it must not implement `Clone`.
use mcp_auth_core::credentials::Credentials;

fn requires<T: Clone>() {}

fn main() {
    requires::<Credentials>();
}
