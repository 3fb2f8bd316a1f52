//! Helpers for the workspace's tests. **Test-only**: nothing here is for a deployment.
//!
//! - [`redis`]: a throwaway `redis-server` on a free loopback port, for the Redis store tests
//!   of mcp-auth-dpop and mcp-auth.
//! - [`logs`]: a thread-local subscriber for a test that reads what was logged, which sibling
//!   tests on other threads cannot blind.

pub mod logs;
pub mod redis;
