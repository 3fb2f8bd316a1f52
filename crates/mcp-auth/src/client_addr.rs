//! The address a request came from, for the pre-auth rate limit.
//!
//! The socket peer comes from the request extensions: axum's `ConnectInfo<SocketAddr>`
//! (`into_make_service_with_connect_info`, feature `axum`) or a [`ClientAddr`] a plain hyper
//! server inserts per connection. `Forwarded` (RFC 7239) or `X-Forwarded-For` are read only
//! when that peer is one of the configured [`TrustedProxies`]: a client that talks to the
//! server directly can write any address in these headers, so trusting them by default would
//! let every request pick its own rate-limit bucket.
//!
//! Behind trusted proxies the client is the right-most address of the chain that is not itself
//! a trusted proxy: each proxy appends the peer it saw, so entries to the left of the first
//! untrusted one were written by the client and are never read. An entry that cannot be parsed
//! before that point (junk, `unknown`, an obfuscated node) ends the walk at the socket peer:
//! a malformed header never chooses the address.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use mcp_auth::client_addr::{ClientAddr, ProxyHeader, TrustedProxies, client_ip};
//!
//! let proxies = TrustedProxies::new(["10.0.0.0/8"], ProxyHeader::XForwardedFor).unwrap();
//! let mut req = http::Request::new(());
//! req.extensions_mut().insert(ClientAddr("10.1.2.3:50000".parse::<SocketAddr>().unwrap()));
//! req.headers_mut().insert("x-forwarded-for", "198.51.100.7, 10.9.9.9".parse().unwrap());
//! assert_eq!(client_ip(req.headers(), req.extensions(), &proxies), Some("198.51.100.7".parse().unwrap()));
//! ```

use http::{Extensions, HeaderMap};
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The socket address of the connection a request arrived on, inserted into the request
/// extensions by a server that does not use axum's `ConnectInfo` (a plain hyper server sets it
/// per connection, e.g. with `tower_http::add_extension`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// Which forwarding header the trusted proxies write. Exactly one is read: if the proxies
/// set `X-Forwarded-For` and the server also read `Forwarded`, a client could write its own
/// `Forwarded` header and the proxy would pass it through untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `Forwarded: for=...` (RFC 7239 §4), the `for` parameter of each element.
    Forwarded,
    /// `X-Forwarded-For: client, proxy1, proxy2` (de facto).
    XForwardedFor,
}

/// The proxies whose forwarding headers are believed. Empty by default: no header is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: Option<ProxyHeader>,
}

/// A trusted-proxy entry that is not an address or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address or CIDR block: {input:?}")]
pub struct InvalidProxy {
    input: String,
}

impl InvalidProxy {
    /// The entry as given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl TrustedProxies {
    /// No trusted proxy: the socket peer is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Proxies given as CIDR blocks (`10.0.0.0/8`, `fd00::/8`) or single addresses, whose
    /// `header` is read.
    pub fn new<I, S>(cidrs: I, header: ProxyHeader) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for c in cidrs {
            let c = c.as_ref().trim();
            let net = c
                .parse::<IpNet>()
                .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| InvalidProxy {
                    input: c.to_owned(),
                })?;
            nets.push(net.trunc());
        }
        Ok(Self {
            header: (!nets.is_empty()).then_some(header),
            nets,
        })
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The socket peer: `ConnectInfo<SocketAddr>` (feature `axum`), else [`ClientAddr`].
pub fn socket_addr(extensions: &Extensions) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    extensions.get::<ClientAddr>().map(|c| c.0)
}

/// [`socket_addr`]'s address, without the port.
#[inline]
fn socket_ip(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    extensions.get::<ClientAddr>().map(|c| c.0.ip())
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the
/// right-most address of the forwarding header that is not a trusted proxy. `None` when the
/// server set no socket address: a wiring gap the caller decides on (count such requests
/// under one shared key, or log a warning once and skip the limit).
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(socket_ip(extensions)?);
    if proxies.header.is_none() {
        // No trusted proxy (the default): the socket peer, no header read.
        return Some(peer);
    }
    Some(forwarded_client(headers, peer, proxies).unwrap_or(peer))
}

/// Walks the chain right to left; `None` means "use the socket peer".
fn forwarded_client(headers: &HeaderMap, peer: IpAddr, proxies: &TrustedProxies) -> Option<IpAddr> {
    let header = proxies.header?;
    if !proxies.contains(peer) {
        return None;
    }
    let name = match header {
        ProxyHeader::Forwarded => http::header::FORWARDED,
        ProxyHeader::XForwardedFor => http::HeaderName::from_static("x-forwarded-for"),
    };
    let mut last_trusted = None;
    // Several header lines form one list, in order (RFC 9110 §5.3).
    let lines: Vec<&str> = headers
        .get_all(&name)
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<_>>()?;
    for line in lines.iter().rev() {
        for element in line.rsplit(',') {
            let ip = match header {
                ProxyHeader::Forwarded => forwarded_for(element)?,
                ProxyHeader::XForwardedFor => node(element.trim())?,
            };
            if !proxies.contains(ip) {
                return Some(ip);
            }
            last_trusted = Some(ip);
        }
    }
    // Every hop is a trusted proxy: the left-most one is the origin.
    last_trusted
}

/// The `for` parameter of one `forwarded-element` (RFC 7239 §4): `a=b;for=...;c=d`.
/// `None` if it has none or it is not an address (`unknown`, `_obfuscated`, junk).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None; // two `for` in one element: ambiguous
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => value,
            };
            found = Some(node(value)?);
        }
    }
    found
}

/// A node (RFC 7239 §6): `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, and,
/// as `X-Forwarded-For` writes it, a bare `2001:db8::1`.
fn node(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || port(after.strip_prefix(':')?)) {
            return None;
        }
        return ip.parse::<Ipv6Addr>().ok().map(|ip| canonical(ip.into()));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let (ip, p) = s.rsplit_once(':')?;
    if !port(p) {
        return None;
    }
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `node-port` (RFC 7239 §6): digits, or an obfuscated `_token`.
fn port(p: &str) -> bool {
    p.parse::<u16>().is_ok()
        || (p.len() > 1
            && p.starts_with('_')
            && p[1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'))
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The rate-limit key of an address: an IPv4 address as it is, an IPv6 address by its /64
/// (one end site usually gets a /64 or more, so per-address limits on IPv6 are free to evade).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrKey {
    /// An IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6Prefix([u8; 8]),
}

impl AddrKey {
    /// The key of `ip`.
    pub fn new(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut p = [0; 8];
                p.copy_from_slice(&v6.octets()[..8]);
                Self::V6Prefix(p)
            }
        }
    }
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        Self::new(ip)
    }
}

impl fmt::Debug for AddrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(o) => write!(f, "{}", std::net::Ipv4Addr::from(*o)),
            Self::V6Prefix(p) => {
                let mut o = [0; 16];
                o[..8].copy_from_slice(p);
                write!(f, "{}/64", Ipv6Addr::from(o))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut r = http::Request::new(());
        r.extensions_mut().insert(ClientAddr(peer.parse().unwrap()));
        for (k, v) in headers {
            r.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        r
    }

    fn ip(r: &http::Request<()>, p: &TrustedProxies) -> IpAddr {
        client_ip(r.headers(), r.extensions(), p).unwrap()
    }

    fn xff() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8", "fd00::/8"], ProxyHeader::XForwardedFor).unwrap()
    }

    fn fwd() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8", "fd00::/8"], ProxyHeader::Forwarded).unwrap()
    }

    #[test]
    fn untrusted_peer_with_a_spoofed_header_is_the_socket_address() {
        let r = req(
            "203.0.113.9:4000",
            &[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=1.1.1.1")],
        );
        assert_eq!(ip(&r, &xff()), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(ip(&r, &fwd()), "203.0.113.9".parse::<IpAddr>().unwrap());
        // Never trusted by default, even from a private peer.
        let r = req("10.0.0.1:4000", &[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            ip(&r, &TrustedProxies::none()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn trusted_proxy_chain_gives_the_right_most_untrusted_hop() {
        // The client wrote "6.6.6.6" itself; the first proxy saw 198.51.100.7.
        let r = req(
            "10.0.0.2:4000",
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")],
        );
        assert_eq!(ip(&r, &xff()), "198.51.100.7".parse::<IpAddr>().unwrap());
        // Two header lines are one list.
        let r = req(
            "10.0.0.2:4000",
            &[
                ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
                ("x-forwarded-for", "10.0.0.5"),
            ],
        );
        assert_eq!(ip(&r, &xff()), "198.51.100.7".parse::<IpAddr>().unwrap());
        // All hops trusted: the left-most.
        let r = req(
            "10.0.0.2:4000",
            &[("x-forwarded-for", "10.3.3.3, 10.0.0.5")],
        );
        assert_eq!(ip(&r, &xff()), "10.3.3.3".parse::<IpAddr>().unwrap());
        // No header from a trusted proxy: the proxy itself.
        let r = req("10.0.0.2:4000", &[]);
        assert_eq!(ip(&r, &xff()), "10.0.0.2".parse::<IpAddr>().unwrap());
        // The header the proxies do not write is ignored.
        let r = req("10.0.0.2:4000", &[("forwarded", "for=1.1.1.1")]);
        assert_eq!(ip(&r, &xff()), "10.0.0.2".parse::<IpAddr>().unwrap());
        // IPv4-mapped socket peer counts as the IPv4 proxy.
        let r = req(
            "[::ffff:10.0.0.2]:4000",
            &[("x-forwarded-for", "198.51.100.7")],
        );
        assert_eq!(ip(&r, &xff()), "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_with_quoted_ipv6_and_ports() {
        let r = req(
            "[fd00::1]:443",
            &[(
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=\"10.0.0.9:_p1\";by=10.0.0.1",
            )],
        );
        assert_eq!(
            ip(&r, &fwd()),
            "2001:db8:cafe::17".parse::<IpAddr>().unwrap()
        );
        let r = req(
            "10.0.0.1:443",
            &[("forwarded", "proto=http;for=192.0.2.60:8080")],
        );
        assert_eq!(ip(&r, &fwd()), "192.0.2.60".parse::<IpAddr>().unwrap());
        let r = req("10.0.0.1:443", &[("x-forwarded-for", "[2001:db8::5]:99")]);
        assert_eq!(ip(&r, &xff()), "2001:db8::5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn junk_headers_fall_back_to_the_socket_address() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        for (p, name, value) in [
            (xff(), "x-forwarded-for", "not-an-ip"),
            (xff(), "x-forwarded-for", "198.51.100.7, "),
            (xff(), "x-forwarded-for", "1.2.3.4:99999"),
            (xff(), "x-forwarded-for", "[2001:db8::1"),
            (fwd(), "forwarded", "for=unknown"),
            (fwd(), "forwarded", "for=_hidden"),
            (fwd(), "forwarded", "for=\"[2001:db8::1]"),
            (fwd(), "forwarded", "by=10.0.0.1"),
            (fwd(), "forwarded", "for=1.1.1.1;for=2.2.2.2"),
            (fwd(), "forwarded", "garbage"),
        ] {
            let r = req("10.0.0.2:1", &[(name, value)]);
            assert_eq!(ip(&r, &p), peer, "{name}: {value}");
        }
        // Junk left of the first untrusted hop is never read.
        let r = req("10.0.0.2:1", &[("x-forwarded-for", "junk, 198.51.100.7")]);
        assert_eq!(ip(&r, &xff()), "198.51.100.7".parse::<IpAddr>().unwrap());
        // A non-UTF-8 header value.
        let mut r = req("10.0.0.2:1", &[]);
        r.headers_mut().insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(ip(&r, &xff()), peer);
    }

    #[test]
    fn no_socket_address_is_none() {
        let r = http::Request::new(());
        assert_eq!(client_ip(r.headers(), r.extensions(), &xff()), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn connect_info_is_read() {
        let mut r = http::Request::new(());
        r.extensions_mut().insert(axum::extract::ConnectInfo(
            "192.0.2.1:5".parse::<SocketAddr>().unwrap(),
        ));
        assert_eq!(ip(&r, &xff()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_proxy_entries_are_refused() {
        let e = TrustedProxies::new(["10.0.0.0/8", "nope"], ProxyHeader::Forwarded).unwrap_err();
        assert_eq!(e.input(), "nope");
        assert!(TrustedProxies::new(["10.0.0.0/33"], ProxyHeader::Forwarded).is_err());
        let single = TrustedProxies::new(["192.0.2.1"], ProxyHeader::Forwarded).unwrap();
        assert!(single.contains("192.0.2.1".parse().unwrap()));
        assert!(!single.contains("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn ipv6_keys_group_by_64_and_ipv4_stays_whole() {
        let k = |s: &str| AddrKey::new(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
        assert_eq!(format!("{:?}", k("2001:db8:1:2::1")), "2001:db8:1:2::/64");
    }
}
