//! The server as the caller's thread sees it: listen, poll, peers, stop.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::core::error::Error;
use crate::core::fanout::redis_bridge::{Bridge, RedisEvent};
use crate::core::fanout::{self, Fanout, Missed};
use crate::core::ids::{IdMap, PeerId};
use crate::core::peer::{Message, Peer, PeerShared};
use crate::core::policy::gate::{Decision, UpgradeRequest};
use crate::core::policy::settings::Settings;
use crate::core::runtime;
use crate::core::server_shared::{self, Departure, Lifelong, RawEvent, ServerShared};

mod descriptors;
mod groups;
mod listener;
mod multiplayer;
mod observability;
mod poll;
mod reconnection;
mod upgrades;

pub use multiplayer::MultiplayerPacket;
use poll::Drain;

/// What `poll()` reports, per peer in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client finished the upgrade (in multiplayer mode: and was sent its id).
    Connected {
        /// The new peer.
        id: PeerId,
        /// The subprotocol agreed ("" for none).
        protocol: String,
    },
    /// A message arrived; read it with [`Peer::recv`]. Not reported in multiplayer mode.
    Message {
        /// The peer it came from.
        id: PeerId,
    },
    /// The client sent a close frame with this code and reason.
    CloseRequested {
        /// The peer.
        id: PeerId,
        /// The close code (1005 when the frame had none).
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The connection is gone; clean when both close frames were exchanged.
    Disconnected {
        /// The peer.
        id: PeerId,
        /// Whether both close frames were exchanged.
        was_clean: bool,
    },
    /// A session's connection broke (`reconnect_grace_period`): the peer stays, with its
    /// id, groups and queued messages, while its client may come back.
    Away {
        /// The peer.
        id: PeerId,
    },
    /// A session's client came back: the same peer again, nothing lost either way.
    Back {
        /// The peer.
        id: PeerId,
    },
    /// An upgrade request waits for [`Server::accept_upgrade`] or
    /// [`Server::refuse_upgrade`] (only with `approve_upgrades` in [`Settings::live`]).
    UpgradeRequested(UpgradeRequest),
    /// An upgrade request the game was asked about did not become a peer (refused, not
    /// decided in time, or the client left). A `Connected` with the same id follows
    /// otherwise.
    UpgradeEnded {
        /// The request's id.
        id: PeerId,
    },
    /// A graceful stop ([`Server::stop_gracefully`]) is complete: every peer got 1001 and
    /// its `Disconnected`; the server is stopped.
    Drained,
    /// Peers whose outbound buffer could not take a broadcast (everyone else got it).
    BroadcastMissed(Missed),
    /// News of the Redis bridge (`redis_url`).
    Redis(RedisEvent),
    /// The process ran out of file descriptors: new clients are refused until some
    /// leave (reported at most every 10 s while it lasts).
    OutOfFileDescriptors {
        /// Connections refused for it since the last report.
        refused: u64,
        /// The process's limit of open files (`ulimit -n`), when it can be read.
        limit: Option<u64>,
    },
}

struct Listening {
    shared: Arc<ServerShared>,
    /// Broadcasts and groups across processes, when `redis_url` is set.
    bridge: Option<Bridge>,
    shutdown: watch::Sender<bool>,
    accept_done: std::sync::mpsc::Receiver<()>,
    local_addr: SocketAddr,
}

/// A WebSocket server. Every method is non-blocking except [`Server::wait`].
pub struct Server {
    /// Settings, connection counts, statistics and ids: kept across `stop()` and `listen()`.
    lifelong: Lifelong,
    multiplayer: bool,
    listening: Option<Listening>,
    peers: IdMap<Peer>,
    /// Peers whose `Disconnected` was in the last batch, with the groups they were in:
    /// still readable with [`Server::peer`] and [`Server::peer_groups`] until the next
    /// poll, so that a batch can be handled in order.
    departed: IdMap<(Peer, Vec<String>)>,
    mp_inbox: VecDeque<(Arc<PeerShared>, Message)>,
    /// Upgrade requests waiting for the game's decision, with what the client offered.
    pending: IdMap<(oneshot::Sender<Decision>, Vec<String>)>,
    /// Recently decided requests, to tell "decided twice" from "unknown".
    decided: VecDeque<PeerId>,
    drain: Option<Drain>,
    held_disconnects: Vec<Departure>,
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
            lifelong: Lifelong::default(),
            multiplayer: false,
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

    /// The settings now: a snapshot, unchanged by later [`Server::configure`] calls.
    pub fn settings(&self) -> Arc<Settings> {
        self.lifelong.settings.current()
    }

    /// Changes settings: `change` edits a copy of the current ones, which is checked as a
    /// whole and put in place, or refused with nothing changed. Each group applies as
    /// its name says: [`Settings::listen`] at the next `listen()`,
    /// [`Settings::connections`] to connections that open from now on, [`Settings::live`]
    /// at once. The buffers may only change while stopped ([`Error::Busy`]).
    pub fn configure(&mut self, change: impl FnOnce(&mut Settings)) -> Result<(), Error> {
        let now = self.settings();
        let mut next = Settings::clone(&now);
        change(&mut next);
        next.check()?;
        if self.listening.is_some() && next.listen.buffers != now.listen.buffers {
            return Err(Error::Busy(
                "set_buffers() must be called before listen(), or after stop()".into(),
            ));
        }
        self.lifelong.settings.replace(next);
        Ok(())
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
        let settings = self.settings();
        let std_listener = listener::bind(&settings.listen.bind_ip, port)?;
        let local_addr = std_listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            source,
        })?;
        let (fanout, fanout_queue) = Fanout::new(self.lifelong.settings.clone());
        let shared = Arc::new(ServerShared::new(
            protocols.to_vec(),
            multiplayer,
            fanout.clone(),
            &self.lifelong,
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
            let shared = shared.clone();
            let stopped = server_shared::ended(shutdown_rx.clone(), going_away.clone());
            let report = move |missed| shared.push(RawEvent::Missed(missed));
            handle.spawn(fanout::run(fanout.clone(), fanout_queue, stopped, report));
        }
        let redis = settings.listen.redis_client()?;
        let bridge = redis.map(|client| {
            let _entered = handle.enter();
            let report_to = shared.clone();
            Bridge::start(
                client,
                settings.listen.redis_channel_prefix.clone(),
                fanout.clone(),
                server_shared::ended(shutdown_rx.clone(), going_away.clone()),
                move |event| report_to.push(RawEvent::Redis(event)),
            )
        });
        handle.spawn(listener::accept_loop(
            listener,
            shared.clone(),
            shutdown_rx,
            going_away,
            done_tx,
        ));
        self.multiplayer = multiplayer;
        self.listening = Some(Listening {
            shared,
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
    /// are reported for this `listen()`; peer handles stay readable.
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
        self.held_disconnects.clear();
        self.multiplayer = false;
    }

    /// Blocks the calling thread until something happened or `timeout` passed; for
    /// programs that have no frame loop of their own (tests, examples).
    pub fn wait(&self, timeout: Duration) -> bool {
        match &self.listening {
            Some(l) => l.shared.wait(timeout),
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
        self.peers
            .get(&id)
            .or_else(|| self.departed.get(&id).map(|(peer, _)| peer))
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
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP token (RFC 7230), as a subprotocol name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}
