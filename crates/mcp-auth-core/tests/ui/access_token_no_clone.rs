// AccessToken holds a raw token: it must not implement `Clone`.
use mcp_auth_core::AccessToken;

fn requires<T: Clone>() {}

fn main() {
    requires::<AccessToken>();
}
