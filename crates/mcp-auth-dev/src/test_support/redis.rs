//! A throwaway `redis-server` for tests. **Test-only.**
//!
//! Each [`RedisServer`] is a child process on 127.0.0.1 and a free port, without persistence
//! (`--save ""`, no AOF) and with `maxmemory-policy noeviction` (what the stores require),
//! killed when dropped. Without `redis-server` on the `PATH`, [`RedisServer::start`] answers
//! `None` and prints why, so the test can return early (skipped); with
//! `MCP_AUTH_REQUIRE_REDIS=1` (CI, after `.ci/redis.sh` installed it) a missing binary is a
//! panic instead, so a skipped Redis test cannot hide in a green run.
//!
//! ```no_run
//! use mcp_auth_dev::test_support::redis::RedisServer;
//!
//! let Some(server) = RedisServer::start(&[]) else {
//!     return; // skipped: no redis-server
//! };
//! let url = server.url(); // redis://127.0.0.1:<port>/
//! # let _ = url;
//! ```

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that turns a missing `redis-server` into a failure.
pub const REQUIRE_REDIS_ENV: &str = "MCP_AUTH_REQUIRE_REDIS";

/// A `redis-server` child process on 127.0.0.1, killed on drop. **Test-only.**
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one with the default arguments plus `extra` (later arguments win, e.g.
    /// `["--maxmemory-policy", "allkeys-lru"]`), or `None` (test skipped) when `redis-server`
    /// is not installed.
    ///
    /// # Panics
    ///
    /// When `MCP_AUTH_REQUIRE_REDIS=1` and `redis-server` is missing, or when the server does
    /// not start listening within 10 s.
    pub fn start(extra: &[&str]) -> Option<Self> {
        let Some(bin) = find_redis_server() else {
            if std::env::var(REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                panic!(
                    "{REQUIRE_REDIS_ENV}=1 but redis-server is not on the PATH (.ci/redis.sh installs it)"
                );
            }
            eprintln!("skipped: redis-server is not on the PATH (install it with .ci/redis.sh)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut s = Self {
            bin,
            port,
            child: None,
        };
        s.spawn(extra);
        Some(s)
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)); it comes back
    /// empty (no persistence).
    ///
    /// # Panics
    ///
    /// When it exits or does not listen within 10 s.
    pub fn spawn(&mut self, extra: &[&str]) {
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--maxmemory-policy",
            "noeviction",
        ];
        args.extend_from_slice(extra);
        let child = Command::new(&self.bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (a Redis outage); [`spawn`](Self::spawn) brings it back.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_redis_server() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}
