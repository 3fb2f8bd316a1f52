// BearerToken holds a raw token: it must not implement `Clone`.
use mcp_auth_core::BearerToken;

fn requires<T: Clone>() {}

fn main() {
    requires::<BearerToken>();
}
