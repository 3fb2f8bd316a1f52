// AccessToken holds a raw token: it must not implement `Debug`.
use mcp_auth_core::AccessToken;

fn requires<T: std::fmt::Debug>() {}

fn main() {
    requires::<AccessToken>();
}
