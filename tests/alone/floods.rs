//! Floods and slow clients at scale, with real sockets; each test prints its figures.
//! Memory is this process's resident set (server and clients live here; the clients'
//! share is small and freed as well).

use crate::alone;
use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::echo::EchoProcess;
use common::*;
use futures_util::{SinkExt, StreamExt};
use godot_websocket_server::core::SendError;
use tokio_tungstenite::tungstenite::Message;

/// The two tests that measure this process's memory take turns (each would count the
/// other's buffers).
static IN_PROCESS_MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// Whether the server closed `s` (EOF or reset) within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an HTTP answer, then the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slowloris_stalled_sockets_are_dropped_and_real_clients_get_through() {
    let _alone = alone();
    let rt = client_runtime();
    // Long enough that the real clients are through well before it on a loaded machine:
    // they must not have waited for the stalled sockets to be dropped.
    let timeout = Duration::from_secs(4);
    let mut server = EchoProcess::start(&["--handshake-timeout", "4"]);
    let port = server.port;
    let u = format!("ws://127.0.0.1:{port}/");
    let (idle, idle_rss) = (server.heap_kb(), server.rss_kb());
    {
        let started = Instant::now();
        // 2,000 sockets that send nothing and 500 that send half an upgrade and stall.
        let mut stalled: Vec<TcpStream> = (0..2500)
            .map(|i| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                if i >= 2000 {
                    s.write_all(&UPGRADE[..60]).unwrap();
                }
                s
            })
            .collect();
        let opened_stalled = started.elapsed();
        // Meanwhile 100 real clients connect and echo 20 messages each.
        let clients: Vec<_> = (0..100)
            .map(|i| {
                let u = u.clone();
                rt.spawn(async move {
                    let mut c = connect(&u, &[]).await.unwrap();
                    for n in 0..20 {
                        let text = format!("client {i} message {n}");
                        c.send(Message::text(text.clone())).await.unwrap();
                        match c.next().await {
                            Some(Ok(Message::Text(t))) if t.as_str() == text => {}
                            other => panic!("client {i}: {other:?}"),
                        }
                    }
                    c.close(None).await.unwrap();
                })
            })
            .collect();
        for c in clients {
            rt.block_on(c).unwrap();
        }
        let real_done = started.elapsed();
        let (peak, peak_rss) = (server.heap_kb(), server.rss_kb());
        // Every stalled socket is dropped at the handshake timeout.
        let mut not_closed = 0;
        for s in stalled.iter_mut() {
            let left = (timeout + Duration::from_secs(5)).saturating_sub(started.elapsed());
            if !closed_within(s, left.max(Duration::from_millis(10))) {
                not_closed += 1;
            }
        }
        let all_dropped = started.elapsed();
        assert_eq!(
            not_closed, 0,
            "stalled sockets still open after the timeout"
        );
        assert!(
            real_done < timeout,
            "real clients were held up: {real_done:?}"
        );
        assert!(
            all_dropped >= timeout - Duration::from_millis(100),
            "dropped before the timeout"
        );
        drop(stalled);
        // What the server still holds comes back near the idle level once every socket is
        // gone (Tokio's grown internals stay): waited for, up to 10 s.
        let bound = idle + (peak - idle) / 5;
        let gone = Instant::now();
        let mut after = server.heap_kb();
        while after > bound && gone.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
            after = server.heap_kb();
        }
        let after_rss = server.rss_kb();
        println!(
            "slowloris: 2500 stalled sockets opened in {opened_stalled:?}; 100 real clients echoed 2000 messages by {real_done:?}; \
             all stalled sockets dropped by {all_dropped:?} (handshake_timeout {timeout:?}); \
             server live heap idle {idle} kB, peak {peak} kB, after {after} kB ({:?} after the last socket closed); \
             its resident set idle {idle_rss} kB, peak {peak_rss} kB, after {after_rss} kB (the C library keeps freed pages)",
            gone.elapsed()
        );
        assert!(
            after <= bound,
            "server still holds memory: live heap idle {idle} kB, peak {peak} kB, after {after} kB"
        );
    }
}

#[test]
fn a_fast_sender_while_the_game_does_not_poll_is_held_by_the_inbound_limit() {
    let _alone = alone();
    let _turn = IN_PROCESS_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let rt = client_runtime();
    let mut server = listening(&[], |_| {});
    let buffers = server.settings().listen.buffers;
    let u = url(&server);
    let mut log = Vec::new();
    poll_for(&mut server, &mut log, 100);
    let before = rss_kb();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    // 16 KiB messages as fast as the client can, for 2 s, while nobody polls.
    let sender = rt.spawn(async move {
        let mut c = connect(&u, &[]).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut n = 0u32;
        while Instant::now() < deadline {
            let mut msg = vec![0u8; 16 * 1024];
            msg[..4].copy_from_slice(&n.to_le_bytes());
            match tokio::time::timeout(Duration::from_millis(100), c.send(Message::binary(msg)))
                .await
            {
                Ok(r) => {
                    r.unwrap();
                    n += 1;
                    sent2.store(n as usize, Ordering::Relaxed);
                }
                Err(_) => continue, // TCP backpressure: the server is not reading
            }
        }
        c
    });
    std::thread::sleep(Duration::from_millis(2300));
    let during = rss_kb();
    let sent_while_paused = sent.load(Ordering::Relaxed);
    // Resume: everything the client sent arrives, in order.
    let client = rt.block_on(sender).unwrap();
    let total = sent.load(Ordering::Relaxed);
    let mut got = 0u32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while (got as usize) < total && Instant::now() < deadline {
        server.wait(Duration::from_millis(10));
        server.poll(&mut log);
        for id in connected_ids(&log) {
            let peer = server.peer(id).unwrap();
            while let Some(m) = peer.recv() {
                assert_eq!(u32::from_le_bytes(m.data[..4].try_into().unwrap()), got);
                got += 1;
            }
        }
    }
    println!(
        "fast sender, game not polling for 2.3 s: {sent_while_paused} messages of 16 KiB accepted by TCP; \
         server RSS grew {} kB (inbound limit {} KiB / {} packets); then all {got} of {total} arrived in order",
        during.saturating_sub(before),
        buffers.in_bytes / 1024,
        buffers.in_packets
    );
    assert_eq!(got as usize, total);
    // Bounded: the inbound limit, the socket buffers and some slack, far below 2 s of
    // loopback traffic.
    assert!(
        during.saturating_sub(before) < 16 * 1024,
        "grew {} kB",
        during - before
    );
    drop(client);
}

#[test]
fn a_client_that_never_reads_gets_send_errors_and_others_are_unaffected() {
    let _alone = alone();
    let _turn = IN_PROCESS_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let rt = client_runtime();
    let mut server = listening(&[], |s| {
        s.configure(|c| c.listen.buffers = common::buffers(64, 1024, 256, 1024))
            .unwrap();
    });
    let port = server.local_port();
    let u = url(&server);
    // A raw client that upgrades and never reads again.
    let deaf = raw_upgraded(port);
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 1);
    let deaf_id = connected_ids(&log)[0];
    let before = rss_kb();
    let peer = server.peer(deaf_id).unwrap().clone();
    let chunk = bytes::Bytes::from(vec![7u8; 1024]);
    let mut accepted = 0usize;
    let started = Instant::now();
    // Full at first may only mean that the network thread has not caught up; it is full
    // for good once the socket takes nothing more: still full after a pause.
    let full = loop {
        let full = loop {
            match peer.send(chunk.clone(), false) {
                Ok(()) => accepted += 1,
                Err(e @ SendError::BufferFull { .. }) => break e,
                Err(e) => panic!("unexpected {e}"),
            }
            if accepted.is_multiple_of(256) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(started.elapsed() < Duration::from_secs(20), "never full");
        };
        std::thread::sleep(Duration::from_millis(200));
        match peer.send(chunk.clone(), false) {
            Ok(()) => accepted += 1,
            Err(SendError::BufferFull { .. }) => break full,
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never stays full"
        );
    };
    // It stays full while the client does not read.
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(
        peer.send(chunk.clone(), false),
        Err(SendError::BufferFull { .. })
    ));
    // Bounded: the queue (256 KiB) and what the kernel's socket buffers took.
    assert!(accepted < 64 * 1024, "{accepted} messages of 1 KiB taken");
    let grew = rss_kb().saturating_sub(before);
    // Another client meanwhile echoes normally.
    let other = rt.spawn(async move {
        let mut c = connect(&u, &[]).await.unwrap();
        for i in 0..50 {
            c.send(Message::text(format!("m{i}"))).await.unwrap();
            assert_eq!(
                c.next().await.unwrap().unwrap(),
                Message::text(format!("m{i}"))
            );
        }
    });
    echo_until(&mut server, &mut log, 10, |_| other.is_finished());
    rt.block_on(other).unwrap();
    println!(
        "client that never reads: {accepted} messages of 1 KiB taken ({} KiB into socket buffers, 256 KiB queue), then {full}; RSS grew {grew} kB",
        accepted.saturating_sub(256)
    );
    assert!(grew < 8 * 1024, "grew {grew} kB");
    drop(deaf);
}

/// Clients that misbehave at the TLS layer and never read, from Python's tlslite-ng (a
/// TLS stack that sends what rustls' own client never would): KeyUpdate requests (TLS
/// 1.3) and renegotiation attempts (TLS 1.2) by the thousand, and a record longer than
/// TLS allows. rustls ends each connection (after 32 key updates in a row; with
/// no_renegotiation at the first attempt, at the second; with record_overflow), and what
/// the server holds comes back to where it was (give or take the network thread's own
/// buffers for TLS, made at its first TLS connection: 32 KiB to read into, and what
/// rustls last had to send).
#[test]
fn tls_floods_are_ended_and_the_server_holds_nothing_more() {
    let _alone = alone();
    let dir = std::env::temp_dir().join(format!("gws-tls-floods-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chain = common::certs::chain();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(
        &cert,
        format!("{}{}", chain.leaf_pem, chain.intermediate_pem),
    )
    .unwrap();
    std::fs::write(&key, &chain.leaf_key_pem).unwrap();
    let mut server = EchoProcess::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let idle = server.heap_kb();
    let port = server.port.to_string();
    for (mode, count, ended) in [
        ("keyupdates", "100000", "closed"),
        ("renegotiations", "100000", "alert no_renegotiation"),
        ("oversized", "1", "alert record_overflow"),
    ] {
        let started = Instant::now();
        let out = common::engine::python_client("tls_misbehave.py", &[&port, mode, count]);
        let text = String::from_utf8_lossy(&out.stdout);
        let sent: u64 = text
            .split("\"sent\": ")
            .nth(1)
            .and_then(|s| s.split([',', '}']).next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{mode}: {text}"));
        assert!(
            text.contains(&format!("\"ended\": \"{ended}\"")),
            "{mode}: {text}"
        );
        // What the client's sends the kernel took before the connection was gone: far
        // fewer than asked for.
        assert!(
            sent < count.parse::<u64>().unwrap().max(2) / 2 || count == "1",
            "{mode}: {sent} sent"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut after = server.heap_kb();
        while after > idle + 64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            after = server.heap_kb();
        }
        println!(
            "TLS {mode}: {sent} sent before the server ended the connection ({ended}) in {:?}; the server's live heap {idle} kB before, {after} kB after",
            started.elapsed()
        );
        assert!(
            after <= idle + 64,
            "{mode}: the server holds {after} kB, {idle} kB before"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
