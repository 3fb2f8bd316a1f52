// BearerToken holds a raw token: it must not implement `Display`.
use mcp_auth_core::BearerToken;

fn requires<T: std::fmt::Display>() {}

fn main() {
    requires::<BearerToken>();
}
