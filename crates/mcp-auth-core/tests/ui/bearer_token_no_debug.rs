// BearerToken holds a raw token: it must not implement `Debug`.
use mcp_auth_core::BearerToken;

fn requires<T: std::fmt::Debug>() {}

fn main() {
    requires::<BearerToken>();
}
