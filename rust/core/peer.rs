//! One connected client, as seen from the caller's thread.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::direct::{Direct, DirectWriter};
use super::error::{Error, SendError};
use super::fanout::Fanout;
use super::handshake::RequestInfo;
use super::headers::Headers;
use super::ids::PeerId;
use super::limits::Buffers;
use super::stats::{Counters, Traffic};

/// A connection's state, with Godot 4's `WebSocketPeer.State` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReadyState {
    /// Not used by server-side peers (they exist only once open).
    Connecting = 0,
    /// Messages flow both ways.
    Open = 1,
    /// A close frame was sent or received.
    Closing = 2,
    /// The connection is gone.
    Closed = 3,
}

impl ReadyState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The payload.
    pub data: Bytes,
    /// Whether it came as a text frame (valid UTF-8) rather than binary.
    pub is_text: bool,
}

/// What the caller's thread asks of a connection task.
pub(crate) enum Command {
    Send {
        data: Bytes,
        is_text: bool,
    },
    Close {
        code: u16,
        reason: String,
    },
    NoDelay(bool),
    Ping([u8; 8]),
    /// Write what a direct write left over.
    Flush,
}

/// What the caller's thread asks of a connection task, in order. A mutex-guarded queue
/// allocates nothing until used, where a channel would allocate a block per connection.
#[derive(Default)]
pub(crate) struct CommandQueue {
    queue: Mutex<VecDeque<Command>>,
    closed: AtomicBool,
    ready: Notify,
}

impl CommandQueue {
    /// Queues a command; gives it back when the connection task has ended.
    pub fn send(&self, command: Command) -> Result<(), Command> {
        {
            let mut queue = self.queue.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(command);
            }
            queue.push_back(command);
        }
        self.ready.notify_one();
        Ok(())
    }

    pub fn try_recv(&self) -> Option<Command> {
        self.queue.lock().pop_front()
    }

    /// The next command; `None` once closed and empty.
    pub async fn recv(&self) -> Option<Command> {
        loop {
            if let Some(command) = self.try_recv() {
                return Some(command);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            self.ready.notified().await;
        }
    }

    /// The connection task has ended: further commands are refused.
    pub fn close(&self) {
        let mut queue = self.queue.lock();
        self.closed.store(true, Ordering::Release);
        queue.clear();
        drop(queue);
        self.ready.notify_one();
    }
}

/// No round-trip time measured yet.
const NO_RTT: u64 = u64::MAX;

/// The state shared between the caller's thread and a connection task.
pub(crate) struct PeerShared {
    pub id: PeerId,
    pub remote: SocketAddr,
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
    /// The server's fan-out (broadcasts and groups).
    pub fanout: Arc<Fanout>,
    /// Round-trip times from the heartbeat's pings, in nanoseconds (NO_RTT until measured).
    rtt_last: AtomicU64,
    rtt_smoothed: AtomicU64,
}

/// What a peer takes from its server: limits, counters, fan-out.
pub(crate) struct ServerParts {
    pub limits: Buffers,
    pub counters: Arc<Counters>,
    pub fanout: Arc<Fanout>,
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
            counters,
            fanout,
        } = server;
        let RequestInfo {
            path,
            headers,
            protocol,
        } = request;
        PeerShared {
            id,
            remote,
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
            fanout,
            rtt_last: AtomicU64::new(NO_RTT),
            rtt_smoothed: AtomicU64::new(NO_RTT),
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
    pub fn push(&self, data: Bytes, is_text: bool) -> bool {
        let len = data.len();
        if self.commands.send(Command::Send { data, is_text }).is_err() {
            self.sent(1, len);
            return false;
        }
        true
    }

    /// Writes a message straight to the socket when nothing else of this peer is queued
    /// and the socket takes it now (plain connections); false: queue it instead.
    /// `reserved`: the message itself was counted by [`PeerShared::reserve`].
    pub fn write_direct(&self, data: &Bytes, is_text: bool, reserved: bool) -> bool {
        let Some(direct) = &self.direct else {
            return false;
        };
        if data.len() > self.limits.out_bytes {
            return false; // refused by reserve(), with the reason
        }
        let own = usize::from(reserved);
        let idle = || {
            self.queued_packets.load(Ordering::Acquire) == own && self.state() == ReadyState::Open
        };
        if !idle() {
            return false;
        }
        match direct.try_send(data, is_text, idle) {
            Direct::NotNow => return false,
            Direct::Written => {}
            // The connection task writes the rest before anything else.
            Direct::Partly => {
                let _ = self.commands.send(Command::Flush);
            }
        }
        if reserved {
            self.sent(1, data.len());
        }
        self.traffic.sent(1, data.len());
        true
    }

    /// Writes directly if it can, else [`PeerShared::reserve`] then [`PeerShared::push`]
    /// (text already checked as UTF-8).
    pub fn send_now(&self, data: Bytes, is_text: bool) -> Result<(), SendError> {
        if self.write_direct(&data, is_text, false) {
            return Ok(());
        }
        self.reserve(data.len())?;
        if self.push(data, is_text) {
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

/// A handle to one peer. Cheap to clone; stays valid (and readable) after the
/// connection is gone.
#[derive(Clone)]
pub struct Peer(pub(crate) Arc<PeerShared>);

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Peer({} {} {:?})",
            self.0.id,
            self.0.remote,
            self.0.state()
        )
    }
}

/// Close codes an endpoint may send (RFC 6455 section 7.4).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl Peer {
    /// This peer's id.
    pub fn id(&self) -> PeerId {
        self.0.id
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.0.remote
    }

    /// The client's IP address as text, IPv4-mapped IPv6 addresses shown as IPv4.
    pub fn remote_ip(&self) -> String {
        match self.0.remote.ip() {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            },
            ip => ip.to_string(),
        }
    }

    /// The subprotocol agreed in the handshake ("" for none).
    pub fn protocol(&self) -> &str {
        &self.0.protocol
    }

    /// The upgrade request's path and query, e.g. `/play?room=3`.
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The upgrade request's headers, in order, names as the client sent them.
    pub fn headers(&self) -> &Headers {
        &self.0.headers
    }

    /// Whether the connection uses TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.0.secure
    }

    /// The URL the client asked for, as Godot 4 reports it: scheme, Host header, path.
    pub fn requested_url(&self) -> String {
        let host = self.0.headers.get("host").unwrap_or_default();
        let scheme = if self.0.secure { "wss" } else { "ws" };
        format!("{scheme}://{host}{}", self.0.path)
    }

    /// The current state.
    pub fn ready_state(&self) -> ReadyState {
        self.0.state()
    }

    /// Whether the connection is open (neither closing nor closed).
    pub fn is_open(&self) -> bool {
        self.0.state() == ReadyState::Open
    }

    /// The close code received from the client (or sent by the server if it closed
    /// first), -1 while none.
    pub fn close_code(&self) -> i32 {
        self.0
            .close_info
            .lock()
            .as_ref()
            .map_or(-1, |(c, _)| i32::from(*c))
    }

    /// The close reason that goes with [`Peer::close_code`].
    pub fn close_reason(&self) -> String {
        self.0
            .close_info
            .lock()
            .as_ref()
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    }

    /// Queues a message. Fails at once, queuing nothing, when the connection is not
    /// open, the message is larger than the outbound buffer, or the buffer is full.
    /// Messages sent from one thread keep their order, broadcasts included: they go
    /// through the server's one send queue, whose task on the runtime writes them to
    /// idle sockets itself or hands them to the connection's task.
    pub fn send(&self, data: Bytes, is_text: bool) -> Result<(), SendError> {
        let s = &self.0;
        if is_text && std::str::from_utf8(&data).is_err() {
            return Err(SendError::InvalidUtf8);
        }
        s.reserve(data.len())?;
        s.fanout.push_one(self.0.clone(), data, is_text);
        Ok(())
    }

    /// Number of received messages ready for [`Peer::recv`].
    pub fn available_packets(&self) -> usize {
        self.0.inbox.lock().len()
    }

    /// Takes the oldest received message.
    pub fn recv(&self) -> Option<Message> {
        let msg = self.0.inbox.lock().pop_front()?;
        self.0.consumed(msg.data.len());
        Some(msg)
    }

    /// The largest message [`Peer::send`] accepts (the outbound buffer size).
    pub fn max_message_size(&self) -> usize {
        self.0.limits.out_bytes
    }

    /// Bytes queued for sending and not yet handed to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.0.queued_bytes.load(Ordering::Acquire)
    }

    /// Starts a close handshake: queued messages go out first, then a close frame
    /// with `code` and `reason`. The connection is dropped if the client does not answer
    /// within the close timeout. Closing a peer that is not open does nothing.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        if !valid_close_code(code) {
            return Err(Error::InvalidParameter(format!(
                "close code {code} cannot be sent; use 1000 (normal), 1001 (going away), 1008 (policy), 1011, or 3000-4999"
            )));
        }
        if reason.len() > 123 {
            return Err(Error::InvalidParameter(format!(
                "close reason is {} bytes; at most 123 bytes of UTF-8 fit in a close frame",
                reason.len()
            )));
        }
        if self.0.begin_closing() {
            *self.0.close_info.lock() = Some((code, reason.to_string()));
            // Behind the messages sent before it, which wait in the server's send queue.
            let close = Command::Close {
                code,
                reason: reason.to_string(),
            };
            self.0.fanout.push_command(self.0.clone(), close);
            self.0.close_started.notify_one();
            self.0.resume.notify_one();
        }
        Ok(())
    }

    /// Drops the connection at once, without a close handshake (unclean).
    pub fn abort(&self) {
        self.0.kill.notify_one();
    }

    /// The round-trip time of the last ping answered (heartbeat on), `None` until one was.
    pub fn last_round_trip(&self) -> Option<Duration> {
        let ns = self.0.rtt_last.load(Ordering::Relaxed);
        (ns != NO_RTT).then(|| Duration::from_nanos(ns))
    }

    /// The smoothed round-trip time (RFC 6298 weights), `None` until a ping was answered.
    pub fn smoothed_round_trip(&self) -> Option<Duration> {
        let ns = self.0.rtt_smoothed.load(Ordering::Relaxed);
        (ns != NO_RTT).then(|| Duration::from_nanos(ns))
    }

    /// Messages received, bytes received, messages sent and bytes sent (payload bytes;
    /// "sent" is written to the socket).
    pub fn traffic(&self) -> [u64; 4] {
        self.0.traffic.totals()
    }

    /// Unreliable packets not sent to this peer because it was congested.
    pub fn dropped_packets(&self) -> u64 {
        self.0.traffic.dropped_total()
    }

    /// How long the connection has been open.
    pub fn connected_for(&self) -> Duration {
        self.0.opened.elapsed()
    }

    /// Turns Nagle's algorithm off (`true`, the default here) or on.
    pub fn set_no_delay(&self, enabled: bool) {
        let _ = self.0.commands.send(Command::NoDelay(enabled));
    }
}
