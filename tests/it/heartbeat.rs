//! heartbeat_interval: dead peers are found and dropped, healthy ones are not touched, and
//! the pings measure round-trip times. Real sockets: a raw TCP client that upgrades and
//! then goes silent, a Python `websockets` process frozen with SIGSTOP, and 100
//! tokio-tungstenite clients that keep reading (and so answer pings).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use godot_websocket_server::core::{Event, Stats};

const INTERVAL: Duration = Duration::from_millis(700);

fn disconnected(log: &[Event], id: i32) -> Option<bool> {
    log.iter().find_map(|e| match e {
        Event::Disconnected { id: i, was_clean } if *i == id => Some(*was_clean),
        _ => None,
    })
}

#[test]
fn dead_peers_are_dropped_within_two_intervals_and_healthy_ones_stay() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.heartbeat_interval = INTERVAL)
            .unwrap()
    });
    let port = server.local_port();
    let u = url(&server);

    // 100 healthy clients: they keep reading, so they answer every ping.
    let healthy: Vec<_> = (0..100)
        .map(|_| {
            let u = u.clone();
            rt.spawn(async move {
                let mut c = connect(&u, &[]).await.unwrap();
                while let Some(Ok(_)) = c.next().await {}
            })
        })
        .collect();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 10, |l| connected_ids(l).len() == 100);
    let healthy_ids = connected_ids(&log);

    // A raw client that goes silent after the upgrade.
    let silent = raw_upgraded(port);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 101);
    let silent_id = *connected_ids(&log).last().unwrap();
    let went_silent = Instant::now();

    // A Python websockets client that is frozen with SIGSTOP once connected.
    let mut py = std::process::Command::new(python())
        .arg("-c")
        .arg("import asyncio, websockets, sys\nasync def m():\n    async with websockets.connect(sys.argv[1]) as ws:\n        print('open', flush=True)\n        await asyncio.sleep(60)\nasyncio.run(m())")
        .arg(&u)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    poll_until(&mut server, &mut log, 10, |l| connected_ids(l).len() == 102);
    let frozen_id = *connected_ids(&log).last().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-STOP", &py.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let frozen_at = Instant::now();

    let limit = 2 * INTERVAL + Duration::from_secs(1);
    poll_until(&mut server, &mut log, 10, |l| {
        disconnected(l, silent_id).is_some() && disconnected(l, frozen_id).is_some()
    });
    let silent_after = went_silent.elapsed();
    assert_eq!(disconnected(&log, silent_id), Some(false), "unclean");
    assert_eq!(disconnected(&log, frozen_id), Some(false), "unclean");
    let frozen_after = frozen_at.elapsed();
    println!(
        "heartbeat {INTERVAL:?}: silent raw client dropped after {silent_after:?}, SIGSTOPped Python client after {frozen_after:?} (limit {limit:?})"
    );
    assert!(silent_after <= limit, "{silent_after:?}");
    assert!(frozen_after <= limit, "{frozen_after:?}");
    assert!(
        silent_after >= 2 * INTERVAL - Duration::from_millis(50),
        "not before two intervals"
    );

    // Keep going a few more intervals: no healthy client is touched, and each has a
    // round-trip time from its pongs.
    poll_for(&mut server, &mut log, 3 * INTERVAL.as_millis() as u64);
    for id in &healthy_ids {
        assert_eq!(
            disconnected(&log, *id),
            None,
            "healthy client {id} was dropped"
        );
        let rtt = server.peer(*id).unwrap().last_round_trip();
        assert!(
            rtt.is_some_and(|r| r < Duration::from_secs(1)),
            "rtt of {id}: {rtt:?}"
        );
        assert!(server.peer(*id).unwrap().smoothed_round_trip().is_some());
    }
    let Stats { peers, .. } = server.stats();
    assert_eq!(peers, 100);
    let _ = py.kill();
    let _ = py.wait();
    drop(silent);
    for h in healthy {
        h.abort();
    }
}

#[test]
fn off_by_default_and_a_paused_game_does_not_kill_its_peers() {
    let rt = client_runtime();
    // Off: a silent client stays.
    let mut off = listening(&[], |_| {});
    assert_eq!(
        off.settings().connections.heartbeat_interval,
        Duration::ZERO
    );
    let _silent = raw_upgraded(off.local_port());
    let mut log = Vec::new();
    poll_until(&mut off, &mut log, 5, |l| connected_ids(l).len() == 1);
    poll_for(&mut off, &mut log, 1500);
    assert_eq!(connected_ids(&log).len(), 1);
    assert!(disconnected(&log, connected_ids(&log)[0]).is_none());

    // On, with a client that fills the inbound buffer while the game does not read:
    // the reader is paused, so the peer cannot answer and must not be judged dead.
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.heartbeat_interval = Duration::from_millis(300))
            .unwrap();
        s.configure(|c| c.listen.buffers = common::buffers(1, 4, 64, 1024))
            .unwrap();
    });
    let u = url(&server);
    let sender = rt.spawn(async move {
        use futures_util::SinkExt;
        let mut c = connect(&u, &[]).await.unwrap();
        for i in 0..64u32 {
            c.send(tokio_tungstenite::tungstenite::Message::Binary(
                i.to_le_bytes().to_vec().into(),
            ))
            .await
            .unwrap();
        }
        while let Some(Ok(_)) = c.next().await {}
    });
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    let id = connected_ids(&log)[0];
    // Do not read for 2 s (more than six intervals).
    std::thread::sleep(Duration::from_secs(2));
    server.poll(&mut log);
    assert!(disconnected(&log, id).is_none(), "{log:?}");
    // Then read everything: all 64 arrive in order.
    let peer = server.peer(id).unwrap().clone();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 64 && Instant::now() < deadline {
        server.wait(Duration::from_millis(10));
        server.poll(&mut log);
        while let Some(m) = peer.recv() {
            got.push(u32::from_le_bytes(m.data[..].try_into().unwrap()));
        }
    }
    assert_eq!(got, (0..64).collect::<Vec<_>>());
    assert!(disconnected(&log, id).is_none());
    sender.abort();
}
