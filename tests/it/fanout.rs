//! Broadcast and groups with real clients (Python `websockets` processes): membership,
//! exclude lists, order with direct sends, leaving groups on disconnect, and a client that
//! cannot take a message reported while everyone else gets it.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::engine::{Running, python, root};
use common::*;
use godot_websocket_server::core::{Event, Missed, Server};

fn listener(url: &str) -> Running {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/clients/listener.py")).arg(url);
    let mut r = Running::start(cmd);
    r.wait_line("OPEN", Duration::from_secs(10));
    r
}

/// Polls until every line in `lines` was printed by `client`, in that order among its
/// lines; fails if `client` printed any line of `absent`.
fn expect_lines(server: &mut Server, client: &mut Running, lines: &[String]) {
    for line in lines {
        let mut log = Vec::new();
        poll_for(server, &mut log, 1);
        client.wait_line(line, Duration::from_secs(5));
    }
}

#[test]
fn groups_exclude_order_and_leaving() {
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let mut log = Vec::new();
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..4 {
        clients.push(listener(&u));
        poll_until(&mut server, &mut log, 5, |l| {
            connected_ids(l).len() == ids.len() + 1
        });
        ids.push(*connected_ids(&log).last().unwrap());
    }
    let [a, b, c, d] = [ids[0], ids[1], ids[2], ids[3]];
    server.add_peer_to_group(a, "red").unwrap();
    server.add_peer_to_group(b, "red").unwrap();
    server.add_peer_to_group(c, "blue").unwrap();
    server.add_peer_to_group(a, "blue").unwrap();
    assert!(
        server.add_peer_to_group(12345, "red").is_err(),
        "unknown peer"
    );
    assert_eq!(server.peer_groups(a), ["blue", "red"]);
    let mut red = vec![a, b];
    red.sort();
    assert_eq!(server.group_peers("red"), red);
    assert!(server.group_peers("green").is_empty());

    server.send_to_group("red", b"r1", true, &[]).unwrap();
    server
        .send_to_group("red", b"r2 not a", true, &[a])
        .unwrap();
    server.broadcast(b"all but d", true, &[d]).unwrap();
    server.send_to_group("blue", b"b1", true, &[]).unwrap();
    // A's order with direct sends in between.
    let peer_a = server.peer(a).unwrap().clone();
    for i in 0..50 {
        peer_a.send(format!("direct {i}").into(), true).unwrap();
        server
            .broadcast(format!("broadcast {i}").as_bytes(), true, &[])
            .unwrap();
    }
    server.broadcast(b"end", true, &[]).unwrap();
    for client in clients.iter_mut() {
        expect_lines(&mut server, client, &["end".into()]);
    }
    let lines: Vec<Vec<String>> = clients.iter().map(|c| c.seen[1..].to_vec()).collect();
    let relevant = |l: &Vec<String>| -> Vec<String> {
        l.iter()
            .filter(|x| !x.starts_with("direct") && !x.starts_with("broadcast"))
            .cloned()
            .collect()
    };
    assert_eq!(relevant(&lines[0]), ["r1", "all but d", "b1", "end"]);
    assert_eq!(relevant(&lines[1]), ["r1", "r2 not a", "all but d", "end"]);
    assert_eq!(relevant(&lines[2]), ["all but d", "b1", "end"]);
    assert_eq!(relevant(&lines[3]), ["end"]);
    let interleaved: Vec<String> = lines[0]
        .iter()
        .filter(|x| x.starts_with("direct") || x.starts_with("broadcast"))
        .cloned()
        .collect();
    let expected: Vec<String> = (0..50)
        .flat_map(|i| [format!("direct {i}"), format!("broadcast {i}")])
        .collect();
    assert_eq!(
        interleaved, expected,
        "direct sends and broadcasts in the order they were made"
    );

    // B leaves: it leaves its groups.
    drop(clients.remove(1));
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter()
            .any(|e| matches!(e, Event::Disconnected { id, .. } if *id == b))
    });
    assert_eq!(server.group_peers("red"), [a]);
    assert!(server.remove_peer_from_group(a, "blue").is_ok());
    assert!(
        server.remove_peer_from_group(a, "blue").is_err(),
        "not in it any more"
    );
    assert_eq!(server.peer_groups(a), ["red"]);
}

/// The game adds every peer to a group as it sees it connect, while clients leave at
/// once (often before the game's `poll()` reports them at all). Whether a connection
/// ended before or after the game added its peer, the peer is in no group by the time
/// its `Disconnected` is polled, and the group ends empty: no peer that left stays in a
/// group for ever. In the batch that reports its `Disconnected`, `peer_groups` still says
/// what it was in when it left (for the game's handlers); after the next poll, nothing.
#[test]
fn a_peer_that_left_is_in_no_group_even_when_added_late() {
    const CLIENTS: usize = 300;
    let mut server = listening(&[], |_| {});
    let port = server.local_port();
    let clients = std::thread::spawn(move || {
        for _ in 0..CLIENTS {
            drop(raw_upgraded(port));
        }
    });
    let (mut connected, mut disconnected, mut added_after_end) = (0, 0, 0);
    let mut not_added = std::collections::HashSet::new();
    let mut left = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut batch = Vec::new();
    while disconnected < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "{connected} connected, {disconnected} disconnected of {CLIENTS}"
        );
        server.wait(Duration::from_millis(20));
        server.poll(&mut batch);
        for event in batch.drain(..) {
            match event {
                Event::Connected { id, .. } => {
                    connected += 1;
                    server.add_peer_to_group(id, "lobby").unwrap();
                    if !server.group_peers("lobby").contains(&id) {
                        added_after_end += 1;
                        not_added.insert(id);
                    }
                }
                Event::Disconnected { id, .. } => {
                    disconnected += 1;
                    left.push(id);
                    let members = server.group_peers("lobby");
                    assert!(
                        !members.contains(&id),
                        "peer {id} still in its group when its Disconnected was polled"
                    );
                    // What it was in when it left, for the handlers of this batch (to
                    // tell the rest of its rooms): none for a peer added too late.
                    let was_in: Vec<String> = match not_added.contains(&id) {
                        true => vec![],
                        false => vec!["lobby".into()],
                    };
                    assert_eq!(server.peer_groups(id), was_in, "peer {id}");
                }
                _ => {}
            }
        }
    }
    clients.join().unwrap();
    assert_eq!(connected, CLIENTS);
    server.poll(&mut batch);
    assert!(left.iter().all(|id| server.peer_groups(*id).is_empty()));
    assert!(
        server.group_peers("lobby").is_empty(),
        "peers that left are still in the group: {:?}",
        server.group_peers("lobby")
    );
    println!(
        "{CLIENTS} peers added to a group as they were polled; {added_after_end} of them had already left (not added)"
    );
}

#[test]
fn a_full_peer_is_reported_and_everyone_else_gets_the_message() {
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 16, 1024))
            .unwrap()
    });
    let u = url(&server);
    let mut ok = listener(&u);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    // A raw client that upgrades and never reads.
    let _deaf = raw_upgraded(server.local_port());
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
    let deaf_id = connected_ids(&log)[1];
    server.add_peer_to_group(deaf_id, "room").unwrap();
    server
        .add_peer_to_group(connected_ids(&log)[0], "room")
        .unwrap();
    let chunk = vec![b'x'; 1000];
    let mut missed: Vec<Missed> = Vec::new();
    let started = Instant::now();
    let mut sent = 0u64;
    while missed.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never reported"
        );
        // Paced by the well-behaved client, so that only the deaf one falls behind: at most
        // 12 of its messages unwritten (12 KiB; the outbound buffer is 16 KiB).
        let good = server.peer(connected_ids(&log)[0]).unwrap().clone();
        while good.traffic()[2] + 4 < sent {
            std::thread::sleep(Duration::from_micros(200));
        }
        for _ in 0..8 {
            server.send_to_group("room", &chunk, true, &[]).unwrap();
            sent += 1;
        }
        let mut batch = Vec::new();
        server.poll(&mut batch);
        missed.extend(batch.into_iter().filter_map(|e| match e {
            Event::BroadcastMissed(m) => Some(m),
            _ => None,
        }));
    }
    assert_eq!(missed[0].group.as_deref(), Some("room"));
    assert_eq!(
        missed[0].peers,
        [deaf_id],
        "only the client that does not read"
    );
    server.send_to_group("room", b"last", true, &[]).unwrap();
    expect_lines(&mut server, &mut ok, &["last".into()]);
    let got = ok.seen.iter().filter(|l| l.starts_with("xxx")).count();
    println!(
        "group sends until the deaf client's buffer was full: {sent}; the reading client got {got} of them"
    );
    assert_eq!(got as u64, sent, "the reading client got every message");
}

/// The size of message `seq` in the test below: 1 byte to 200 KB, well mixed.
fn mixed_size(seq: u64) -> usize {
    (seq.wrapping_mul(2_654_435_761) % 200_000) as usize + 8
}

fn mixed_message(seq: u64) -> Vec<u8> {
    let mut m: Vec<u8> = (0..mixed_size(seq))
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect();
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// A send or a broadcast to an idle plain connection is written straight to its socket by
/// the fan-out's task; everything else by the connection task (sends and broadcasts
/// behind them, the heartbeat's pings, pongs to the client's pings). A client with a small receive buffer that pauses, so that writes stop
/// mid-frame, gets every message whole and in order.
#[test]
fn direct_and_queued_writes_never_split_a_frame() {
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 64 * 1024, 4096))
            .unwrap();
        s.configure(|c| c.connections.heartbeat_interval = Duration::from_millis(50))
            .unwrap();
    });
    let port = server.local_port();
    const COUNT: u64 = 300;
    let rt = client_runtime();
    let reader = rt.spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(8 * 1024).unwrap();
        let tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let pinger = tokio::spawn(async move {
            for i in 0u32.. {
                if sink
                    .send(Message::Ping(i.to_le_bytes().to_vec().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let (mut next, mut pings) = (0u64, 0u32);
        while next < COUNT {
            match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let want = mixed_message(next);
                    let differs = b.iter().zip(&want).position(|(x, y)| x != y);
                    assert!(
                        b.len() == want.len() && differs.is_none(),
                        "message {next}: {} bytes, {} expected, first difference at {differs:?}",
                        b.len(),
                        want.len()
                    );
                    next += 1;
                    if next % 3 == 0 {
                        // Stop reading a while: the server's writes stop mid-frame.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                Ok(Some(Ok(_))) => {}
                other => panic!("after {next} messages: {other:?}"),
            }
        }
        pinger.abort();
        (next, pings)
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    let peer = server.peer(connected_ids(&log)[0]).unwrap().clone();
    let wait_idle = |server: &mut Server, log: &mut Vec<Event>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while peer.buffered_amount() > 0 {
            assert!(Instant::now() < deadline, "queue never drained");
            poll_for(server, log, 1);
        }
    };
    for seq in 0..COUNT {
        let m = mixed_message(seq);
        match seq % 4 {
            // Nothing queued: the send is written by this thread, mostly in part.
            0 => {
                wait_idle(&mut server, &mut log);
                peer.send(m.into(), false).unwrap();
            }
            // Right behind it: queued for the connection task.
            1 => server.broadcast(&m, false, &[]).unwrap(),
            2 => peer.send(m.into(), false).unwrap(),
            // Nothing queued: the broadcast is written by the send task, mostly in part.
            _ => {
                wait_idle(&mut server, &mut log);
                server.broadcast(&m, false, &[]).unwrap();
            }
        }
        poll_for(&mut server, &mut log, 0);
    }
    let (got, pings) = rt.block_on(reader).unwrap();
    assert_eq!(got, COUNT);
    assert!(pings > 0, "the heartbeat's pings came in between");
    assert_eq!(
        count(&log, |e| matches!(e, Event::BroadcastMissed(_))),
        0,
        "nothing missed"
    );
    println!("{got} messages of 8 B to 200 KB whole and in order, {pings} pings in between");
}

/// A close started right after a send and behind many broadcasts still being dispatched
/// goes out after that send (the close waits in the same queue as the messages).
#[test]
fn a_close_follows_the_messages_sent_before_it() {
    let mut server = listening(&[], |_| {});
    let port = server.local_port();
    let rt = client_runtime();
    let clients: Vec<_> = (0..50)
        .map(|_| {
            rt.spawn(async move {
                use futures_util::StreamExt;
                use tokio_tungstenite::tungstenite::Message;
                let mut ws = connect(&format!("ws://127.0.0.1:{port}/"), &[])
                    .await
                    .unwrap();
                let mut last = None;
                loop {
                    match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
                        Ok(Some(Ok(Message::Close(frame)))) => {
                            return (last, frame.map(|f| u16::from(f.code)));
                        }
                        Ok(Some(Ok(Message::Text(t)))) => last = Some(t.to_string()),
                        Ok(Some(Ok(_))) => {}
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 10, |l| connected_ids(l).len() == 50);
    let payload = "x".repeat(1000);
    for round in 0..20 {
        for _ in 0..50 {
            server.broadcast(payload.as_bytes(), true, &[]).unwrap();
        }
        let id = connected_ids(&log)[round];
        let peer = server.peer(id).unwrap().clone();
        peer.send(format!("last for {id}").into(), true).unwrap();
        peer.close(4000, "bye").unwrap();
    }
    for id in connected_ids(&log)[20..].to_vec() {
        server.peer(id).unwrap().close(4000, "bye").unwrap();
    }
    let ids = connected_ids(&log);
    let mut results = Vec::new();
    for c in clients {
        results.push(rt.block_on(c).unwrap());
    }
    let lasts: Vec<String> = results.iter().filter_map(|(l, _)| l.clone()).collect();
    for id in &ids[..20] {
        assert!(
            lasts.contains(&format!("last for {id}")),
            "peer {id}: its close frame overtook the message sent before it (last messages seen: {lasts:?})"
        );
    }
    assert!(results.iter().all(|(_, code)| *code == Some(4000)));
}
