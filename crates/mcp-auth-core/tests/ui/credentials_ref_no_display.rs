// CredentialsRef holds a raw token: it must not implement `Display`.
use mcp_auth_core::credentials::CredentialsRef;

fn requires<T: std::fmt::Display>() {}

fn main() {
    requires::<CredentialsRef<'static>>();
}
