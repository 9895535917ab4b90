//! Groups and broadcasts across server processes through a real Redis (Debian's
//! redis-server, installed when missing, on 127.0.0.1 and a port of the test's own):
//! messages reach the clients of every server exactly once; Redis killed mid-test and
//! restarted: local clients keep being served, the servers say what they could not
//! publish, and they recover.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::engine::{self, Running, demo_project, free_port, python, root};
use common::services::{debian_binary, scratch_dir, wait_for_port};
use common::*;
use futures_util::StreamExt;
use godot_websocket_server::core::{Event, RedisEvent, Server};
use tokio_tungstenite::tungstenite::Message;

fn redis(port: u16) -> Running {
    let bin = debian_binary("redis-server", "redis-server");
    let dir = scratch_dir(&format!("redis-{port}"));
    let mut cmd = Command::new(bin);
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
    ])
    .arg(&dir);
    let r = Running::start(cmd);
    wait_for_port(port, Duration::from_secs(10));
    r
}

fn redis_events(log: &[Event]) -> Vec<RedisEvent> {
    log.iter()
        .filter_map(|e| match e {
            Event::Redis(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Polls both servers until `done` holds for their logs.
fn poll_both(
    servers: &mut [Server; 2],
    logs: &mut [Vec<Event>; 2],
    secs: u64,
    done: impl Fn(&[Vec<Event>; 2]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(logs) {
        assert!(
            Instant::now() < deadline,
            "timed out: {:?} / {:?}",
            redis_events(&logs[0]),
            redis_events(&logs[1])
        );
        for (s, l) in servers.iter_mut().zip(logs.iter_mut()) {
            let mut batch = Vec::new();
            s.wait(Duration::from_millis(5));
            s.poll(&mut batch);
            l.extend(batch);
        }
    }
}

#[test]
fn two_servers_share_groups_and_survive_a_redis_restart() {
    let port = free_port();
    let mut redis_server = redis(port);
    let rt = client_runtime();
    let url = format!("redis://127.0.0.1:{port}");
    let mut servers = [0, 1].map(|_| {
        let mut s = Server::new();
        s.configure(|c| c.listen.bind_ip = "127.0.0.1".into())
            .unwrap();
        s.configure(|c| c.listen.redis_url = url.to_string())
            .unwrap();
        s.listen(0, &[], false).unwrap();
        s
    });
    assert!(
        Server::new()
            .configure(|c| c.listen.redis_url = "http://nope".into())
            .is_err()
    );
    let mut logs = [Vec::new(), Vec::new()];
    poll_both(&mut servers, &mut logs, 10, |l| {
        l.iter()
            .all(|l| redis_events(l).contains(&RedisEvent::Connected))
    });
    // Two clients on each server, all in the lobby, and one more outside it on server 1.
    let mut clients = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        for _ in 0..2 {
            clients.push((i, rt.block_on(connect(&url_of(s), &[])).unwrap()));
        }
    }
    let mut outsider = rt.block_on(connect(&url_of(&servers[1]), &[])).unwrap();
    poll_both(&mut servers, &mut logs, 5, |l| {
        connected_ids(&l[0]).len() == 2 && connected_ids(&l[1]).len() == 3
    });
    for (s, l) in servers.iter().zip(logs.iter()) {
        for id in connected_ids(l).iter().take(2) {
            s.add_peer_to_group(*id, "lobby").unwrap();
        }
    }
    servers[0]
        .send_to_group("lobby", b"from server 0", true, &[])
        .unwrap();
    servers[1]
        .broadcast(b"everyone from server 1", true, &[])
        .unwrap();
    for (_, c) in clients.iter_mut() {
        let mut got = rt.block_on(read_texts(c, 2));
        got.sort();
        assert_eq!(got, ["everyone from server 1", "from server 0"]);
    }
    assert_eq!(
        rt.block_on(read_texts(&mut outsider, 1)),
        ["everyone from server 1"]
    );
    // Each came exactly once: a server's own message would come back through Redis before
    // a later message of the other server (Redis keeps the order of publications), so the
    // markers, one from each server, come next.
    servers[1].broadcast(b"marker 1", true, &[]).unwrap();
    for (_, c) in clients.iter_mut() {
        assert_eq!(
            rt.block_on(read_texts(c, 1)),
            ["marker 1"],
            "no duplicate before it"
        );
    }
    servers[0].broadcast(b"marker 0", true, &[]).unwrap();
    for (_, c) in clients.iter_mut() {
        assert_eq!(
            rt.block_on(read_texts(c, 1)),
            ["marker 0"],
            "no duplicate before it"
        );
    }
    assert_eq!(
        rt.block_on(read_texts(&mut outsider, 2)),
        ["marker 1", "marker 0"]
    );

    // Redis dies: local clients are still served; the lost messages are reported.
    drop(redis_server);
    poll_both(&mut servers, &mut logs, 10, |l| {
        l.iter().all(|l| {
            redis_events(l)
                .iter()
                .any(|e| matches!(e, RedisEvent::Error(_)))
        })
    });
    servers[0]
        .send_to_group("lobby", b"while redis is down", true, &[])
        .unwrap();
    for (i, c) in clients.iter_mut() {
        if *i == 0 {
            assert_eq!(rt.block_on(read_texts(c, 1)), ["while redis is down"]);
        }
    }
    poll_both(&mut servers, &mut logs, 10, |l| {
        redis_events(&l[0]).contains(&RedisEvent::Unpublished(Some("lobby".into())))
    });
    let errors = redis_events(&logs[0])
        .iter()
        .filter(|e| matches!(e, RedisEvent::Error(_)))
        .count();
    assert_eq!(
        errors,
        1,
        "one clear error per outage: {:?}",
        redis_events(&logs[0])
    );

    // Redis is back: both reconnect by themselves, and messages cross again.
    redis_server = redis(port);
    let reconnected_from = [0, 1].map(|i| redis_events(&logs[i]).len());
    poll_both(&mut servers, &mut logs, 15, |l| {
        (0..2).all(|i| redis_events(&l[i])[reconnected_from[i]..].contains(&RedisEvent::Connected))
    });
    servers[1]
        .send_to_group("lobby", b"after the restart", true, &[])
        .unwrap();
    for (_, c) in clients.iter_mut() {
        assert_eq!(rt.block_on(read_texts(c, 1)), ["after the restart"]);
    }
    drop(redis_server);
}

fn url_of(s: &Server) -> String {
    url(s)
}

async fn read_texts(c: &mut Client, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => out.push(t.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a text message, got {other:?} after {out:?}"),
        }
    }
    out
}

/// Two headless Godot room servers (demo/room_server.tscn with --redis) and Python
/// clients on each: a room's message reaches the room on both; Redis killed and restarted.
#[test]
fn two_godot_servers_share_rooms_through_redis() {
    let _serial = engine::serial();
    engine::addon();
    engine::prepare(&demo_project());
    let redis_port = free_port();
    let mut redis_server = redis(redis_port);
    let url = format!("--redis=redis://127.0.0.1:{redis_port}");
    let ports = [free_port(), free_port()];
    let mut godots: Vec<Running> = ["A", "B"]
        .iter()
        .zip(ports)
        .map(|(name, port)| {
            let mut cmd = engine::command(&demo_project());
            cmd.args(["res://demo/room_server.tscn", "--"])
                .arg(format!("--port={port}"))
                .arg(format!("--name={name}"))
                .arg(&url);
            let mut g = Running::start(cmd);
            g.wait_line("LISTENING", Duration::from_secs(60));
            g.wait_line("REDIS CONNECTED", Duration::from_secs(10));
            g
        })
        .collect();
    let script = root().join("tests/clients/redis_rooms.py");
    let mut client = Running::start({
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .arg(format!("ws://127.0.0.1:{}/play?room=lobby", ports[0]))
            .arg(format!("ws://127.0.0.1:{}/play?room=lobby", ports[1]));
        cmd
    });
    client.wait_line("CROSSED", Duration::from_secs(30));
    drop(redis_server);
    for g in godots.iter_mut() {
        g.wait_line("REDIS ERROR", Duration::from_secs(10));
    }
    client.wait_line("LOCAL ONLY", Duration::from_secs(30));
    godots[0].wait_line("REDIS UNPUBLISHED A lobby", Duration::from_secs(10));
    redis_server = redis(redis_port);
    for g in godots.iter_mut() {
        g.wait_new_line("REDIS CONNECTED", Duration::from_secs(15));
    }
    client.wait_line("CROSSED AGAIN", Duration::from_secs(30));
    let status = client.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    drop(redis_server);
}
