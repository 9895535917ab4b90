//! Server-wide counters: connections accepted and refused (by reason), traffic in and out,
//! packets dropped on purpose. Connection tasks add to them with relaxed atomics; readers
//! (the game's `get_stats()`, the metrics endpoint) take a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection did not become a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No subprotocol in common (Godot's rule).
    Subprotocol,
    /// `max_connections` reached.
    Limit,
    /// `max_connections_per_ip` reached.
    PerIpLimit,
    /// The Origin header is not allowed.
    Origin,
    /// The game refused the upgrade.
    Decision,
    /// TLS and upgrade not done within `handshake_timeout`.
    HandshakeTimeout,
    /// Not a valid WebSocket upgrade (or a failed TLS handshake).
    BadRequest,
    /// `refuse_new_connections` is on, or the server is draining.
    Refusing,
    /// The process had no file descriptor left for the connection (`ulimit -n`).
    FileDescriptors,
}

impl Refused {
    /// Every reason, in the order of [`Stats::refused`].
    pub const ALL: [Refused; 9] = [
        Refused::Subprotocol,
        Refused::Limit,
        Refused::PerIpLimit,
        Refused::Origin,
        Refused::Decision,
        Refused::HandshakeTimeout,
        Refused::BadRequest,
        Refused::Refusing,
        Refused::FileDescriptors,
    ];

    /// The reason's name in statistics and metrics (snake_case).
    pub fn name(self) -> &'static str {
        match self {
            Refused::Subprotocol => "subprotocol",
            Refused::Limit => "limit",
            Refused::PerIpLimit => "per_ip_limit",
            Refused::Origin => "origin",
            Refused::Decision => "decision",
            Refused::HandshakeTimeout => "handshake_timeout",
            Refused::BadRequest => "bad_request",
            Refused::Refusing => "refusing",
            Refused::FileDescriptors => "file_descriptors",
        }
    }
}

/// The counters of one server, kept across `stop()` and `listen()`.
#[derive(Default)]
pub(crate) struct Counters {
    /// Connections that are peers now.
    peers: AtomicU64,
    accepted: AtomicU64,
    refused: [AtomicU64; Refused::ALL.len()],
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
    /// The game's `poll()`: the last one and a running mean, in nanoseconds.
    poll_last_ns: AtomicU64,
    poll_total_ns: AtomicU64,
    polls: AtomicU64,
}

impl Counters {
    /// A connection became a peer.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.peers.fetch_add(1, Ordering::Relaxed);
    }

    /// A peer's connection ended.
    pub fn left(&self) {
        self.peers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections that are peers now (as the connection tasks see it).
    pub fn peers(&self) -> u64 {
        self.peers.load(Ordering::Relaxed)
    }

    pub fn refused(&self, why: Refused) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn received(&self, messages: usize, bytes: usize) {
        self.messages_in
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn sent(&self, messages: usize, bytes: usize) {
        self.messages_out
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn dropped(&self, packets: usize) {
        self.dropped.fetch_add(packets as u64, Ordering::Relaxed);
    }

    /// Records how long one `poll()` took on the game's thread.
    pub fn polled(&self, took: std::time::Duration) {
        let ns = took.as_nanos() as u64;
        self.poll_last_ns.store(ns, Ordering::Relaxed);
        self.poll_total_ns.fetch_add(ns, Ordering::Relaxed);
        self.polls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            accepted: load(&self.accepted),
            refused: std::array::from_fn(|i| load(&self.refused[i])),
            messages_in: load(&self.messages_in),
            bytes_in: load(&self.bytes_in),
            messages_out: load(&self.messages_out),
            bytes_out: load(&self.bytes_out),
            dropped: load(&self.dropped),
            poll_last_ns: load(&self.poll_last_ns),
            poll_average_ns: load(&self.poll_total_ns)
                .checked_div(load(&self.polls))
                .unwrap_or(0),
            ..Stats::default()
        }
    }
}

/// A snapshot of a server's statistics (totals since the server object was made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Peers connected now.
    pub peers: u64,
    /// Connections in TLS or upgrade now.
    pub handshakes: u64,
    /// Connections that became peers.
    pub accepted: u64,
    /// Connections that did not, by reason (indexed as [`Refused::ALL`]).
    pub refused: [u64; Refused::ALL.len()],
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages written to sockets.
    pub messages_out: u64,
    /// Payload bytes written to sockets.
    pub bytes_out: u64,
    /// Unreliable packets dropped for congested peers.
    pub dropped: u64,
    /// How long the last `poll()` took, in nanoseconds.
    pub poll_last_ns: u64,
    /// The mean duration of every `poll()`, in nanoseconds.
    pub poll_average_ns: u64,
}

impl Stats {
    /// The refusals for one reason.
    pub fn refused_for(&self, why: Refused) -> u64 {
        self.refused[why as usize]
    }
}

/// One peer's traffic; every addition also goes to its server's counters.
pub(crate) struct Traffic {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
    server: std::sync::Arc<Counters>,
}

impl Traffic {
    pub fn new(server: std::sync::Arc<Counters>) -> Self {
        Traffic {
            messages_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            server,
        }
    }

    pub fn received(&self, messages: usize, bytes: usize) {
        self.messages_in
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.server.received(messages, bytes);
    }

    pub fn sent(&self, messages: usize, bytes: usize) {
        self.messages_out
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.server.sent(messages, bytes);
    }

    /// An unreliable packet not sent because the peer was congested.
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.server.dropped(1);
    }

    /// Unreliable packets dropped for this peer.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages received, bytes received, messages sent, bytes sent.
    pub fn totals(&self) -> [u64; 4] {
        [
            &self.messages_in,
            &self.bytes_in,
            &self.messages_out,
            &self.bytes_out,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }
}
