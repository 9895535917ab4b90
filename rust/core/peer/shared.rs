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

use super::Command;
use super::commands::{CommandQueue, Outgoing};
use super::{Message, ReadyState};
use crate::core::compression::Agreed;
use crate::core::error::SendError;
use crate::core::ids::PeerId;
use crate::core::observability::stats::{Counters, Traffic};
use crate::core::policy::limits::Buffers;
use crate::core::request::{Headers, RequestInfo};
use crate::core::session::{Session, wire};
use crate::core::socket::direct::{Direct, DirectWriter};

/// No round-trip time measured yet.
const NO_RTT: u64 = u64::MAX;

/// The state shared between the caller's thread and a connection task.
pub(crate) struct PeerShared {
    pub id: PeerId,
    /// The client's address (the latest connection's, for a session that came back).
    remote: Mutex<SocketAddr>,
    pub protocol: String,
    pub path: String,
    pub headers: Headers,
    pub secure: bool,
    pub limits: Buffers,
    pub commands: CommandQueue,
    /// The socket's shared write half (plain connections), for writes without the task.
    direct: Option<Arc<DirectWriter>>,
    state: AtomicU8,
    /// The close code and reason received from the client, or sent by us.
    pub close_info: Mutex<Option<(u16, String)>>,
    /// Messages received and not yet read by the caller (in the event queue or inbox).
    pub unread_packets: AtomicUsize,
    pub unread_bytes: AtomicUsize,
    /// Set by the reader when it waits for the caller to read.
    pub reader_paused: AtomicBool,
    /// Wakes a paused reader.
    pub resume: Notify,
    /// Messages handed over by `poll()`, in order.
    pub inbox: Mutex<VecDeque<Message>>,
    /// Queued for sending and not yet written to the socket.
    pub queued_packets: AtomicUsize,
    pub queued_bytes: AtomicUsize,
    /// Started a close: the connection task arms its close timeout.
    pub close_started: Notify,
    /// Drop the connection at once.
    pub kill: Notify,
    /// When the upgrade completed.
    pub opened: Instant,
    /// When the last frame of any kind arrived, in nanoseconds since `opened`.
    last_received: AtomicU64,
    /// Messages and bytes each way.
    pub traffic: Traffic,
    /// The server's send queue, shared with its broadcasts.
    pub queue: Arc<dyn SendQueue>,
    /// Round-trip times from the heartbeat's pings, in nanoseconds (NO_RTT until measured).
    rtt_last: AtomicU64,
    rtt_smoothed: AtomicU64,
    /// The session a client asked for (`reconnect_grace_period`), `None` for a plain peer.
    pub session: Option<Arc<Session>>,
    /// The server compressor's window agreed by permessage-deflate (0: not agreed).
    deflate_window: AtomicU8,
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
            id,
            remote: Mutex::new(remote),
            protocol,
            path,
            headers: Headers::from(&headers[..]),
            secure,
            limits,
            commands: CommandQueue::default(),
            direct,
            state: AtomicU8::new(ReadyState::Open as u8),
            close_info: Mutex::new(None),
            unread_packets: AtomicUsize::new(0),
            unread_bytes: AtomicUsize::new(0),
            reader_paused: AtomicBool::new(false),
            resume: Notify::new(),
            inbox: Mutex::new(VecDeque::new()),
            queued_packets: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            close_started: Notify::new(),
            kill: Notify::new(),
            opened: Instant::now(),
            last_received: AtomicU64::new(0),
            traffic: Traffic::new(counters),
            queue,
            rtt_last: AtomicU64::new(NO_RTT),
            rtt_smoothed: AtomicU64::new(NO_RTT),
            session,
            deflate_window: AtomicU8::new(0),
        }
    }

    /// The client's address.
    pub fn remote(&self) -> SocketAddr {
        *self.remote.lock()
    }

    /// A session's client came back from `remote`.
    pub fn set_remote(&self, remote: SocketAddr) {
        *self.remote.lock() = remote;
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
        self.deflate_window.store(window, Ordering::Release);
    }

    /// The compressor window agreed with this peer's client, if it agreed to compression.
    pub fn deflate_window(&self) -> Option<u8> {
        match self.deflate_window.load(Ordering::Acquire) {
            0 => None,
            window => Some(window),
        }
    }

    /// Records that a frame arrived now.
    pub fn touch(&self) {
        let since = self.opened.elapsed().as_nanos() as u64;
        self.last_received.store(since, Ordering::Relaxed);
    }

    /// When the last frame arrived (the upgrade, if none since).
    pub fn last_received(&self) -> Instant {
        self.opened + Duration::from_nanos(self.last_received.load(Ordering::Relaxed))
    }

    /// Records a round-trip time; the smoothed value follows RFC 6298 (7/8 old, 1/8 new).
    pub fn record_round_trip(&self, rtt: Duration) {
        let ns = rtt.as_nanos().min(u128::from(NO_RTT - 1)) as u64;
        self.rtt_last.store(ns, Ordering::Relaxed);
        let old = self.rtt_smoothed.load(Ordering::Relaxed);
        let smoothed = if old == NO_RTT {
            ns
        } else {
            old - old / 8 + ns / 8
        };
        self.rtt_smoothed.store(smoothed, Ordering::Relaxed);
    }

    /// The last (or the smoothed) round-trip time, `None` until a ping was answered.
    pub fn round_trip(&self, smoothed: bool) -> Option<Duration> {
        let rtt = if smoothed {
            &self.rtt_smoothed
        } else {
            &self.rtt_last
        };
        let ns = rtt.load(Ordering::Relaxed);
        (ns != NO_RTT).then(|| Duration::from_nanos(ns))
    }

    pub fn state(&self) -> ReadyState {
        ReadyState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: ReadyState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Moves Open to Closing; false if it was not open.
    pub fn begin_closing(&self) -> bool {
        self.state
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
        self.unread_packets.load(Ordering::Acquire) >= self.limits.in_packets
            || self.unread_bytes.load(Ordering::Acquire) >= self.limits.in_bytes
    }

    /// Accounts a message the caller has taken; wakes the reader if it waits.
    pub fn consumed(&self, len: usize) {
        self.unread_packets.fetch_sub(1, Ordering::AcqRel);
        self.unread_bytes.fetch_sub(len, Ordering::AcqRel);
        if self.reader_paused.load(Ordering::Acquire) {
            self.resume.notify_one();
        }
    }

    /// Checks the limits for a message of `len` bytes and counts it as queued; on error
    /// nothing is counted.
    pub fn reserve(&self, len: usize) -> Result<(), SendError> {
        if self.state() != ReadyState::Open {
            return Err(SendError::Closed);
        }
        if len > self.limits.out_bytes {
            return Err(SendError::TooLarge {
                len,
                limit: self.limits.out_bytes,
            });
        }
        let bytes_before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        let packets_before = self.queued_packets.fetch_add(1, Ordering::AcqRel);
        if bytes_before + len > self.limits.out_bytes
            || packets_before + 1 > self.limits.out_packets
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
        if self.commands.send(Command::Send(message)).is_err() {
            self.sent(1, len);
            return false;
        }
        true
    }

    /// Writes a message straight to the socket when nothing else of this peer is queued
    /// and the socket takes it now (plain connections); false: queue it instead.
    /// `reserved`: the message itself was counted by [`PeerShared::reserve`].
    pub fn write_direct(&self, message: &Outgoing, reserved: bool) -> bool {
        let Some(direct) = &self.direct else {
            return false;
        };
        let len = message.data.len();
        if len > self.limits.out_bytes {
            return false; // refused by reserve(), with the reason
        }
        let own = usize::from(reserved);
        let idle = || {
            self.queued_packets.load(Ordering::Acquire) == own && self.state() == ReadyState::Open
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
                let _ = self.commands.send(Command::Flush);
            }
        }
        if reserved {
            self.sent(1, len);
        }
        self.traffic.sent(1, len);
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
        self.queued_packets.fetch_sub(packets, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}
