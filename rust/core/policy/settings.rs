//! Settings a server can change while it listens: shared by the server (which writes
//! them) and its connection tasks (which read them when they need them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::core::policy::gate::OriginRule;
use crate::core::policy::proxies::Cidr;

/// The live settings of one server, kept across `stop()` and `listen()`.
#[derive(Default)]
pub(crate) struct Settings {
    /// `refuse_new_connections`: valid upgrades get 503.
    refusing: AtomicBool,
    /// A graceful stop is under way: new upgrades get 503.
    draining: AtomicBool,
    /// Heartbeat interval in nanoseconds (0: off), for connections opened from now on.
    heartbeat_ns: AtomicU64,
    /// Every upgrade waits for the game's decision.
    approve_upgrades: AtomicBool,
    /// `allowed_origins` (empty: any).
    origins: RwLock<Arc<Vec<OriginRule>>>,
    /// Per-client rate limits (0: none), for connections opened from now on.
    max_messages_per_second: AtomicU64,
    max_bytes_per_second: AtomicU64,
    /// `trusted_proxies`.
    proxies: RwLock<Arc<Vec<Cidr>>>,
    /// Every connection starts with a PROXY protocol header.
    proxy_protocol: AtomicBool,
    /// `health_check_path` ("" off).
    health_path: RwLock<Arc<String>>,
    /// `metrics_path` ("" off).
    metrics_path: RwLock<Arc<String>>,
    /// `reconnect_grace_period` in nanoseconds (0: no sessions).
    reconnect_grace_ns: AtomicU64,
    /// `compression_enabled`: permessage-deflate is agreed with clients that offer it.
    compression: AtomicBool,
}

impl Settings {
    pub fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Ordering::Release);
    }

    pub fn refusing(&self) -> bool {
        self.refusing.load(Ordering::Acquire)
    }

    pub fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::Release);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn set_heartbeat(&self, interval: Duration) {
        self.heartbeat_ns
            .store(interval.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_nanos(self.heartbeat_ns.load(Ordering::Relaxed))
    }

    pub fn set_approve_upgrades(&self, on: bool) {
        self.approve_upgrades.store(on, Ordering::Release);
    }

    pub fn approve_upgrades(&self) -> bool {
        self.approve_upgrades.load(Ordering::Acquire)
    }

    pub fn set_origins(&self, rules: Vec<OriginRule>) {
        *self.origins.write() = Arc::new(rules);
    }

    pub fn origins(&self) -> Arc<Vec<OriginRule>> {
        self.origins.read().clone()
    }

    pub fn set_rate_limits(&self, messages_per_second: u64, bytes_per_second: u64) {
        self.max_messages_per_second
            .store(messages_per_second, Ordering::Relaxed);
        self.max_bytes_per_second
            .store(bytes_per_second, Ordering::Relaxed);
    }

    /// Messages and bytes per second (0: no limit).
    pub fn rate_limits(&self) -> (u64, u64) {
        (
            self.max_messages_per_second.load(Ordering::Relaxed),
            self.max_bytes_per_second.load(Ordering::Relaxed),
        )
    }

    pub fn set_proxies(&self, proxies: Vec<Cidr>) {
        *self.proxies.write() = Arc::new(proxies);
    }

    pub fn proxies(&self) -> Arc<Vec<Cidr>> {
        self.proxies.read().clone()
    }

    pub fn set_proxy_protocol(&self, on: bool) {
        self.proxy_protocol.store(on, Ordering::Release);
    }

    pub fn proxy_protocol(&self) -> bool {
        self.proxy_protocol.load(Ordering::Acquire)
    }

    pub fn set_health_path(&self, path: String) {
        *self.health_path.write() = Arc::new(path);
    }

    pub fn health_path(&self) -> Arc<String> {
        self.health_path.read().clone()
    }

    pub fn set_metrics_path(&self, path: String) {
        *self.metrics_path.write() = Arc::new(path);
    }

    pub fn metrics_path(&self) -> Arc<String> {
        self.metrics_path.read().clone()
    }

    pub fn set_reconnect_grace(&self, grace: Duration) {
        self.reconnect_grace_ns
            .store(grace.as_nanos() as u64, Ordering::Relaxed);
    }

    /// How long a session's peer waits for its client to come back (0: no sessions).
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_nanos(self.reconnect_grace_ns.load(Ordering::Relaxed))
    }

    pub fn set_compression(&self, on: bool) {
        self.compression.store(on, Ordering::Release);
    }

    /// Whether upgrades from now on agree permessage-deflate with clients that offer it.
    pub fn compression(&self) -> bool {
        self.compression.load(Ordering::Acquire)
    }
}
