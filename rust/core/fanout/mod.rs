//! Fan-out: one message to many peers (broadcasts, groups, multiplayer broadcasts). The
//! caller's thread copies the payload once and queues one job, whatever the number of
//! recipients; a task on the runtime does the per-peer work and reports the peers that
//! could not take it. An idle plain connection gets the frame written straight to its
//! socket ([`crate::core::socket::direct`]); a busy one, or a TLS one, gets a shared reference to the
//! payload queued behind its other messages.
//!
//! Order with single sends is kept: a send from the caller's thread goes through the same
//! queue, and its task writes a message for an idle plain connection itself (no
//! connection task woken), else hands it to the connection's task. The caller's thread
//! never writes to a socket.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc;

pub(crate) mod redis_bridge;
mod task;

pub(crate) use task::{FanoutQueue, run};

use crate::core::compression::{Deflated, deflate};
use crate::core::error::SendError;
use crate::core::ids::{IdMap, IdSet, PeerId};
use crate::core::peer::{Command, Outgoing, Peer, PeerShared, SendQueue};
use crate::core::policy::settings::SharedSettings;
use crate::core::session::wire;

/// Who a job goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipients {
    /// Every open peer.
    All,
    /// The members of a group.
    Group(String),
}

/// One message for many peers.
pub(crate) struct Job {
    pub data: Bytes,
    pub is_text: bool,
    pub to: Recipients,
    /// Peers left out (e.g. the sender).
    pub exclude: Vec<PeerId>,
    /// Unreliable packets are dropped for congested peers instead of queued.
    pub unreliable: bool,
}

pub(crate) enum Work {
    /// A fan-out.
    Many(Job),
    /// A send to one peer (its limits already checked).
    One(Arc<PeerShared>, Bytes, bool),
    /// A command that must follow the sends before it (a close).
    Command(Arc<PeerShared>, Command),
}

/// The peers that did not get a fan-out message, as reported to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The group it was sent to (`None` for every peer).
    pub group: Option<String>,
    /// The peers whose outbound buffer could not take it.
    pub peers: Vec<PeerId>,
}

/// The open peers and the groups of one server, and its fan-out queue.
pub(crate) struct Fanout {
    peers: RwLock<IdMap<Arc<PeerShared>>>,
    groups: RwLock<HashMap<String, IdSet>>,
    /// Jobs queued and not yet dispatched.
    pub(crate) pending: AtomicUsize,
    /// The thresholds (`compression_threshold`, `unreliable_drop_threshold`) apply at once.
    settings: Arc<SharedSettings>,
    work: mpsc::UnboundedSender<Work>,
}

impl Fanout {
    /// A fan-out and the receiving end for [`run`].
    pub fn new(settings: Arc<SharedSettings>) -> (Arc<Self>, FanoutQueue) {
        let (work, rx) = mpsc::unbounded_channel();
        let fanout = Arc::new(Fanout {
            peers: RwLock::new(IdMap::default()),
            groups: RwLock::new(HashMap::new()),
            pending: AtomicUsize::new(0),
            settings,
            work,
        });
        (fanout, FanoutQueue::new(rx))
    }

    /// A peer opened (called by its connection task before it is reported).
    pub fn joined(&self, peer: &Arc<PeerShared>) {
        self.peers.write().insert(peer.id(), peer.clone());
    }

    /// A peer's connection ended: it leaves every group; the groups it was in, sorted.
    /// Both locks are held together (peers, then groups, as everywhere), so that
    /// [`Fanout::add_to_group`] either comes before and is undone here, or comes after and
    /// finds the peer gone.
    pub fn left(&self, id: PeerId) -> Vec<String> {
        let mut peers = self.peers.write();
        peers.remove(&id);
        let mut was_in = Vec::new();
        let mut groups = self.groups.write();
        groups.retain(|name, members| {
            if members.remove(&id) {
                was_in.push(name.clone());
            }
            !members.is_empty()
        });
        was_in.sort();
        was_in
    }

    /// Queues a fan-out. Cost on the caller's thread: one queue push.
    pub fn push(&self, job: Job) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if self.work.send(Work::Many(job)).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Closes every open peer with `code` (the server is stopping).
    pub fn close_all(&self, code: u16) {
        let peers: Vec<Arc<PeerShared>> = self.peers.read().values().cloned().collect();
        for peer in peers {
            let _ = Peer(peer).close(code, "");
        }
    }

    /// Adds an open peer to a group. Nothing when its connection has already ended, though
    /// the caller may not have polled its `Disconnected` yet: a peer that left is in no
    /// group.
    pub fn add_to_group(&self, id: PeerId, group: &str) {
        let peers = self.peers.read();
        if peers.contains_key(&id) {
            self.groups
                .write()
                .entry(group.to_string())
                .or_default()
                .insert(id);
        }
    }

    /// False when the peer was not in the group.
    pub fn remove_from_group(&self, id: PeerId, group: &str) -> bool {
        let mut groups = self.groups.write();
        let Some(members) = groups.get_mut(group) else {
            return false;
        };
        let was = members.remove(&id);
        if members.is_empty() {
            groups.remove(group);
        }
        was
    }

    /// The groups a peer is in, sorted.
    pub fn groups_of(&self, id: PeerId) -> Vec<String> {
        let mut list: Vec<String> = self
            .groups
            .read()
            .iter()
            .filter(|(_, m)| m.contains(&id))
            .map(|(g, _)| g.clone())
            .collect();
        list.sort();
        list
    }

    /// The members of a group, sorted.
    pub fn members(&self, group: &str) -> Vec<PeerId> {
        let mut list: Vec<PeerId> = self
            .groups
            .read()
            .get(group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        list.sort_unstable();
        list
    }

    /// Whether any local peer is in the group.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.read().contains_key(group)
    }

    /// Sends one job to its recipients; the peers that could not take it. The recipients
    /// are taken under the locks, then written to without them (direct writes make a
    /// system call per peer, and peers joining or leaving must not wait for that).
    pub fn dispatch(&self, job: &Job) -> Vec<PeerId> {
        let recipients: Vec<Arc<PeerShared>> = {
            let peers = self.peers.read();
            let wanted = |peer: &&Arc<PeerShared>| !job.exclude.contains(&peer.id());
            match &job.to {
                Recipients::All => peers.values().filter(wanted).cloned().collect(),
                Recipients::Group(group) => {
                    let groups = self.groups.read();
                    groups
                        .get(group)
                        .into_iter()
                        .flatten()
                        .filter_map(|id| peers.get(id))
                        .filter(wanted)
                        .cloned()
                        .collect()
                }
            }
        };
        let mut missed = Vec::new();
        // Sessions escape a message that begins with a zero byte: one copy for them all.
        // Each form is compressed once, for every peer that agreed on its window.
        let escaped = std::cell::OnceCell::new();
        let (deflated, deflated_escaped) = (Deflated::default(), Deflated::default());
        let settings = self.settings.current();
        let thresholds = &settings.live;
        for peer in &recipients {
            if job.unreliable && congested(peer, thresholds.unreliable_drop_threshold) {
                peer.traffic().dropped();
                continue;
            }
            let (data, shared) = match wire::escape_needed(peer.session().is_some(), &job.data) {
                true => (
                    escaped
                        .get_or_init(|| peer.on_wire(job.data.clone()))
                        .clone(),
                    &deflated_escaped,
                ),
                false => (job.data.clone(), &deflated),
            };
            let threshold = thresholds.compression_threshold;
            let message = message(peer, data, job.is_text, Some(shared), threshold);
            match peer.send_now(message) {
                Ok(()) | Err(SendError::Closed) => {}
                Err(_) => missed.push(peer.id()),
            }
        }
        missed.sort_unstable();
        missed
    }

    /// A message for `peer`, compressed when its connection agreed to it and the message
    /// reaches `compression_threshold`.
    pub fn outgoing(&self, peer: &PeerShared, data: Bytes, is_text: bool) -> Outgoing {
        // The settings are read only for a peer that agreed to compression: most sends
        // skip them.
        if peer.deflate_window().is_none() {
            return Outgoing::plain(data, is_text);
        }
        let threshold = self.settings.current().live.compression_threshold;
        message(peer, data, is_text, None, threshold)
    }

    /// Whether an unreliable packet for this peer is dropped now.
    pub fn congested(&self, peer: &PeerShared) -> bool {
        let threshold = self.settings.current().live.unreliable_drop_threshold;
        congested(peer, threshold)
    }
}

/// A message for `peer`, compressed when its connection agreed to it and the message has
/// at least `threshold` bytes; `shared` keeps a fan-out's compressed forms.
fn message(
    peer: &PeerShared,
    data: Bytes,
    is_text: bool,
    shared: Option<&Deflated>,
    threshold: usize,
) -> Outgoing {
    let deflated = match peer.deflate_window() {
        Some(window) if data.len() >= threshold => match shared {
            Some(shared) => shared.get(&data, window),
            None => deflate(&data, window),
        },
        _ => None,
    };
    Outgoing {
        data,
        is_text,
        deflated,
    }
}

/// Whether an unreliable packet is dropped for a peer with this `threshold` (0: never).
fn congested(peer: &PeerShared, threshold: usize) -> bool {
    threshold > 0 && peer.queued_bytes() > threshold
}

impl SendQueue for Fanout {
    /// Queues a send to one peer (its limits already checked), in order with fan-outs.
    fn push_one(&self, peer: Arc<PeerShared>, data: Bytes, is_text: bool) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError(Work::One(peer, data, is_text))) =
            self.work.send(Work::One(peer, data, is_text))
        {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            peer.push(Outgoing::plain(data, is_text));
        }
    }

    /// Queues a command for a peer's connection task behind the sends before it.
    fn push_command(&self, peer: Arc<PeerShared>, command: Command) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError(Work::Command(peer, command))) =
            self.work.send(Work::Command(peer, command))
        {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            let _ = peer.command(command);
        }
    }
}
