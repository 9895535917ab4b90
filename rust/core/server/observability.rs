//! What the server counts, and the plain HTTP endpoints that report it (health check,
//! Prometheus metrics).

use std::time::Duration;

use super::Server;
use crate::core::observability::StatsSource;
use crate::core::observability::stats::Stats;

impl Server {
    /// The server's statistics now (totals since this object was made).
    pub fn stats(&self) -> Stats {
        self.stats_source().snapshot()
    }

    /// Bytes held for the peers now: received and not yet read by the caller, and queued
    /// for sending and not yet handed to the sockets, summed over the open peers. Reads
    /// every peer: meant for an occasional look (statistics), not for every frame.
    pub fn buffered_bytes(&self) -> (usize, usize) {
        self.peers
            .values()
            .fold((0, 0), |(inbound, outbound), peer| {
                (
                    inbound + peer.unread_bytes(),
                    outbound + peer.buffered_amount(),
                )
            })
    }

    /// A handle that reads this server's statistics from anywhere (e.g. a monitor).
    pub fn stats_source(&self) -> StatsSource {
        StatsSource::new(self.lifelong.counters.clone(), self.lifelong.limits.clone())
    }

    /// Records how long the caller's `poll()` took (the Godot layer times its whole
    /// `poll()`, signals included), for the statistics.
    pub fn record_poll_time(&self, took: Duration) {
        self.lifelong.counters.polled(took);
    }

    /// Connections open now: peers and handshakes in progress.
    pub fn open_connections(&self) -> usize {
        self.lifelong.limits.open()
    }
}
