//! Benchmark: the same load against the core's echo example (`examples/echo.rs`, events
//! drained by one polling thread, as in Godot) and a bare tokio-tungstenite echo server
//! (`examples/bare_echo.rs`), each in its own process, in one run. Prints messages per
//! second, round-trip latency percentiles and memory per idle connection for both, and
//! the ratios core / bare.
//!
//! `cargo bench --bench echo` (set BENCH_QUICK=1 for a short run).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

struct Load {
    connections: usize,
    messages: usize,
    size: usize,
    window: usize,
    latency_connections: usize,
    round_trips: usize,
    idle_connections: usize,
}

struct Figures {
    msgs_per_sec: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
    bytes_per_idle: f64,
}

struct ServerProcess {
    child: Child,
    port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(example: &str, port: u16) -> ServerProcess {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(example);
    let mut child = Command::new(&dir)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", dir.display()));
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let port = line
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{example} did not start: {line}"));
    ServerProcess { child, port }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn throughput(url: &str, load: &Load) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..load.connections {
        let url = url.to_string();
        let (messages, size, window) = (load.messages, load.size, load.window);
        tasks.push(tokio::spawn(async move {
            let (ws, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("connect");
            let (mut tx, mut rx) = ws.split();
            let credits = Arc::new(Semaphore::new(window));
            let sender_credits = credits.clone();
            let sender = tokio::spawn(async move {
                let payload = vec![c as u8; size];
                for _ in 0..messages {
                    sender_credits.acquire().await.unwrap().forget();
                    tx.send(Message::binary(payload.clone())).await.unwrap();
                }
                tx
            });
            for _ in 0..messages {
                let m = rx.next().await.expect("echo").expect("echo");
                assert_eq!(m.len(), size);
                credits.add_permits(1);
            }
            drop(sender.await.unwrap().reunite(rx).unwrap());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (load.connections * load.messages) as f64 / started.elapsed().as_secs_f64()
}

async fn latency(url: &str, load: &Load) -> Histogram<u64> {
    let mut tasks = Vec::new();
    for _ in 0..load.latency_connections {
        let url = url.to_string();
        let round_trips = load.round_trips;
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url)
                .await
                .expect("connect");
            let mut h = Histogram::<u64>::new(3).unwrap();
            for _ in 0..round_trips {
                let t = Instant::now();
                ws.send(Message::binary(vec![1u8; 32])).await.unwrap();
                ws.next().await.unwrap().unwrap();
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            h
        }));
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    all
}

async fn idle_memory(server: &ServerProcess, url: &str, load: &Load) -> f64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes(server.child.id());
    let mut clients = Vec::new();
    for _ in 0..load.idle_connections {
        clients.push(
            tokio_tungstenite::connect_async(url)
                .await
                .expect("connect")
                .0,
        );
    }
    // One message each, so that every connection has been read and written once.
    for c in clients.iter_mut() {
        c.send(Message::binary(vec![0u8; 16])).await.unwrap();
    }
    for c in clients.iter_mut() {
        c.next().await.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes(server.child.id());
    drop(clients);
    (after.saturating_sub(before)) as f64 / load.idle_connections as f64
}

fn measure(example: &str, port: u16, load: &Load, rt: &tokio::runtime::Runtime) -> Figures {
    let server = start(example, port);
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let bytes_per_idle = rt.block_on(idle_memory(&server, &url, load));
    // Warm-up, then the measured runs.
    let warm = Load {
        connections: 10,
        messages: 200,
        ..*load
    };
    rt.block_on(throughput(&url, &warm));
    let msgs_per_sec = rt.block_on(throughput(&url, load));
    let h = rt.block_on(latency(&url, load));
    Figures {
        msgs_per_sec,
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
        bytes_per_idle,
    }
}

/// Average cost of one `poll()` with nothing to report, with `idle` connected peers.
fn poll_cost(idle: usize, rt: &tokio::runtime::Runtime) -> f64 {
    use godot_websocket_server::core::Server;
    let mut server = Server::new();
    server
        .configure(|c| c.listen.bind_ip = "127.0.0.1".into())
        .unwrap();
    server.listen(0, &[], false).unwrap();
    let url = format!("ws://127.0.0.1:{}/", server.local_port());
    let clients: Vec<_> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..idle {
            v.push(
                tokio_tungstenite::connect_async(&url)
                    .await
                    .expect("connect")
                    .0,
            );
        }
        v
    });
    let mut events = Vec::new();
    let mut connected = 0;
    while connected < idle {
        server.wait(Duration::from_millis(10));
        server.poll(&mut events);
        connected += events.len();
        events.clear();
    }
    const CALLS: u32 = 100_000;
    let t = Instant::now();
    for _ in 0..CALLS {
        server.poll(&mut events);
    }
    let per_call = t.elapsed().as_nanos() as f64 / f64::from(CALLS);
    drop(clients);
    per_call
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "--example",
            "echo",
            "--example",
            "bare_echo",
        ])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the echo examples failed");
    let load = Load {
        connections: 50,
        messages: if quick { 1000 } else { 10_000 },
        size: 64,
        window: 32,
        latency_connections: 10,
        round_trips: if quick { 200 } else { 2000 },
        idle_connections: 1000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "load: {} connections x {} messages of {} bytes (window {}); latency: {} connections x {} round trips; memory: {} idle connections",
        load.connections,
        load.messages,
        load.size,
        load.window,
        load.latency_connections,
        load.round_trips,
        load.idle_connections
    );
    // Alternate the order so that neither server always runs on a cold machine.
    let bare = measure("bare_echo", 0, &load, &rt);
    let core = measure("echo", 0, &load, &rt);
    let bare2 = measure("bare_echo", 0, &load, &rt);
    let core2 = measure("echo", 0, &load, &rt);
    let avg = |a: &Figures, b: &Figures| Figures {
        msgs_per_sec: (a.msgs_per_sec + b.msgs_per_sec) / 2.0,
        p50: (a.p50 + b.p50) / 2,
        p90: (a.p90 + b.p90) / 2,
        p99: (a.p99 + b.p99) / 2,
        max: a.max.max(b.max),
        bytes_per_idle: (a.bytes_per_idle + b.bytes_per_idle) / 2.0,
    };
    let (bare, core) = (avg(&bare, &bare2), avg(&core, &core2));
    println!(
        "{:<22} {:>12} {:>8} {:>8} {:>8} {:>8} {:>14}",
        "server", "echoes/s", "p50 us", "p90 us", "p99 us", "max us", "bytes/idle"
    );
    for (name, f) in [
        ("bare tokio-tungstenite", &bare),
        ("core (echo example)", &core),
    ] {
        println!(
            "{:<22} {:>12.0} {:>8} {:>8} {:>8} {:>8} {:>14.0}",
            name, f.msgs_per_sec, f.p50, f.p90, f.p99, f.max, f.bytes_per_idle
        );
    }
    println!(
        "ratio core/bare: throughput {:.2}x, p50 latency {:.2}x, p99 latency {:.2}x, memory per idle connection {:.2}x",
        core.msgs_per_sec / bare.msgs_per_sec,
        core.p50 as f64 / bare.p50.max(1) as f64,
        core.p99 as f64 / bare.p99.max(1) as f64,
        core.bytes_per_idle / bare.bytes_per_idle.max(1.0)
    );
    let (empty, idle) = (poll_cost(0, &rt), poll_cost(2000, &rt));
    println!(
        "poll() with nothing to report: {empty:.0} ns with 0 peers, {idle:.0} ns with 2000 idle peers ({:.2}x)",
        idle / empty.max(1.0)
    );
    println!(
        "goals: throughput >= 0.90x bare: {}; idle connection < 16 KB: {} ({:.1} KB)",
        if core.msgs_per_sec >= 0.9 * bare.msgs_per_sec {
            "met"
        } else {
            "NOT met"
        },
        if core.bytes_per_idle < 16.0 * 1024.0 {
            "met"
        } else {
            "NOT met"
        },
        core.bytes_per_idle / 1024.0
    );
}
