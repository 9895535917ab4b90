//! Behind a reverse proxy: which TCP peers are trusted proxies, and the client's address
//! from the headers they add (`Forwarded: for=`, `X-Forwarded-For`). From any other peer
//! those headers are ignored, so a client cannot spoof its address.

use std::net::{IpAddr, SocketAddr};

use crate::core::error::Error;

/// One `trusted_proxies` entry: an address or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(entry: &str) -> Result<Self, Error> {
        let bad = || {
            Error::InvalidParameter(format!(
                "trusted_proxies entry \"{entry}\" is not an IP address or CIDR range; use e.g. \"127.0.0.1\", \"10.0.0.0/8\" or \"fd00::/8\""
            ))
        };
        let entry = entry.trim();
        let (addr, prefix) = match entry.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (entry, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Whether `ip` is one of the trusted proxies.
pub(crate) fn is_trusted(proxies: &[Cidr], ip: IpAddr) -> bool {
    proxies.iter().any(|c| c.contains(ip))
}

/// The client's address for a request that came through the trusted proxy `remote`:
/// the right-most address of `Forwarded: for=` (or, without that header,
/// `X-Forwarded-For`) that is not itself a trusted proxy. The port comes from
/// `Forwarded: for="ip:port"` when the proxy sends it, else it is 0 (X-Forwarded-For
/// carries none). `remote` itself when the headers name no usable address.
pub(crate) fn client_address(
    proxies: &[Cidr],
    remote: SocketAddr,
    headers: &[(String, String)],
) -> SocketAddr {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut hops: Vec<SocketAddr> = values("forwarded")
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node(v.trim()))?
            })
        })
        .collect();
    if hops.is_empty() {
        hops = values("x-forwarded-for")
            .flat_map(|v| v.split(','))
            .filter_map(|a| node(a.trim()))
            .collect();
    }
    hops.into_iter()
        .rev()
        .find(|hop| !is_trusted(proxies, hop.ip()))
        .unwrap_or(remote)
}

/// One node of a forwarding header: `1.2.3.4`, `"1.2.3.4:5678"`, `"[::1]:5678"`, `::1`.
fn node(text: &str) -> Option<SocketAddr> {
    let t = text.trim_matches('"');
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = t.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("127.0.0.1")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(
            !Cidr::parse("127.0.0.1")
                .unwrap()
                .contains("127.0.0.2".parse().unwrap())
        );
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_right_most_untrusted_hop() {
        let proxies = vec![
            Cidr::parse("127.0.0.1").unwrap(),
            Cidr::parse("10.0.0.0/8").unwrap(),
        ];
        let remote: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let from = |headers: &[(&str, &str)]| client_address(&proxies, remote, &h(headers));
        assert_eq!(
            from(&[("X-Forwarded-For", "203.0.113.7")]).to_string(),
            "203.0.113.7:0"
        );
        // A client-supplied value on the left is not trusted: the right-most untrusted wins.
        assert_eq!(
            from(&[("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.1.1.1")])
                .ip()
                .to_string(),
            "203.0.113.7"
        );
        assert_eq!(
            from(&[("Forwarded", "for=\"198.51.100.2:4711\";proto=https")]).to_string(),
            "198.51.100.2:4711"
        );
        assert_eq!(
            from(&[("Forwarded", "for=\"[2001:db8::1]:80\", for=10.0.0.2")]).to_string(),
            "[2001:db8::1]:80"
        );
        // Forwarded wins over X-Forwarded-For; nothing usable keeps the TCP peer.
        assert_eq!(
            from(&[("X-Forwarded-For", "1.1.1.1"), ("Forwarded", "for=2.2.2.2")])
                .ip()
                .to_string(),
            "2.2.2.2"
        );
        assert_eq!(from(&[("Forwarded", "for=unknown")]), remote);
        assert_eq!(from(&[]), remote);
    }
}
