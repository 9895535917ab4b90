//! What a server shares with its connection tasks from one `listen()` to its `stop()`:
//! settings, limits, counters, the fan-out and the live reconnect sessions, and the event
//! queue the tasks push into and the caller's thread swaps out in `poll()`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::watch;
use tokio_rustls::rustls::ServerConfig;

use crate::core::fanout::redis_bridge::RedisEvent;
use crate::core::fanout::{Fanout, Missed};
use crate::core::ids::IdGenerator;
use crate::core::ids::PeerId;
use crate::core::observability::stats::Counters;
use crate::core::peer::{Message, PeerShared};
use crate::core::policy::gate::{Decision, UpgradeRequest};
use crate::core::policy::limits::{Buffers, ConnectionLimits};
use crate::core::policy::settings::Settings;
use crate::core::session::Registry;

/// A peer whose connection ended, as its task reports it.
pub(crate) struct Departure {
    pub peer: Arc<PeerShared>,
    /// Both close frames were exchanged.
    pub clean: bool,
    /// The groups it was in when it left, sorted (it is in none any more).
    pub groups: Vec<String>,
}

/// What a connection task reports, in the order it happened.
pub(crate) enum RawEvent {
    Connected(Arc<PeerShared>),
    Message(Arc<PeerShared>, Message),
    CloseRequested {
        id: PeerId,
        code: u16,
        reason: String,
    },
    Disconnected(Departure),
    /// A session's connection broke: the peer waits for its client to come back.
    Away(Arc<PeerShared>),
    /// A session's client came back.
    Back(Arc<PeerShared>),
    /// An upgrade waits for the game's decision, to be sent through the channel.
    UpgradeRequested(UpgradeRequest, tokio::sync::oneshot::Sender<Decision>),
    /// An upgrade the game was asked about did not become a peer.
    UpgradeEnded(PeerId),
    /// Peers that did not get a broadcast.
    Missed(Missed),
    /// News of the Redis bridge.
    Redis(RedisEvent),
}

/// Settings fixed for a session, and its shared state.
pub(crate) struct ServerShared {
    pub protocols: Vec<String>,
    pub buffers: Buffers,
    pub handshake_timeout: Duration,
    pub close_timeout: Duration,
    pub multiplayer: bool,
    pub tls: RwLock<Option<Arc<ServerConfig>>>,
    pub settings: Arc<Settings>,
    pub limits: Arc<ConnectionLimits>,
    pub counters: Arc<Counters>,
    pub fanout: Arc<Fanout>,
    /// Live sessions (`reconnect_grace_period`), by secret.
    pub sessions: Registry,
    ids: Arc<IdGenerator>,
    events: Mutex<Vec<RawEvent>>,
    ready: Condvar,
}

impl ServerShared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        protocols: Vec<String>,
        buffers: Buffers,
        handshake_timeout: Duration,
        close_timeout: Duration,
        multiplayer: bool,
        tls: Option<Arc<ServerConfig>>,
        settings: Arc<Settings>,
        limits: Arc<ConnectionLimits>,
        counters: Arc<Counters>,
        fanout: Arc<Fanout>,
        ids: Arc<IdGenerator>,
    ) -> Self {
        ServerShared {
            protocols,
            buffers,
            handshake_timeout,
            close_timeout,
            multiplayer,
            tls: RwLock::new(tls),
            settings,
            limits,
            counters,
            fanout,
            sessions: Registry::default(),
            ids,
            events: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }
    }

    /// Whether the TCP peer's address is the client's (so the per-address limit applies at
    /// once): not when it is a trusted proxy or a PROXY header will name the client.
    pub fn per_ip_at_accept(&self, remote: std::net::SocketAddr) -> bool {
        !self.settings.proxy_protocol()
            && !crate::core::policy::proxies::is_trusted(&self.settings.proxies(), remote.ip())
    }

    /// A new peer id: never handed out before by this server.
    pub fn next_id(&self) -> PeerId {
        self.ids.next()
    }

    pub fn push(&self, event: RawEvent) {
        self.events.lock().push(event);
        self.ready.notify_one();
    }

    /// Queues several events at once (leaving `events` empty).
    pub fn push_all(&self, events: &mut Vec<RawEvent>) {
        if events.is_empty() {
            return;
        }
        self.events.lock().append(events);
        self.ready.notify_one();
    }

    /// Swaps the queued events into `into` (which must be empty).
    pub fn take(&self, into: &mut Vec<RawEvent>) {
        std::mem::swap(&mut *self.events.lock(), into);
    }

    /// Blocks until an event is queued or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut events = self.events.lock();
        if events.is_empty() {
            self.ready.wait_for(&mut events, timeout);
        }
        !events.is_empty()
    }
}

/// Resolves once the shutdown signal is set.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Resolves once the server stops (`stop`) or the runtime shuts down (`away`).
pub(crate) async fn ended(mut stop: watch::Receiver<bool>, mut away: watch::Receiver<bool>) {
    tokio::select! {
        _ = stopped(&mut stop) => {},
        _ = stopped(&mut away) => {},
    }
}
