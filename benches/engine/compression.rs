//! The compression line (ours only, compression on against off in the same run): clients
//! that offer permessage-deflate, as browsers do, receive a world state in JSON (about
//! 2 KB, changed every tick) 20 times a second by `broadcast_text`. Measured: the bytes on
//! the wire per second (what the clients read from their sockets), the server's CPU, the
//! main thread's time per broadcast, and memory per idle connection. Then compression on
//! with 100 and 10,000 clients: is the main thread's cost flat? `COMPRESSION_N` sets the
//! main run's number of clients.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Plan, process::*, table::*};

/// What the clients offer: a browser's offer.
const OFFER: &str = "permessage-deflate; client_max_window_bits";
const HZ: u32 = 20;
const STATE_BYTES: usize = 2048;

/// A raw client that upgrades offering permessage-deflate; whether the server agreed.
async fn open_raw(port: u16) -> Option<(TcpStream, bool)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {OFFER}\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.ok()?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    head.starts_with("HTTP/1.1 101")
        .then(|| (s, head.contains("permessage-deflate")))
}

/// What the clients saw: bytes read, world states received, states checked by inflating.
#[derive(Default)]
struct Seen {
    bytes: AtomicU64,
    states: AtomicUsize,
    checked: AtomicUsize,
    bad: AtomicUsize,
}

/// Reads frames until the server goes quiet; every 50th state is inflated and checked.
async fn read_states(mut s: TcpStream, seen: Arc<Seen>) {
    let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 16 * 1024]);
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut chunk)).await {
        if n == 0 {
            return;
        }
        seen.bytes.fetch_add(n as u64, Ordering::Relaxed);
        buf.extend_from_slice(&chunk[..n]);
        while let Some((first, start, len)) = frame(&buf) {
            let count = seen.states.fetch_add(1, Ordering::Relaxed);
            if count.is_multiple_of(50) {
                let payload = &buf[start..start + len];
                let ok = match first {
                    0xc1 => inflate(payload).first() == Some(&b'{'),
                    0x81 => payload.first() == Some(&b'{'),
                    _ => false,
                };
                let counter = if ok { &seen.checked } else { &seen.bad };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            buf.drain(..start + len);
        }
    }
}

/// A whole server frame at the start of `buf`: its first byte, payload start and length.
fn frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (len, start) = match *buf.get(1)? & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    (buf.len() >= start + len).then_some((buf[0], start, len))
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(64 * 1024);
    let _ = Decompress::new(false).decompress_vec(&input, &mut out, FlushDecompress::Sync);
    out
}

/// One server (compression `on` or off) with `n` clients; adds its rows when `main`.
async fn run(godot: &PathBuf, plan: &Plan, table: &mut Table, n: usize, on: bool, main: bool) {
    let port = free_port();
    let mut args = vec!["--kind=ours".to_string(), format!("--port={port}")];
    if on {
        args.push("--compress".into());
    }
    let process = start_script(godot, "res://bench/echo_server.gd", &args);
    let url = format!("ws://127.0.0.1:{port}/");
    let mut control = Control::new(&url, "ours").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_rss = process.rss_kb();
    let deadline = Instant::now() + plan.connect_wait;
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let opened: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                while Instant::now() < deadline {
                    if let Some(c) = open_raw(port).await {
                        return Some(c);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None
            })
        })
        .collect();
    let mut clients = Vec::new();
    for t in opened {
        if let Ok(Some(c)) = t.await {
            clients.push(c);
        }
    }
    let reached = clients.len();
    let agreed = clients.iter().filter(|(_, a)| *a).count();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_idle = process.rss_kb().saturating_sub(base_rss) as f64 / reached.max(1) as f64;
    let seen = Arc::new(Seen::default());
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(s, _)| tokio::spawn(read_states(s, seen.clone())))
        .collect();
    let secs = plan.fanout_secs;
    control.send("#reset").await;
    let cpu0 = process.cpu();
    let t0 = Instant::now();
    let bytes0 = seen.bytes.load(Ordering::Relaxed);
    control
        .send(&format!("#fanout {HZ} {secs} {STATE_BYTES} json"))
        .await;
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(200)).await;
    let window = t0.elapsed().as_secs_f64();
    let cpu = (process.cpu() - cpu0) / window * 100.0;
    let wire = (seen.bytes.load(Ordering::Relaxed) - bytes0) as f64 / window;
    let stats = control.stats().await;
    for r in readers {
        let _ = r.await;
    }
    let sends = stats.get("broadcasts").copied().unwrap_or(0.0);
    let per_send = stats.get("broadcast_us_p50").copied().unwrap_or(-1.0);
    let states = seen.states.load(Ordering::Relaxed);
    let (checked, bad) = (
        seen.checked.load(Ordering::Relaxed),
        seen.bad.load(Ordering::Relaxed),
    );
    let mode = if on { "on" } else { "off" };
    println!(
        "compression {mode}, {reached} clients ({agreed} agreed): {sends} broadcasts of a ~2 KB JSON state, {states} of {} received ({checked} checked, {bad} bad), {:.1} MB/s on the wire, server CPU {cpu:.0}%, {per_send:.1} µs main thread per broadcast, {per_idle:.1} KB per idle connection",
        sends as usize * reached,
        wire / 1e6
    );
    assert_eq!(bad, 0, "a world state arrived damaged");
    if !main {
        table.add(
            &format!("compression on, {n} clients: main-thread µs per broadcast (median)"),
            "ours",
            format!("{per_send:.1}"),
            per_send,
            false,
        );
        return;
    }
    let line = format!("compression {mode}, {n} clients x {HZ} Hz x 2 KB JSON");
    let rows = [
        ("wire MB/s", format!("{:.2}", wire / 1e6), wire),
        ("server CPU", format!("{cpu:.0}%"), cpu),
        (
            "main-thread µs per broadcast (median)",
            format!("{per_send:.1}"),
            per_send,
        ),
        (
            "memory per idle connection",
            format!("{per_idle:.1} KB"),
            per_idle,
        ),
    ];
    for (what, shown, value) in rows {
        table.add(&format!("{line}: {what}"), "ours", shown, value, false);
    }
}

pub(crate) async fn line_compression(godot: &PathBuf, plan: &Plan, table: &mut Table) {
    let n = std::env::var("COMPRESSION_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if plan.quick { 200 } else { 1000 });
    run(godot, plan, table, n, false, true).await;
    run(godot, plan, table, n, true, true).await;
    for &clients in &plan.fanout_levels {
        run(godot, plan, table, clients, true, false).await;
    }
}
