//! A peer: one connected client. The handle the caller's thread holds ([`Peer`]), the
//! state it shares with the connection task, and the commands it sends that task.

mod commands;
mod shared;

pub(crate) use commands::{Command, Outgoing};
pub(crate) use shared::{PeerShared, SendQueue, ServerParts};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::core::error::{Error, SendError};
use crate::core::ids::PeerId;
use crate::core::observability::hops::{self, InHops};
use crate::core::request::Headers;

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
    /// When it passed each hop on its way in (the benchmark's breakdown; 0 when off).
    pub(crate) hops: InHops,
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
            self.0.id(),
            self.0.remote(),
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
        self.0.id()
    }

    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.0.remote()
    }

    /// The client's IP address as text, IPv4-mapped IPv6 addresses shown as IPv4.
    pub fn remote_ip(&self) -> String {
        match self.0.remote().ip() {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            },
            ip => ip.to_string(),
        }
    }

    /// The subprotocol agreed in the handshake ("" for none).
    pub fn protocol(&self) -> &str {
        self.0.protocol()
    }

    /// The upgrade request's path and query, e.g. `/play?room=3`.
    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// The upgrade request's headers, in order, names as the client sent them.
    pub fn headers(&self) -> &Headers {
        self.0.headers()
    }

    /// Whether the connection uses TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.0.is_secure()
    }

    /// The URL the client asked for, as Godot 4 reports it: scheme, Host header, path.
    pub fn requested_url(&self) -> String {
        let host = self.0.headers().get("host").unwrap_or_default();
        let scheme = if self.0.is_secure() { "wss" } else { "ws" };
        format!("{scheme}://{host}{}", self.0.path())
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
        self.0.close_info().map_or(-1, |(c, _)| i32::from(c))
    }

    /// The close reason that goes with [`Peer::close_code`].
    pub fn close_reason(&self) -> String {
        self.0.close_info().map(|(_, r)| r).unwrap_or_default()
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
        let data = s.on_wire(data);
        s.reserve(data.len())?;
        // Before the send task can write it.
        hops::sent(s.id());
        s.enqueue(data, is_text);
        Ok(())
    }

    /// Whether this peer's connection agreed to permessage-deflate (`compression_enabled`
    /// and a client that offered it).
    pub fn is_compressed(&self) -> bool {
        self.0.deflate_window().is_some()
    }

    /// Whether the client's connection broke and it may still come back to its session
    /// (`reconnect_grace_period`): the peer keeps its id, groups and messages meanwhile.
    pub fn is_away(&self) -> bool {
        self.0.is_away()
    }

    /// Number of received messages ready for [`Peer::recv`].
    pub fn available_packets(&self) -> usize {
        self.0.inbox_len()
    }

    /// Takes the oldest received message.
    pub fn recv(&self) -> Option<Message> {
        self.0.take()
    }

    /// The largest message [`Peer::send`] accepts (the outbound buffer size).
    pub fn max_message_size(&self) -> usize {
        self.0.limits().out_bytes
    }

    /// Bytes queued for sending and not yet handed to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.0.queued_bytes()
    }

    /// Bytes received and not yet taken with [`Peer::recv`].
    pub fn unread_bytes(&self) -> usize {
        self.0.unread_bytes()
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
            self.0.set_close_info(code, reason.to_string());
            // Behind the messages sent before it, which wait in the server's send queue.
            let close = Command::Close {
                code,
                reason: reason.to_string(),
            };
            self.0.enqueue_command(close);
            self.0.notify_close_started();
            self.0.wake_reader();
        }
        Ok(())
    }

    /// Drops the connection at once, without a close handshake (unclean).
    pub fn abort(&self) {
        self.0.kill();
    }

    /// The round-trip time of the last ping answered (heartbeat on), `None` until one was.
    pub fn last_round_trip(&self) -> Option<Duration> {
        self.0.round_trip(false)
    }

    /// The smoothed round-trip time (RFC 6298 weights), `None` until a ping was answered.
    pub fn smoothed_round_trip(&self) -> Option<Duration> {
        self.0.round_trip(true)
    }

    /// Messages received, bytes received, messages sent and bytes sent (payload bytes;
    /// "sent" is written to the socket).
    pub fn traffic(&self) -> [u64; 4] {
        self.0.traffic().totals()
    }

    /// Unreliable packets not sent to this peer because it was congested.
    pub fn dropped_packets(&self) -> u64 {
        self.0.traffic().dropped_total()
    }

    /// How long the connection has been open.
    pub fn connected_for(&self) -> Duration {
        self.0.opened().elapsed()
    }

    /// Turns Nagle's algorithm off (`true`, the default here) or on.
    pub fn set_no_delay(&self, enabled: bool) {
        let _ = self.0.command(Command::NoDelay(enabled));
    }
}
