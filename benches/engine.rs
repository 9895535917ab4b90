//! The benchmark inside the engine (`bash tools/bench-engine.sh [--quick]`): three headless
//! echo servers in GDScript on the same Godot build, one after the other in one run
//! (godot-project/bench/echo_server.gd): ours (`WebSocketServer`), Godot's multiplayer
//! server (`WebSocketMultiplayerPeer.create_server`) and Godot's `TCPServer` +
//! `WebSocketPeer`. The load comes from this process (tokio-tungstenite clients); each server
//! reports its own frame statistics. Lines: burst of connects, idle clients, closed-loop
//! throughput, latency at the default frame rate and at 60 fps, high-level multiplayer RPC
//! round trips (godot-project/bench/mp_rpc.gd, stock clients), fan-out. Prints one table
//! with the figures and ours / theirs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const KINDS: [&str; 3] = ["ours", "godot_mp", "tcp"];

struct Plan {
    quick: bool,
    /// Lines to run (all when empty).
    only: Vec<String>,
    /// How long the lines other than the burst wait for their clients to connect.
    connect_wait: Duration,
    bursts: Vec<usize>,
    burst_wait: Duration,
    idle_levels: Vec<usize>,
    idle_wait: Duration,
    throughput_secs: u64,
    latency_clients: usize,
    latency_secs: u64,
    rpc_clients: usize,
    rpc_secs: u64,
    /// The RPC line with the server on core 0 and the clients' process on core 1.
    rpc_split_cores: bool,
    fanout_clients: usize,
    fanout_secs: u64,
    /// More numbers of clients for our fan-out alone (is its main-thread cost flat?).
    fanout_levels: Vec<usize>,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                only: vec![],
                connect_wait: Duration::from_secs(8),
                bursts: vec![1000],
                burst_wait: Duration::from_secs(3),
                idle_levels: vec![100, 1000],
                idle_wait: Duration::from_secs(8),
                throughput_secs: 2,
                latency_clients: 200,
                latency_secs: 2,
                rpc_clients: 50,
                rpc_secs: 2,
                rpc_split_cores: false,
                fanout_clients: 200,
                fanout_secs: 2,
                fanout_levels: vec![],
            }
        } else {
            Plan {
                quick,
                only: vec![],
                connect_wait: Duration::from_secs(30),
                bursts: vec![1000, 10000],
                burst_wait: Duration::from_secs(15),
                idle_levels: vec![100, 1000, 3000, 10000],
                idle_wait: Duration::from_secs(40),
                throughput_secs: 5,
                latency_clients: 1000,
                latency_secs: 8,
                rpc_clients: 100,
                rpc_secs: 8,
                rpc_split_cores: false,
                fanout_clients: 1000,
                fanout_secs: 8,
                fanout_levels: vec![100, 10000],
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes

fn godot() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("tools/godot.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("tools/godot.sh");
    assert!(out.status.success(), "no Godot 4 engine");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Process {
    child: Child,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far (user + system).
    fn cpu(&self) -> f64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// CPU seconds used so far in user space and in the kernel.
    fn cpu_split(&self) -> (f64, f64) {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
        (ticks(11) / 100.0, ticks(12) / 100.0)
    }

    /// Time the engine's main thread has run, and waited to run, in ns (schedstat).
    fn main_thread_ns(&self) -> (u64, u64) {
        let pid = self.pid();
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat"))
            .unwrap_or_default();
        let mut f = text.split_whitespace().map(|v| v.parse().unwrap_or(0));
        (f.next().unwrap_or(0), f.next().unwrap_or(0))
    }

    fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a Godot script (in godot-project) and waits for its READY line.
fn start_script(godot: &PathBuf, script: &str, args: &[String]) -> Process {
    use std::io::BufRead;
    let mut child = Command::new(godot)
        .args(["--headless", "--path"])
        .arg(root().join("godot-project"))
        .args(["--script", script, "--"])
        .args(args)
        .env("GDRUST_SUPPRESSED_WARNINGS", "RegisterDocsInExport")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Godot");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{script} {args:?} ended before READY");
        }
        if line.starts_with("READY") {
            break;
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    Process { child }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    process: Process,
    url: String,
}

fn start_server(godot: &PathBuf, kind: &'static str, max_fps: Option<u32>) -> Server {
    start_paced_server(godot, kind, max_fps, None)
}

/// A server whose headless frame sleep (`OS.low_processor_usage_mode_sleep_usec`, 6,900
/// µs by default: at most 145 frames/s) is `frame_sleep_usec` when given.
fn start_paced_server(
    godot: &PathBuf,
    kind: &'static str,
    max_fps: Option<u32>,
    frame_sleep_usec: Option<u32>,
) -> Server {
    let port = free_port();
    let mut args = vec![format!("--kind={kind}"), format!("--port={port}")];
    if let Some(fps) = max_fps {
        args.push(format!("--max-fps={fps}"));
    }
    if let Some(usec) = frame_sleep_usec {
        args.push(format!("--frame-sleep-usec={usec}"));
    }
    let process = start_script(godot, "res://bench/echo_server.gd", &args);
    Server {
        process,
        url: format!("ws://127.0.0.1:{port}/"),
    }
}

// ---------------------------------------------------------------------------------------
// Clients

/// Connects; Godot's multiplayer server first sends the peer id (4 bytes), which is read.
async fn open(url: &str, kind: &str) -> Option<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    if kind == "godot_mp" {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) if b.len() == 4 => {}
            _ => return None,
        }
    }
    Some(ws)
}

/// Opens `n` connections at once, retrying refused ones, until all are open or `wait`
/// passed: the connections, and when the last one opened.
async fn burst(url: &str, kind: &'static str, n: usize, wait: Duration) -> (Vec<Ws>, Duration) {
    let started = Instant::now();
    let deadline = started + wait;
    let last = Arc::new(Mutex::new(Duration::ZERO));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_string();
            let last = last.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if let Ok(Some(ws)) = tokio::time::timeout(left, open(&url, kind)).await {
                        let mut l = last.lock();
                        *l = (*l).max(started.elapsed());
                        return Some(ws);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            })
        })
        .collect();
    let mut open_ones = Vec::new();
    for t in tasks {
        if let Ok(Some(ws)) = t.await {
            open_ones.push(ws);
        }
    }
    let last = *last.lock();
    (open_ones, last)
}

/// Opens `n` connections, at most 32 attempts at a time (Godot's servers accept one per
/// frame or have a backlog of 8), until all are open or `wait` passed.
async fn connect_n(url: &str, kind: &'static str, n: usize, wait: Duration) -> Vec<Ws> {
    let deadline = Instant::now() + wait;
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, gate) = (url.to_string(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                while Instant::now() < deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if let Ok(Some(ws)) = tokio::time::timeout(left, open(&url, kind)).await {
                        return Some(ws);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(Some(ws)) = t.await {
            out.push(ws);
        }
    }
    out
}

/// The control connection to a server: frame statistics and fan-out.
struct Control {
    ws: Ws,
}

impl Control {
    async fn new(url: &str, kind: &str) -> Control {
        Control {
            ws: open(url, kind).await.expect("control connection"),
        }
    }

    async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::binary(text.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    async fn stats(&mut self) -> BTreeMap<String, f64> {
        self.send("#stats").await;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) if b.first() == Some(&b'{') => {
                    return parse_json_numbers(&String::from_utf8_lossy(&b));
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("no stats: {other:?}"),
            }
        }
    }
}

/// The numbers of a flat JSON object.
fn parse_json_numbers(text: &str) -> BTreeMap<String, f64> {
    text.trim_matches(['{', '}'])
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once(':')?;
            Some((
                k.trim().trim_matches('"').to_string(),
                v.trim().parse().ok()?,
            ))
        })
        .collect()
}

fn now_micros() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e6
}

// ---------------------------------------------------------------------------------------
// Lines

#[derive(Default, Clone)]
struct Row {
    cells: BTreeMap<&'static str, String>,
    values: BTreeMap<&'static str, f64>,
}

struct Table {
    rows: Vec<(String, Row, bool)>,
}

impl Table {
    fn add(
        &mut self,
        line: &str,
        kind: &'static str,
        text: String,
        value: f64,
        higher_is_better: bool,
    ) {
        if let Some((_, row, _)) = self.rows.iter_mut().find(|(l, _, _)| l == line) {
            row.cells.insert(kind, text);
            row.values.insert(kind, value);
        } else {
            let mut row = Row::default();
            row.cells.insert(kind, text);
            row.values.insert(kind, value);
            self.rows.push((line.to_string(), row, higher_is_better));
        }
    }

    fn print(&self) {
        println!(
            "\n| line | ours | Godot mp server | TCPServer+WebSocketPeer | ours / mp | ours / tcp |"
        );
        println!("|---|---|---|---|---|---|");
        for (line, row, higher) in &self.rows {
            let cell = |k: &str| row.cells.get(k).cloned().unwrap_or_else(|| "-".into());
            let ratio = |k: &str| match (row.values.get("ours"), row.values.get(k)) {
                (Some(o), Some(t)) if *t > 0.0 && *o >= 0.0 => {
                    let r = o / t;
                    // Within 2 % counts as equal (run-to-run noise is larger).
                    let worse = if *higher { r < 0.98 } else { r > 1.02 };
                    format!("{r:.2}x{}", if worse { " (worse)" } else { "" })
                }
                _ => "-".into(),
            };
            println!(
                "| {line} | {} | {} | {} | {} | {} |",
                cell("ours"),
                cell("godot_mp"),
                cell("tcp"),
                ratio("godot_mp"),
                ratio("tcp")
            );
        }
    }
}

async fn line_burst(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    for &n in &plan.bursts {
        let server = start_server(godot, kind, None);
        let (open, last) = burst(&server.url, kind, n, plan.burst_wait).await;
        let text = if open.len() == n {
            format!("{n} open in {:.2} s", last.as_secs_f64())
        } else {
            format!(
                "{} open after {:.0} s",
                open.len(),
                plan.burst_wait.as_secs_f64()
            )
        };
        println!("burst {n} {kind}: {text}");
        // Ranked by the share opened, then by the time (faster is better).
        let score = open.len() as f64 / n as f64 * 1000.0 + 1.0 / (last.as_secs_f64() + 0.001);
        table.add(
            &format!("burst: {n} connects at once"),
            kind,
            text,
            score,
            true,
        );
    }
}

async fn line_idle(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    let server = start_server(godot, kind, None);
    let mut control = Control::new(&server.url, kind).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = server.process.rss_kb();
    let mut conns: Vec<Ws> = Vec::new();
    for &level in &plan.idle_levels {
        let missing = level.saturating_sub(conns.len());
        let mut more = connect_n(&server.url, kind, missing, plan.idle_wait).await;
        conns.append(&mut more);
        let reached = conns.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        control.send("#reset").await;
        let cpu0 = server.process.cpu();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats = control.stats().await;
        let cpu = (server.process.cpu() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
        let poll = stats.get("poll_us").copied().unwrap_or(-1.0);
        let rss_per = (server.process.rss_kb().saturating_sub(base_rss)) as f64 * 1024.0
            / reached.max(1) as f64;
        let note = if reached < level {
            format!(" ({reached} reached)")
        } else {
            String::new()
        };
        println!(
            "idle {level} {kind}: poll {poll:.1} µs/frame, CPU {cpu:.1}%, {:.1} KB per connection{note}",
            rss_per / 1024.0
        );
        table.add(
            &format!("idle {level}: µs in poll() per frame"),
            kind,
            format!("{poll:.1}{note}"),
            poll,
            false,
        );
        table.add(
            &format!("idle {level}: server CPU"),
            kind,
            format!("{cpu:.1}%"),
            cpu.max(0.01),
            false,
        );
        if level == *plan.idle_levels.last().unwrap() || level == 1000 {
            table.add(
                &format!("idle {level}: memory per connection"),
                kind,
                format!("{:.1} KB", rss_per / 1024.0),
                rss_per,
                false,
            );
        }
    }
    drop(conns);
}

/// One client of the throughput line, as lean as a client can be so that the servers, not
/// the load, are what is measured: `in_flight` masked 64-byte frames prepared once, and for
/// each echo read, one frame written back; all frames read in one go are answered with one
/// write. Counts echoes until `stop`.
async fn closed_loop(ws: Ws, in_flight: usize, stop: Instant, echoes: Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let MaybeTlsStream::Plain(tcp) = ws.into_inner() else {
        return;
    };
    // FIN + binary, masked, 64 bytes; mask key 0 (the payload goes as it is).
    let mut frame = vec![0x82, 0x80 | 64, 0, 0, 0, 0];
    frame.extend_from_slice(&[7u8; 64]);
    let (mut rx, mut tx) = tcp.into_split();
    if tx.write_all(&frame.repeat(in_flight)).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let (mut filled, mut out) = (0usize, Vec::new());
    while Instant::now() < stop {
        let n =
            match tokio::time::timeout(Duration::from_secs(5), rx.read(&mut buf[filled..])).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
        filled += n;
        // Whole server frames (unmasked): count the data frames, answer each.
        let mut at = 0;
        let mut got = 0u64;
        while filled - at >= 2 {
            let (len, head) = match buf[at + 1] & 0x7f {
                126 if filled - at >= 4 => {
                    (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4)
                }
                127 if filled - at >= 10 => (
                    u64::from_be_bytes(buf[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                l => (l as usize, 2),
            };
            if filled - at < head + len {
                break;
            }
            if buf[at] & 0x0f == 0x2 {
                got += 1;
            }
            at += head + len;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if got > 0 {
            echoes.fetch_add(got, Ordering::Relaxed);
            out.clear();
            for _ in 0..got {
                out.extend_from_slice(&frame);
            }
            if tx.write_all(&out).await.is_err() {
                break;
            }
        }
    }
}

/// The closed-loop echo. At the headless default the engine sleeps between frames (at
/// most 145 frames/s); a server that echoes everything in flight in every frame is then
/// bound by that (1,600 in flight x 145 = 232,000 echoes/s). `unpaced`: the frame sleep is
/// 0 for the server, so that what it can do is measured.
async fn line_throughput(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    unpaced: bool,
) {
    let server = start_paced_server(godot, kind, None, unpaced.then_some(0));
    let mut control = Control::new(&server.url, kind).await;
    let conns = connect_n(&server.url, kind, 100, plan.connect_wait).await;
    let echoes = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(1 + plan.throughput_secs);
    let measure_from = Instant::now() + Duration::from_secs(1);
    let counted_from = Arc::new(AtomicU64::new(0));
    let cpu0 = Arc::new(Mutex::new(None::<(f64, Instant)>));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(closed_loop(ws, 16, stop, echoes.clone())))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    control.send("#reset").await;
    counted_from.store(echoes.load(Ordering::Relaxed), Ordering::Relaxed);
    *cpu0.lock() = Some((server.process.cpu(), Instant::now()));
    tokio::time::sleep(Duration::from_secs(plan.throughput_secs)).await;
    let n = echoes.load(Ordering::Relaxed) - counted_from.load(Ordering::Relaxed);
    let frames = control.stats().await;
    let (c0, t0) = cpu0.lock().unwrap();
    let cpu = (server.process.cpu() - c0) / t0.elapsed().as_secs_f64() * 100.0;
    for t in tasks {
        let _ = t.await;
    }
    let rate = n as f64 / plan.throughput_secs as f64;
    let secs = plan.throughput_secs as f64;
    let cpu_per_echo = cpu / 100.0 * secs * 1e6 / n.max(1) as f64;
    let main_per_echo = frames.get("process_us").copied().unwrap_or(0.0)
        * frames.get("frames").copied().unwrap_or(0.0)
        / n.max(1) as f64;
    let fps = frames.get("frames").copied().unwrap_or(0.0) / secs;
    let pacing = if unpaced {
        "frame sleep 0"
    } else {
        "headless default frame sleep"
    };
    println!(
        "throughput {kind} ({pacing}): {rate:.0} echoes/s, server CPU {cpu:.0}% ({cpu_per_echo:.2} µs per echo, {main_per_echo:.2} µs of it on the main thread); {fps:.0} frames/s, {:.0} echoes per frame",
        rate / fps.max(1.0)
    );
    if !unpaced {
        table.add(
            "throughput: echoes/s (100 clients, 16 in flight; headless default frame sleep, at most 145 frames/s)",
            kind,
            format!("{rate:.0} ({fps:.0} frames/s)"),
            rate,
            true,
        );
        return;
    }
    table.add(
        "throughput: echoes/s (100 clients, 16 in flight; frame sleep 0; server and load client share the cores)",
        kind,
        format!("{rate:.0} ({cpu:.0}% CPU)"),
        rate,
        true,
    );
    table.add(
        "throughput: server CPU µs per echo (frame sleep 0)",
        kind,
        format!("{cpu_per_echo:.2}"),
        cpu_per_echo,
        false,
    );
    table.add(
        "throughput: main-thread µs per echo (frame sleep 0)",
        kind,
        format!("{main_per_echo:.2}"),
        main_per_echo,
        false,
    );
}

async fn line_latency(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    fps: Option<u32>,
) {
    let server = start_server(godot, kind, fps);
    let conns = connect_n(&server.url, kind, plan.latency_clients, plan.connect_wait).await;
    let reached = conns.len();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let origin = Instant::now();
    let stop = origin + Duration::from_secs(1 + plan.latency_secs);
    let measure_from = origin + Duration::from_secs(1);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let hist = hist.clone();
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let reader = tokio::spawn(async move {
                    while let Ok(Some(Ok(m))) =
                        tokio::time::timeout(Duration::from_secs(5), rx.next()).await
                    {
                        if let Message::Binary(b) = m
                            && b.len() == 16
                        {
                            let sent = u64::from_le_bytes(b[..8].try_into().unwrap());
                            let now = origin.elapsed().as_micros() as u64;
                            if origin + Duration::from_micros(sent) >= measure_from {
                                let _ = hist.lock().record(now.saturating_sub(sent));
                            }
                        }
                    }
                });
                // 10 messages a second, each client at its own phase.
                tokio::time::sleep(Duration::from_micros((i as u64 * 997) % 100_000)).await;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while Instant::now() < stop {
                    tick.tick().await;
                    let mut m = (origin.elapsed().as_micros() as u64).to_le_bytes().to_vec();
                    m.extend([0u8; 8]);
                    if tx.send(Message::binary(m)).await.is_err() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                reader.abort();
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let h = hist.lock();
    let (p50, p99) = (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    );
    let label = fps.map_or("default fps".to_string(), |f| format!("{f} fps"));
    println!(
        "latency {kind} at {label}: {reached} clients, p50 {p50:.2} ms, p99 {p99:.2} ms ({} samples)",
        h.len()
    );
    let line = format!(
        "latency at {label}: RTT p50 / p99 ms ({} clients x 10/s)",
        plan.latency_clients
    );
    table.add(
        &format!("{line} p50"),
        kind,
        format!("{p50:.2}"),
        p50,
        false,
    );
    table.add(
        &format!("{line} p99"),
        kind,
        format!("{p99:.2}"),
        p99,
        false,
    );
}

async fn line_fanout(
    godot: &PathBuf,
    plan: &Plan,
    table: &mut Table,
    kind: &'static str,
    clients: usize,
    secs: u64,
) {
    let server = start_server(godot, kind, None);
    let mut control = Control::new(&server.url, kind).await;
    let conns = connect_n(&server.url, kind, clients, plan.connect_wait).await;
    let reached = conns.len();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let received = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut ws| {
            let hist = hist.clone();
            let received = received.clone();
            tokio::spawn(async move {
                while let Ok(Some(Ok(m))) =
                    tokio::time::timeout(Duration::from_secs(3), ws.next()).await
                {
                    if let Message::Binary(b) = m
                        && b.len() == 1024
                    {
                        let sent = f64::from_le_bytes(b[..8].try_into().unwrap());
                        let _ = hist.lock().record((now_micros() - sent).max(0.0) as u64);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    control.send("#reset").await;
    // How long the main thread waited for a CPU while broadcasting (the load client and
    // the network threads share the two cores with it).
    let (_, wait1) = server.process.main_thread_ns();
    let (user0, kernel0) = server.process.cpu_split();
    let t0 = Instant::now();
    control.send(&format!("#fanout 60 {secs} 1024")).await;
    tokio::time::sleep(Duration::from_secs(secs) + Duration::from_millis(200)).await;
    let window = t0.elapsed().as_secs_f64();
    let (user1, kernel1) = server.process.cpu_split();
    let (user, kernel) = (
        (user1 - user0) / window * 100.0,
        (kernel1 - kernel0) / window * 100.0,
    );
    let cpu = user + kernel;
    let (_, wait2) = server.process.main_thread_ns();
    let stats = control.stats().await;
    for t in tasks {
        let _ = t.await;
    }
    let sends = stats.get("broadcasts").copied().unwrap_or(0.0);
    let per_send = stats.get("broadcast_us_p50").copied().unwrap_or(-1.0);
    let waited = (wait2 - wait1) as f64 / window / 1e7;
    let got = received.load(Ordering::Relaxed);
    let expected = sends as usize * reached;
    let h = hist.lock();
    let (p50, p99) = (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    );
    println!(
        "fan-out {kind}: {reached} clients, {sends} broadcasts of 1 KB, {per_send:.1} µs main thread each (it waited for a CPU {waited:.1}% of the time), {got} of {expected} delivered ({:.0}/s), server CPU {cpu:.0}% ({user:.0}% user, {kernel:.0}% kernel), p50 {p50:.2} ms p99 {p99:.2} ms",
        got as f64 / secs as f64
    );
    let line = format!("fan-out to {clients} clients, 60 Hz x 1 KB");
    table.add(
        &format!("{line}: main-thread µs per broadcast (median)"),
        kind,
        format!("{per_send:.1}"),
        per_send,
        false,
    );
    table.add(
        &format!("{line}: server CPU"),
        kind,
        format!("{cpu:.0}%"),
        cpu,
        false,
    );
    table.add(
        &format!("{line}: server CPU in user space"),
        kind,
        format!("{user:.0}%"),
        user,
        false,
    );
    table.add(
        &format!("{line}: delivered"),
        kind,
        format!("{got} of {expected}"),
        got as f64 / expected.max(1) as f64,
        true,
    );
    table.add(
        &format!("{line}: send to receipt p50 / p99 ms"),
        kind,
        format!("{p50:.2} / {p99:.2}"),
        p99,
        false,
    );
}

fn line_rpc(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    use std::io::BufRead;
    let port = free_port();
    let server = start_script(
        godot,
        "res://bench/mp_rpc.gd",
        &[
            "--role=server".into(),
            format!("--kind={kind}"),
            format!("--port={port}"),
        ],
    );
    // Split: every thread of the server on core 0, the clients' process on core 1, so that
    // neither side's scheduling delays the other's.
    let pin = |pid: u32, core: &str| {
        Command::new("taskset")
            .args(["-a", "-p", "-c", core, &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if plan.rpc_split_cores && !pin(server.pid(), "0") {
        println!("rpc {kind}: taskset failed; the cores are not split");
    }
    let mut clients = Command::new(if plan.rpc_split_cores {
        "taskset"
    } else {
        godot.to_str().unwrap()
    });
    if plan.rpc_split_cores {
        clients.args(["-c", "1"]).arg(godot);
    }
    let mut clients = clients
        .args(["--headless", "--path"])
        .arg(root().join("godot-project"))
        .args(["--script", "res://bench/mp_rpc.gd", "--"])
        .arg("--role=clients")
        .arg(format!("--url=ws://127.0.0.1:{port}"))
        .arg(format!("--count={}", plan.rpc_clients))
        .arg(format!("--seconds={}", plan.rpc_secs))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(clients.stdout.take().unwrap());
    let mut result = None;
    let mut capture = None;
    for line in out.lines().map_while(Result::ok) {
        if line.starts_with("CONNECTED") {
            capture = WireCapture::start(port, plan.rpc_secs / 2);
        }
        if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(parse_json_numbers(json));
            break;
        }
    }
    let _ = clients.kill();
    let _ = clients.wait();
    let Some(r) = result else {
        println!("rpc {kind}: no result");
        return;
    };
    let (rate, p50, p99) = (r["per_second"], r["p50_ms"], r["p99_ms"]);
    println!("rpc {kind}: {rate:.0} round trips/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
    let line = format!(
        "multiplayer RPC round trips ({} stock clients{})",
        plan.rpc_clients,
        if plan.rpc_split_cores {
            ", server and clients on a core each"
        } else {
            ""
        }
    );
    table.add(
        &format!("{line}: per second"),
        kind,
        format!("{rate:.0}"),
        rate,
        true,
    );
    table.add(
        &format!("{line}: p50 ms"),
        kind,
        format!("{p50:.2}"),
        p50,
        false,
    );
    table.add(
        &format!("{line}: p99 ms"),
        kind,
        format!("{p99:.2}"),
        p99,
        false,
    );
    match capture.map(WireCapture::turnarounds) {
        Some(Some(mut us)) if !us.is_empty() => {
            us.sort_by(f64::total_cmp);
            let mean = us.iter().sum::<f64>() / us.len() as f64 / 1000.0;
            let p99 = us[(us.len() * 99 / 100).min(us.len() - 1)] / 1000.0;
            println!(
                "rpc {kind}: at the wire, ping in to pong out: mean {mean:.2} ms, p99 {p99:.2} ms ({} pings)",
                us.len()
            );
            table.add(
                &format!("{line}: at the wire, ping in to pong out, mean / p99 ms"),
                kind,
                format!("{mean:.2} / {p99:.2}"),
                mean,
                false,
            );
        }
        _ => println!(
            "rpc {kind}: no loopback capture (it needs dumpcap and tshark, from Debian's tshark package, and root)"
        ),
    }
}

/// A loopback capture (dumpcap) of one server port during the RPC line: what the server
/// adds at the wire, beside the clients' view, which a client process on the same two
/// cores skews with its own scheduling.
struct WireCapture {
    child: Child,
    file: PathBuf,
    port: u16,
}

impl WireCapture {
    /// Captures `secs` seconds of the port's traffic, starting a second from now; `None`
    /// when dumpcap is missing or may not capture.
    fn start(port: u16, secs: u64) -> Option<WireCapture> {
        let file = std::env::temp_dir().join(format!("bench-rpc-{port}.pcap"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "sleep 1; exec dumpcap -q -i lo -f 'tcp port {port}' -a duration:{} -w {}",
                secs.max(1),
                file.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(WireCapture { child, file, port })
    }

    /// For every ping (the client's last segment before the server's answer on that
    /// connection), the µs until the server's first segment back.
    fn turnarounds(mut self) -> Option<Vec<f64>> {
        let ok = self.child.wait().ok()?.success();
        let out = ok
            .then(|| {
                Command::new("tshark")
                    .arg("-r")
                    .arg(&self.file)
                    .args(["-Y", "tcp.len > 0", "-T", "fields"])
                    .args([
                        "-e",
                        "frame.time_epoch",
                        "-e",
                        "tcp.srcport",
                        "-e",
                        "tcp.dstport",
                    ])
                    .stderr(Stdio::null())
                    .output()
                    .ok()
            })
            .flatten();
        let _ = std::fs::remove_file(&self.file);
        let text = String::from_utf8(out?.stdout).ok()?;
        let mut ping_at: std::collections::HashMap<u16, f64> = Default::default();
        let mut us = Vec::new();
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(t), Some(src), Some(dst)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(t), Ok(src), Ok(dst)) =
                (t.parse::<f64>(), src.parse::<u16>(), dst.parse::<u16>())
            else {
                continue;
            };
            if dst == self.port {
                ping_at.insert(src, t);
            } else if src == self.port
                && let Some(at) = ping_at.remove(&dst)
            {
                us.push((t - at) * 1e6);
            }
        }
        Some(us)
    }
}

fn main() {
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
    let mut plan = Plan::new(quick);
    plan.only = std::env::args()
        .filter_map(|a| a.strip_prefix("--only=").map(str::to_string))
        .flat_map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    // Longer throughput runs, e.g. to attach a profiler to one server.
    if let Some(secs) = std::env::args().find_map(|a| {
        a.strip_prefix("--throughput-secs=")
            .and_then(|s| s.parse().ok())
    }) {
        plan.throughput_secs = secs;
    }
    plan.rpc_split_cores = std::env::args().any(|a| a == "--rpc-split-cores");
    let run = |line: &str| plan.only.is_empty() || plan.only.iter().any(|o| o == line);
    let godot = godot();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut table = Table { rows: Vec::new() };
    println!(
        "bench-engine{}: Godot {}, {} cores",
        if plan.quick { " --quick" } else { "" },
        String::from_utf8_lossy(
            &Command::new(&godot)
                .args(["--headless", "--version"])
                .output()
                .unwrap()
                .stdout
        )
        .trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        for kind in KINDS.into_iter().filter(|_| run("burst")) {
            line_burst(&godot, &plan, &mut table, kind).await;
        }
        for kind in KINDS.into_iter().filter(|_| run("idle")) {
            line_idle(&godot, &plan, &mut table, kind).await;
        }
        // --quick measures the capacity only (it must stay under 2 minutes).
        let pacings: &[bool] = if plan.quick { &[true] } else { &[false, true] };
        for &unpaced in pacings {
            for kind in KINDS.into_iter().filter(|_| run("throughput")) {
                line_throughput(&godot, &plan, &mut table, kind, unpaced).await;
            }
        }
        for fps in [None, Some(60)] {
            for kind in KINDS.into_iter().filter(|_| run("latency")) {
                line_latency(&godot, &plan, &mut table, kind, fps).await;
            }
        }
        for kind in KINDS.into_iter().filter(|_| run("fanout")) {
            let (clients, secs) = (plan.fanout_clients, plan.fanout_secs);
            line_fanout(&godot, &plan, &mut table, kind, clients, secs).await;
        }
        for &clients in plan.fanout_levels.iter().filter(|_| run("fanout")) {
            line_fanout(&godot, &plan, &mut table, "ours", clients, 4).await;
        }
    });
    for kind in ["ours", "godot_mp"].into_iter().filter(|_| run("rpc")) {
        line_rpc(&godot, &plan, &mut table, kind);
    }
    table.print();
    println!(
        "\nbench-engine took {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
