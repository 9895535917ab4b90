//! The scale line (`--only=scale`): how each cost grows from 1,000 to 19,000 connections.
//! For each count, a fresh server (the GDScript echo server, as the other lines) and the
//! clients in worker processes of their own (this program again, `--scale-worker`), at
//! most 5,000 each from a source address each, so that no process passes the limit of
//! open files: the connect burst (all at once, until all are open; the server's CPU per
//! connection; Godot's servers, which cannot take a burst, are given 32 attempts at a time
//! per worker), the memory per idle connection (the server's RSS, and the kernel's: slab
//! growth over both ends, halved), `poll()` per idle frame, and a broadcast of 1 KB to
//! everyone five times a second (main-thread µs per broadcast, send to receipt, every
//! message delivered). Godot's two servers run beside ours until a count where they do
//! not open everyone within 60 s; ours over wss gives its memory and connect time.
//! `SCALE_HANDSHAKE_TIMEOUT=S` runs ours with that `handshake_timeout`; `SCALE_SCHEMES=ws`
//! or `wss` and `SCALE_KINDS=ours,tcp,godot_mp` run a part.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream};

use crate::{Plan, Ws, process::*, table::*, wss};

/// Clients per worker process.
const PER_WORKER: usize = 5000;
/// Attempts at a time per worker process against Godot's servers, which cannot take a
/// burst (a backlog of 8, one accept per frame): the burst line shows that already.
const PACED: usize = 32;
/// How long a count may take to open everyone.
const OPEN_WITHIN: Duration = Duration::from_secs(60);
/// Broadcasts: 1 KB, 5 a second, for 4 s.
const FANOUT: (u32, u64, usize) = (5, 4, 1024);

/// What one count measured.
struct Point {
    opened: usize,
    open_secs: f64,
    cpu_ms_per_connect: f64,
    rss_kb_per_conn: f64,
    kernel_kb_per_conn: f64,
    /// Only over ws.
    live: Option<Live>,
}

/// What the idle frames and the broadcasts measured.
struct Live {
    /// `poll()` µs per idle frame.
    poll: f64,
    /// Main-thread µs per broadcast (median).
    broadcast: f64,
    /// The server's CPU (every thread) per message delivered, µs.
    cpu_per_delivery: f64,
    /// Send to receipt, ms.
    p50: f64,
    p99: f64,
    got: u64,
    expected: u64,
}

pub(crate) async fn line_scale(godot: &PathBuf, plan: &Plan, table: &mut Table) {
    let dir = std::env::temp_dir().join(format!("gws-bench-scale-{}", std::process::id()));
    let (key, cert) = wss::certificate(&dir);
    let mut round = 0u8;
    let wanted = |var: &str, what: &str| {
        std::env::var(var).map_or(true, |v| v.split(',').any(|w| w == what))
    };
    for tls in [false, true] {
        if !wanted("SCALE_SCHEMES", if tls { "wss" } else { "ws" }) {
            continue;
        }
        let kinds: &[&'static str] = if tls {
            &["ours"]
        } else {
            &["ours", "tcp", "godot_mp"]
        };
        for &kind in kinds.iter().filter(|k| wanted("SCALE_KINDS", k)) {
            for &n in &plan.scale_levels {
                round += 1;
                let tls_files = tls.then(|| (key.clone(), cert.clone()));
                let p = point(godot, kind, n, tls_files, round).await;
                report(table, kind, n, tls, &p);
                if p.opened < n {
                    println!(
                        "scale {kind}{}: stops at {n} (not everyone open within {} s)",
                        if tls { " wss" } else { "" },
                        OPEN_WITHIN.as_secs()
                    );
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn report(table: &mut Table, kind: &'static str, n: usize, tls: bool, p: &Point) {
    let scheme = if tls { "wss" } else { "ws" };
    let opened = if p.opened == n {
        format!("{n} open in {:.2} s", p.open_secs)
    } else {
        format!("{} of {n} open in {} s", p.opened, OPEN_WITHIN.as_secs())
    };
    println!(
        "scale {scheme} {n} {kind}: {opened}, {:.2} ms server CPU per connection, {:.1} KB RSS + {:.1} KB kernel per idle connection",
        p.cpu_ms_per_connect, p.rss_kb_per_conn, p.kernel_kb_per_conn
    );
    let score = p.opened as f64 / n as f64 * 1000.0 + 1.0 / (p.open_secs + 0.001);
    let how = if kind == "ours" {
        "connect burst, all at once"
    } else {
        "connect, 32 attempts at a time per worker"
    };
    table.add(
        &format!("scale {scheme} {n}: {how}"),
        kind,
        opened,
        score,
        true,
    );
    let rows = [
        ("server CPU ms per connection", p.cpu_ms_per_connect, 2),
        ("server RSS KB per idle connection", p.rss_kb_per_conn, 1),
        (
            "kernel KB per idle connection (slab, both ends / 2)",
            p.kernel_kb_per_conn,
            1,
        ),
    ];
    for (what, v, digits) in rows {
        table.add(
            &format!("scale {scheme} {n}: {what}"),
            kind,
            format!("{v:.digits$}"),
            v,
            false,
        );
    }
    let Some(Live {
        poll,
        broadcast,
        cpu_per_delivery,
        p50,
        p99,
        got,
        expected,
    }) = p.live
    else {
        return;
    };
    println!(
        "scale {scheme} {n} {kind}: poll {poll:.1} µs per idle frame; broadcast of 1 KB {broadcast:.1} µs main thread, {cpu_per_delivery:.2} µs server CPU per message delivered, p50 {p50:.2} ms p99 {p99:.2} ms, {got} of {expected} delivered"
    );
    let rows = [
        ("µs in poll() per idle frame", poll, format!("{poll:.1}")),
        (
            "main-thread µs per broadcast of 1 KB (median)",
            broadcast,
            format!("{broadcast:.1}"),
        ),
        (
            "server CPU µs per broadcast message delivered",
            cpu_per_delivery,
            format!("{cpu_per_delivery:.2}"),
        ),
        (
            "broadcast send to receipt p50 / p99 ms",
            p99,
            format!("{p50:.2} / {p99:.2}"),
        ),
    ];
    for (what, v, text) in rows {
        table.add(&format!("scale {scheme} {n}: {what}"), kind, text, v, false);
    }
    table.add(
        &format!("scale {scheme} {n}: broadcasts delivered"),
        kind,
        format!("{got} of {expected}"),
        got as f64 / expected.max(1) as f64,
        true,
    );
}

/// One count against a fresh server of `kind`.
async fn point(
    godot: &PathBuf,
    kind: &'static str,
    n: usize,
    tls: Option<(PathBuf, PathBuf)>,
    round: u8,
) -> Point {
    let port = free_port();
    let mut args = vec![format!("--kind={kind}"), format!("--port={port}")];
    if let Some((key, cert)) = &tls {
        args.push(format!("--tls-key={}", key.display()));
        args.push(format!("--tls-cert={}", cert.display()));
    }
    // Ours with another handshake_timeout than its 3 s (to see what the burst waits for).
    if let Ok(secs) = std::env::var("SCALE_HANDSHAKE_TIMEOUT") {
        args.push(format!("--handshake-timeout={secs}"));
    }
    let server = start_script(godot, "res://bench/echo_server.gd", &args);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://127.0.0.1:{port}/");
    let mut control = match tls {
        None => Some(Control::new(&url, kind).await),
        Some(_) => None,
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss0, slab0) = (server.rss_kb(), slab_kb());
    // Workers, each with its own source address (127.0.<round>.<i + 1>).
    let cert = tls.as_ref().map(|(_, c)| c.clone());
    let count = n.div_ceil(PER_WORKER);
    let mut workers: Vec<Worker> = (0..count)
        .map(|i| {
            let share = n / count + usize::from(i < n % count);
            let source = format!("127.0.{round}.{}", i + 1);
            Worker::start(&url, kind, share, &source, cert.as_ref())
        })
        .collect();
    for w in &mut workers {
        w.line("READY", Duration::from_secs(30)).await;
    }
    let cpu0 = server.cpu();
    for w in &mut workers {
        w.say("go");
    }
    let (mut opened, mut open_secs) = (0usize, 0f64);
    for w in &mut workers {
        let line = w.line("OPEN", OPEN_WITHIN + Duration::from_secs(30)).await;
        let mut f = line.split_whitespace().skip(1);
        opened += f.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        let ms: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        open_secs = open_secs.max(ms / 1000.0);
    }
    let cpu_ms_per_connect = (server.cpu() - cpu0) * 1000.0 / opened.max(1) as f64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per = |kb: f64| kb / opened.max(1) as f64;
    let rss_kb_per_conn = per(server.rss_kb().saturating_sub(rss0) as f64);
    let kernel_kb_per_conn = per((slab_kb() - slab0) as f64) / 2.0;
    let live = match control.as_mut() {
        Some(control) => Some(live(control, &server, &mut workers, opened).await),
        None => None,
    };
    for w in &mut workers {
        w.say("quit");
    }
    for mut w in workers {
        let _ = w.child.wait();
    }
    drop(server);
    Point {
        opened,
        open_secs,
        cpu_ms_per_connect,
        rss_kb_per_conn,
        kernel_kb_per_conn,
        live,
    }
}

/// `poll()` while idle, then the broadcasts.
async fn live(
    control: &mut Control,
    server: &Process,
    workers: &mut [Worker],
    opened: usize,
) -> Live {
    control.send("#reset").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let poll = control
        .stats()
        .await
        .get("poll_us")
        .copied()
        .unwrap_or(-1.0);
    for w in workers.iter_mut() {
        w.say("reset");
    }
    control.send("#reset").await;
    let (hz, secs, size) = FANOUT;
    let cpu0 = server.cpu();
    control.send(&format!("#fanout {hz} {secs} {size}")).await;
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(200)).await;
    let stats = control.stats().await;
    let sends = stats.get("broadcasts").copied().unwrap_or(0.0) as u64;
    let per_send = stats.get("broadcast_us_p50").copied().unwrap_or(-1.0);
    let expected = sends * opened as u64;
    // Until everything arrived, or 20 s more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (got, hist) = loop {
        let mut got = 0;
        let mut hist = Histogram::<u64>::new(3).unwrap();
        for w in workers.iter_mut() {
            w.say("report");
            let line = w.line("REPORT", Duration::from_secs(30)).await;
            let mut f = line.split_whitespace().skip(1);
            got += f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            for pair in f {
                if let Some((v, c)) = pair.split_once(':') {
                    let _ = hist.record_n(v.parse().unwrap_or(0), c.parse().unwrap_or(0));
                }
            }
        }
        if got >= expected || Instant::now() > deadline {
            break (got, hist);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cpu_per_delivery = (server.cpu() - cpu0) * 1e6 / got.max(1) as f64;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Live {
        poll,
        broadcast: per_send,
        cpu_per_delivery,
        p50: ms(0.5),
        p99: ms(0.99),
        got,
        expected,
    }
}

/// The kernel's slab memory, machine-wide (`/proc/meminfo`), in KB.
fn slab_kb() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A client process and its lines.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: UnboundedReceiver<String>,
}

impl Worker {
    fn start(url: &str, kind: &str, n: usize, source: &str, cert: Option<&PathBuf>) -> Worker {
        let cert = cert.map_or("-".to_string(), |c| c.display().to_string());
        let gate = if kind == "ours" { n } else { PACED };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--scale-worker", url, kind, &n.to_string(), source, &cert])
            .arg(gate.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a scale worker");
        let stdin = child.stdin.take().unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            stdin,
            lines,
        }
    }

    fn say(&mut self, what: &str) {
        let _ = writeln!(self.stdin, "{what}");
        let _ = self.stdin.flush();
    }

    async fn line(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) if line.starts_with(prefix) => return line,
                Ok(Some(_)) => {}
                _ => panic!("scale worker: no {prefix} line within {limit:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The worker process

/// `--scale-worker URL KIND N SOURCE CERT GATE`: prints READY; on "go" opens N
/// connections from SOURCE, GATE attempts at a time (retrying refused ones for 60 s) and prints "OPEN <open> <ms until
/// the last>"; counts the 1 KB broadcasts it receives with their age; "report" prints
/// "REPORT <received> <µs>:<count>...", "reset" starts the count again, "quit" ends.
pub(crate) fn worker(args: &[String]) {
    let [url, kind, n, source, cert, gate] = args else {
        panic!("--scale-worker URL KIND N SOURCE CERT GATE");
    };
    let n: usize = n.parse().unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(gate.parse().unwrap()));
    let kind: &'static str = if kind == "godot_mp" { "godot_mp" } else { "ws" };
    let connector = (cert != "-").then(|| Connector::Rustls(wss::client_config(cert.as_ref())));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("READY");
    let mut stdin = std::io::stdin().lock().lines().map_while(Result::ok);
    assert_eq!(stdin.next().as_deref(), Some("go"));
    let received = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    rt.block_on(async {
        let started = Instant::now();
        let deadline = started + OPEN_WITHIN;
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (url, source, connector) = (url.clone(), source.clone(), connector.clone());
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _permit = gate.acquire().await.ok()?;
                    while Instant::now() < deadline {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let attempt = open_from(&url, kind, &source, connector.clone());
                        if let Ok(Some(ws)) = tokio::time::timeout(left, attempt).await {
                            return Some((ws, started.elapsed()));
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    None
                })
            })
            .collect();
        let (mut open, mut last) = (0usize, Duration::ZERO);
        for t in tasks {
            if let Ok(Some((ws, at))) = t.await {
                open += 1;
                last = last.max(at);
                tokio::spawn(listen(ws, received.clone(), hist.clone()));
            }
        }
        println!("OPEN {open} {:.0}", last.as_secs_f64() * 1000.0);
    });
    let _guard = rt.enter();
    for command in stdin {
        match command.as_str() {
            "report" => {
                let h = hist.lock();
                let mut line = format!("REPORT {}", received.load(Ordering::Relaxed));
                for v in h.iter_recorded() {
                    line += &format!(" {}:{}", v.value_iterated_to(), v.count_at_value());
                }
                println!("{line}");
            }
            "reset" => {
                received.store(0, Ordering::Relaxed);
                hist.lock().reset();
            }
            _ => break,
        }
    }
    rt.shutdown_background();
}

/// Reads a connection to its end: each 1 KB binary message is a broadcast stamped with
/// its send time (µs since the epoch, f64).
async fn listen(mut ws: Ws, received: Arc<AtomicU64>, hist: Arc<Mutex<Histogram<u64>>>) {
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Binary(b) = m
            && b.len() == FANOUT.2
        {
            let sent = f64::from_le_bytes(b[..8].try_into().unwrap());
            let _ = hist.lock().record((now_micros() - sent).max(0.0) as u64);
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One client from `source` (Godot's multiplayer server first sends the peer id); small
/// read buffers, so that 5,000 clients in one process stay small.
async fn open_from(url: &str, kind: &str, source: &str, tls: Option<Connector>) -> Option<Ws> {
    let port: u16 = url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{source}:0").parse().ok()?).ok()?;
    let tcp = socket
        .connect(format!("127.0.0.1:{port}").parse().ok()?)
        .await
        .ok()?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = match tls {
        None => tokio_tungstenite::client_async_with_config(
            url,
            MaybeTlsStream::Plain(tcp),
            Some(config),
        )
        .await
        .ok()?,
        Some(connector) => {
            tokio_tungstenite::client_async_tls_with_config(url, tcp, Some(config), Some(connector))
                .await
                .ok()?
        }
    };
    if kind == "godot_mp" {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) if b.len() == 4 => {}
            _ => return None,
        }
    }
    Some(ws)
}
