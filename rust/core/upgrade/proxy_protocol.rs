//! The PROXY protocol (v1 text and v2 binary, as HAProxy's `send-proxy` /
//! `send-proxy-v2`, nginx's `proxy_protocol on` and cloud network load balancers send it):
//! the client's address, written by an L4 proxy before anything else on the connection.
//! Exactly the header is consumed, so what follows (TLS or HTTP) is read as usual.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature.
const SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included.
const V1_MAX: usize = 107;
/// The shortest header of either version ("PROXY UNKNOWN\r\n").
const MIN: usize = 15;
/// The largest v2 address block accepted (addresses and TLVs).
const V2_MAX_BLOCK: usize = 4096;

/// What a valid header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// The client's address.
    Proxied(SocketAddr),
    /// A connection of the proxy's own (v2 LOCAL, a health check) or an unknown family:
    /// keep the TCP peer's address.
    Local,
}

/// Reads exactly one PROXY header from the start of `stream`; `None` when the
/// connection does not start with a valid one.
pub(crate) async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Header> {
    let mut buf = vec![0u8; MIN];
    stream.read_exact(&mut buf).await.ok()?;
    if buf.starts_with(b"PROXY ") {
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n") {
            if buf.len() >= V1_MAX {
                return None;
            }
            stream.read_exact(&mut byte).await.ok()?;
            buf.push(byte[0]);
        }
        return parse_v1(&buf);
    }
    if &buf[..12] != SIGNATURE {
        return None;
    }
    buf.resize(16, 0);
    stream.read_exact(&mut buf[MIN..]).await.ok()?;
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > V2_MAX_BLOCK {
        return None;
    }
    buf.resize(16 + len, 0);
    stream.read_exact(&mut buf[16..]).await.ok()?;
    parse_v2(&buf)
}

/// A whole v1 line: `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN...\r\n`.
pub(crate) fn parse_v1(line: &[u8]) -> Option<Header> {
    let text = std::str::from_utf8(line).ok()?.strip_suffix("\r\n")?;
    let mut parts = text.split(' ');
    if parts.next()? != "PROXY" {
        return None;
    }
    let family = parts.next()?;
    if family == "UNKNOWN" {
        return Some(Header::Local);
    }
    let (src, _dst, sport, _dport) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ip: IpAddr = match family {
        "TCP4" => IpAddr::V4(src.parse::<Ipv4Addr>().ok()?),
        "TCP6" => IpAddr::V6(src.parse::<Ipv6Addr>().ok()?),
        _ => return None,
    };
    let port: u16 = sport.parse().ok()?;
    Some(Header::Proxied(SocketAddr::new(ip, port)))
}

/// A whole v2 header (signature, version and command, family, length, address block).
pub(crate) fn parse_v2(h: &[u8]) -> Option<Header> {
    if h.len() < 16 || &h[..12] != SIGNATURE || h[12] >> 4 != 2 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([h[14], h[15]]));
    let block = h.get(16..16 + len)?;
    match h[12] & 0x0f {
        0 => return Some(Header::Local),
        1 => {}
        _ => return None,
    }
    match h[13] {
        // TCP over IPv4: src, dst, sport, dport.
        0x11 if block.len() >= 12 => {
            let ip = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            let port = u16::from_be_bytes([block[8], block[9]]);
            Some(Header::Proxied(SocketAddr::new(ip.into(), port)))
        }
        0x21 if block.len() >= 36 => {
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&block[..16]).ok()?);
            let port = u16::from_be_bytes([block[32], block[33]]);
            Some(Header::Proxied(SocketAddr::new(ip.into(), port)))
        }
        0x11 | 0x21 => None,
        // UNSPEC, UDP, UNIX: not a TCP client address.
        _ => Some(Header::Local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Option<Header>, Vec<u8>) {
        let mut r = bytes;
        let h = read_header(&mut r).await;
        (h, r.to_vec())
    }

    fn v2(cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(fam);
        h.extend((block.len() as u16).to_be_bytes());
        h.extend(block);
        h
    }

    #[tokio::test]
    async fn v1_lines_and_what_follows() {
        let (h, rest) = read(b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1").await;
        assert_eq!(h, Some(Header::Proxied("192.0.2.7:56324".parse().unwrap())));
        assert_eq!(rest, b"GET / HTTP/1.1");
        let (h, _) = read(b"PROXY TCP6 2001:db8::1 ::1 4000 443\r\n").await;
        assert_eq!(
            h,
            Some(Header::Proxied("[2001:db8::1]:4000".parse().unwrap()))
        );
        let (h, rest) = read(b"PROXY UNKNOWN\r\n\x16\x03\x01").await;
        assert_eq!(
            (h, rest.as_slice()),
            (Some(Header::Local), &b"\x16\x03\x01"[..])
        );
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4",
        ] {
            assert_eq!(
                read(bad).await.0,
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        assert_eq!(read(long.as_bytes()).await.0, None);
    }

    #[tokio::test]
    async fn v2_headers_and_what_follows() {
        let mut block = vec![198, 51, 100, 9, 10, 0, 0, 1];
        block.extend(40000u16.to_be_bytes());
        block.extend(443u16.to_be_bytes());
        let mut bytes = v2(1, 0x11, &block);
        bytes.extend(b"\x16\x03\x01rest");
        let (h, rest) = read(&bytes).await;
        assert_eq!(
            h,
            Some(Header::Proxied("198.51.100.9:40000".parse().unwrap()))
        );
        assert_eq!(rest, b"\x16\x03\x01rest");
        let mut block6 = "2001:db8::5".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        block6.extend([0u8; 16]);
        block6.extend(1234u16.to_be_bytes());
        block6.extend(443u16.to_be_bytes());
        block6.extend([0x04, 0x00, 0x01, 0xaa]); // a TLV
        assert_eq!(
            read(&v2(1, 0x21, &block6)).await.0,
            Some(Header::Proxied("[2001:db8::5]:1234".parse().unwrap()))
        );
        assert_eq!(read(&v2(0, 0x00, &[])).await.0, Some(Header::Local));
        assert_eq!(read(&v2(1, 0x11, &block[..6])).await.0, None, "short block");
        assert_eq!(read(&v2(3, 0x11, &block)).await.0, None, "unknown command");
        let mut wrong_version = v2(1, 0x11, &block);
        wrong_version[12] = 0x11;
        assert_eq!(read(&wrong_version).await.0, None);
        assert_eq!(read(&SIGNATURE[..10]).await.0, None, "cut short");
    }
}
