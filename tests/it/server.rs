//! The server as the game sees it, against real clients on 127.0.0.1: subprotocols and
//! ids, many clients at once, a client that comes and goes between two polls, what arrives
//! during a poll (poll_more), listening again on the same port, and the graceful stop.

use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::{Error, Event, Server};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn subprotocol_negotiation_and_ids() {
    let rt = client_runtime();
    let mut server = listening(&["chat", "json"], |_| {});
    let u = url(&server);
    // The first protocol of the client's offer that the server supports wins.
    let c1 = rt.block_on(connect(&u, &["json", "chat"])).unwrap();
    let c2 = rt.block_on(connect(&u, &["xml", "chat"])).unwrap();
    assert_eq!(
        refusal_status(rt.block_on(connect(&u, &["xml"])).unwrap_err()),
        400
    );
    assert_eq!(
        refusal_status(rt.block_on(connect(&u, &[])).unwrap_err()),
        400
    );
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
        refusal_status(rt.block_on(connect(&u, &["chat"])).unwrap_err()),
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
fn listen_errors_bind_address_and_restart_on_the_same_port() {
    let rt = client_runtime();
    let mut a = listening(&[], |_| {});
    let port = a.local_port();
    assert!(matches!(
        a.listen(port, &[], false),
        Err(Error::AlreadyListening)
    ));
    let mut b = Server::new();
    b.configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
    assert!(
        matches!(b.listen(port, &[], false), Err(Error::Bind { .. })),
        "port in use"
    );
    b.configure(|c| c.listen.bind_ip = "not an address".into())
        .unwrap();
    assert!(matches!(
        b.listen(0, &[], false),
        Err(Error::InvalidAddress(_))
    ));
    b.configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
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
    // Not polled until the connection's end is counted: its task queues the Disconnected
    // right after that, in the same step (a margin for a descheduled thread).
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().accepted != 1 || server.stats().peers != 0 {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
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

#[test]
fn poll_more_takes_what_arrived_since_and_keeps_the_departed_readable() {
    // What the Godot layer's poll() asks for after its handlers ran: the events since,
    // without starting a new frame (a peer reported gone stays readable until poll()).
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let (a, mut b) = rt.block_on(async {
        (
            connect(&u, &[]).await.unwrap(),
            connect(&u, &[]).await.unwrap(),
        )
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 10, |l| connected_ids(l).len() == 2);
    let (id_a, id_b) = (connected_ids(&log)[0], connected_ids(&log)[1]);
    drop(a);
    poll_until(&mut server, &mut log, 10, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let gone = log
        .iter()
        .find_map(|e| match e {
            Event::Disconnected { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    let stayed = if gone == id_a { id_b } else { id_a };
    let mut batch = Vec::new();
    assert!(!server.poll_more(&mut batch), "nothing new: {batch:?}");
    rt.block_on(b.send(Message::text("late"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.poll_more(&mut batch) {
        assert!(Instant::now() < deadline, "the message never came");
        server.wait(Duration::from_millis(50));
    }
    assert!(
        matches!(batch[..], [Event::Message { id }] if id == stayed),
        "{batch:?}"
    );
    assert_eq!(
        &server.peer(stayed).unwrap().recv().unwrap().data[..],
        b"late"
    );
    assert!(
        server.peer(gone).is_some(),
        "the departed peer stays readable"
    );
    batch.clear();
    server.poll(&mut batch);
    assert!(server.peer(gone).is_none(), "until the next poll()");
}

fn e_id(e: &Event) -> i32 {
    match e {
        Event::Connected { id, .. }
        | Event::Message { id }
        | Event::CloseRequested { id, .. }
        | Event::Disconnected { id, .. }
        | Event::UpgradeEnded { id }
        | Event::Away { id }
        | Event::Back { id } => *id,
        Event::UpgradeRequested(r) => r.id,
        Event::Drained
        | Event::BroadcastMissed(_)
        | Event::Redis(_)
        | Event::OutOfFileDescriptors { .. } => 0,
    }
}

#[test]
fn a_graceful_stop_refuses_newcomers_serves_the_grace_then_closes_with_1001() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let port = server.local_port();
    let clients: Vec<Client> = (0..3)
        .map(|_| rt.block_on(connect(&u, &[])).unwrap())
        .collect();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 3);
    let ids = connected_ids(&log);
    let grace = Duration::from_millis(800);
    let started = Instant::now();
    server.stop_gracefully(grace).unwrap();
    assert!(server.is_draining() && server.is_listening());
    // Newcomers are refused meanwhile.
    let (status, _) = refusal(rt.block_on(connect_with(&u, &[])).unwrap_err());
    assert_eq!(status, 503);
    // The game keeps serving: messages sent during the grace arrive.
    for (i, id) in ids.iter().enumerate() {
        server
            .peer(*id)
            .unwrap()
            .send(format!("during the grace {i}").into(), true)
            .unwrap();
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            rt.spawn(async move {
                let mut texts = Vec::new();
                loop {
                    match c.next().await {
                        Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
                        Some(Ok(Message::Close(f))) => return (texts, f.map(|f| f.code)),
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    poll_until(&mut server, &mut log, 10, |l| l.contains(&Event::Drained));
    let drained_after = started.elapsed();
    assert!(drained_after >= grace, "{drained_after:?}");
    for r in readers {
        let (texts, code) = rt.block_on(r).unwrap();
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert_eq!(code, Some(CloseCode::Away));
    }
    for id in &ids {
        assert!(
            log.iter()
                .any(|e| matches!(e, Event::Disconnected { id: d, .. } if d == id))
        );
    }
    let drained_pos = log.iter().position(|e| e == &Event::Drained).unwrap();
    assert!(
        log[..drained_pos]
            .iter()
            .filter(|e| matches!(e, Event::Disconnected { .. }))
            .count()
            == 3,
        "every disconnect comes before Drained"
    );
    assert!(!server.is_listening() && !server.is_draining());
    println!("graceful stop: grace {grace:?}, drained after {drained_after:?}");
    // The port is free: the process could exit, or listen again.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}
