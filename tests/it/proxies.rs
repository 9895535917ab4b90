//! Behind proxies at the core level, with raw sockets that write what proxies write:
//! X-Forwarded-For and Forwarded from a trusted proxy (and ignored from anyone else), PROXY
//! protocol v1 and v2 (and a connection without a valid header dropped with nothing sent),
//! the per-address limit on the real client address, and the health check path.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use godot_websocket_server::core::{Event, Server, TrustedProxies};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade(extra: &str) -> Vec<u8> {
    format!(
        "GET /play HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Writes `bytes` on a new connection from `from`, returns what the server answered until
/// the end of the HTTP head (or everything until the server closed).
fn exchange(port: u16, from: &str, bytes: &[u8]) -> (TcpStream, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &format!("{from}:0")
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket
        .connect(
            &format!("127.0.0.1:{port}")
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let mut s: TcpStream = socket.into();
    s.write_all(bytes).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend(&buf[..n]),
        }
    }
    (s, String::from_utf8_lossy(&got).into_owned())
}

fn peer_addresses(server: &mut Server, log: &mut Vec<Event>, n: usize) -> Vec<String> {
    poll_until(server, log, 5, |l| connected_ids(l).len() >= n);
    connected_ids(log)
        .iter()
        .map(|id| server.peer(*id).unwrap().remote_addr().to_string())
        .collect()
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let mut server = listening(&[], |s| {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        s.configure(|c| c.live.trusted_proxies = proxies).unwrap();
    });
    assert!(TrustedProxies::parse(&["not an address".into()]).is_err());
    let port = server.local_port();
    let mut log = Vec::new();
    // From the trusted proxy: the right-most untrusted hop of X-Forwarded-For.
    let (_a, r) = exchange(
        port,
        "127.0.0.1",
        &upgrade("X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    // Forwarded with a port.
    let (_b, r) = exchange(
        port,
        "127.0.0.1",
        &upgrade("Forwarded: for=\"198.51.100.2:4711\"\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    // A client that is no proxy cannot spoof its address.
    let (_c, r) = exchange(
        port,
        "127.0.0.2",
        &upgrade("X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    let addrs = peer_addresses(&mut server, &mut log, 3);
    assert_eq!(addrs[0], "203.0.113.7:0");
    assert_eq!(addrs[1], "198.51.100.2:4711");
    assert!(addrs[2].starts_with("127.0.0.2:"), "{}", addrs[2]);
}

#[test]
fn the_per_address_limit_applies_to_the_client_behind_the_proxy() {
    let mut server = listening(&[], |s| {
        let proxies = TrustedProxies::parse(&["127.0.0.0/8".into()]).unwrap();
        s.configure(|c| c.live.trusted_proxies = proxies).unwrap();
        s.configure(|c| c.live.max_connections_per_ip = 1).unwrap();
    });
    let port = server.local_port();
    let (_a, r) = exchange(
        port,
        "127.0.0.1",
        &upgrade("X-Forwarded-For: 203.0.113.7\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    let (_b, r) = exchange(
        port,
        "127.0.0.1",
        &upgrade("X-Forwarded-For: 203.0.113.7\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    // Another client through the same proxy still gets in.
    let (_c, r) = exchange(
        port,
        "127.0.0.1",
        &upgrade("X-Forwarded-For: 203.0.113.8\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    let mut log = Vec::new();
    assert_eq!(peer_addresses(&mut server, &mut log, 2).len(), 2);
}

fn v2_header(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12]);
    h.extend(client);
    h.extend([127, 0, 0, 1]);
    h.extend(port.to_be_bytes());
    h.extend(9080u16.to_be_bytes());
    h
}

#[test]
fn proxy_protocol_v1_and_v2_and_nothing_for_a_connection_without_one() {
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.proxy_protocol = true).unwrap()
    });
    assert!(server.settings().live.proxy_protocol);
    let port = server.local_port();
    let mut v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 9080\r\n".to_vec();
    v1.extend(upgrade(""));
    let (_a, r) = exchange(port, "127.0.0.1", &v1);
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    let mut v2 = v2_header([198, 51, 100, 9], 40000);
    v2.extend(upgrade(""));
    let (_b, r) = exchange(port, "127.0.0.1", &v2);
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    // No header: dropped, nothing sent (not even an HTTP error).
    let (_c, r) = exchange(port, "127.0.0.1", &upgrade(""));
    assert_eq!(r, "");
    let mut log = Vec::new();
    let addrs = peer_addresses(&mut server, &mut log, 2);
    assert_eq!(addrs, ["192.0.2.7:56324", "198.51.100.9:40000"]);
    poll_for(&mut server, &mut log, 200);
    assert_eq!(connected_ids(&log).len(), 2);

    // With trusted proxies set, only they may send headers.
    let proxies = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
    server
        .configure(|c| c.live.trusted_proxies = proxies)
        .unwrap();
    let mut v1 = b"PROXY TCP4 192.0.2.8 127.0.0.1 1 9080\r\n".to_vec();
    v1.extend(upgrade(""));
    let (_d, r) = exchange(port, "127.0.0.2", &v1);
    assert_eq!(r, "", "a PROXY header from an untrusted address");
}

#[test]
fn health_check_path_answers_plain_gets() {
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.health_check_path = "/healthz".into())
            .unwrap()
    });
    assert!(
        server
            .configure(|c| c.live.health_check_path = "healthz".into())
            .is_err()
    );
    assert!(
        server
            .configure(|c| c.live.health_check_path = "/a?b".into())
            .is_err()
    );
    let port = server.local_port();
    let rt = client_runtime();
    let _c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    let get = |path: &str| {
        let (mut s, head) = exchange(
            port,
            "127.0.0.1",
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let mut rest = String::new();
        let _ = s.read_to_string(&mut rest);
        head + &rest
    };
    let ok = get("/healthz");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.ends_with("ok\npeers 1\n"), "{ok}");
    // Every other plain request keeps the usual answer.
    assert!(get("/other").starts_with("HTTP/1.1 426"));
    // While draining: 503, so a load balancer takes the server out.
    server.stop_gracefully(Duration::from_secs(5)).unwrap();
    let draining = get("/healthz?probe=1");
    assert!(draining.starts_with("HTTP/1.1 503"), "{draining}");
    // Off again: a plain request like any other.
    server
        .configure(|c| c.live.health_check_path = "".into())
        .unwrap();
    assert!(get("/healthz").starts_with("HTTP/1.1 426"));
    assert_eq!(server.stats().accepted, 1, "health checks are not peers");
}
