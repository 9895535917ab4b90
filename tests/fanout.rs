//! Broadcast and groups with real clients (Python `websockets` processes): membership,
//! exclude lists, order with direct sends, leaving groups on disconnect, and a client that
//! cannot take a message reported while everyone else gets it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::engine::{Running, python, root};
use common::*;
use godot_websocket_server::core::{Buffers, Event, Missed, Server};

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

#[test]
fn a_full_peer_is_reported_and_everyone_else_gets_the_message() {
    let mut server = listening(&[], |s| {
        s.set_buffers(Buffers::from_godot(64, 1024, 16, 1024).unwrap())
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
