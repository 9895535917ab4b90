//! The server core against real clients over real sockets on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Buffers, Error, Event, ReadyState, Refused, SendError, Server};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn http_status(err: tokio_tungstenite::tungstenite::Error) -> u16 {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[test]
fn subprotocol_negotiation_and_ids() {
    let rt = client_runtime();
    let mut server = listening(&["chat", "json"], |_| {});
    let u = url(&server);
    // The first protocol of the client's offer that the server supports wins.
    let c1 = rt.block_on(connect(&u, &["json", "chat"])).unwrap();
    let c2 = rt.block_on(connect(&u, &["xml", "chat"])).unwrap();
    assert_eq!(
        http_status(rt.block_on(connect(&u, &["xml"])).unwrap_err()),
        400
    );
    assert_eq!(http_status(rt.block_on(connect(&u, &[])).unwrap_err()), 400);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
    let protocols: Vec<_> = log
        .iter()
        .filter_map(|e| {
            if let Event::Connected { protocol, .. } = e {
                Some(protocol.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(protocols, ["json", "chat"]);
    let ids = connected_ids(&log);
    assert!(
        ids.iter().all(|id| *id >= 2) && ids[0] != ids[1],
        "ids {ids:?}"
    );
    assert_eq!(server.peer(ids[0]).unwrap().protocol(), "json");
    poll_for(&mut server, &mut log, 200);
    assert_eq!(
        connected_ids(&log).len(),
        2,
        "refused clients never become peers: {log:?}"
    );
    drop((c1, c2));

    // No list on the server and no offer: protocol "". An offer to a server without a
    // list is refused, as Godot does.
    let mut plain = listening(&[], |_| {});
    let u = url(&plain);
    let _c = rt.block_on(connect(&u, &[])).unwrap();
    assert_eq!(
        http_status(rt.block_on(connect(&u, &["chat"])).unwrap_err()),
        400
    );
    let mut log = Vec::new();
    poll_until(&mut plain, &mut log, 5, |l| !connected_ids(l).is_empty());
    assert_eq!(
        log[0],
        Event::Connected {
            id: connected_ids(&log)[0],
            protocol: String::new()
        }
    );
}

#[test]
fn ids_are_never_reused() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let mut seen = std::collections::HashSet::new();
    let mut log = Vec::new();
    for _ in 0..20 {
        let c = rt.block_on(connect(&u, &[])).unwrap();
        drop(c);
    }
    poll_until(&mut server, &mut log, 10, |l| {
        count(l, |e| matches!(e, Event::Disconnected { .. })) == 20
    });
    for id in connected_ids(&log) {
        assert!(id >= 2 && seen.insert(id), "id {id} reused or < 2");
    }
}

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
fn message_sizes_up_to_the_inbound_limit_and_1009_beyond() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.set_buffers(Buffers::from_godot(64, 1024, 128, 1024).unwrap())
            .unwrap()
    });
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let sizes = [1usize, 2, 125, 126, 127, 65535, 65536];
    let mut log = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        rt.block_on(c.send(Message::binary(payload.clone())))
            .unwrap();
        echo_until(&mut server, &mut log, 5, |l| {
            count(l, |e| matches!(e, Event::Message { .. })) == i + 1
        });
        let back = rt.block_on(c.next()).unwrap().unwrap();
        assert_eq!(back.into_data().as_ref(), &payload[..], "{n} bytes");
    }
    // One byte over the inbound limit: the server closes with 1009.
    rt.block_on(c.send(Message::binary(vec![1u8; 65537])))
        .unwrap();
    let close = rt.block_on(next_close(&mut c));
    assert_eq!(close.unwrap().code, CloseCode::Size);
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(log.contains(&Event::Disconnected {
        id: connected_ids(&log)[0],
        was_clean: false
    }));
}

#[test]
fn hundred_clients_thousand_messages_each_way_in_order() {
    const CLIENTS: usize = 100;
    const MESSAGES: u32 = 1000;
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let u = u.clone();
        let done = done.clone();
        tasks.push(rt.spawn(async move {
            let ws = connect(&u, &[]).await.unwrap();
            let (mut tx, mut rx) = ws.split();
            let sender = tokio::spawn(async move {
                for i in 0..MESSAGES {
                    let mut m = (c as u32).to_le_bytes().to_vec();
                    m.extend_from_slice(&i.to_le_bytes());
                    tx.feed(Message::binary(m)).await.unwrap();
                }
                tx.flush().await.unwrap();
                tx
            });
            for i in 0..MESSAGES {
                let m = rx.next().await.unwrap().unwrap().into_data();
                assert_eq!(&m[..4], &(c as u32).to_le_bytes());
                assert_eq!(
                    &m[4..],
                    &i.to_le_bytes(),
                    "client {c} got message out of order"
                );
            }
            let tx = sender.await.unwrap();
            done.fetch_add(1, Ordering::SeqCst);
            tx.reunite(rx).unwrap()
        }));
    }
    // Server side: check order per peer, echo everything back.
    let mut next: std::collections::HashMap<i32, u32> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut batch = Vec::new();
    let mut received = 0usize;
    while done.load(Ordering::SeqCst) < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "timed out: {received} messages received"
        );
        server.wait(Duration::from_millis(10));
        server.poll(&mut batch);
        for e in batch.drain(..) {
            if let Event::Message { id } = e {
                let p = server.peer(id).unwrap();
                while let Some(m) = p.recv() {
                    let i = u32::from_le_bytes(m.data[4..8].try_into().unwrap());
                    let expect = next.entry(id).or_insert(0);
                    assert_eq!(i, *expect, "peer {id}: message out of order");
                    *expect += 1;
                    received += 1;
                    p.send(m.data, false).unwrap();
                }
            }
        }
    }
    assert_eq!(received, CLIENTS * MESSAGES as usize);
    assert_eq!(next.len(), CLIENTS);
    for t in tasks {
        drop(rt.block_on(t).unwrap());
    }
}

#[test]
fn clean_close_started_by_the_client() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let id = connected_ids(&log)[0];
    let peer = server.peer(id).unwrap().clone();
    let reply = rt.block_on(async {
        c.close(Some(CloseFrame {
            code: CloseCode::Library(4001),
            reason: "bye now".into(),
        }))
        .await
        .unwrap();
        next_close(&mut c).await
    });
    assert_eq!(reply.unwrap().code, CloseCode::Library(4001));
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let tail: Vec<_> = log.iter().skip(1).cloned().collect();
    assert_eq!(
        tail,
        [
            Event::CloseRequested {
                id,
                code: 4001,
                reason: "bye now".into()
            },
            Event::Disconnected {
                id,
                was_clean: true
            }
        ]
    );
    assert!(!server.has_peer(id));
    assert_eq!(peer.ready_state(), ReadyState::Closed);
    assert_eq!(peer.close_code(), 4001);
    assert_eq!(peer.close_reason(), "bye now");
}

#[test]
fn clean_close_started_by_the_server() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let id = connected_ids(&log)[0];
    let peer = server.peer(id).unwrap().clone();
    peer.send(Bytes::from_static(b"last words"), true).unwrap();
    server.disconnect_peer(id, 4002, "kicked").unwrap();
    assert_eq!(peer.ready_state(), ReadyState::Closing);
    assert_eq!(
        peer.send(Bytes::from_static(b"x"), true),
        Err(SendError::Closed)
    );
    let (msgs, close) = rt.block_on(async {
        let mut msgs = Vec::new();
        loop {
            match c.next().await {
                Some(Ok(Message::Close(f))) => {
                    // Keep reading so that tungstenite sends its reply.
                    while let Some(Ok(_)) = c.next().await {}
                    break (msgs, f);
                }
                Some(Ok(m)) => msgs.push(m),
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    });
    assert_eq!(
        msgs,
        [Message::text("last words")],
        "queued messages go out before the close frame"
    );
    let close = close.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::Library(4002), "kicked")
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        log.last().unwrap(),
        &Event::Disconnected {
            id,
            was_clean: true
        }
    );
    assert!(matches!(
        server.disconnect_peer(id, 1000, ""),
        Err(Error::UnknownPeer(_))
    ));
    assert!(
        peer.close(999, "").is_err(),
        "invalid close codes are refused"
    );
}

#[test]
fn abrupt_disconnect_is_unclean() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    drop(c); // TCP closed without a close frame
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        log.last().unwrap(),
        &Event::Disconnected {
            id: connected_ids(&log)[0],
            was_clean: false
        }
    );
}

/// Reads until EOF or error; returns what came and whether the server closed within `secs`.
fn read_to_close(s: &mut TcpStream, secs: u64) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

#[test]
fn handshake_timeout_drops_silent_and_half_requests() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| s.set_handshake_timeout(Duration::from_millis(500)));
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

#[test]
fn listen_errors_bind_address_and_restart_on_the_same_port() {
    let rt = client_runtime();
    let mut a = listening(&[], |_| {});
    let port = a.local_port();
    assert!(matches!(
        a.listen(port, &[], false),
        Err(Error::AlreadyListening)
    ));
    let mut b = Server::new();
    b.set_bind_ip("127.0.0.1");
    assert!(
        matches!(b.listen(port, &[], false), Err(Error::Bind { .. })),
        "port in use"
    );
    b.set_bind_ip("not an address");
    assert!(matches!(
        b.listen(0, &[], false),
        Err(Error::InvalidAddress(_))
    ));
    b.set_bind_ip("127.0.0.1");
    assert!(matches!(
        b.listen(0, &["bad protocol".into()], false),
        Err(Error::InvalidParameter(_))
    ));
    assert!(!b.is_listening());

    // Bound to 127.0.0.1 only: IPv6 loopback does not reach it.
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    if ipv6 {
        assert!(TcpStream::connect(format!("[::1]:{port}")).is_err());
    }

    // stop() closes peers with 1001 and frees the port at once.
    let mut c = rt.block_on(connect(&url(&a), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut a, &mut log, 5, |l| !connected_ids(l).is_empty());
    a.stop();
    assert!(!a.is_listening());
    assert_eq!(a.local_port(), 0);
    a.listen(port, &[], false)
        .expect("listen again on the same port right after stop()");
    let close = rt.block_on(next_close(&mut c));
    assert_eq!(close.unwrap().code, CloseCode::Away);
    let _c2 = rt.block_on(connect(&url(&a), &[])).unwrap();
    let mut log2 = Vec::new();
    poll_until(&mut a, &mut log2, 5, |l| !connected_ids(l).is_empty());
    assert!(
        connected_ids(&log2)[0] != connected_ids(&log)[0],
        "ids are not reused after a restart"
    );
    assert!(
        !log2.iter().any(|e| matches!(e, Event::Disconnected { .. })),
        "no events from the old session"
    );

    // "*" listens on IPv4 and IPv6 together.
    let mut any = Server::new();
    any.listen(0, &[], false).unwrap();
    let p = any.local_port();
    assert!(TcpStream::connect(format!("127.0.0.1:{p}")).is_ok());
    if ipv6 {
        assert!(TcpStream::connect(format!("[::1]:{p}")).is_ok());
    }
}

#[test]
fn outbound_limit_fails_sends_and_loses_nothing() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.set_buffers(Buffers::from_godot(64, 1024, 64, 1024).unwrap())
            .unwrap()
    });
    // A client with a small receive buffer that does not read yet.
    let port = server.local_port();
    let c = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let tcp = sock
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
            .await
            .unwrap()
            .0
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let peer = server.peer(connected_ids(&log)[0]).unwrap().clone();
    let chunk = Bytes::from(vec![7u8; 16 * 1024]);
    let mut sent = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        assert!(
            Instant::now() < deadline,
            "sends never failed: {sent} accepted"
        );
        match peer.send(chunk.clone(), false) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(peer.buffered_amount() <= 64 * 1024);
        if sent.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    assert!(matches!(err, SendError::BufferFull { .. }), "{err:?}");
    assert!(peer.buffered_amount() <= 64 * 1024);
    assert!(matches!(
        peer.send(Bytes::from(vec![0u8; 65 * 1024]), false),
        Err(SendError::TooLarge { .. })
    ));
    // Everything accepted arrives, whole.
    let got = rt.block_on(async move {
        let mut c = c;
        let mut n = 0;
        while n < sent {
            let m = c.next().await.unwrap().unwrap();
            assert_eq!(m.into_data().len(), 16 * 1024);
            n += 1;
        }
        n
    });
    assert_eq!(got, sent);
}

#[test]
fn inbound_backpressure_loses_nothing_when_nobody_polls() {
    const COUNT: u32 = 20_000;
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let progress = Arc::new(AtomicUsize::new(0));
    let u = url(&server);
    let p2 = progress.clone();
    let client = rt.spawn(async move {
        let mut c = connect(&u, &[]).await.unwrap();
        for i in 0..COUNT {
            let mut m = i.to_le_bytes().to_vec();
            m.resize(1024, 0);
            c.send(Message::binary(m)).await.unwrap();
            p2.store(i as usize + 1, Ordering::SeqCst);
        }
        c
    });
    // Nobody polls for a second: the server stops reading, so the client blocks.
    std::thread::sleep(Duration::from_secs(1));
    let stalled_at = progress.load(Ordering::SeqCst);
    assert!(
        stalled_at < COUNT as usize,
        "the client sent all {COUNT} messages (20 MB) while nobody read: no backpressure"
    );
    let mut batch = Vec::new();
    let mut next = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < COUNT {
        assert!(Instant::now() < deadline, "received {next} of {COUNT}");
        server.wait(Duration::from_millis(10));
        server.poll(&mut batch);
        for e in batch.drain(..) {
            if let Event::Message { id } = e {
                let p = server.peer(id).unwrap();
                while let Some(m) = p.recv() {
                    assert_eq!(u32::from_le_bytes(m.data[..4].try_into().unwrap()), next);
                    next += 1;
                }
            }
        }
    }
    drop(rt.block_on(client).unwrap());
    println!(
        "client stalled at {stalled_at} of {COUNT} messages while nobody polled; all {COUNT} arrived in order"
    );
}

#[test]
fn messages_sent_before_a_close_stay_readable_after_it() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let id = connected_ids(&log)[0];
    let peer = server.peer(id).unwrap().clone();
    rt.block_on(async {
        for i in 0..10 {
            c.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        c.close(None).await.unwrap();
        while let Some(Ok(_)) = c.next().await {}
    });
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(!server.has_peer(id));
    assert_eq!(peer.ready_state(), ReadyState::Closed);
    let got: Vec<String> = std::iter::from_fn(|| peer.recv())
        .map(|m| String::from_utf8(m.data.to_vec()).unwrap())
        .collect();
    assert_eq!(got, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(
        peer.close_code(),
        1005,
        "a close frame without a code reports 1005"
    );
}

#[test]
fn buffers_follow_godot_rules() {
    let b = Buffers::from_godot(3, 1000, 64, 1).unwrap();
    assert_eq!(
        b,
        Buffers {
            in_bytes: 4096,
            in_packets: 1024,
            out_bytes: 65536,
            out_packets: 1
        }
    );
    assert!(Buffers::from_godot(0, 1, 1, 1).is_err());
    assert!(Buffers::from_godot(1, -1, 1, 1).is_err());
    let mut s = listening(&[], |_| {});
    assert!(
        matches!(s.set_buffers(Buffers::default()), Err(Error::Busy(_))),
        "only before listen()"
    );
    s.stop();
    s.set_buffers(b).unwrap();
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(connect(&url(&server), &[])).unwrap();
    let bad = Frame::message(vec![0x68, 0x69, 0xff, 0xfe], OpCode::Data(Data::Text), true);
    rt.block_on(c.send(Message::Frame(bad))).unwrap();
    let close = rt.block_on(next_close(&mut c));
    assert_eq!(close.unwrap().code, CloseCode::Invalid);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        count(&log, |e| matches!(e, Event::Message { .. })),
        0,
        "the bad message is not delivered"
    );
}

#[test]
fn a_burst_of_a_thousand_clients_all_get_in() {
    const CLIENTS: usize = 1000;
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let u = u.clone();
            rt.spawn(async move { connect(&u, &[]).await })
        })
        .collect();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 60, |l| {
        connected_ids(l).len() == CLIENTS
    });
    let clients: Vec<_> = tasks
        .into_iter()
        .map(|t| {
            rt.block_on(t)
                .unwrap()
                .expect("every client of the burst connects")
        })
        .collect();
    assert_eq!(server.peer_count(), CLIENTS);
    drop(clients);
    poll_until(&mut server, &mut log, 60, |l| {
        count(l, |e| matches!(e, Event::Disconnected { .. })) == CLIENTS
    });
    assert_eq!(server.peer_count(), 0);
}

#[test]
fn a_client_that_comes_speaks_and_leaves_between_two_polls_is_readable() {
    // Found by the connection_bytes fuzz target: Connected, Message and Disconnected in
    // one batch, and the peer was already gone while the batch was being handled.
    let mut server = listening(&[], |_| {});
    let mut s = TcpStream::connect(("127.0.0.1", server.local_port())).unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec();
    let mask = [1u8, 2, 3, 4];
    for (op, payload) in [(1u8, &b"hi"[..]), (8, &[0x03, 0xe8][..])] {
        bytes.extend([0x80 | op, 0x80 | payload.len() as u8]);
        bytes.extend(mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }
    s.write_all(&bytes).unwrap();
    let (_, closed) = read_to_close(&mut s, 5);
    assert!(closed);
    std::thread::sleep(Duration::from_millis(300));
    let mut batch = Vec::new();
    server.poll(&mut batch);
    let id = connected_ids(&batch)[0];
    assert_eq!(
        batch.len(),
        4,
        "connected, message, close request, disconnected: {batch:?}"
    );
    let mut texts = Vec::new();
    for e in &batch {
        let peer = server
            .peer(e_id(e))
            .expect("the peer is readable for its whole batch");
        if let Event::Message { .. } = e {
            texts.push(peer.recv().unwrap().data);
        }
    }
    assert_eq!(texts, [Bytes::from_static(b"hi")]);
    assert!(!server.has_peer(id), "gone from the connected peers");
    server.poll(&mut batch);
    assert!(
        server.peer(id).is_none(),
        "and from peer() after the next poll"
    );
}

fn e_id(e: &Event) -> i32 {
    match e {
        Event::Connected { id, .. }
        | Event::Message { id }
        | Event::CloseRequested { id, .. }
        | Event::Disconnected { id, .. }
        | Event::UpgradeEnded { id } => *id,
        Event::UpgradeRequested(r) => r.id,
        Event::Drained | Event::BroadcastMissed(_) | Event::Redis(_) => 0,
    }
}
