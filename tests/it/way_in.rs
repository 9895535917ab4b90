//! The way in, with raw sockets and real clients: the upgrade request kept as sent,
//! handshake timeouts, and bad requests answered with HTTP errors that never become peers.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Event, Refused, SendError};
use tokio_tungstenite::tungstenite::Message;

#[test]
fn text_and_binary_round_trip_and_upgrade_request_kept() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = format!("{}play?room=3", url(&server));
    let mut c = rt.block_on(connect(&u, &[])).unwrap();
    rt.block_on(async {
        c.send(Message::text("héllo")).await.unwrap();
        c.send(Message::binary(vec![0u8, 255, 7])).await.unwrap();
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) == 2
    });
    let id = connected_ids(&log)[0];
    let peer = server.peer(id).unwrap().clone();
    assert_eq!(peer.path(), "/play?room=3");
    assert!(
        peer.headers()
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("host") && v.starts_with("127.0.0.1"))
    );
    assert_eq!(peer.remote_ip(), "127.0.0.1");
    assert!(peer.remote_addr().port() > 0);
    assert_eq!(peer.available_packets(), 2);
    let a = peer.recv().unwrap();
    assert!(a.is_text);
    assert_eq!(&a.data[..], "héllo".as_bytes());
    let b = peer.recv().unwrap();
    assert!(!b.is_text);
    assert_eq!(&b.data[..], &[0, 255, 7]);
    assert!(peer.recv().is_none());
    peer.send(Bytes::from_static(b"back"), true).unwrap();
    peer.send(Bytes::from_static(&[1, 2]), false).unwrap();
    assert_eq!(
        peer.send(Bytes::from_static(&[0xff, 0xfe]), true),
        Err(SendError::InvalidUtf8)
    );
    rt.block_on(async {
        assert_eq!(c.next().await.unwrap().unwrap(), Message::text("back"));
        assert_eq!(
            c.next().await.unwrap().unwrap(),
            Message::binary(vec![1, 2])
        );
    });
}

#[test]
fn handshake_timeout_drops_silent_and_half_requests() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.handshake_timeout = Duration::from_millis(500))
            .unwrap()
    });
    let addr = format!("127.0.0.1:{}", server.local_port());
    let started = Instant::now();
    let mut silent = TcpStream::connect(&addr).unwrap();
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        .unwrap();
    // A good client keeps working meanwhile.
    let mut good = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    rt.block_on(good.send(Message::text("still here"))).unwrap();
    echo_until(&mut server, &mut log, 5, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) == 1
    });
    assert_eq!(
        rt.block_on(good.next()).unwrap().unwrap(),
        Message::text("still here")
    );
    let (_, closed_silent) = read_to_close(&mut silent, 3);
    let (got, closed_half) = read_to_close(&mut half, 3);
    assert!(
        closed_silent && closed_half,
        "stalled clients must be dropped"
    );
    assert!(got.is_empty(), "a stalled client gets no response");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "dropped too early: {waited:?}"
    );
    poll_for(&mut server, &mut log, 100);
    assert_eq!(
        connected_ids(&log).len(),
        1,
        "stalled clients never become peers"
    );
    assert_eq!(server.stats().refused_for(Refused::HandshakeTimeout), 2);
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn bad_upgrade_requests_get_http_errors_and_never_become_peers() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let addr = format!("127.0.0.1:{}", server.local_port());
    let mut good = rt.block_on(connect(&url(&server), &[])).unwrap();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let base =
        "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let huge = format!(
        "GET / HTTP/1.1\r\n{base}{key}X-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "POST",
            format!("POST / HTTP/1.1\r\n{base}{key}\r\n").into_bytes(),
            "HTTP/1.1 405",
        ),
        (
            "no key",
            format!("GET / HTTP/1.1\r\n{base}\r\n").into_bytes(),
            "HTTP/1.1 400",
        ),
        (
            "bad key",
            format!("GET / HTTP/1.1\r\n{base}Sec-WebSocket-Key: short\r\n\r\n").into_bytes(),
            "HTTP/1.1 400",
        ),
        (
            "version 8",
            format!("GET / HTTP/1.1\r\n{}{key}\r\n", base.replace("13", "8")).into_bytes(),
            "HTTP/1.1 426",
        ),
        (
            "plain HTTP",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 426",
        ),
        ("huge headers", huge.into_bytes(), "HTTP/1.1 431"),
        (
            "garbage",
            b"\x00\x01\x02 hello\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
        ),
        ("not HTTP", b"hello there\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        (
            "TLS ClientHello",
            vec![
                0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
            ],
            "HTTP/1.1 400",
        ),
    ];
    let mut log = Vec::new();
    for (name, bytes, want) in cases {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(&bytes).unwrap();
        let (resp, closed) = read_to_close(&mut s, 5);
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with(want),
            "{name}: expected {want}, got {text:?}"
        );
        assert!(closed, "{name}: the server must close the connection");
        // The good client is not disturbed.
        rt.block_on(good.send(Message::text(name))).unwrap();
        echo_until(&mut server, &mut log, 5, |l| {
            count(l, |e| matches!(e, Event::Message { .. })) == 1
        });
        assert_eq!(
            rt.block_on(good.next()).unwrap().unwrap(),
            Message::text(name)
        );
        log.retain(|e| !matches!(e, Event::Message { .. }));
    }
    assert_eq!(
        connected_ids(&log).len(),
        1,
        "only the good client is a peer: {log:?}"
    );
}
