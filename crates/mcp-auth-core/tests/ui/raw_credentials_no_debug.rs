// RawCredentials holds a raw token: it must not implement `Debug`.
use mcp_auth_core::credentials::RawCredentials;

fn requires<T: std::fmt::Debug>() {}

fn main() {
    requires::<RawCredentials<'static>>();
}
