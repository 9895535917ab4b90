//! What the server counts, and the plain HTTP endpoints that report it (health check,
//! Prometheus metrics).

use std::time::Duration;

use super::Server;
use crate::core::error::Error;
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
        StatsSource::new(self.counters.clone(), self.limits.clone())
    }

    /// Records how long the caller's `poll()` took (the Godot layer times its whole
    /// `poll()`, signals included), for the statistics.
    pub fn record_poll_time(&self, took: Duration) {
        self.counters.polled(took);
    }

    /// A path (e.g. `/healthz`) that answers a plain HTTP GET with 200 and the number of
    /// peers (503 while draining), for load balancers' health checks. "" (the default)
    /// turns it off.
    pub fn set_health_check_path(&mut self, path: &str) -> Result<(), Error> {
        self.settings
            .set_health_path(endpoint_path(path, "health_check_path")?);
        Ok(())
    }

    /// See [`Server::set_health_check_path`].
    pub fn health_check_path(&self) -> String {
        self.settings.health_path().to_string()
    }

    /// A path (e.g. `/metrics`) that answers a plain HTTP GET with the statistics in
    /// Prometheus' text format. "" (the default) turns it off.
    pub fn set_metrics_path(&mut self, path: &str) -> Result<(), Error> {
        self.settings
            .set_metrics_path(endpoint_path(path, "metrics_path")?);
        Ok(())
    }

    /// See [`Server::set_metrics_path`].
    pub fn metrics_path(&self) -> String {
        self.settings.metrics_path().to_string()
    }
}

/// A path for a plain HTTP endpoint: "" (off) or starting with `/`, without a query.
fn endpoint_path(path: &str, what: &str) -> Result<String, Error> {
    let path = path.trim();
    if path.is_empty()
        || (path.starts_with('/')
            && !path.contains(['?', '#', ' '])
            && path.bytes().all(|b| b.is_ascii_graphic()))
    {
        Ok(path.to_string())
    } else {
        Err(Error::InvalidParameter(format!(
            "{what} \"{path}\" must start with / and have no query, e.g. \"/healthz\" (\"\" turns it off)"
        )))
    }
}
