//! The server as the caller's thread sees it: listen, poll, peers, stop.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{oneshot, watch};

use super::error::{Error, SendError};
use super::fanout::{self, Fanout, Job, Missed, Recipients};
use super::gate::{self, Decision, OriginRule, UpgradeRequest};
use super::ids::IdGenerator;
use super::ids::{IdMap, PeerId};
use super::limits::{Buffers, ConnectionLimits};
use super::multiplayer::Target;
use super::peer::{Message, Peer, PeerShared};
use super::proxies::Cidr;
use super::redis_bridge::{self, Bridge, RedisEvent};
use super::runtime;
use super::session::{self, RawEvent, Session};
use super::settings::Settings;
use super::stats::{Counters, Stats};
use super::tls::TlsConfig;

/// Listen backlog: a burst of clients connecting at once must not overflow it
/// (Godot's own TCPServer uses 8).
const BACKLOG: i32 = 1024;

/// What `poll()` reports, per peer in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client finished the upgrade (in multiplayer mode: and was sent its id).
    Connected { id: PeerId, protocol: String },
    /// A message arrived; read it with [`Peer::recv`]. Not reported in multiplayer mode.
    Message { id: PeerId },
    /// The client sent a close frame with this code and reason.
    CloseRequested {
        id: PeerId,
        code: u16,
        reason: String,
    },
    /// The connection is gone; clean when both close frames were exchanged.
    Disconnected { id: PeerId, was_clean: bool },
    /// An upgrade request waits for [`Server::accept_upgrade`] or
    /// [`Server::refuse_upgrade`] (only with [`Server::set_approve_upgrades`]).
    UpgradeRequested(UpgradeRequest),
    /// An upgrade request the game was asked about did not become a peer (refused, not
    /// decided in time, or the client left). A `Connected` with the same id follows
    /// otherwise.
    UpgradeEnded { id: PeerId },
    /// A graceful stop ([`Server::stop_gracefully`]) is complete: every peer got 1001 and
    /// its `Disconnected`; the server is stopped.
    Drained,
    /// Peers whose outbound buffer could not take a broadcast (everyone else got it).
    BroadcastMissed(Missed),
    /// News of the Redis bridge ([`Server::set_redis_url`]).
    Redis(RedisEvent),
}

/// A packet of Godot's high-level multiplayer, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiplayerPacket {
    /// The sending peer.
    pub from: PeerId,
    /// The payload.
    pub data: Bytes,
}

/// Unreliable packets are dropped for a peer with more than this many bytes queued: a
/// quarter of the default outbound buffer, about a fifth of a second of 60 Hz state
/// updates of 1 KiB. Stale state then never piles up behind a slow player, while reliable
/// packets keep the other three quarters.
pub const DEFAULT_UNRELIABLE_THRESHOLD: usize = 16 * 1024;

/// How many decided request ids are remembered (to report a second decision clearly).
const DECIDED_MEMORY: usize = 1024;

/// A graceful stop under way.
struct Drain {
    /// When the peers are told to go (1001).
    close_at: Instant,
    /// After the close: when to stop waiting for the peers' disconnects.
    give_up: Option<Instant>,
}

struct Listening {
    session: Arc<Session>,
    /// Broadcasts and groups across processes, when `redis_url` is set.
    bridge: Option<Bridge>,
    shutdown: watch::Sender<bool>,
    accept_done: std::sync::mpsc::Receiver<()>,
    local_addr: SocketAddr,
}

/// A WebSocket server. Every method is non-blocking except [`Server::wait`].
pub struct Server {
    bind_ip: String,
    handshake_timeout: Duration,
    close_timeout: Duration,
    buffers: Buffers,
    tls: Option<TlsConfig>,
    settings: Arc<Settings>,
    limits: Arc<ConnectionLimits>,
    counters: Arc<Counters>,
    /// Drop unreliable packets for peers with more queued (bytes; 0 never).
    unreliable_threshold: Arc<std::sync::atomic::AtomicUsize>,
    multiplayer: bool,
    redis: Option<redis::Client>,
    redis_prefix: String,
    ids: Arc<IdGenerator>,
    listening: Option<Listening>,
    peers: IdMap<Peer>,
    /// Peers whose `Disconnected` was in the last batch: still readable with
    /// [`Server::peer`] until the next poll, so that a batch can be handled in order.
    departed: IdMap<Peer>,
    mp_inbox: VecDeque<(Arc<PeerShared>, Message)>,
    /// Upgrade requests waiting for the game's decision, with what the client offered.
    pending: IdMap<(oneshot::Sender<Decision>, Vec<String>)>,
    /// Recently decided requests, to tell "decided twice" from "unknown".
    decided: VecDeque<PeerId>,
    drain: Option<Drain>,
    held_disconnects: Vec<(Arc<PeerShared>, bool)>,
    scratch: Vec<RawEvent>,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A stopped server with Godot 3's defaults.
    pub fn new() -> Self {
        Server {
            bind_ip: "*".into(),
            handshake_timeout: Duration::from_secs(3),
            close_timeout: Duration::from_secs(3),
            buffers: Buffers::default(),
            tls: None,
            settings: Arc::default(),
            limits: Arc::default(),
            counters: Arc::default(),
            unreliable_threshold: Arc::new(std::sync::atomic::AtomicUsize::new(
                DEFAULT_UNRELIABLE_THRESHOLD,
            )),
            multiplayer: false,
            redis: None,
            redis_prefix: "websocket_server".into(),
            ids: Arc::new(IdGenerator::new()),
            listening: None,
            peers: IdMap::default(),
            departed: IdMap::default(),
            mp_inbox: VecDeque::new(),
            pending: IdMap::default(),
            decided: VecDeque::new(),
            drain: None,
            held_disconnects: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The address to listen on: `"*"` for every interface (IPv4 and IPv6), or one IP
    /// address. Used by the next [`Server::listen`].
    pub fn set_bind_ip(&mut self, ip: &str) {
        self.bind_ip = ip.to_string();
    }

    /// See [`Server::set_bind_ip`].
    pub fn bind_ip(&self) -> &str {
        &self.bind_ip
    }

    /// Time from TCP accept to a completed upgrade (TLS included) before a client is
    /// dropped. Used by the next [`Server::listen`].
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.handshake_timeout = timeout;
    }

    /// See [`Server::set_handshake_timeout`].
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// How long a close handshake may take before the connection is dropped.
    pub fn set_close_timeout(&mut self, timeout: Duration) {
        self.close_timeout = timeout;
    }

    /// Per-peer buffer limits; only while stopped ([`Error::Busy`] otherwise).
    pub fn set_buffers(&mut self, buffers: Buffers) -> Result<(), Error> {
        if self.listening.is_some() {
            return Err(Error::Busy(
                "set_buffers() must be called before listen(), or after stop()".into(),
            ));
        }
        self.buffers = buffers;
        Ok(())
    }

    /// See [`Server::set_buffers`].
    pub fn buffers(&self) -> Buffers {
        self.buffers
    }

    /// TLS settings (`None` for plain `ws://`). While listening they apply to new
    /// connections at once; existing connections keep theirs.
    pub fn set_tls(&mut self, tls: Option<TlsConfig>) {
        if let Some(l) = &self.listening {
            *l.session.tls.write() = tls.as_ref().map(|t| t.acceptor.clone());
        }
        self.tls = tls;
    }

    /// Whether TLS is configured.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

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

    /// The server's statistics now (totals since this object was made).
    pub fn stats(&self) -> Stats {
        self.stats_source().snapshot()
    }

    /// A handle that reads this server's statistics from anywhere (e.g. a monitor).
    pub fn stats_source(&self) -> StatsSource {
        StatsSource {
            counters: self.counters.clone(),
            limits: self.limits.clone(),
        }
    }

    /// Starts listening on `port` (0 picks a free one, see [`Server::local_port`]).
    /// `protocols` are the subprotocols the server speaks; `multiplayer` selects Godot
    /// 4's multiplayer protocol (id message first, packets through [`Server::mp_get_packet`]).
    pub fn listen(
        &mut self,
        port: u16,
        protocols: &[String],
        multiplayer: bool,
    ) -> Result<(), Error> {
        if self.listening.is_some() {
            return Err(Error::AlreadyListening);
        }
        if let Some(bad) = protocols.iter().find(|p| !is_token(p)) {
            return Err(Error::InvalidParameter(format!(
                "subprotocol \"{bad}\" is not a valid HTTP token (no spaces, commas or quotes)"
            )));
        }
        let std_listener = bind(&self.bind_ip, port)?;
        let local_addr = std_listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            source,
        })?;
        let (fanout, fanout_queue) = Fanout::new(
            self.unreliable_threshold
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let session = Arc::new(Session::new(
            protocols.to_vec(),
            self.buffers,
            self.handshake_timeout,
            self.close_timeout,
            multiplayer,
            self.tls.as_ref().map(|t| t.acceptor.clone()),
            self.settings.clone(),
            self.limits.clone(),
            self.counters.clone(),
            fanout.clone(),
            self.ids.clone(),
        ));
        let (handle, going_away) = runtime::started();
        let listener = {
            let _entered = handle.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(|source| Error::Bind {
                addr: local_addr,
                source,
            })?
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (done_tx, accept_done) = std::sync::mpsc::channel();
        {
            let session = session.clone();
            let mut stop = shutdown_rx.clone();
            let mut away = going_away.clone();
            let stopped = async move {
                tokio::select! {
                    _ = session::stopped(&mut stop) => {},
                    _ = session::stopped(&mut away) => {},
                }
            };
            let report = move |missed| session.push(RawEvent::Missed(missed));
            handle.spawn(fanout::run(fanout.clone(), fanout_queue, stopped, report));
        }
        let bridge = self.redis.clone().map(|client| {
            let _entered = handle.enter();
            let session = session.clone();
            let mut stop = shutdown_rx.clone();
            let mut away = going_away.clone();
            let stopped = async move {
                tokio::select! {
                    _ = session::stopped(&mut stop) => {},
                    _ = session::stopped(&mut away) => {},
                }
            };
            let report_to = session.clone();
            Bridge::start(
                client,
                self.redis_prefix.clone(),
                fanout.clone(),
                stopped,
                move |event| report_to.push(RawEvent::Redis(event)),
            )
        });
        handle.spawn(session::accept_loop(
            listener,
            session.clone(),
            shutdown_rx,
            going_away,
            done_tx,
        ));
        self.multiplayer = multiplayer;
        self.listening = Some(Listening {
            session,
            bridge,
            shutdown,
            accept_done,
            local_addr,
        });
        Ok(())
    }

    /// Whether the server is listening.
    pub fn is_listening(&self) -> bool {
        self.listening.is_some()
    }

    /// Whether the server runs Godot's multiplayer protocol.
    pub fn is_multiplayer(&self) -> bool {
        self.multiplayer
    }

    /// The port really bound (useful after `listen(0)`), 0 while stopped.
    pub fn local_port(&self) -> u16 {
        self.listening.as_ref().map_or(0, |l| l.local_addr.port())
    }

    /// Stops listening, frees the port at once and closes every peer with 1001
    /// (queued messages are flushed first, within the close timeout). No more events
    /// are reported for this session; peer handles stay readable.
    pub fn stop(&mut self) {
        if let Some(l) = self.listening.take() {
            let _ = l.shutdown.send(true);
            // The accept task confirms that the listener is dropped (microseconds).
            let _ = l.accept_done.recv_timeout(Duration::from_secs(2));
        }
        self.peers.clear();
        self.departed.clear();
        self.mp_inbox.clear();
        self.pending.clear();
        self.drain = None;
        self.settings.set_draining(false);
        self.held_disconnects.clear();
        self.multiplayer = false;
    }

    /// Hands over everything that happened since the last call, without blocking.
    /// Cost: proportional to the number of events, not of peers.
    pub fn poll(&mut self, out: &mut Vec<Event>) {
        if self.listening.is_none() {
            return;
        }
        if !self.departed.is_empty() {
            self.departed.clear();
        }
        if self.drain_finished() {
            self.stop();
            out.push(Event::Drained);
            return;
        }
        if !self.held_disconnects.is_empty() {
            let (peers, departed) = (&mut self.peers, &mut self.departed);
            self.held_disconnects.retain(|(p, clean)| {
                if p.unread_packets.load(Ordering::Acquire) > 0 {
                    return true;
                }
                if let Some(peer) = peers.remove(&p.id) {
                    departed.insert(p.id, peer);
                }
                out.push(Event::Disconnected {
                    id: p.id,
                    was_clean: *clean,
                });
                false
            });
        }
        if let Some(l) = &self.listening {
            l.session.take(&mut self.scratch);
        }
        for event in self.scratch.drain(..) {
            match event {
                RawEvent::Connected(p) => {
                    out.push(Event::Connected {
                        id: p.id,
                        protocol: p.protocol.clone(),
                    });
                    self.peers.insert(p.id, Peer(p));
                }
                RawEvent::Message(p, m) => {
                    if self.multiplayer {
                        self.mp_inbox.push_back((p, m));
                    } else {
                        p.inbox.lock().push_back(m);
                        out.push(Event::Message { id: p.id });
                    }
                }
                RawEvent::CloseRequested { id, code, reason } => {
                    out.push(Event::CloseRequested { id, code, reason });
                }
                RawEvent::UpgradeRequested(request, reply) => {
                    self.pending
                        .insert(request.id, (reply, request.offered.clone()));
                    out.push(Event::UpgradeRequested(request));
                }
                RawEvent::UpgradeEnded(id) => {
                    self.pending.remove(&id);
                    out.push(Event::UpgradeEnded { id });
                }
                RawEvent::Missed(missed) => out.push(Event::BroadcastMissed(missed)),
                RawEvent::Redis(event) => out.push(Event::Redis(event)),
                RawEvent::Disconnected(p, clean) => {
                    // Multiplayer: the disconnect waits until the peer's last packets
                    // have been read, so that SceneMultiplayer still accepts them.
                    if self.multiplayer && p.unread_packets.load(Ordering::Acquire) > 0 {
                        self.held_disconnects.push((p, clean));
                    } else {
                        if let Some(peer) = self.peers.remove(&p.id) {
                            self.departed.insert(p.id, peer);
                        }
                        out.push(Event::Disconnected {
                            id: p.id,
                            was_clean: clean,
                        });
                    }
                }
            }
        }
    }

    /// A graceful stop: new upgrades get HTTP 503 at once (and the health check 503, so
    /// load balancers take the server out) while the peers keep being served for `grace`;
    /// then every peer is closed with 1001 after its queued messages, and once all are
    /// gone (their `Disconnected` reported) `poll()` reports [`Event::Drained`] and the
    /// server is stopped.
    pub fn stop_gracefully(&mut self, grace: Duration) -> Result<(), Error> {
        if self.listening.is_none() {
            return Err(Error::NotListening);
        }
        self.settings.set_draining(true);
        let close_at = Instant::now() + grace;
        // A second call can only make the drain shorter.
        if self.drain.as_ref().is_none_or(|d| close_at < d.close_at) {
            self.drain = Some(Drain {
                close_at,
                give_up: None,
            });
        }
        Ok(())
    }

    /// Whether a graceful stop is under way.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// Drives a graceful stop; true once it is complete.
    fn drain_finished(&mut self) -> bool {
        let Some(drain) = &mut self.drain else {
            return false;
        };
        let now = Instant::now();
        match drain.give_up {
            None if now >= drain.close_at => {
                for peer in self.peers.values() {
                    let _ = peer.close(1001, "");
                }
                drain.give_up = Some(now + self.close_timeout + Duration::from_secs(1));
                false
            }
            None => false,
            Some(give_up) => {
                (self.peers.is_empty() && self.held_disconnects.is_empty()) || now >= give_up
            }
        }
    }

    /// Every upgrade request waits for the game's decision ([`Event::UpgradeRequested`],
    /// then [`Server::accept_upgrade`] or [`Server::refuse_upgrade`]) within the handshake
    /// timeout; undecided ones are refused with 503. Off by default.
    pub fn set_approve_upgrades(&mut self, on: bool) {
        self.settings.set_approve_upgrades(on);
    }

    /// See [`Server::set_approve_upgrades`].
    pub fn approve_upgrades(&self) -> bool {
        self.settings.approve_upgrades()
    }

    /// Accepts a waiting upgrade request: the 101 is written at once (no `poll()` needed).
    /// `protocol` "" keeps the subprotocol Godot's rule selected; another one must be one
    /// the client offered. `headers` are added to the 101 response (e.g. `Set-Cookie`).
    pub fn accept_upgrade(
        &mut self,
        id: PeerId,
        protocol: &str,
        headers: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let offered = &self.waiting(id)?.1;
        gate::check_accept(offered, protocol, &headers)?;
        self.decide(
            id,
            Decision::Accept {
                protocol: protocol.to_string(),
                headers,
            },
        )
    }

    /// Refuses a waiting upgrade request with an HTTP status (400-599) and a short body.
    pub fn refuse_upgrade(&mut self, id: PeerId, status: i64, body: &str) -> Result<(), Error> {
        self.waiting(id)?;
        let status = gate::check_refuse(status, body)?;
        self.decide(
            id,
            Decision::Refuse {
                status,
                body: body.to_string(),
            },
        )
    }

    fn waiting(&self, id: PeerId) -> Result<&(oneshot::Sender<Decision>, Vec<String>), Error> {
        self.pending.get(&id).ok_or_else(|| {
            if self.decided.contains(&id) {
                Error::AlreadyDecided(id)
            } else {
                Error::UnknownRequest(id)
            }
        })
    }

    fn decide(&mut self, id: PeerId, decision: Decision) -> Result<(), Error> {
        let (reply, _) = self.pending.remove(&id).ok_or(Error::UnknownRequest(id))?;
        if self.decided.len() == DECIDED_MEMORY {
            self.decided.pop_front();
        }
        self.decided.push_back(id);
        // The connection task may have timed out just now: then its end is reported.
        let _ = reply.send(decision);
        Ok(())
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

    /// Records how long the caller's `poll()` took (the Godot layer times its whole
    /// `poll()`, signals included), for the statistics.
    pub fn record_poll_time(&self, took: Duration) {
        self.counters.polled(took);
    }

    /// Blocks the calling thread until something happened or `timeout` passed; for
    /// programs that have no frame loop of their own (tests, examples).
    pub fn wait(&self, timeout: Duration) -> bool {
        match &self.listening {
            Some(l) => l.session.wait(timeout),
            None => {
                std::thread::sleep(timeout);
                false
            }
        }
    }

    /// The peer with this id: while it is connected, and until the next `poll()` after the
    /// one that reported its `Disconnected` (so every event of a batch can be handled, even
    /// for a client that came, spoke and left between two polls).
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(&id).or_else(|| self.departed.get(&id))
    }

    /// Whether a peer with this id is connected.
    pub fn has_peer(&self, id: PeerId) -> bool {
        self.peers.contains_key(&id)
    }

    /// The ids of the connected peers.
    pub fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Starts a close handshake with one peer.
    pub fn disconnect_peer(&self, id: PeerId, code: u16, reason: &str) -> Result<(), Error> {
        self.peers
            .get(&id)
            .ok_or(Error::UnknownPeer(id))?
            .close(code, reason)
    }

    /// Multiplayer: sends one packet to the peers `target` names (Godot's meaning of
    /// `set_target_peer`). To one peer: its error, if any. To several: the payload is copied
    /// once and fanned out on the runtime; peers that cannot take it are reported by an
    /// [`Event::BroadcastMissed`] (peers already closing are skipped). `unreliable` packets
    /// are dropped (and counted) for peers over [`Server::set_unreliable_drop_threshold`].
    pub fn mp_put_packet(
        &self,
        target: i32,
        data: &[u8],
        unreliable: bool,
    ) -> Result<(), (PeerId, SendError)> {
        let data = Bytes::copy_from_slice(data);
        match Target::from_godot(target) {
            Target::One(id) => match self.peers.get(&id) {
                Some(p) if unreliable && p.0.fanout.congested(&p.0) => {
                    p.0.traffic.dropped();
                    Ok(())
                }
                Some(p) => p.send(data, false).map_err(|e| (id, e)),
                None => Err((id, SendError::Closed)),
            },
            t => {
                let exclude = match t {
                    Target::AllExcept(id) => vec![id],
                    _ => vec![],
                };
                self.fan_out(data, false, Recipients::All, exclude, unreliable);
                Ok(())
            }
        }
    }

    fn fan_out(
        &self,
        data: Bytes,
        is_text: bool,
        to: Recipients,
        exclude: Vec<PeerId>,
        unreliable: bool,
    ) {
        if let Some(l) = &self.listening {
            l.session.fanout.push(Job {
                data,
                is_text,
                to,
                exclude,
                unreliable,
            });
        }
    }

    /// Sends one message to every open peer but `exclude`: the payload is copied once and
    /// shared; the per-peer work happens on the runtime, in order with each peer's other
    /// messages. Peers whose outbound buffer cannot take it are reported by an
    /// [`Event::BroadcastMissed`]; everyone else gets it.
    pub fn broadcast(&self, data: &[u8], is_text: bool, exclude: &[PeerId]) -> Result<(), Error> {
        self.check_fan_out(data, is_text)?;
        self.fan_out(
            Bytes::copy_from_slice(data),
            is_text,
            Recipients::All,
            exclude.to_vec(),
            false,
        );
        self.publish(None, data, is_text, exclude);
        Ok(())
    }

    /// As [`Server::broadcast`], to the members of `group`.
    pub fn send_to_group(
        &self,
        group: &str,
        data: &[u8],
        is_text: bool,
        exclude: &[PeerId],
    ) -> Result<(), Error> {
        self.check_fan_out(data, is_text)?;
        self.fan_out(
            Bytes::copy_from_slice(data),
            is_text,
            Recipients::Group(group.to_string()),
            exclude.to_vec(),
            false,
        );
        self.publish(Some(group), data, is_text, exclude);
        Ok(())
    }

    fn publish(&self, group: Option<&str>, data: &[u8], is_text: bool, exclude: &[PeerId]) {
        if let Some(bridge) = self.listening.as_ref().and_then(|l| l.bridge.as_ref()) {
            bridge.publish(group, data, is_text, exclude);
        }
    }

    /// Spans broadcasts and groups over every server process attached to the same Redis
    /// (`redis://host:port`; "" off, the default). Used by the next [`Server::listen`].
    pub fn set_redis_url(&mut self, url: &str) -> Result<(), Error> {
        self.redis = if url.trim().is_empty() {
            None
        } else {
            Some(redis_bridge::check_url(url.trim())?)
        };
        Ok(())
    }

    /// The start of the Redis channel names (`<prefix>:all`, `<prefix>:group:<name>`);
    /// "websocket_server" by default. Used by the next [`Server::listen`].
    pub fn set_redis_channel_prefix(&mut self, prefix: &str) -> Result<(), Error> {
        if prefix.is_empty() || prefix.contains(['*', '?', '[', ' ']) {
            return Err(Error::InvalidParameter(format!(
                "redis_channel_prefix \"{prefix}\" must not be empty nor contain * ? [ or spaces"
            )));
        }
        self.redis_prefix = prefix.to_string();
        Ok(())
    }

    /// See [`Server::set_redis_channel_prefix`].
    pub fn redis_channel_prefix(&self) -> &str {
        &self.redis_prefix
    }

    fn check_fan_out(&self, data: &[u8], is_text: bool) -> Result<(), Error> {
        if self.listening.is_none() {
            return Err(Error::NotListening);
        }
        if is_text && std::str::from_utf8(data).is_err() {
            return Err(Error::InvalidParameter(
                "text messages must be valid UTF-8; use binary write mode for raw bytes".into(),
            ));
        }
        if data.len() > self.buffers.out_bytes {
            return Err(Error::InvalidParameter(format!(
                "message of {} bytes is larger than the outbound buffer ({} bytes); raise it with set_buffers() or split the message",
                data.len(),
                self.buffers.out_bytes
            )));
        }
        Ok(())
    }

    /// Adds a connected peer to a group (created on first use). A peer leaves its groups
    /// when it disconnects.
    pub fn add_peer_to_group(&self, id: PeerId, group: &str) -> Result<(), Error> {
        let l = self.listening.as_ref().ok_or(Error::NotListening)?;
        if !self.peers.contains_key(&id) {
            return Err(Error::UnknownPeer(id));
        }
        if group.is_empty() {
            return Err(Error::InvalidParameter("a group needs a name".into()));
        }
        l.session.fanout.add_to_group(id, group);
        Ok(())
    }

    /// Removes a peer from a group; an error when it was not in it.
    pub fn remove_peer_from_group(&self, id: PeerId, group: &str) -> Result<(), Error> {
        let l = self.listening.as_ref().ok_or(Error::NotListening)?;
        if l.session.fanout.remove_from_group(id, group) {
            Ok(())
        } else {
            Err(Error::InvalidParameter(format!(
                "peer {id} is not in group \"{group}\""
            )))
        }
    }

    /// The groups a peer is in, sorted.
    pub fn peer_groups(&self, id: PeerId) -> Vec<String> {
        self.listening
            .as_ref()
            .map(|l| l.session.fanout.groups_of(id))
            .unwrap_or_default()
    }

    /// The members of a group (on this server), sorted.
    pub fn group_peers(&self, group: &str) -> Vec<PeerId> {
        self.listening
            .as_ref()
            .map(|l| l.session.fanout.members(group))
            .unwrap_or_default()
    }

    /// Unreliable multiplayer packets are dropped (and counted) for a peer with more than
    /// this many bytes queued; 0 never drops them. Default
    /// [`DEFAULT_UNRELIABLE_THRESHOLD`].
    pub fn set_unreliable_drop_threshold(&mut self, bytes: usize) {
        self.unreliable_threshold
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
        if let Some(l) = &self.listening {
            l.session
                .fanout
                .unreliable_threshold
                .store(bytes, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// See [`Server::set_unreliable_drop_threshold`].
    pub fn unreliable_drop_threshold(&self) -> usize {
        self.unreliable_threshold
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Multiplayer: packets ready to read, from all peers.
    pub fn mp_available_packets(&self) -> usize {
        self.mp_inbox.len()
    }

    /// Multiplayer: the sender of the next packet [`Server::mp_get_packet`] returns.
    pub fn mp_next_packet_peer(&self) -> Option<PeerId> {
        self.mp_inbox.front().map(|(p, _)| p.id)
    }

    /// Multiplayer: takes the oldest packet of any peer.
    pub fn mp_get_packet(&mut self) -> Option<MultiplayerPacket> {
        let (peer, msg) = self.mp_inbox.pop_front()?;
        peer.consumed(msg.data.len());
        Some(MultiplayerPacket {
            from: peer.id,
            data: msg.data,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
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

/// Reads a server's statistics; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StatsSource {
    counters: Arc<Counters>,
    limits: Arc<ConnectionLimits>,
}

impl StatsSource {
    /// The statistics now: peers as the connection tasks count them (a peer whose end
    /// `poll()` has not reported yet is no longer counted).
    pub fn snapshot(&self) -> Stats {
        let mut stats = self.counters.snapshot();
        stats.peers = self.counters.peers();
        stats.handshakes = (self.limits.open() as u64).saturating_sub(stats.peers);
        stats
    }
}

/// An HTTP token (RFC 7230), as a subprotocol name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Binds a listening socket: `"*"` is every interface, IPv6 and IPv4 together where
/// the OS allows it.
fn bind(bind_ip: &str, port: u16) -> Result<std::net::TcpListener, Error> {
    if bind_ip == "*" {
        let any6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
        return match bind_addr(any6, true) {
            Ok(l) => Ok(l),
            Err(Error::Bind { source, .. }) if source.kind() != std::io::ErrorKind::AddrInUse => {
                bind_addr(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), false)
            }
            Err(e) => Err(e),
        };
    }
    let ip: IpAddr = bind_ip
        .trim()
        .parse()
        .map_err(|_| Error::InvalidAddress(bind_ip.to_string()))?;
    bind_addr(SocketAddr::new(ip, port), false)
}

fn bind_addr(addr: SocketAddr, dual_stack: bool) -> Result<std::net::TcpListener, Error> {
    let fail = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if dual_stack {
        socket.set_only_v6(false).map_err(fail)?;
    }
    // Lets listen() succeed again right after stop() while old connections linger in
    // TIME_WAIT. (On Windows this option would allow two listeners: not set there.)
    #[cfg(not(windows))]
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
}
