//! The server's settings: one value, checked as a whole, its fields grouped by when they
//! apply. The caller's thread changes it through [`crate::core::Server::configure`]; the
//! connection tasks read the snapshot that is current when they need one. Nothing here is
//! stored anywhere else.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::core::error::Error;
use crate::core::policy::gate::OriginRule;
use crate::core::policy::limits::Buffers;
use crate::core::policy::proxies::Cidr;
use crate::core::socket::tls::TlsConfig;

/// Messages shorter than this many bytes go uncompressed (`compression_threshold`): below
/// it DEFLATE saves a few bytes and costs more than it saves.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 256;

/// Default of `unreliable_drop_threshold`: a quarter of the default outbound buffer, so
/// that reliable packets keep the rest.
pub const DEFAULT_UNRELIABLE_THRESHOLD: usize = 16 * 1024;

/// Everything a server can be told, with Godot 3's defaults.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Read by `listen()`.
    pub listen: ListenSettings,
    /// Read when a connection opens: each connection keeps what was current then (a
    /// session's reconnect grace period and close timeout are read again when its
    /// connection breaks or is turned away).
    pub connections: ConnectionSettings,
    /// Read at every use: a change applies at once.
    pub live: LiveSettings,
}

/// Settings that the next `listen()` reads.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    /// The address to listen on: `"*"` for every interface (IPv4 and IPv6), or one IP.
    pub bind_ip: String,
    /// Per-peer buffer limits (Godot 3's `set_buffers()`); only changed while stopped.
    pub buffers: Buffers,
    /// Redis that spans broadcasts and groups over several processes (`redis://host:port`;
    /// "" off).
    pub redis_url: String,
    /// The start of the Redis channel names (`<prefix>:all`, `<prefix>:group:<name>`).
    pub redis_channel_prefix: String,
}

impl Default for ListenSettings {
    fn default() -> Self {
        ListenSettings {
            bind_ip: "*".into(),
            buffers: Buffers::default(),
            redis_url: String::new(),
            redis_channel_prefix: "websocket_server".into(),
        }
    }
}

/// Settings that a connection takes when it opens (see [`Settings::connections`]).
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// From TCP accept to the upgrade done and the first message written (TLS, a PROXY
    /// header, the game's decision and a return's hello included); else the client is
    /// dropped and never becomes a peer.
    pub handshake_timeout: Duration,
    /// How long a close handshake may take before the connection is dropped.
    pub close_timeout: Duration,
    /// Pings every interval; a peer silent for two is dropped (zero: off).
    pub heartbeat_interval: Duration,
    /// Messages per second one client may send (0: no limit).
    pub max_messages_per_second: u64,
    /// Payload bytes per second one client may send (0: no limit).
    pub max_bytes_per_second: u64,
    /// How long a session's peer waits for its client to come back (zero: no sessions).
    pub reconnect_grace_period: Duration,
    /// permessage-deflate is agreed with clients that offer it.
    pub compression_enabled: bool,
    /// TLS for `wss://` (`None`: plain `ws://`).
    pub tls: Option<TlsConfig>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            handshake_timeout: Duration::from_secs(3),
            close_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::ZERO,
            max_messages_per_second: 0,
            max_bytes_per_second: 0,
            reconnect_grace_period: Duration::ZERO,
            compression_enabled: false,
            tls: None,
        }
    }
}

/// Settings that apply at once.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Valid upgrades get HTTP 503; existing peers stay.
    pub refuse_new_connections: bool,
    /// Every upgrade waits for the game's decision.
    pub approve_upgrades: bool,
    /// Browsers' origins allowed to connect (empty: any).
    pub allowed_origins: AllowedOrigins,
    /// Reverse proxies whose forwarding headers are believed (empty: none).
    pub trusted_proxies: TrustedProxies,
    /// Every connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// A plain HTTP GET of this path answers the health check ("" off).
    pub health_check_path: String,
    /// A plain HTTP GET of this path answers Prometheus' metrics ("" off).
    pub metrics_path: String,
    /// Unreliable multiplayer packets are dropped for a peer with more bytes queued
    /// (0: never); also the kernel's unsent limit for multiplayer connections opened later.
    pub unreliable_drop_threshold: usize,
    /// Messages from this many bytes on go compressed to clients that agreed to it.
    pub compression_threshold: usize,
    /// Most connections open at once, upgrades in progress included (0: no limit).
    pub max_connections: usize,
    /// The same per client IP address.
    pub max_connections_per_ip: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            refuse_new_connections: false,
            approve_upgrades: false,
            allowed_origins: AllowedOrigins::default(),
            trusted_proxies: TrustedProxies::default(),
            proxy_protocol: false,
            health_check_path: String::new(),
            metrics_path: String::new(),
            unreliable_drop_threshold: DEFAULT_UNRELIABLE_THRESHOLD,
            compression_threshold: DEFAULT_COMPRESSION_THRESHOLD,
            max_connections: 0,
            max_connections_per_ip: 0,
        }
    }
}

/// `allowed_origins`: the entries as given, and the rules they make.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    entries: Vec<String>,
    rules: Vec<OriginRule>,
}

impl AllowedOrigins {
    /// Exact origins (`https://game.example.com`) or with one wildcard label
    /// (`https://*.example.com`); all or nothing.
    pub fn parse(entries: &[String]) -> Result<Self, Error> {
        let rules = entries
            .iter()
            .map(|e| OriginRule::parse(e))
            .collect::<Result<_, _>>()?;
        Ok(AllowedOrigins {
            entries: entries.to_vec(),
            rules,
        })
    }

    /// The entries as given.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    pub(crate) fn rules(&self) -> &[OriginRule] {
        &self.rules
    }
}

/// `trusted_proxies`: the entries as given, and the ranges they make.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    entries: Vec<String>,
    ranges: Vec<Cidr>,
}

impl TrustedProxies {
    /// IP addresses or CIDR ranges (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`); all or nothing.
    pub fn parse(entries: &[String]) -> Result<Self, Error> {
        let ranges = entries
            .iter()
            .map(|e| Cidr::parse(e))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies {
            entries: entries.to_vec(),
            ranges,
        })
    }

    /// The entries as given.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    pub(crate) fn ranges(&self) -> &[Cidr] {
        &self.ranges
    }
}

impl Settings {
    /// Checks what a field's type cannot, tidying text (surrounding spaces) on the way.
    pub(crate) fn check(&mut self) -> Result<(), Error> {
        let live = &mut self.live;
        live.health_check_path = endpoint_path(&live.health_check_path, "health_check_path")?;
        live.metrics_path = endpoint_path(&live.metrics_path, "metrics_path")?;
        let listen = &mut self.listen;
        listen.buffers.check()?;
        listen.redis_url = listen.redis_url.trim().to_string();
        self.listen.redis_client()?;
        let listen = &self.listen;
        let prefix = &listen.redis_channel_prefix;
        if prefix.is_empty() || prefix.contains(['*', '?', '[', ' ']) {
            return Err(Error::InvalidParameter(format!(
                "redis_channel_prefix \"{prefix}\" must not be empty nor contain * ? [ or spaces"
            )));
        }
        Ok(())
    }
}

impl ListenSettings {
    /// A client for `redis_url` (`None` when it is ""); `rediss://` is not built in.
    pub(crate) fn redis_client(&self) -> Result<Option<redis::Client>, Error> {
        if self.redis_url.is_empty() {
            return Ok(None);
        }
        redis::Client::open(self.redis_url.as_str())
            .map(Some)
            .map_err(|e| {
                Error::InvalidParameter(format!(
                    "redis_url \"{}\" cannot be used: {e}; use e.g. \"redis://127.0.0.1:6379\"",
                    self.redis_url
                ))
            })
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

/// The current settings, shared by a server and its tasks: replaced whole, read as a
/// snapshot.
#[derive(Default)]
pub(crate) struct SharedSettings(RwLock<Arc<Settings>>);

impl SharedSettings {
    /// The settings now.
    pub fn current(&self) -> Arc<Settings> {
        self.0.read().clone()
    }

    /// Puts checked settings in place.
    pub fn replace(&self, settings: Settings) {
        *self.0.write() = Arc::new(settings);
    }
}
