//! Per-message timestamps through the server, for the benchmark's latency breakdown.
//!
//! Off unless the environment variable `GODOT_WEBSOCKET_SERVER_HOPS` names a file when the
//! process starts its first server (off, each hop costs one branch). On, a message records
//! when it was read from its socket, queued for the game, taken by `poll()` and taken by
//! the game ([`crate::core::Peer::recv`]); the next message the game sends to the same peer
//! is taken as its answer and records when it was sent and when it was written to the
//! socket. A thread appends one line per answered message to the file every 200 ms:
//! `read pushed taken got sent written`, nanoseconds on the monotonic clock since the first
//! stamp, tab-separated.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::core::ids::PeerId;

/// The variable that turns the timestamps on (a file to write them to).
pub const HOPS_ENV: &str = "GODOT_WEBSOCKET_SERVER_HOPS";
/// Answers waiting to be written, per peer, at most (older ones are forgotten).
const PENDING_MAX: usize = 64;

/// When a received message passed each hop on its way in (0: not stamped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InHops {
    read: u64,
    pushed: u64,
    taken: u64,
}

impl InHops {
    /// A message read from its socket now.
    pub(crate) fn read_now() -> InHops {
        InHops {
            read: now(),
            ..InHops::default()
        }
    }

    /// Queued for the game now.
    pub(crate) fn pushed_now(&mut self) {
        self.pushed = now();
    }

    /// Taken by `poll()` now.
    pub(crate) fn taken_now(&mut self) {
        self.taken = now();
    }
}

struct Recorder {
    start: Instant,
    /// Per peer: the last message the game took, and answers sent and not yet written.
    peers: Mutex<HashMap<PeerId, PeerHops>>,
    lines: Mutex<String>,
}

#[derive(Default)]
struct PeerHops {
    last_in: Option<[u64; 4]>,
    pending: VecDeque<[u64; 5]>,
}

fn recorder() -> Option<&'static Recorder> {
    static RECORDER: OnceLock<Option<Recorder>> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            let path = std::env::var_os(HOPS_ENV)?;
            let recorder = Recorder {
                start: Instant::now(),
                peers: Mutex::new(HashMap::new()),
                lines: Mutex::new(String::new()),
            };
            std::thread::Builder::new()
                .name("gws-hops".into())
                .spawn(move || write_lines(path))
                .ok()?;
            Some(recorder)
        })
        .as_ref()
}

/// Appends what was recorded to `path` every 200 ms, for the life of the process.
fn write_lines(path: std::ffi::OsString) {
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(r) = recorder() else { return };
        let lines = std::mem::take(&mut *r.lines.lock());
        if lines.is_empty() {
            continue;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Ok(mut file) = file {
            let _ = file.write_all(lines.as_bytes());
        }
    }
}

/// Whether the timestamps are on.
pub(crate) fn enabled() -> bool {
    recorder().is_some()
}

fn now() -> u64 {
    recorder().map_or(0, |r| r.start.elapsed().as_nanos().max(1) as u64)
}

/// The game took a message of `peer` (stamped on its way in).
pub(crate) fn got(peer: PeerId, hops: InHops) {
    let Some(r) = recorder() else { return };
    if hops.read == 0 {
        return;
    }
    let got = now();
    r.peers.lock().entry(peer).or_default().last_in =
        Some([hops.read, hops.pushed, hops.taken, got]);
}

/// The game sent a message to `peer`: the answer to the last one it took, if any.
pub(crate) fn sent(peer: PeerId) {
    let Some(r) = recorder() else { return };
    let sent = now();
    let mut peers = r.peers.lock();
    let Some(p) = peers.get_mut(&peer) else {
        return;
    };
    let Some([read, pushed, taken, got]) = p.last_in.take() else {
        return;
    };
    if p.pending.len() == PENDING_MAX {
        p.pending.pop_front();
    }
    p.pending.push_back([read, pushed, taken, got, sent]);
}

/// `count` messages of `peer` were handed to its socket.
pub(crate) fn written(peer: PeerId, count: usize) {
    let Some(r) = recorder() else { return };
    let written = now();
    let mut done = Vec::new();
    {
        let mut peers = r.peers.lock();
        let Some(p) = peers.get_mut(&peer) else {
            return;
        };
        for _ in 0..count {
            match p.pending.pop_front() {
                Some(chain) => done.push(chain),
                None => break,
            }
        }
    }
    if done.is_empty() {
        return;
    }
    let mut lines = r.lines.lock();
    for [read, pushed, taken, got, sent] in done {
        lines.push_str(&format!(
            "{read}\t{pushed}\t{taken}\t{got}\t{sent}\t{written}\n"
        ));
    }
}

/// `peer` left: what was kept for it goes.
pub(crate) fn forget(peer: PeerId) {
    if let Some(r) = recorder() {
        r.peers.lock().remove(&peer);
    }
}
