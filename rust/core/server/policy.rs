//! Who may connect and how much they may take, while listening: refusing new clients,
//! the heartbeat, connection caps, browsers' origins, rate limits, trusted proxies.

use std::time::Duration;

use super::Server;
use crate::core::error::Error;
use crate::core::policy::gate::OriginRule;
use crate::core::policy::proxies::Cidr;

impl Server {
    /// Turns new clients away during the upgrade (HTTP 503); existing peers stay.
    pub fn set_refuse_new_connections(&mut self, refuse: bool) {
        self.settings.set_refusing(refuse);
    }

    /// See [`Server::set_refuse_new_connections`].
    pub fn is_refusing_new_connections(&self) -> bool {
        self.settings.refusing()
    }

    /// Sends a ping to every peer each `interval` and drops a peer from which nothing at
    /// all arrived for two intervals (`Disconnected`, unclean). Zero turns it off (the
    /// default). Applies to clients that connect from now on.
    pub fn set_heartbeat_interval(&mut self, interval: Duration) {
        self.settings.set_heartbeat(interval);
    }

    /// See [`Server::set_heartbeat_interval`].
    pub fn heartbeat_interval(&self) -> Duration {
        self.settings.heartbeat()
    }

    /// Most connections open at once, handshakes in progress included (0: no limit, the
    /// default). Past it new clients get HTTP 503 and never become peers. Applies at once.
    pub fn set_max_connections(&mut self, max: usize) {
        self.limits.set_max_total(max);
    }

    /// See [`Server::set_max_connections`].
    pub fn max_connections(&self) -> usize {
        self.limits.max_total()
    }

    /// The same as [`Server::set_max_connections`] per client IP address.
    pub fn set_max_connections_per_ip(&mut self, max: usize) {
        self.limits.set_max_per_ip(max);
    }

    /// See [`Server::set_max_connections_per_ip`].
    pub fn max_connections_per_ip(&self) -> usize {
        self.limits.max_per_ip()
    }

    /// Connections open now: peers and handshakes in progress.
    pub fn open_connections(&self) -> usize {
        self.limits.open()
    }

    /// Browsers' origins allowed to connect: exact (`https://game.example.com`) or with
    /// one wildcard label (`https://*.example.com`). Empty (the default) allows any.
    /// Requests without an `Origin` header (native clients) are always allowed.
    pub fn set_allowed_origins(&mut self, origins: &[String]) -> Result<(), Error> {
        let rules = origins
            .iter()
            .map(|o| OriginRule::parse(o))
            .collect::<Result<Vec<_>, _>>()?;
        self.settings.set_origins(rules);
        Ok(())
    }

    /// Per-client rate limits (0: none, the default): past them a client is not read
    /// until its budget refills (one second's worth may come at once). Applies to clients
    /// that connect from now on.
    pub fn set_rate_limits(&mut self, messages_per_second: u64, bytes_per_second: u64) {
        self.settings
            .set_rate_limits(messages_per_second, bytes_per_second);
    }

    /// Messages and bytes per second (see [`Server::set_rate_limits`]).
    pub fn rate_limits(&self) -> (u64, u64) {
        self.settings.rate_limits()
    }

    /// The reverse proxies in front of the server (IP addresses or CIDR ranges; empty,
    /// the default, trusts none). A connection from one of them takes the client's address
    /// from `Forwarded: for=` or `X-Forwarded-For` (the right-most address that is not a
    /// trusted proxy); from anyone else those headers are ignored. With
    /// [`Server::set_proxy_protocol`], only these may send PROXY headers (when not empty).
    pub fn set_trusted_proxies(&mut self, proxies: &[String]) -> Result<(), Error> {
        let list = proxies
            .iter()
            .map(|p| Cidr::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.settings.set_proxies(list);
        Ok(())
    }

    /// Every connection starts with a PROXY protocol header (v1 or v2) naming the client,
    /// as L4 load balancers send it; a connection without a valid one is dropped with
    /// nothing sent. Off by default.
    pub fn set_proxy_protocol(&mut self, on: bool) {
        self.settings.set_proxy_protocol(on);
    }

    /// See [`Server::set_proxy_protocol`].
    pub fn proxy_protocol(&self) -> bool {
        self.settings.proxy_protocol()
    }
}
