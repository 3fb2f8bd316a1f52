//! A `redis-server` child process on a free loopback port, for the tests that need a real
//! Redis (the DPoP replay store of a fleet). Without `redis-server` on the `PATH`,
//! [`RedisServer::start`] answers `None` (the test skips, with a printed reason), unless
//! `MCP_AUTH_REQUIRE_REDIS=1` (CI), which makes a missing Redis a failure.
//!
//! The server binds 127.0.0.1 only, keeps nothing on disk and runs with
//! `maxmemory-policy noeviction` (what a replay store requires) unless `extra` overrides it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one with the extra command-line arguments `extra`, or `None` (test skipped)
    /// when `redis-server` is not installed. Panics when `MCP_AUTH_REQUIRE_REDIS=1` and it is
    /// not, or when the server does not listen within 10 s.
    pub fn start(extra: &[&str]) -> Option<Self> {
        let Some(bin) = find_redis_server() else {
            if std::env::var("MCP_AUTH_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!(
                    "MCP_AUTH_REQUIRE_REDIS=1 but redis-server is not on the PATH (.ci/redis.sh installs it)"
                );
            }
            eprintln!("skipped: redis-server is not on the PATH (install it with .ci/redis.sh)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut s = Self {
            bin,
            port,
            child: None,
        };
        s.spawn(extra);
        Some(s)
    }

    /// Starts the server (again, after [`stop`](Self::stop)) on the same port.
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

    /// Kills the server (its port stays this one's, for [`spawn`](Self::spawn)).
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
