//! max_connections and max_connections_per_ip with real sockets: the exact boundary,
//! half-open sockets counted, HTTP 503 past it, slots freed when clients leave; and the
//! process's limit of open files, in the engine.

use crate::common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use godot_websocket_server::core::{Event, Refused};

/// A tokio-tungstenite client whose socket has the source address `from`.
async fn connect_from(
    from: &str,
    port: u16,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    tokio_tungstenite::client_async(
        format!("ws://127.0.0.1:{port}/"),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .map(|(ws, _)| ws)
}

fn disconnects(log: &[Event]) -> usize {
    count(log, |e| matches!(e, Event::Disconnected { .. }))
}

#[test]
fn max_connections_counts_handshakes_and_frees_slots() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.max_connections = 3).unwrap()
    });
    assert_eq!(server.settings().live.max_connections, 3);
    let u = url(&server);
    let port = server.local_port();
    let a = rt.block_on(connect(&u, &[])).unwrap();
    let b = rt.block_on(connect(&u, &[])).unwrap();
    // A half-open socket (connected, no request yet) takes the third slot.
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.open_connections() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.open_connections(), 3);
    let (status, body) = refusal(rt.block_on(connect(&u, &[])).unwrap_err());
    assert_eq!(status, 503);
    assert!(body.contains("max_connections"), "{body}");
    // The half-open socket finishes its upgrade: it was counted, so it gets in.
    finish_upgrade(&mut half);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 3);
    assert_eq!(refusal(rt.block_on(connect(&u, &[])).unwrap_err()).0, 503);
    // One leaves: exactly one slot frees up.
    drop(a);
    poll_until(&mut server, &mut log, 5, |l| disconnects(l) == 1);
    let c = rt.block_on(connect(&u, &[])).unwrap();
    assert_eq!(refusal(rt.block_on(connect(&u, &[])).unwrap_err()).0, 503);
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 4);
    // Refused clients never became peers, and were counted.
    poll_for(&mut server, &mut log, 200);
    assert_eq!(connected_ids(&log).len(), 4);
    assert_eq!(server.stats().refused_for(Refused::Limit), 3);
    // Raising the limit applies at once; 0 is no limit.
    server.configure(|c| c.live.max_connections = 0).unwrap();
    let more: Vec<_> = (0..5)
        .map(|_| rt.block_on(connect(&u, &[])).unwrap())
        .collect();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 9);
    drop((b, c, half, more));
}

#[test]
fn max_connections_per_ip_is_per_address() {
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.live.max_connections_per_ip = 2).unwrap()
    });
    let port = server.local_port();
    let a1 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    let a2 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    let (status, body) = refusal(rt.block_on(connect_from("127.0.0.1", port)).unwrap_err());
    assert_eq!(status, 503);
    assert!(body.contains("max_connections_per_ip"), "{body}");
    // Another address still gets in, up to its own limit.
    let b1 = rt.block_on(connect_from("127.0.0.2", port)).unwrap();
    let b2 = rt.block_on(connect_from("127.0.0.2", port)).unwrap();
    assert_eq!(
        refusal(rt.block_on(connect_from("127.0.0.2", port)).unwrap_err()).0,
        503
    );
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 4);
    let addrs: Vec<String> = connected_ids(&log)
        .iter()
        .map(|id| server.peer(*id).unwrap().remote_ip())
        .collect();
    assert_eq!(addrs.iter().filter(|a| *a == "127.0.0.2").count(), 2);
    // 127.0.0.1 frees a slot when one of its clients leaves.
    drop(a1);
    poll_until(&mut server, &mut log, 5, |l| disconnects(l) == 1);
    let a3 = rt.block_on(connect_from("127.0.0.1", port)).unwrap();
    assert_eq!(server.stats().refused_for(Refused::PerIpLimit), 2);
    drop((a2, a3, b1, b2));
}

/// CPU seconds process `pid` has used (user + system), from /proc.
#[cfg(target_os = "linux")]
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (fields[11] + fields[12]) / 100.0
}

/// The engine started by a shell with a limit of 256 open files (Linux: the shell's
/// `ulimit` and /proc).
#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_refuses_with_a_log_line_and_recovers() {
    use common::engine::{self, Running};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    const LIMIT: usize = 256;
    let _serial = engine::serial();
    engine::addon();
    let project = engine::demo_project();
    engine::prepare(&project);
    let port = engine::free_port();
    // The engine with a low limit of open files, its errors on the lines awaited.
    let godot = engine::command(&project);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {LIMIT} && exec \"$0\" \"$@\" 2>&1"))
        .arg(godot.get_program())
        .args(godot.get_args())
        .envs(godot.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["--script", "res://tests/limits/echo_server.gd", "--"])
        .arg(format!("--port={port}"));
    let mut server = Running::start(cmd);
    server.wait_line("READY", Duration::from_secs(60));
    let rt = client_runtime();
    rt.block_on(async {
        let url = format!("ws://127.0.0.1:{port}/");
        // Clients one after the other until one is refused: the process has fewer
        // descriptors than LIMIT for them (the engine holds some).
        let mut clients = Vec::new();
        let refused = loop {
            assert!(
                clients.len() < LIMIT,
                "{} clients and none refused",
                clients.len()
            );
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_tungstenite::connect_async(url.as_str()),
            )
            .await
            .expect("a client over the limit waited (it must be refused at once)");
            match attempt {
                Ok((ws, _)) => clients.push(ws),
                Err(e) => break e,
            }
        };
        let opened = clients.len();
        println!("{opened} clients open, then: {refused}");
        assert!(
            opened > 150,
            "only {opened} clients open under a limit of {LIMIT}"
        );
        // A plain client is told why (unless the close raced its request).
        if let tokio_tungstenite::tungstenite::Error::Http(resp) = &refused {
            assert_eq!(resp.status().as_u16(), 503);
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            assert!(body.contains("out of file descriptors"), "{body}");
        }
        let line = server.wait_line("out of file descriptors", Duration::from_secs(10));
        assert!(
            line.contains(&format!("(limit {LIMIT})")) && line.contains("ulimit -n"),
            "{line}"
        );
        // More clients over the limit are refused at once, and the server does not spin.
        let pid = server.child.id();
        let cpu0 = (cpu_seconds(pid), Instant::now());
        for _ in 0..20 {
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_tungstenite::connect_async(url.as_str()),
            )
            .await
            .expect("a client over the limit waited");
            assert!(attempt.is_err(), "a client over the limit got in");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let share = (cpu_seconds(pid) - cpu0.0) / cpu0.1.elapsed().as_secs_f64();
        assert!(
            share < 0.5,
            "the server used {share:.2} of a core while out of descriptors"
        );
        // The connected ones are served as before.
        let first = clients.first_mut().unwrap();
        first.send(Message::text("stats")).await.unwrap();
        let stats = server.wait_new_line("refused ", Duration::from_secs(10));
        let counted: u64 = stats.trim_start_matches("refused ").trim().parse().unwrap();
        assert!(counted >= 21, "{stats}");
        first.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        let echo = tokio::time::timeout(Duration::from_secs(10), first.next()).await;
        assert!(matches!(echo, Ok(Some(Ok(Message::Binary(b)))) if b[..] == [1, 2, 3]));
        // Fifty leave; fifty new clients get in and are echoed.
        for mut ws in clients.drain(..50) {
            let _ = ws.close(None).await;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut fresh = Vec::new();
        while fresh.len() < 50 {
            assert!(
                Instant::now() < deadline,
                "{} of 50 got in after others left",
                fresh.len()
            );
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((ws, _)) => fresh.push(ws),
                // Until the server has seen the fifty leave.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        for ws in &mut fresh {
            ws.send(Message::binary(vec![9])).await.unwrap();
            let echo = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
            assert!(matches!(echo, Ok(Some(Ok(Message::Binary(b)))) if b[..] == [9]));
        }
    });
}
