//! One listening session: from `listen()` to `stop()`. Connection tasks push what
//! happens into its event queue; the caller's thread swaps the queue out in `poll()`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::connection;
use super::fanout::{Fanout, Missed};
use super::gate::{Decision, UpgradeRequest};
use super::handshake::Refusal;
use super::ids::IdGenerator;
use super::ids::PeerId;
use super::limits::{Admission, Buffers, ConnectionLimits, LimitRefusal};
use super::opening;
use super::peer::{Message, PeerShared};
use super::redis_bridge::RedisEvent;
use super::settings::Settings;
use super::stats::{Counters, Refused};

/// What a connection task reports, in the order it happened.
pub(crate) enum RawEvent {
    Connected(Arc<PeerShared>),
    Message(Arc<PeerShared>, Message),
    CloseRequested {
        id: PeerId,
        code: u16,
        reason: String,
    },
    Disconnected(Arc<PeerShared>, bool),
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
pub(crate) struct Session {
    pub protocols: Vec<String>,
    pub buffers: Buffers,
    pub handshake_timeout: Duration,
    pub close_timeout: Duration,
    pub multiplayer: bool,
    pub tls: RwLock<Option<TlsAcceptor>>,
    pub settings: Arc<Settings>,
    pub limits: Arc<ConnectionLimits>,
    pub counters: Arc<Counters>,
    pub fanout: Arc<Fanout>,
    ids: Arc<IdGenerator>,
    events: Mutex<Vec<RawEvent>>,
    ready: Condvar,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        protocols: Vec<String>,
        buffers: Buffers,
        handshake_timeout: Duration,
        close_timeout: Duration,
        multiplayer: bool,
        tls: Option<TlsAcceptor>,
        settings: Arc<Settings>,
        limits: Arc<ConnectionLimits>,
        counters: Arc<Counters>,
        fanout: Arc<Fanout>,
        ids: Arc<IdGenerator>,
    ) -> Self {
        Session {
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
            ids,
            events: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }
    }

    /// Whether the TCP peer's address is the client's (so the per-address limit applies at
    /// once): not when it is a trusted proxy or a PROXY header will name the client.
    pub fn per_ip_at_accept(&self, remote: std::net::SocketAddr) -> bool {
        !self.settings.proxy_protocol()
            && !super::proxies::is_trusted(&self.settings.proxies(), remote.ip())
    }

    /// Why a valid upgrade request is turned away now, if it is.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.settings.draining() {
            return Some(
                Refusal::new(503, "the server is shutting down; connect to another one")
                    .because(Refused::Refusing),
            );
        }
        self.settings.refusing().then(|| {
            Refusal::new(503, "the server refuses new connections").because(Refused::Refusing)
        })
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

/// Accepts every pending connection until the server stops or the runtime shuts down,
/// then drops the listener (freeing the port), tells every connection to close with
/// 1001, and reports that on `done`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    session: Arc<Session>,
    mut shutdown: watch::Receiver<bool>,
    mut going_away: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let (stop_connections, for_connections) = watch::channel(false);
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = stopped(&mut going_away) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => match session.limits.admit(remote.ip(), session.per_ip_at_accept(remote)) {
                    Admission::Admitted(slot) => {
                        tokio::spawn(connection::serve(tcp, remote, session.clone(), for_connections.clone(), slot));
                    }
                    Admission::Refused(why, refusing) => {
                        session.counters.refused(counted(why));
                        tokio::spawn(opening::refuse(tcp, session.clone(), why, refusing));
                    }
                    Admission::Dropped(why) => {
                        session.counters.refused(counted(why));
                        drop(tcp);
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if !is_per_connection_error(&e) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop_connections.send(true);
    session.fanout.close_all(1001);
    let _ = done.send(());
}

/// Resolves once the shutdown signal is set.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn counted(why: LimitRefusal) -> Refused {
    match why {
        LimitRefusal::Total => Refused::Limit,
        LimitRefusal::PerIp => Refused::PerIpLimit,
    }
}

fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}
