//! What a server shares with its connection tasks from one `listen()` to its `stop()`:
//! settings, limits, counters, the fan-out and the live reconnect sessions, and the event
//! queue the tasks push into and the caller's thread swaps out in `poll()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::core::fanout::redis_bridge::RedisEvent;
use crate::core::fanout::{Fanout, Missed};
use crate::core::ids::IdGenerator;
use crate::core::ids::PeerId;
use crate::core::observability::hops;
use crate::core::observability::stats::Counters;
use crate::core::peer::{Message, PeerShared};
use crate::core::policy::gate::{Decision, UpgradeRequest};
use crate::core::policy::limits::{Buffers, ConnectionLimits};
use crate::core::policy::settings::{LiveSettings, Settings, SharedSettings};
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
    /// Connections refused for want of file descriptors since the last report, and the
    /// process's limit of open files.
    OutOfFileDescriptors {
        refused: u64,
        limit: Option<u64>,
    },
}

/// What lives as long as a `Server` object, across its `listen()`s: its settings, its
/// connection counts, its statistics and the peer ids it handed out.
#[derive(Clone)]
pub(crate) struct Lifelong {
    pub settings: Arc<SharedSettings>,
    pub limits: Arc<ConnectionLimits>,
    pub counters: Arc<Counters>,
    pub ids: Arc<IdGenerator>,
}

impl Default for Lifelong {
    fn default() -> Self {
        Lifelong {
            settings: Arc::default(),
            limits: Arc::default(),
            counters: Arc::default(),
            ids: Arc::new(IdGenerator::new()),
        }
    }
}

/// What one `listen()` fixed, and the state its tasks share until `stop()`.
pub(crate) struct ServerShared {
    pub protocols: Vec<String>,
    /// The per-peer buffer limits of this `listen()`.
    pub buffers: Buffers,
    pub multiplayer: bool,
    pub limits: Arc<ConnectionLimits>,
    pub counters: Arc<Counters>,
    pub fanout: Arc<Fanout>,
    /// Live sessions (`reconnect_grace_period`), by secret.
    pub sessions: Registry,
    settings: Arc<SharedSettings>,
    ids: Arc<IdGenerator>,
    /// A graceful stop is under way: new upgrades get 503.
    draining: AtomicBool,
    events: Mutex<Vec<RawEvent>>,
    ready: Condvar,
}

impl ServerShared {
    pub fn new(
        protocols: Vec<String>,
        multiplayer: bool,
        fanout: Arc<Fanout>,
        lifelong: &Lifelong,
    ) -> Self {
        ServerShared {
            protocols,
            buffers: lifelong.settings.current().listen.buffers,
            multiplayer,
            limits: lifelong.limits.clone(),
            counters: lifelong.counters.clone(),
            fanout,
            sessions: Registry::default(),
            settings: lifelong.settings.clone(),
            ids: lifelong.ids.clone(),
            draining: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }
    }

    /// The settings now (a snapshot: a connection reads it once as it opens).
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.current()
    }

    /// A graceful stop began: upgrades from now on get 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether a graceful stop is under way.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether the TCP peer's address is the client's (so the per-address limit applies at
    /// once): not when it is a trusted proxy or a PROXY header will name the client.
    pub fn per_ip_at_accept(&self, live: &LiveSettings, remote: std::net::SocketAddr) -> bool {
        !live.proxy_protocol
            && !crate::core::policy::proxies::is_trusted(live.trusted_proxies.ranges(), remote.ip())
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
        if hops::enabled() {
            for event in events.iter_mut() {
                if let RawEvent::Message(_, m) = event {
                    m.hops.pushed_now();
                }
            }
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
