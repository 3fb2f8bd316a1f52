// CredentialsRef holds a raw token: it must not implement `Debug`.
use mcp_auth_core::credentials::CredentialsRef;

fn requires<T: std::fmt::Debug>() {}

fn main() {
    requires::<CredentialsRef<'static>>();
}
