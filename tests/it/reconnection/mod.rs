//! Reconnection (`reconnect_grace_period`): connections cut for real through a TCP relay
//! in the middle of traffic; the session client of `tests/common/session.rs` speaks the
//! protocol as the book (docs/src/reconnection.md) writes it down.

use crate::common;
mod returns;
mod secrets;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::relay::Relay;
use common::session::{Gone, SessionClient, hello};
use common::*;
use godot_websocket_server::core::{Event, SendError, Server};
use tokio_tungstenite::tungstenite::Message;

fn with_grace(secs: u64) -> Server {
    listening(&[], |s| {
        s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(secs))
            .unwrap();
    })
}

/// A small random number generator (xorshift), seeded per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client's side of the exchange: `total` messages out, `total` in (checked in
/// order), its relay cut `cuts` times at random moments; returns its id and reconnects.
async fn chatter(url: String, relay: Relay, total: usize, cuts: usize, seed: u64) -> (i32, usize) {
    let mut c = SessionClient::open(&url).await;
    let id = c.id();
    let mut rng = Rng(seed | 1);
    let chunk = total / cuts;
    let mut cut_at: Vec<usize> = (0..cuts)
        .map(|i| i * chunk + rng.below(chunk as u64) as usize)
        .collect();
    cut_at.reverse();
    let (mut sent, mut expect) = (0, 0);
    while sent < total || expect < total || c.unacknowledged() > 0 {
        for _ in 0..8 {
            if sent < total {
                c.send(Message::text(format!("c{sent}"))).await;
                sent += 1;
            }
        }
        if cut_at.last().is_some_and(|at| *at <= sent) {
            cut_at.pop();
            relay.cut();
        }
        let wait = if sent < total { 1 } else { 20 };
        loop {
            match tokio::time::timeout(Duration::from_millis(wait), c.recv()).await {
                Ok(Ok(msg)) => {
                    assert_eq!(msg, Message::text(format!("s{expect}")), "client {id}");
                    expect += 1;
                }
                Ok(Err(Gone::Broken)) => {
                    let w = c.reconnect().await.expect("the session is resumed");
                    assert_eq!(w.id, id, "the same id after a cut");
                    break;
                }
                Ok(Err(Gone::Closed(code))) => panic!("client {id}: closed with {code}"),
                Err(_) => break,
            }
        }
        c.ack().await;
    }
    assert!(cut_at.is_empty());
    let reconnects = c.reconnects;
    c.close().await;
    (id, reconnects)
}

#[test]
fn messages_cross_cuts_exactly_once_and_in_order_both_ways() {
    const CLIENTS: usize = 100;
    const MESSAGES: usize = 10_000;
    const CUTS: usize = 20;
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(20))
            .unwrap();
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 64, 1024))
            .unwrap();
    });
    let port = server.local_port();
    let rt = client_runtime();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            rt.spawn(async move {
                let relay = Relay::start(port).await;
                chatter(relay.url(), relay, MESSAGES, CUTS, i as u64 * 7919 + 1).await
            })
        })
        .collect();
    let started = Instant::now();
    let (mut got, mut sent) = (HashMap::<i32, usize>::new(), HashMap::<i32, usize>::new());
    let (mut away, mut back, mut connected, mut gone) = (0, 0, 0, 0);
    let mut events = Vec::new();
    let done = |got: &HashMap<i32, usize>, sent: &HashMap<i32, usize>| {
        got.len() == CLIENTS
            && got.values().all(|n| *n == MESSAGES)
            && sent.values().all(|n| *n == MESSAGES)
    };
    while !done(&got, &sent) {
        assert!(started.elapsed() < Duration::from_secs(600), "{got:?}");
        server.wait(Duration::from_millis(5));
        server.poll(&mut events);
        for e in events.drain(..) {
            match e {
                Event::Connected { id, .. } => {
                    connected += 1;
                    got.insert(id, 0);
                    sent.insert(id, 0);
                }
                Event::Message { id } => {
                    let peer = server.peer(id).unwrap();
                    while let Some(m) = peer.recv() {
                        let n = got.get_mut(&id).unwrap();
                        assert_eq!(m.data, format!("c{n}").as_bytes(), "peer {id}");
                        *n += 1;
                    }
                }
                Event::Away { .. } => away += 1,
                Event::Back { .. } => back += 1,
                // A client that has everything closes.
                Event::CloseRequested { .. } => {}
                Event::Disconnected { id, was_clean } => {
                    assert!(was_clean && got[&id] == MESSAGES, "peer {id} left early");
                    gone += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        for (id, n) in sent.iter_mut() {
            let Some(peer) = server.peer(*id) else {
                continue;
            };
            while *n < MESSAGES {
                match peer.send(format!("s{n}").into(), true) {
                    Ok(()) => *n += 1,
                    Err(SendError::BufferFull { .. }) => break,
                    Err(e) => panic!("peer {id}: {e}"),
                }
            }
        }
    }
    let mut reconnects = 0;
    for c in clients {
        let (id, r) = rt.block_on(c).unwrap();
        assert!(got.contains_key(&id));
        reconnects += r;
    }
    // Every client closes cleanly at the end: the sessions end.
    poll_until(&mut server, &mut events, 30, |l| {
        gone + count(l, |e| matches!(e, Event::Disconnected { .. })) == CLIENTS
    });
    assert_eq!(connected, CLIENTS, "no client became a new peer");
    assert!(
        reconnects >= CLIENTS * CUTS,
        "{reconnects} reconnects for {} cuts",
        CLIENTS * CUTS
    );
    assert_eq!(away, back);
    assert!(away >= CLIENTS * CUTS / 2, "{away} away");
    println!(
        "{CLIENTS} clients x {MESSAGES} messages each way, {CUTS} cuts each: {:.1} s, {reconnects} reconnects, {away} away/back",
        started.elapsed().as_secs_f64()
    );
}

/// One session client through a relay, and its peer on `server`.
fn one_session(
    rt: &tokio::runtime::Runtime,
    server: &mut Server,
) -> (Relay, SessionClient, i32, Vec<Event>) {
    let port = server.local_port();
    let relay = rt.block_on(Relay::start(port));
    let client = rt.block_on(SessionClient::open(&relay.url()));
    let mut log = Vec::new();
    poll_until(server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let id = connected_ids(&log)[0];
    assert_eq!(client.id(), id, "the welcome names the peer");
    (relay, client, id, log)
}

fn texts(rt: &tokio::runtime::Runtime, c: &mut SessionClient, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let m = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), c.recv()).await })
                .expect("a message in time")
                .expect("connected");
            m.into_text().unwrap().to_string()
        })
        .collect()
}

fn cut_and_wait_away(server: &mut Server, relay: &Relay, id: i32, log: &mut Vec<Event>) {
    relay.cut();
    poll_until(server, log, 5, |l| l.contains(&Event::Away { id }));
    assert!(server.is_peer_away(id));
    assert!(server.has_peer(id), "an away peer is still a peer");
}

#[test]
fn an_away_peer_keeps_its_id_groups_and_what_was_sent_meanwhile() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    assert_eq!(
        server.peer(id).unwrap().path(),
        "/",
        "the session's query is not the game's"
    );
    server.add_peer_to_group(id, "red").unwrap();
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    let peer = server.peer(id).unwrap().clone();
    peer.send("direct".into(), true).unwrap();
    server.send_to_group("red", b"group", true, &[]).unwrap();
    server.broadcast(b"everyone", true, &[]).unwrap();
    peer.send(vec![0u8, 1, 2].into(), false).unwrap();
    // The client finds out, comes back, and sends on.
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    let w = rt.block_on(c.reconnect()).expect("resumed");
    assert_eq!((w.id, w.resumed), (id, true));
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
    assert!(!server.is_peer_away(id));
    assert_eq!(texts(&rt, &mut c, 3), ["direct", "group", "everyone"]);
    let zero = rt.block_on(c.recv()).unwrap();
    assert_eq!(
        zero,
        Message::binary(vec![0u8, 1, 2]),
        "a message that begins with 0"
    );
    assert_eq!(server.peer_groups(id), ["red"]);
    rt.block_on(c.send(Message::text("after")));
    poll_until(&mut server, &mut log, 5, |_| peer.available_packets() > 0);
    assert_eq!(peer.recv().unwrap().data, "after".as_bytes());
    assert_eq!(connected_ids(&log), [id], "never a new peer");
    assert_eq!(count(&log, |e| matches!(e, Event::Disconnected { .. })), 0);
}

#[test]
fn when_the_grace_runs_out_the_peer_is_gone_and_its_session_opens_nothing() {
    let rt = client_runtime();
    let mut server = with_grace(1);
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    let away_at = Instant::now();
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    poll_for(&mut server, &mut log, 500);
    assert!(
        !log.iter().any(|e| matches!(e, Event::Disconnected { .. })),
        "not before the grace"
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Disconnected {
            id,
            was_clean: false,
        })
    });
    assert!(away_at.elapsed() >= Duration::from_millis(900));
    assert!(!server.has_peer(id));
    // Coming back too late: a new session, a new peer.
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    assert!(rt.block_on(c.reconnect()).is_none(), "not resumed");
    assert_ne!(c.id(), id);
    assert!(!c.welcome.resumed);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
}

#[test]
fn a_clean_close_ends_the_session_at_once() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (_relay, c, id, mut log) = one_session(&rt, &mut server);
    let secret = c.welcome.session.clone();
    rt.block_on(c.close());
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Disconnected {
            id,
            was_clean: true,
        })
    });
    assert!(!log.contains(&Event::Away { id }));
    // Its secret opens nothing now: a new session, as a new peer.
    let url = format!("{}?gws=2&gws_return={id}", url(&server));
    let (_fresh, w) = rt
        .block_on(SessionClient::dial_with(&url, Some(hello(&secret, 0))))
        .expect("a welcome");
    assert!(!w.resumed);
    assert_ne!(w.id, id);
}

#[test]
fn a_full_outbound_buffer_while_away_is_reported_and_what_fitted_arrives() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(10))
            .unwrap();
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 64, 8))
            .unwrap();
    });
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    let peer = server.peer(id).unwrap().clone();
    let mut accepted = 0;
    let refused = loop {
        match peer.send(format!("m{accepted}").into(), true) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(refused, SendError::BufferFull { .. }),
        "{refused:?}"
    );
    assert_eq!(accepted, 8, "the outbound buffer's 8 packets");
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    rt.block_on(c.reconnect()).expect("resumed");
    let expected: Vec<String> = (0..accepted).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&rt, &mut c, accepted), expected);
}

#[test]
fn disconnect_peer_while_away_ends_the_session() {
    let rt = client_runtime();
    let mut server = with_grace(30);
    let (relay, _c, id, mut log) = one_session(&rt, &mut server);
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    server.disconnect_peer(id, 1000, "bye").unwrap();
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Disconnected {
            id,
            was_clean: false,
        })
    });
}

#[test]
fn the_game_decides_on_a_return_and_knows_who_returns() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    server
        .configure(|c| c.live.approve_upgrades = true)
        .unwrap();
    cut_and_wait_away(&mut server, &relay, id, &mut log);
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    let back = rt.spawn(async move {
        let w = c.reconnect().await;
        (c, w)
    });
    poll_until(&mut server, &mut log, 5, |l| {
        l.iter().any(|e| matches!(e, Event::UpgradeRequested(_)))
    });
    let Some(Event::UpgradeRequested(request)) = log
        .iter()
        .find(|e| matches!(e, Event::UpgradeRequested(_)))
        .cloned()
    else {
        unreachable!()
    };
    assert_eq!(request.returning, Some(id));
    assert_eq!(request.path, "/");
    server.accept_upgrade(request.id, "", Vec::new()).unwrap();
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
    assert!(log.contains(&Event::UpgradeEnded { id: request.id }));
    let (_c, w) = rt.block_on(back).unwrap();
    assert_eq!(w.map(|w| w.id), Some(id));
}

#[test]
fn without_a_grace_period_the_client_is_told_and_the_connection_is_plain() {
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let mut c = rt.block_on(SessionClient::open(&url(&server)));
    assert_eq!(c.welcome.session, "", "no session");
    assert_eq!(c.welcome.grace, 0.0);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let peer = server.peer(c.id()).unwrap().clone();
    peer.send(vec![0u8, 5].into(), false).unwrap();
    assert_eq!(
        rt.block_on(c.recv_raw()),
        Message::binary(vec![0u8, 5]),
        "not escaped"
    );
}

#[test]
fn a_secret_from_another_server_process_opens_a_new_session_there() {
    let rt = client_runtime();
    let mut first = with_grace(10);
    let (_relay, c, id, _log) = one_session(&rt, &mut first);
    let second = with_grace(10);
    let url = format!("{}?gws=2&gws_return={id}", url(&second));
    let (_there, w) = rt
        .block_on(SessionClient::dial_with(
            &url,
            Some(hello(&c.welcome.session, 0)),
        ))
        .expect("a welcome");
    assert!(!w.resumed, "sessions live in the process that opened them");
}

#[test]
fn a_blackholed_connection_is_found_by_the_heartbeat_and_the_client_comes_back() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(10))
            .unwrap();
        s.configure(|c| c.connections.heartbeat_interval = Duration::from_millis(300))
            .unwrap();
    });
    let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
    rt.block_on(c.send(Message::text("before")));
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Message { id })
    });
    let frozen_at = Instant::now();
    relay.freeze();
    // Sent into the blackhole: kept by both sides.
    rt.block_on(c.send(Message::text("into the void")));
    server
        .peer(id)
        .unwrap()
        .send("meanwhile".into(), true)
        .unwrap();
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Away { id })
    });
    let found = frozen_at.elapsed();
    // Two intervals (0.6 s) and the next check; the rest is room for a loaded machine
    // (seen: 2.2 s with both cores busy elsewhere). Without the heartbeat it would be
    // TCP's own timeout, minutes.
    assert!(found < Duration::from_secs(3), "found dead after {found:?}");
    // The client notices (a timeout of its own) and comes back on a new connection.
    rt.block_on(c.reconnect()).expect("resumed");
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
    assert_eq!(texts(&rt, &mut c, 1), ["meanwhile"]);
    let peer = server.peer(id).unwrap().clone();
    poll_until(&mut server, &mut log, 5, |_| peer.available_packets() >= 2);
    let got: Vec<_> = std::iter::from_fn(|| peer.recv()).map(|m| m.data).collect();
    assert_eq!(
        got,
        ["before".as_bytes(), "into the void".as_bytes()],
        "once each"
    );
    println!("blackhole found by the heartbeat after {found:?}");
}

#[test]
fn a_socket_destroyed_by_the_kernel_ss_k_is_a_cut_too() {
    let rt = client_runtime();
    let mut server = with_grace(10);
    let mut c = rt.block_on(SessionClient::open(&url(&server)));
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| !connected_ids(l).is_empty());
    let id = c.id();
    let port = c.local_port();
    // The kernel aborts the client's socket (SOCK_DESTROY): a reset to the server.
    let out = std::process::Command::new("ss")
        .args(["-K", "-t", "src", &format!("127.0.0.1:{port}")])
        .output()
        .expect("ss (iproute2)");
    assert!(
        out.status.success(),
        "ss -K: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Away { id })
    });
    server.peer(id).unwrap().send("kept".into(), true).unwrap();
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    rt.block_on(c.reconnect()).expect("resumed");
    assert_eq!(texts(&rt, &mut c, 1), ["kept"]);
    poll_until(&mut server, &mut log, 5, |l| {
        l.contains(&Event::Back { id })
    });
}

#[test]
fn an_away_peer_counts_toward_max_connections_and_can_still_come_back() {
    let rt = client_runtime();
    for per_ip in [false, true] {
        let mut server = listening(&[], |s| {
            s.configure(|c| c.connections.reconnect_grace_period = Duration::from_secs(10))
                .unwrap();
            if per_ip {
                s.configure(|c| c.live.max_connections_per_ip = 1).unwrap();
            } else {
                s.configure(|c| c.live.max_connections = 1).unwrap();
            }
        });
        let (relay, mut c, id, mut log) = one_session(&rt, &mut server);
        cut_and_wait_away(&mut server, &relay, id, &mut log);
        // Full: a newcomer is refused, even with the away peer's connection gone.
        let refused = rt.block_on(connect(&url(&server), &[])).unwrap_err();
        assert_eq!(refusal_status(refused), 503, "per_ip {per_ip}");
        // The away player itself gets back in.
        assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
        let w = rt
            .block_on(c.reconnect())
            .expect("resumed while the server is full");
        assert_eq!(w.id, id);
        poll_until(&mut server, &mut log, 5, |l| {
            l.contains(&Event::Back { id })
        });
        let refused = rt.block_on(connect(&url(&server), &[])).unwrap_err();
        assert_eq!(refusal_status(refused), 503, "still full once back");
    }
}
