//! The many-address load client of the `forged-many` workload (issue 18).
//!
//! wrk cannot choose its source address, so every request it sends comes from 127.0.0.1 and a
//! per-address rate limit sees one key. This client keeps `--conns` keep-alive HTTP/1.1
//! connections (32, as the driver's wrk), each bound before `connect` to the next address of
//! a source pool in 127.0.0.0/8 (`--addrs`, default `127.1.0.0/16`: 65,536 addresses; Linux
//! routes all of 127/8 to `lo`, nothing to set up). After `--reqs-per-conn` responses (64) a
//! connection is closed and opened again from the next address of the pool, so a run shows the
//! limiter tens of thousands of distinct addresses. The request is the one `lua/tokens.lua`
//! makes wrk send: `POST <path>` with `Host`, `Content-Type: application/json`,
//! `Authorization: Bearer <token>` (the tokens of `--tokens`, round-robin over all
//! connections) and `Content-Length`, and the same JSON-RPC body; one request in flight per
//! connection.
//!
//! One thread (tokio's current-thread runtime), like `wrk -t1`: the driver pins it to the load
//! CPU and reads its CPU time, so a report can show that the client had CPU to spare while the
//! server's CPU was saturated. At the end it prints one line in the format of
//! `lua/common.lua`'s `done()`, plus the status histogram, the 429s, and the addresses and
//! connections used:
//!
//! ```text
//! RESULT requests=.. duration_us=.. p50_us=.. p90_us=.. p99_us=.. max_us=.. status_errors=..
//!   connect_errors=.. read_errors=.. write_errors=.. timeouts=.. status_429=.. addresses=..
//!   connections=.. codes=401:..,200:..
//! ```
//!
//! (one line). `status_errors` counts statuses over 399, as wrk does. Only loopback: the
//! target and every source address must be in 127.0.0.0/8.
//!
//! ```text
//! flood --url http://127.0.0.1:18101/mcp --tokens forged_kid.txt [--conns 32]
//!       [--duration 4] [--requests 0] [--reqs-per-conn 64] [--addrs 127.1.0.0/16] [--timeout 5]
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The JSON-RPC body of `lua/common.lua`.
const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
/// A response head or chunked body larger than this is refused (a read error).
const MAX_RESPONSE: usize = 1 << 20;

struct Args {
    target: SocketAddrV4,
    path: String,
    tokens: String,
    conns: usize,
    duration: Duration,
    requests: u64,
    reqs_per_conn: u64,
    pool_base: u32,
    pool_size: u32,
    timeout: Duration,
}

const USAGE: &str = "usage: flood --url http://127.x.y.z:PORT/PATH --tokens FILE [--conns 32] \
[--duration SECS] [--requests N] [--reqs-per-conn 64] [--addrs 127.1.0.0/16] [--timeout 5]";

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let mut tokens = None;
    let mut a = Args {
        target: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        path: String::new(),
        tokens: String::new(),
        conns: 32,
        duration: Duration::from_secs(4),
        requests: 0,
        reqs_per_conn: 64,
        pool_base: u32::from(Ipv4Addr::new(127, 1, 0, 0)),
        pool_size: 1 << 16,
        timeout: Duration::from_secs(5),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |what: &str| -> Result<u64, String> {
            val.parse::<u64>()
                .map_err(|_| format!("{flag}: {what} expected, got {val:?}"))
        };
        let secs = || -> Result<Duration, String> {
            val.parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{flag}: positive seconds expected, got {val:?}"))
        };
        match flag.as_str() {
            "--url" => url = Some(val.clone()),
            "--tokens" => tokens = Some(val.clone()),
            "--conns" => {
                a.conns = usize::try_from(num("a connection count")?)
                    .ok()
                    .filter(|&c| (1..=10_000).contains(&c))
                    .ok_or("--conns: 1 to 10000")?;
            }
            "--duration" => a.duration = secs()?,
            "--timeout" => a.timeout = secs()?,
            "--requests" => a.requests = num("a request count")?,
            "--reqs-per-conn" => a.reqs_per_conn = num("a request count")?,
            "--addrs" => (a.pool_base, a.pool_size) = parse_pool(&val)?,
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let url = url.ok_or(format!("--url is required\n{USAGE}"))?;
    (a.target, a.path) = parse_url(&url)?;
    a.tokens = tokens.ok_or(format!("--tokens is required\n{USAGE}"))?;
    Ok(a)
}

fn loopback(ip: Ipv4Addr) -> Result<Ipv4Addr, String> {
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!("{ip} is not in 127.0.0.0/8 (loopback only)"))
    }
}

/// `127.a.b.c/len` -> (first address, number of addresses).
fn parse_pool(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--addrs: a CIDR block in 127.0.0.0/8 expected, got {s:?}");
    let (ip, len) = s.split_once('/').unwrap_or((s, "32"));
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| (8..=32).contains(l))
        .ok_or_else(bad)?;
    let size = 1u64 << (32 - len);
    let base = u32::from(loopback(ip)?) & !((size - 1) as u32);
    Ok((base, u32::try_from(size).map_err(|_| bad())?))
}

/// `http://127.a.b.c:port/path` -> (target, path).
fn parse_url(url: &str) -> Result<(SocketAddrV4, String), String> {
    let bad = || format!("--url: http://127.x.y.z:PORT/PATH expected, got {url:?}");
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let target: SocketAddrV4 = authority.parse().map_err(|_| bad())?;
    loopback(*target.ip())?;
    let path = if path.is_empty() { "/" } else { path };
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad());
    }
    Ok((target, path.to_owned()))
}

/// Every request, built once (what wrk's `init()` does with `wrk.format`).
fn build_requests(args: &Args) -> Result<Vec<Box<[u8]>>, String> {
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|e| format!("--tokens {}: {e}", args.tokens))?;
    let reqs: Vec<Box<[u8]>> = text
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Authorization: Bearer {t}\r\nContent-Length: {}\r\n\r\n{BODY}",
                args.path,
                args.target,
                BODY.len()
            )
            .into_bytes()
            .into_boxed_slice()
        })
        .collect();
    if reqs.is_empty() {
        return Err(format!("--tokens {}: no token in the file", args.tokens));
    }
    if reqs
        .iter()
        .any(|r| r[..r.len() - BODY.len()].contains(&b'\0'))
    {
        return Err(format!(
            "--tokens {}: a token holds a NUL byte",
            args.tokens
        ));
    }
    Ok(reqs)
}

/// State shared by the connections (one thread: relaxed atomics are plain counters).
struct Shared {
    reqs: Vec<Box<[u8]>>,
    next_token: AtomicUsize,
    next_addr: AtomicU32,
    addresses: AtomicU64,
    started: AtomicU64,
}

#[derive(Default)]
struct Stats {
    codes: Vec<u64>,
    latencies_us: Vec<u32>,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    timeouts: u64,
    connections: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        if self.codes.len() < o.codes.len() {
            self.codes.resize(o.codes.len(), 0);
        }
        for (a, b) in self.codes.iter_mut().zip(&o.codes) {
            *a += b;
        }
        self.latencies_us.extend_from_slice(&o.latencies_us);
        self.connect_errors += o.connect_errors;
        self.read_errors += o.read_errors;
        self.write_errors += o.write_errors;
        self.timeouts += o.timeouts;
        self.connections += o.connections;
    }
}

/// A response that cannot be read: EOF, an I/O error, or bytes that are not HTTP/1.1.
struct Broken;

/// What a complete response said.
struct Answer {
    status: u16,
    /// The server closes the connection after this response.
    close: bool,
}

/// A connection's read buffer: bytes `[start, end)` are unread.
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new() -> Self {
        Self {
            buf: vec![0; 8192],
            start: 0,
            end: 0,
        }
    }

    /// Reads more bytes; `false` on EOF.
    async fn fill(&mut self, s: &mut TcpStream) -> Result<bool, Broken> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_RESPONSE {
                return Err(Broken);
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        match s.read(&mut self.buf[self.end..]).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(_) => Err(Broken),
        }
    }
}

/// Reads one response: head, then a `Content-Length` or chunked body (a body to EOF closes).
async fn read_response(s: &mut TcpStream, rb: &mut ReadBuf) -> Result<Answer, Broken> {
    let (status, head_len, framing, close) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&rb.buf[rb.start..rb.end]) {
            Ok(httparse::Status::Complete(n)) => {
                let status = res.code.ok_or(Broken)?;
                let mut framing = Framing::ToEof;
                let mut close = false;
                for h in res.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let v = std::str::from_utf8(h.value).map_err(|_| Broken)?;
                        framing = Framing::Length(v.trim().parse().map_err(|_| Broken)?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                        && h.value.eq_ignore_ascii_case(b"chunked")
                    {
                        framing = Framing::Chunked;
                    } else if h.name.eq_ignore_ascii_case("connection")
                        && h.value.eq_ignore_ascii_case(b"close")
                    {
                        close = true;
                    }
                }
                if matches!(status, 100..=199 | 204 | 304) {
                    framing = Framing::Length(0);
                }
                break (status, n, framing, close);
            }
            Ok(httparse::Status::Partial) => {
                if !rb.fill(s).await? {
                    return Err(Broken);
                }
            }
            Err(_) => return Err(Broken),
        }
    };
    if !(100..600).contains(&status) {
        return Err(Broken);
    }
    rb.start += head_len;
    match framing {
        Framing::Length(n) => {
            let n = usize::try_from(n).map_err(|_| Broken)?;
            if n > MAX_RESPONSE {
                return Err(Broken);
            }
            while rb.end - rb.start < n {
                if !rb.fill(s).await? {
                    return Err(Broken);
                }
            }
            rb.start += n;
        }
        Framing::Chunked => loop {
            match chunked_end(&rb.buf[rb.start..rb.end])? {
                Some(n) => {
                    rb.start += n;
                    break;
                }
                None => {
                    if !rb.fill(s).await? {
                        return Err(Broken);
                    }
                }
            }
        },
        Framing::ToEof => {
            while rb.fill(s).await? {
                rb.start = rb.end;
            }
            return Ok(Answer {
                status,
                close: true,
            });
        }
    }
    if rb.start == rb.end {
        (rb.start, rb.end) = (0, 0);
    }
    Ok(Answer { status, close })
}

enum Framing {
    Length(u64),
    Chunked,
    ToEof,
}

/// The length of a complete chunked body at the start of `b`, `None` if more is needed.
fn chunked_end(b: &[u8]) -> Result<Option<usize>, Broken> {
    let mut pos = 0;
    loop {
        let (skip, size) = match httparse::parse_chunk_size(&b[pos..]) {
            Ok(httparse::Status::Complete(x)) => x,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Broken),
        };
        pos += skip;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            return Ok(if b[pos..].starts_with(b"\r\n") {
                Some(pos + 2)
            } else {
                memfind(&b[pos..], b"\r\n\r\n").map(|i| pos + i + 4)
            });
        }
        let size = usize::try_from(size).map_err(|_| Broken)?;
        if size > MAX_RESPONSE {
            return Err(Broken);
        }
        if b.len() < pos + size + 2 {
            return Ok(None);
        }
        if &b[pos + size..pos + size + 2] != b"\r\n" {
            return Err(Broken);
        }
        pos += size + 2;
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One connection slot: connects from the next pool address, sends until the deadline, the
/// request limit or `reqs_per_conn` responses, then connects again.
async fn slot(args: Arc<Args>, sh: Arc<Shared>, deadline: Instant) -> Stats {
    let mut st = Stats {
        codes: vec![0; 600],
        latencies_us: Vec::with_capacity(1 << 16),
        ..Stats::default()
    };
    let mut rb = ReadBuf::new();
    'connections: while Instant::now() < deadline {
        let i = sh.next_addr.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::from(args.pool_base.wrapping_add(i % args.pool_size));
        if u64::from(i) < u64::from(args.pool_size) {
            sh.addresses.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(mut s) = connect(ip, args.target, args.timeout).await.map_err(|e| {
            if e {
                st.timeouts += 1;
            } else {
                st.connect_errors += 1;
            }
        }) else {
            continue;
        };
        st.connections += 1;
        rb.start = 0;
        rb.end = 0;
        let mut served = 0u64;
        while args.reqs_per_conn == 0 || served < args.reqs_per_conn {
            let t0 = Instant::now();
            if t0 >= deadline {
                break 'connections;
            }
            if args.requests > 0 && sh.started.fetch_add(1, Ordering::Relaxed) >= args.requests {
                break 'connections;
            }
            let k = sh.next_token.fetch_add(1, Ordering::Relaxed) % sh.reqs.len();
            if s.write_all(&sh.reqs[k]).await.is_err() {
                st.write_errors += 1;
                continue 'connections;
            }
            match tokio::time::timeout(args.timeout, read_response(&mut s, &mut rb)).await {
                Ok(Ok(answer)) => {
                    let us = t0.elapsed().as_micros();
                    st.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    st.codes[usize::from(answer.status)] += 1;
                    served += 1;
                    if answer.close {
                        continue 'connections;
                    }
                }
                Ok(Err(Broken)) => {
                    st.read_errors += 1;
                    continue 'connections;
                }
                Err(_) => {
                    st.timeouts += 1;
                    continue 'connections;
                }
            }
        }
    }
    st
}

/// A connection from `ip` (any port) to `target`; `Err(true)` on a timeout.
async fn connect(ip: Ipv4Addr, target: SocketAddrV4, timeout: Duration) -> Result<TcpStream, bool> {
    let sock = TcpSocket::new_v4().map_err(|_| false)?;
    sock.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))
        .map_err(|_| false)?;
    let s = match tokio::time::timeout(timeout, sock.connect(SocketAddr::V4(target))).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Err(false),
        Err(_) => return Err(true),
    };
    s.set_nodelay(true).map_err(|_| false)?;
    Ok(s)
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    // The smallest value with at least q of the samples at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run(args: Args) -> Result<(), String> {
    let reqs = build_requests(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let args = Arc::new(args);
    let sh = Arc::new(Shared {
        reqs,
        next_token: AtomicUsize::new(0),
        next_addr: AtomicU32::new(0),
        addresses: AtomicU64::new(0),
        started: AtomicU64::new(0),
    });
    let (mut total, elapsed) = rt.block_on(async {
        let start = Instant::now();
        let deadline = start + args.duration;
        let tasks: Vec<_> = (0..args.conns)
            .map(|_| tokio::spawn(slot(args.clone(), sh.clone(), deadline)))
            .collect();
        let mut total = Stats::default();
        for t in tasks {
            total.merge(t.await.map_err(|e| format!("connection task: {e}"))?);
        }
        Ok::<_, String>((total, start.elapsed()))
    })?;
    total.latencies_us.sort_unstable();
    let lat = &total.latencies_us;
    let requests = lat.len();
    let status_errors: u64 = total.codes.iter().skip(400).sum();
    let codes: Vec<String> = total
        .codes
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c}:{n}"))
        .collect();
    println!(
        "RESULT requests={requests} duration_us={} p50_us={} p90_us={} p99_us={} max_us={} \
         status_errors={status_errors} connect_errors={} read_errors={} write_errors={} \
         timeouts={} status_429={} addresses={} connections={} codes={}",
        elapsed.as_micros(),
        percentile(lat, 0.50),
        percentile(lat, 0.90),
        percentile(lat, 0.99),
        lat.last().copied().unwrap_or(0),
        total.connect_errors,
        total.read_errors,
        total.write_errors,
        total.timeouts,
        total.codes[429],
        sh.addresses.load(Ordering::Relaxed),
        total.connections,
        if codes.is_empty() {
            "-".to_owned()
        } else {
            codes.join(",")
        },
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flood: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_and_urls() {
        assert_eq!(
            parse_pool("127.1.0.0/16"),
            Ok((u32::from(Ipv4Addr::new(127, 1, 0, 0)), 65_536))
        );
        assert_eq!(
            parse_pool("127.3.4.5/24"),
            Ok((u32::from(Ipv4Addr::new(127, 3, 4, 0)), 256))
        );
        assert_eq!(
            parse_pool("127.0.0.9"),
            Ok((u32::from(Ipv4Addr::new(127, 0, 0, 9)), 1))
        );
        assert!(parse_pool("10.0.0.0/8").is_err());
        assert!(parse_pool("127.0.0.0/7").is_err());
        assert!(parse_pool("127.0.0.0/x").is_err());
        let (t, p) = parse_url("http://127.0.0.1:18101/mcp").unwrap();
        assert_eq!(
            (t.to_string().as_str(), p.as_str()),
            ("127.0.0.1:18101", "/mcp")
        );
        assert_eq!(parse_url("http://127.0.0.1:80").unwrap().1, "/");
        assert!(parse_url("http://192.0.2.1:80/mcp").is_err());
        assert!(parse_url("https://127.0.0.1:80/mcp").is_err());
        assert!(parse_url("http://127.0.0.1:80/a b").is_err());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(chunked_end(b"2\r\nok\r\n0\r\n\r\n").ok(), Some(Some(12)));
        assert_eq!(
            chunked_end(b"2\r\nok\r\n0\r\n\r\nHTTP").ok(),
            Some(Some(12))
        );
        assert_eq!(
            chunked_end(b"2\r\nok\r\n0\r\nx: y\r\n\r\n").ok(),
            Some(Some(18))
        );
        assert_eq!(chunked_end(b"2\r\nok\r\n").ok(), Some(None));
        assert_eq!(chunked_end(b"2\r\no").ok(), Some(None));
        assert!(chunked_end(b"2\r\nokXX0\r\n\r\n").is_err());
        assert!(chunked_end(b"zz\r\n").is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.5), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
