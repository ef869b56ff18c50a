//! Who is asking: the client address that the per-address limit counts.
//!
//! Behind a reverse proxy every request comes from the proxy, so the limit
//! would count all senders as one. `TRUSTED_PROXIES` names the proxies whose
//! `X-Forwarded-For` is believed. From a trusted peer, the client is the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy:
//! each trusted hop appends the address it saw, so everything to the right of
//! that entry was written by proxies we trust, and everything to its left was
//! written by the client and may be invented. From any other peer the header
//! is ignored and the client is the peer, so a sender cannot choose its own
//! address.
//!
//! Only `X-Forwarded-For` is read, not RFC 7239 `Forwarded`: a proxy that
//! appends to one passes the other through as the client sent it, so reading
//! both would let a client pick the header its proxy does not write.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use actix_web::http::header::HeaderMap;

/// An address or a CIDR block (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => u32::from(ip) & v4_mask(self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => u128::from(ip) & v6_mask(self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

impl FromStr for IpBlock {
    type Err = String;

    /// Host bits under the mask are dropped (`10.1.2.3/8` is `10.0.0.0/8`).
    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            None => (text, None),
            Some((addr, prefix)) => (addr, Some(prefix)),
        };
        let ip = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block (such as 10.0.0.7 or 10.0.0.0/8)"))?
            .to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a prefix length that is not 0 to {max}"))?,
        };
        let network = match ip {
            IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(u32::from(ip) & v4_mask(prefix))),
            IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from(u128::from(ip) & v6_mask(prefix))),
        };
        Ok(IpBlock { network, prefix })
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
/// Empty by default: then the client is always the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpBlock>);

impl TrustedProxies {
    /// Reads a comma-separated list; each entry that is not an address or
    /// CIDR block is named in the error.
    pub fn parse(list: &str) -> Result<TrustedProxies, Vec<String>> {
        let (blocks, problems): (Vec<_>, Vec<_>) =
            list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(IpBlock::from_str).partition(Result::is_ok);
        if problems.is_empty() {
            Ok(TrustedProxies(blocks.into_iter().filter_map(Result::ok).collect()))
        } else {
            Err(problems.into_iter().filter_map(Result::err).collect())
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    pub fn blocks(&self) -> &[IpBlock] {
        &self.0
    }
}

/// The client address of a request that arrived from `peer`.
///
/// From an untrusted peer: the peer. From a trusted proxy: the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy. When every entry is
/// trusted, the left-most one; when an entry cannot be read, the last one
/// read before it (or the peer), since nothing trusted vouches for it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.iter().rev() {
        let Some(hop) = parse_hop(entry) else { break };
        client = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`203.0.113.9:4711`, `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip())).ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn addresses_and_cidr_blocks_are_read_and_matched() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.7, fd00::/8, 127.0.0.1");
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(!trusted.contains(ip("fe80::1")));
        assert!(trusted.contains(ip("::ffff:10.1.1.1")), "an IPv4-mapped IPv6 peer is its IPv4 address");
        assert_eq!("10.1.2.3/8".parse::<IpBlock>().unwrap().to_string(), "10.0.0.0/8");
        assert!(proxies("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert_eq!(TrustedProxies::parse(" ").unwrap(), TrustedProxies::default());
    }

    #[test]
    fn every_unreadable_proxy_entry_is_named() {
        let problems = TrustedProxies::parse("10.0.0.1, proxy.local, 10.0.0.0/33, ::1/129, 10.0.0.0/x").unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("\"proxy.local\"") && problems[0].contains("not an IP address"));
        assert!(problems[1].contains("\"10.0.0.0/33\"") && problems[1].contains("0 to 32"));
        assert!(problems[2].contains("0 to 128"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies("10.0.0.1");
        let headers = forwarded(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &headers, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("203.0.113.9"), &headers, &TrustedProxies::default()), ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        // The client wrote "1.1.1.1" itself; the proxy appended what it saw.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9, 10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &trusted), ip("203.0.113.9"));
        let split = forwarded(&["1.1.1.1", "203.0.113.9:4711, 10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &split, &trusted), ip("203.0.113.9"), "headers join in order");
        let v6 = forwarded(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &v6, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&["unknown"]), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&["garbage, 10.0.0.3"]), &trusted), ip("10.0.0.3"));
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&["10.0.0.4, 10.0.0.3"]), &trusted), ip("10.0.0.4"));
    }
}
