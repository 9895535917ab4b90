//! The engines under test and what talks to them: processes started from a script, their
//! control channel, free ports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::Message;

use crate::Ws;

pub(crate) fn godot() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("tools/godot.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("tools/godot.sh");
    assert!(out.status.success(), "no Godot 4 engine");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) struct Process {
    pub(crate) child: Child,
}

impl Process {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far (user + system).
    pub(crate) fn cpu(&self) -> f64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// CPU seconds used so far in user space and in the kernel.
    pub(crate) fn cpu_split(&self) -> (f64, f64) {
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
    pub(crate) fn main_thread_ns(&self) -> (u64, u64) {
        let pid = self.pid();
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat"))
            .unwrap_or_default();
        let mut f = text.split_whitespace().map(|v| v.parse().unwrap_or(0));
        (f.next().unwrap_or(0), f.next().unwrap_or(0))
    }

    pub(crate) fn rss_kb(&self) -> u64 {
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

/// How a kind of the table is run: which server script kind, in which column, with which
/// environment, and the note its lines carry.
pub(crate) struct Variant {
    pub(crate) server_kind: &'static str,
    pub(crate) column: &'static str,
    pub(crate) envs: Vec<(&'static str, &'static str)>,
    pub(crate) note: &'static str,
}

/// The file our next server records its per-message timestamps in (the latency line's
/// breakdown, `--hops`), while set.
pub(crate) static HOPS_FILE: Mutex<Option<&'static str>> = Mutex::new(None);

/// `kind` as it is run: ours with `GODOT_WEBSOCKET_SERVER_HOPS` while [`HOPS_FILE`] is set.
pub(crate) fn variant(kind: &'static str) -> Variant {
    let mut envs = vec![];
    if let Some(file) = *HOPS_FILE.lock()
        && kind == "ours"
    {
        envs.push(("GODOT_WEBSOCKET_SERVER_HOPS", file));
    }
    Variant {
        server_kind: kind,
        column: kind,
        envs,
        note: "",
    }
}

/// Starts a Godot script (in godot-project) and waits for its READY line.
pub(crate) fn start_script(godot: &PathBuf, script: &str, args: &[String]) -> Process {
    start_script_with(godot, script, args, &[])
}

/// [`start_script`] with environment variables of its own.
pub(crate) fn start_script_with(
    godot: &PathBuf,
    script: &str,
    args: &[String],
    envs: &[(&str, &str)],
) -> Process {
    use std::io::BufRead;
    let mut child = Command::new(godot)
        .args(["--headless", "--path"])
        .arg(root().join("godot-project"))
        .args(["--script", script, "--"])
        .args(args)
        .envs(envs.iter().copied())
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

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Server {
    pub(crate) process: Process,
    pub(crate) url: String,
}

pub(crate) fn start_server(godot: &PathBuf, kind: &'static str, max_fps: Option<u32>) -> Server {
    start_paced_server(godot, kind, max_fps, None)
}

/// A server whose headless frame sleep (`OS.low_processor_usage_mode_sleep_usec`, 6,900
/// µs by default: at most 145 frames/s) is `frame_sleep_usec` when given.
pub(crate) fn start_paced_server(
    godot: &PathBuf,
    kind: &'static str,
    max_fps: Option<u32>,
    frame_sleep_usec: Option<u32>,
) -> Server {
    let port = free_port();
    let v = variant(kind);
    let mut args = vec![
        format!("--kind={}", v.server_kind),
        format!("--port={port}"),
    ];
    if let Some(fps) = max_fps {
        args.push(format!("--max-fps={fps}"));
    }
    if let Some(usec) = frame_sleep_usec {
        args.push(format!("--frame-sleep-usec={usec}"));
    }
    let process = start_script_with(godot, "res://bench/echo_server.gd", &args, &v.envs);
    Server {
        process,
        url: format!("ws://127.0.0.1:{port}/"),
    }
}

// ---------------------------------------------------------------------------------------
// Clients

/// Connects; Godot's multiplayer server first sends the peer id (4 bytes), which is read.
pub(crate) async fn open(url: &str, kind: &str) -> Option<Ws> {
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
pub(crate) async fn burst(
    url: &str,
    kind: &'static str,
    n: usize,
    wait: Duration,
) -> (Vec<Ws>, Duration) {
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
pub(crate) async fn connect_n(url: &str, kind: &'static str, n: usize, wait: Duration) -> Vec<Ws> {
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
pub(crate) struct Control {
    pub(crate) ws: Ws,
}

impl Control {
    pub(crate) async fn new(url: &str, kind: &str) -> Control {
        Control {
            ws: open(url, kind).await.expect("control connection"),
        }
    }

    pub(crate) async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::binary(text.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    pub(crate) async fn stats(&mut self) -> BTreeMap<String, f64> {
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
pub(crate) fn parse_json_numbers(text: &str) -> BTreeMap<String, f64> {
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

pub(crate) fn now_micros() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e6
}

/// Every thread of process `pid` on `cores` (taskset's list: "0", "0-1"); false when
/// taskset failed.
pub(crate) fn pin(pid: u32, cores: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------
// Lines
