// AccessToken holds a raw token: it must not implement `Display`.
use mcp_auth_core::AccessToken;

fn requires<T: std::fmt::Display>() {}

fn main() {
    requires::<AccessToken>();
}
