//! The state one peer shares between the caller's thread and its connection task:
//! counters of what is unread and queued, the close information, round-trip times.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::Command;
use super::commands::{CommandQueue, Outgoing};
use super::{Message, ReadyState};
use crate::core::compression::Agreed;
use crate::core::error::SendError;
use crate::core::ids::PeerId;
use crate::core::observability::hops;
use crate::core::observability::stats::{Counters, Traffic};
use crate::core::policy::limits::Buffers;
use crate::core::request::{Headers, RequestInfo};
use crate::core::session::{Session, wire};
use crate::core::socket::direct::{Direct, DirectWriter};

/// No round-trip time measured yet.
const NO_RTT: u64 = u64::MAX;

/// The state shared between the caller's thread and a connection task, in parts by who
/// uses what; every part is reached through the methods below.
pub(crate) struct PeerShared {
    opening: Opening,
    inbound: Inbound,
    outbound: Outbound,
    life: Life,
    /// Messages and bytes each way.
    traffic: Traffic,
    /// The session a client asked for (`reconnect_grace_period`), `None` for a plain peer.
    session: Option<Arc<Session>>,
}

/// What the upgrade settled, for the connection's life.
struct Opening {
    id: PeerId,
    protocol: String,
    path: String,
    headers: Headers,
    secure: bool,
    limits: Buffers,
    /// When the upgrade completed.
    opened: Instant,
}

/// Messages received and not yet read by the caller (in the event queue or the inbox):
/// the reader waits while they fill the inbound limit.
struct Inbound {
    unread_packets: AtomicUsize,
    unread_bytes: AtomicUsize,
    /// Set by the reader when it waits for the caller to read.
    reader_paused: AtomicBool,
    /// Wakes a paused reader.
    resume: Notify,
    /// Messages handed over by `poll()`, in order.
    inbox: Mutex<VecDeque<Message>>,
}

/// Messages on their way out: the connection task's commands, the direct writes, and
/// what is queued and not yet written to the socket.
struct Outbound {
    commands: CommandQueue,
    /// The socket's shared write half (plain connections), for writes without the task.
    direct: Option<Arc<DirectWriter>>,
    queued_packets: AtomicUsize,
    queued_bytes: AtomicUsize,
    /// The server's send queue, shared with its broadcasts.
    queue: Arc<dyn SendQueue>,
    /// The server compressor's window agreed by permessage-deflate (0: not agreed).
    deflate_window: AtomicU8,
}

/// The connection's life: its state, its close, and signs that it is alive.
struct Life {
    state: AtomicU8,
    /// The client's address (the latest connection's, for a session that came back).
    remote: Mutex<SocketAddr>,
    /// The close code and reason received from the client, or sent by us.
    close_info: Mutex<Option<(u16, String)>>,
    /// Started a close: the connection task arms its close timeout.
    close_started: Notify,
    /// Drop the connection at once.
    kill: Notify,
    /// When the last frame of any kind arrived, in nanoseconds since `opened`.
    last_received: AtomicU64,
    /// Round-trip times from the heartbeat's pings, in nanoseconds (NO_RTT until measured).
    rtt_last: AtomicU64,
    rtt_smoothed: AtomicU64,
}

/// What a peer takes from its server: limits, counters, send queue.
pub(crate) struct ServerParts {
    pub limits: Buffers,
    /// The peer's session, if the client asked for one.
    pub session: Option<Arc<Session>>,
    pub counters: Arc<Counters>,
    pub queue: Arc<dyn SendQueue>,
}

/// Where a peer's sends and its close go: the server's one send queue (the fan-out), so
/// that they keep their order with the broadcasts before and after them.
pub(crate) trait SendQueue: Send + Sync {
    /// Queues a send to `peer` whose limits are already checked.
    fn push_one(&self, peer: Arc<PeerShared>, data: Bytes, is_text: bool);
    /// Queues a command for `peer`'s connection task behind the sends before it.
    fn push_command(&self, peer: Arc<PeerShared>, command: Command);
}

impl PeerShared {
    pub fn new(
        id: PeerId,
        remote: SocketAddr,
        request: RequestInfo,
        secure: bool,
        direct: Option<Arc<DirectWriter>>,
        server: ServerParts,
    ) -> Self {
        let ServerParts {
            limits,
            session,
            counters,
            queue,
        } = server;
        let RequestInfo {
            path,
            headers,
            protocol,
        } = request;
        PeerShared {
            opening: Opening {
                id,
                protocol,
                path,
                headers: Headers::from(&headers[..]),
                secure,
                limits,
                opened: Instant::now(),
            },
            inbound: Inbound {
                unread_packets: AtomicUsize::new(0),
                unread_bytes: AtomicUsize::new(0),
                reader_paused: AtomicBool::new(false),
                resume: Notify::new(),
                inbox: Mutex::new(VecDeque::new()),
            },
            outbound: Outbound {
                commands: CommandQueue::default(),
                direct,
                queued_packets: AtomicUsize::new(0),
                queued_bytes: AtomicUsize::new(0),
                queue,
                deflate_window: AtomicU8::new(0),
            },
            life: Life {
                state: AtomicU8::new(ReadyState::Open as u8),
                remote: Mutex::new(remote),
                close_info: Mutex::new(None),
                close_started: Notify::new(),
                kill: Notify::new(),
                last_received: AtomicU64::new(0),
                rtt_last: AtomicU64::new(NO_RTT),
                rtt_smoothed: AtomicU64::new(NO_RTT),
            },
            traffic: Traffic::new(counters),
            session,
        }
    }

    /// The client's address.
    pub fn remote(&self) -> SocketAddr {
        *self.life.remote.lock()
    }

    /// A session's client came back from `remote`.
    pub fn set_remote(&self, remote: SocketAddr) {
        *self.life.remote.lock() = remote;
    }

    /// Whether this peer's session is away (its connection broke, the client may return).
    pub fn is_away(&self) -> bool {
        self.session.as_ref().is_some_and(|r| r.is_away())
    }

    /// A game message as it goes on this peer's wire: escaped for a session when it
    /// begins with a zero byte ([`crate::core::session::wire`]).
    pub fn on_wire(&self, data: Bytes) -> Bytes {
        match &self.session {
            Some(_) => wire::escape(&data).unwrap_or(data),
            None => data,
        }
    }

    /// What permessage-deflate its connection agreed (a session's may change when it
    /// comes back).
    pub fn set_deflate(&self, agreed: Option<Agreed>) {
        let window = agreed.map_or(0, |a| a.server_window);
        self.outbound
            .deflate_window
            .store(window, Ordering::Release);
    }

    /// The compressor window agreed with this peer's client, if it agreed to compression.
    pub fn deflate_window(&self) -> Option<u8> {
        match self.outbound.deflate_window.load(Ordering::Acquire) {
            0 => None,
            window => Some(window),
        }
    }

    /// Records that a frame arrived now.
    pub fn touch(&self) {
        let since = self.opening.opened.elapsed().as_nanos() as u64;
        self.life.last_received.store(since, Ordering::Relaxed);
    }

    /// When the last frame arrived (the upgrade, if none since).
    pub fn last_received(&self) -> Instant {
        self.opening.opened + Duration::from_nanos(self.life.last_received.load(Ordering::Relaxed))
    }

    /// Records a round-trip time; the smoothed value follows RFC 6298 (7/8 old, 1/8 new).
    pub fn record_round_trip(&self, rtt: Duration) {
        let ns = rtt.as_nanos().min(u128::from(NO_RTT - 1)) as u64;
        self.life.rtt_last.store(ns, Ordering::Relaxed);
        let old = self.life.rtt_smoothed.load(Ordering::Relaxed);
        let smoothed = if old == NO_RTT {
            ns
        } else {
            old - old / 8 + ns / 8
        };
        self.life.rtt_smoothed.store(smoothed, Ordering::Relaxed);
    }

    /// The last (or the smoothed) round-trip time, `None` until a ping was answered.
    pub fn round_trip(&self, smoothed: bool) -> Option<Duration> {
        let rtt = if smoothed {
            &self.life.rtt_smoothed
        } else {
            &self.life.rtt_last
        };
        let ns = rtt.load(Ordering::Relaxed);
        (ns != NO_RTT).then(|| Duration::from_nanos(ns))
    }

    pub fn state(&self) -> ReadyState {
        ReadyState::from_u8(self.life.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: ReadyState) {
        self.life.state.store(s as u8, Ordering::Release);
    }

    /// Moves Open to Closing; false if it was not open.
    pub fn begin_closing(&self) -> bool {
        self.life
            .state
            .compare_exchange(
                ReadyState::Open as u8,
                ReadyState::Closing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Whether the reader must wait for the caller to read before reading more.
    pub fn inbound_full(&self) -> bool {
        self.inbound.unread_packets.load(Ordering::Acquire) >= self.opening.limits.in_packets
            || self.inbound.unread_bytes.load(Ordering::Acquire) >= self.opening.limits.in_bytes
    }

    /// Accounts a message the caller has taken; wakes the reader if it waits.
    pub fn consumed(&self, len: usize) {
        self.inbound.unread_packets.fetch_sub(1, Ordering::AcqRel);
        self.inbound.unread_bytes.fetch_sub(len, Ordering::AcqRel);
        if self.inbound.reader_paused.load(Ordering::Acquire) {
            self.inbound.resume.notify_one();
        }
    }

    /// Checks the limits for a message of `len` bytes and counts it as queued; on error
    /// nothing is counted.
    pub fn reserve(&self, len: usize) -> Result<(), SendError> {
        if self.state() != ReadyState::Open {
            return Err(SendError::Closed);
        }
        if len > self.opening.limits.out_bytes {
            return Err(SendError::TooLarge {
                len,
                limit: self.opening.limits.out_bytes,
            });
        }
        let bytes_before = self.outbound.queued_bytes.fetch_add(len, Ordering::AcqRel);
        let packets_before = self.outbound.queued_packets.fetch_add(1, Ordering::AcqRel);
        if bytes_before + len > self.opening.limits.out_bytes
            || packets_before + 1 > self.opening.limits.out_packets
        {
            self.sent(1, len);
            return Err(SendError::BufferFull {
                queued_bytes: bytes_before,
                queued_packets: packets_before,
            });
        }
        Ok(())
    }

    /// Hands a message counted by [`PeerShared::reserve`] to the connection task; false
    /// when the connection is gone.
    pub fn push(&self, message: Outgoing) -> bool {
        let len = message.data.len();
        if self.outbound.commands.send(Command::Send(message)).is_err() {
            self.sent(1, len);
            return false;
        }
        true
    }

    /// Writes a message straight to the socket when nothing else of this peer is queued
    /// and the socket takes it now (plain connections); false: queue it instead.
    /// `reserved`: the message itself was counted by [`PeerShared::reserve`].
    pub fn write_direct(&self, message: &Outgoing, reserved: bool) -> bool {
        let Some(direct) = &self.outbound.direct else {
            return false;
        };
        let len = message.data.len();
        if len > self.opening.limits.out_bytes {
            return false; // refused by reserve(), with the reason
        }
        let own = usize::from(reserved);
        let idle = || {
            self.outbound.queued_packets.load(Ordering::Acquire) == own
                && self.state() == ReadyState::Open
        };
        if !idle() {
            return false;
        }
        let (payload, compressed) = message.wire();
        match direct.try_send(payload, message.is_text, compressed, idle) {
            Direct::NotNow => return false,
            Direct::Written => {}
            // The connection task writes the rest before anything else.
            Direct::Partly => {
                let _ = self.outbound.commands.send(Command::Flush);
            }
        }
        if reserved {
            self.sent(1, len);
        }
        self.traffic.sent(1, len);
        hops::written(self.id(), 1);
        true
    }

    /// Writes directly if it can, else [`PeerShared::reserve`] then [`PeerShared::push`]
    /// (text already checked as UTF-8).
    pub fn send_now(&self, message: Outgoing) -> Result<(), SendError> {
        if self.write_direct(&message, false) {
            return Ok(());
        }
        self.reserve(message.data.len())?;
        if self.push(message) {
            Ok(())
        } else {
            Err(SendError::Closed)
        }
    }

    /// Accounts bytes the writer has handed to the socket.
    pub fn sent(&self, packets: usize, bytes: usize) {
        self.outbound
            .queued_packets
            .fetch_sub(packets, Ordering::AcqRel);
        self.outbound
            .queued_bytes
            .fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.opening.id
    }

    /// The subprotocol agreed at the upgrade ("" when none).
    pub fn protocol(&self) -> &str {
        &self.opening.protocol
    }

    /// The request's path, as the game sees it.
    pub fn path(&self) -> &str {
        &self.opening.path
    }

    /// The upgrade request's headers.
    pub fn headers(&self) -> &Headers {
        &self.opening.headers
    }

    /// Whether the connection is TLS (wss).
    pub fn is_secure(&self) -> bool {
        self.opening.secure
    }

    /// The peer's buffer limits.
    pub fn limits(&self) -> &Buffers {
        &self.opening.limits
    }

    /// When the upgrade completed.
    pub fn opened(&self) -> Instant {
        self.opening.opened
    }

    /// Messages and bytes each way.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// The peer's session, when its client asked for one.
    pub fn session(&self) -> Option<&Arc<Session>> {
        self.session.as_ref()
    }

    /// Counts a message the reader received, until the caller reads it.
    pub fn received(&self, len: usize) {
        self.inbound.unread_packets.fetch_add(1, Ordering::AcqRel);
        self.inbound.unread_bytes.fetch_add(len, Ordering::AcqRel);
    }

    /// Whether received messages wait for the caller.
    pub fn has_unread(&self) -> bool {
        self.inbound.unread_packets.load(Ordering::Acquire) > 0
    }

    /// Bytes received and not yet read by the caller.
    pub fn unread_bytes(&self) -> usize {
        self.inbound.unread_bytes.load(Ordering::Acquire)
    }

    /// Hands a message to the caller's side (`poll()`).
    pub fn deliver(&self, message: Message) {
        self.inbound.inbox.lock().push_back(message);
    }

    /// Messages delivered and not yet taken.
    pub fn inbox_len(&self) -> usize {
        self.inbound.inbox.lock().len()
    }

    /// Takes the oldest delivered message (and wakes the reader if it waits for room).
    pub fn take(&self) -> Option<Message> {
        let message = self.inbound.inbox.lock().pop_front()?;
        self.consumed(message.data.len());
        hops::got(self.id(), message.hops);
        Some(message)
    }

    /// The reader waits while the caller has the inbound limit unread (or the peer is
    /// no longer open).
    pub async fn wait_for_room(&self) {
        while self.state() == ReadyState::Open && self.inbound_full() {
            self.inbound.reader_paused.store(true, Ordering::SeqCst);
            if self.state() == ReadyState::Open && self.inbound_full() {
                self.inbound.resume.notified().await;
            }
            self.inbound.reader_paused.store(false, Ordering::SeqCst);
        }
    }

    /// The reader pauses for `wait` (a rate limit), counted as paused meanwhile.
    pub async fn pause_reader(&self, wait: Duration) {
        self.inbound.reader_paused.store(true, Ordering::SeqCst);
        tokio::time::sleep(wait).await;
        self.inbound.reader_paused.store(false, Ordering::SeqCst);
    }

    /// Whether the reader waits (for the caller or a rate limit).
    pub fn is_reader_paused(&self) -> bool {
        self.inbound.reader_paused.load(Ordering::Acquire)
    }

    /// Wakes a reader that waits for the caller (a close, the end).
    pub fn wake_reader(&self) {
        self.inbound.resume.notify_one();
    }

    /// Gives the connection task a command; false when the task is gone.
    pub fn command(&self, command: Command) -> bool {
        self.outbound.commands.send(command).is_ok()
    }

    /// The connection task's commands, for its writer (the one consumer).
    pub fn commands(&self) -> &CommandQueue {
        &self.outbound.commands
    }

    /// The connection task ended: no more commands.
    pub fn end_commands(&self) {
        self.outbound.commands.close();
    }

    /// Queues a send (its limits already checked) on the server's send queue, behind
    /// the broadcasts before it.
    pub fn enqueue(self: &Arc<Self>, data: Bytes, is_text: bool) {
        self.outbound.queue.push_one(self.clone(), data, is_text);
    }

    /// Queues a command behind the sends before it, on the server's send queue.
    pub fn enqueue_command(self: &Arc<Self>, command: Command) {
        self.outbound.queue.push_command(self.clone(), command);
    }

    /// Messages queued for sending and not yet written.
    pub fn queued_packets(&self) -> usize {
        self.outbound.queued_packets.load(Ordering::Acquire)
    }

    /// Bytes queued for sending and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.outbound.queued_bytes.load(Ordering::Acquire)
    }

    /// The close code and reason, once a close was received or sent.
    pub fn close_info(&self) -> Option<(u16, String)> {
        self.life.close_info.lock().clone()
    }

    /// Records the close code and reason received or sent.
    pub fn set_close_info(&self, code: u16, reason: String) {
        *self.life.close_info.lock() = Some((code, reason));
    }

    /// Tells the connection task that a close started (it arms its close timeout).
    pub fn notify_close_started(&self) {
        self.life.close_started.notify_one();
    }

    /// Resolves when a close starts.
    pub fn close_started(&self) -> Notified<'_> {
        self.life.close_started.notified()
    }

    /// Drops the connection at once.
    pub fn kill(&self) {
        self.life.kill.notify_one();
    }

    /// Resolves when the connection is to be dropped at once.
    pub fn killed(&self) -> Notified<'_> {
        self.life.kill.notified()
    }
}
