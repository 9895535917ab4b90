//! The statistics as a reader sees them: a snapshot from any thread, and Prometheus' text
//! format for the metrics endpoint.

use std::fmt::Write;
use std::sync::Arc;

use crate::core::observability::stats::{Counters, Refused, Stats};
use crate::core::policy::limits::ConnectionLimits;

/// Reads a server's statistics; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StatsSource {
    counters: Arc<Counters>,
    limits: Arc<ConnectionLimits>,
}

impl StatsSource {
    pub(crate) fn new(counters: Arc<Counters>, limits: Arc<ConnectionLimits>) -> Self {
        StatsSource { counters, limits }
    }

    /// The statistics now: peers as the connection tasks count them (a peer whose end
    /// `poll()` has not reported yet is no longer counted).
    pub fn snapshot(&self) -> Stats {
        let mut stats = self.counters.snapshot();
        stats.peers = self.counters.peers();
        stats.handshakes = (self.limits.open() as u64).saturating_sub(stats.peers);
        stats
    }
}

/// The statistics in Prometheus' text exposition format: one family per figure, base
/// units, `_total` counters.
pub fn prometheus(stats: &Stats) -> String {
    let n = |v: u64| v as f64;
    // Name, type, help, value of every family without labels.
    let plain: [(&str, &str, &str, f64); 10] = [
        ("peers", "gauge", "Clients connected now.", n(stats.peers)),
        (
            "handshakes",
            "gauge",
            "Connections in TLS or upgrade now.",
            n(stats.handshakes),
        ),
        (
            "connections_accepted_total",
            "counter",
            "Connections that became peers.",
            n(stats.accepted),
        ),
        (
            "received_messages_total",
            "counter",
            "Messages received from clients.",
            n(stats.messages_in),
        ),
        (
            "received_bytes_total",
            "counter",
            "Message payload bytes received from clients.",
            n(stats.bytes_in),
        ),
        (
            "sent_messages_total",
            "counter",
            "Messages written to clients.",
            n(stats.messages_out),
        ),
        (
            "sent_bytes_total",
            "counter",
            "Message payload bytes written to clients.",
            n(stats.bytes_out),
        ),
        (
            "dropped_packets_total",
            "counter",
            "Unreliable packets dropped for congested clients.",
            n(stats.dropped),
        ),
        (
            "poll_seconds",
            "gauge",
            "Duration of the game's last poll().",
            stats.poll_last_ns as f64 / 1e9,
        ),
        (
            "poll_average_seconds",
            "gauge",
            "Mean duration of the game's poll() calls.",
            stats.poll_average_ns as f64 / 1e9,
        ),
    ];
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP websocket_server_{name} {help}");
        let _ = writeln!(out, "# TYPE websocket_server_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "websocket_server_{name}{labels} {value}");
        }
    };
    for (name, kind, help, value) in plain {
        family(name, kind, help, &[(String::new(), value)]);
    }
    let refused: Vec<(String, f64)> = Refused::ALL
        .iter()
        .map(|r| {
            (
                format!("{{reason=\"{}\"}}", r.name()),
                n(stats.refused_for(*r)),
            )
        })
        .collect();
    family(
        "connections_refused_total",
        "counter",
        "Connections that did not become peers, by reason.",
        &refused,
    );
    out
}
