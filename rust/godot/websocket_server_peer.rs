//! `WebSocketServerPeer`: one client of a `WebSocketServer`.

use bytes::Bytes;
use godot::classes::{IPacketPeerExtension, PacketPeerExtension};
use godot::global::Error as GdError;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

use super::errors;
use super::raw_packet;
use super::request;
use crate::core::{Peer, ReadyState};

/// One client connected to a [WebSocketServer], returned by [method WebSocketServer.get_peer].
///
/// It is a [PacketPeer]: [method PacketPeer.put_packet], [method PacketPeer.get_packet],
/// [method PacketPeer.put_var] and [method PacketPeer.get_var] work as with Godot 3's
/// `WebSocketPeer`. Two things of the engine's own to know: `put_packet()` of an empty
/// array returns `OK` and sends nothing (use [method send] for an empty message), and
/// `PackedByteArray.get_string_from_utf8()` stops at the first NUL byte (forward received
/// text as bytes with `send(packet, WRITE_MODE_TEXT)`). It also has the Godot 4 [WebSocketPeer] names that fit a
/// server-side peer ([method send], [method send_text], [method get_ready_state] ...).
///
/// Like the server, use it from the main thread only (a call from a GDScript [Thread]
/// aborts the game); all network work already runs on the server's own threads.
///
/// **Migrating from Godot 3:** this is Godot 3's `WebSocketPeer` (Godot 4
/// already has a class of that name, so this one is `WebSocketServerPeer`).
/// Unlike Godot, packets received before the client closed stay readable after
/// [signal WebSocketServer.client_disconnected]; keep the object to read them.
#[derive(GodotClass)]
#[class(init, tool, base = PacketPeerExtension)]
pub struct WebSocketServerPeer {
    peer: Option<Peer>,
    #[init(val = WebSocketServerPeer::WRITE_MODE_BINARY)]
    write_mode: i64,
    was_string: bool,
    /// The packet handed out by the last get_packet(); kept alive until the next call.
    last_packet: Bytes,
    upgrade_data: Variant,
    /// Away as the server's signals told it (see [`WebSocketServerPeer::set_away`]).
    away: bool,
    base: Base<PacketPeerExtension>,
}

impl WebSocketServerPeer {
    /// A Godot object for a core peer.
    pub(crate) fn wrap(peer: Peer, upgrade_data: Variant) -> Gd<Self> {
        Gd::from_init_fn(|base| WebSocketServerPeer {
            peer: Some(peer),
            write_mode: Self::WRITE_MODE_BINARY,
            was_string: false,
            last_packet: Bytes::new(),
            upgrade_data,
            away: false,
            base,
        })
    }

    /// Away or back, as the server emits `client_away` or `client_back` for this peer.
    pub(crate) fn set_away(&mut self, away: bool) {
        self.away = away;
    }

    fn core(&self, method: &str) -> Option<&Peer> {
        if self.peer.is_none() {
            godot_error!(
                "WebSocketServerPeer.{method}: this object is not connected to a server; get peers from WebSocketServer.get_peer(id)"
            );
        }
        self.peer.as_ref()
    }

    fn traffic(&self, index: usize) -> i64 {
        self.peer.as_ref().map_or(0, |p| p.traffic()[index] as i64)
    }

    fn send_bytes(&self, method: &str, data: Bytes, text: bool) -> GdError {
        let Some(peer) = self.core(method) else {
            return GdError::ERR_UNCONFIGURED;
        };
        match peer.send(data, text) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report_send(
                &format!("WebSocketServerPeer.{method} (peer {})", peer.id()),
                &e,
            ),
        }
    }
}

#[godot_api]
impl WebSocketServerPeer {
    /// Messages are sent as text frames (must be valid UTF-8).
    #[constant]
    pub const WRITE_MODE_TEXT: i64 = 0;
    /// Messages are sent as binary frames (any bytes). The default, as in Godot 3.
    #[constant]
    pub const WRITE_MODE_BINARY: i64 = 1;
    /// Not used by server-side peers (they exist only once connected). As Godot 4's `WebSocketPeer.STATE_CONNECTING`.
    #[constant]
    pub const STATE_CONNECTING: i64 = 0;
    /// Connected: messages flow both ways.
    #[constant]
    pub const STATE_OPEN: i64 = 1;
    /// A close frame was sent or received; nothing more can be sent.
    #[constant]
    pub const STATE_CLOSING: i64 = 2;
    /// The connection is gone. Packets received before still can be read.
    #[constant]
    pub const STATE_CLOSED: i64 = 3;

    /// Closes the connection with a close handshake: messages already queued are sent
    /// first, then a close frame with [param code] (1000 normal, 3000-4999 your own) and
    /// [param reason] (at most 123 bytes of UTF-8). [signal WebSocketServer.client_disconnected]
    /// follows; keep polling the server until it does.
    #[func]
    fn close(&mut self, #[opt(default = 1000)] code: i64, #[opt(default = "")] reason: GString) {
        let Some(peer) = self.core("close") else {
            return;
        };
        let result = errors::close_code(code).and_then(|c| peer.close(c, &reason.to_string()));
        if let Err(e) = result {
            errors::report("WebSocketServerPeer.close", &e);
        }
    }

    /// The client's IP address (IPv4-mapped IPv6 addresses are shown as IPv4).
    #[func]
    fn get_connected_host(&self) -> GString {
        self.core("get_connected_host")
            .map(|p| GString::from(&p.remote_ip()))
            .unwrap_or_default()
    }

    /// The client's TCP port.
    #[func]
    fn get_connected_port(&self) -> i64 {
        self.core("get_connected_port")
            .map_or(0, |p| i64::from(p.remote_addr().port()))
    }

    /// The write mode used by [method PacketPeer.put_packet]: [constant WRITE_MODE_TEXT] or [constant WRITE_MODE_BINARY].
    #[func]
    fn get_write_mode(&self) -> i64 {
        self.write_mode
    }

    /// Sets the write mode used by [method PacketPeer.put_packet] and [method PacketPeer.put_var].
    #[func]
    fn set_write_mode(&mut self, mode: i64) {
        if mode != Self::WRITE_MODE_TEXT && mode != Self::WRITE_MODE_BINARY {
            godot_error!(
                "WebSocketServerPeer.set_write_mode: {mode} is not WRITE_MODE_TEXT (0) or WRITE_MODE_BINARY (1)"
            );
            return;
        }
        self.write_mode = mode;
    }

    /// Whether the connection is open.
    #[func]
    fn is_connected_to_host(&self) -> bool {
        self.peer.as_ref().is_some_and(|p| p.is_open())
    }

    /// Whether this client's connection broke and it may still come back
    /// ([member WebSocketServer.reconnect_grace_period]); it stays connected meanwhile.
    /// As [method WebSocketServer.is_peer_away], it changes with the server's
    /// [signal WebSocketServer.client_away] and [signal WebSocketServer.client_back].
    #[func]
    fn is_away(&self) -> bool {
        self.away
    }

    /// Whether this client's connection agreed to compression (permessage-deflate: with
    /// [member WebSocketServer.compression_enabled], a client that offered it, as browsers
    /// do). Its messages then go compressed from
    /// [member WebSocketServer.compression_threshold] bytes on.
    #[func]
    fn is_compressed(&self) -> bool {
        self.peer.as_ref().is_some_and(|p| p.is_compressed())
    }

    /// Whether the packet returned by the last [method PacketPeer.get_packet] came as text.
    #[func]
    fn was_string_packet(&self) -> bool {
        self.was_string
    }

    /// Turns Nagle's algorithm off (`true`, the default for this server: lowest
    /// latency) or on (`false`: fewer, larger TCP segments).
    #[func]
    fn set_no_delay(&mut self, enabled: bool) {
        if let Some(p) = self.core("set_no_delay") {
            p.set_no_delay(enabled);
        }
    }

    /// Sends [param message] as one WebSocket message, binary by default (Godot 4's
    /// `WebSocketPeer.send`). Returns `ERR_OUT_OF_MEMORY` when the
    /// outbound buffer is full: nothing is sent then, try again later.
    ///
    /// Use it to echo or forward packets as they came: `send(packet, mode)` sends an empty
    /// message too, while [method PacketPeer.put_packet] returns `OK` for an empty array
    /// without sending anything (the engine never calls the peer for it). Forward text as
    /// bytes: `get_string_from_utf8()` stops at the first NUL byte.
    #[func]
    fn send(&mut self, message: PackedByteArray, #[opt(default = 1)] write_mode: i64) -> GdError {
        let text = write_mode == Self::WRITE_MODE_TEXT;
        self.send_bytes("send", Bytes::copy_from_slice(message.as_slice()), text)
    }

    /// Sends [param message] as one text message.
    #[func]
    fn send_text(&mut self, message: GString) -> GdError {
        self.send_bytes("send_text", Bytes::from(message.to_string()), true)
    }

    /// The connection state: [constant STATE_OPEN], [constant STATE_CLOSING] or [constant STATE_CLOSED].
    #[func]
    fn get_ready_state(&self) -> i64 {
        self.peer
            .as_ref()
            .map_or(Self::STATE_CLOSED, |p| match p.ready_state() {
                ReadyState::Connecting => Self::STATE_CONNECTING,
                ReadyState::Open => Self::STATE_OPEN,
                ReadyState::Closing => Self::STATE_CLOSING,
                ReadyState::Closed => Self::STATE_CLOSED,
            })
    }

    /// The close code the client sent (1005 for a close frame without code), or the one
    /// the server sent when it closed first; -1 while none.
    #[func]
    fn get_close_code(&self) -> i64 {
        self.peer.as_ref().map_or(-1, |p| i64::from(p.close_code()))
    }

    /// The close reason that goes with [method get_close_code].
    #[func]
    fn get_close_reason(&self) -> GString {
        self.peer
            .as_ref()
            .map(|p| GString::from(&p.close_reason()))
            .unwrap_or_default()
    }

    /// The subprotocol agreed in the handshake ("" for none).
    #[func]
    fn get_selected_protocol(&self) -> GString {
        self.peer
            .as_ref()
            .map(|p| GString::from(p.protocol()))
            .unwrap_or_default()
    }

    /// The URL the client requested, e.g. `ws://example.com:8080/game?room=3`
    /// (scheme, Host header, path and query).
    #[func]
    fn get_requested_url(&self) -> GString {
        self.peer
            .as_ref()
            .map(|p| GString::from(&p.requested_url()))
            .unwrap_or_default()
    }

    /// The path and query of the upgrade request, e.g. `/game?room=3`.
    #[func]
    fn get_request_path(&self) -> GString {
        self.peer
            .as_ref()
            .map(|p| GString::from(p.path()))
            .unwrap_or_default()
    }

    /// The upgrade request's headers (cookies, tokens, Origin ...): names in lower case,
    /// repeated headers joined with ", ".
    #[func]
    fn get_request_headers(&self) -> VarDictionary {
        self.peer
            .as_ref()
            .map(|p| request::headers_dict(p.headers().iter()))
            .unwrap_or_default()
    }

    /// What the game attached when it accepted this client's upgrade
    /// ([method WebSocketServer.accept_upgrade], e.g. the user it looked up); `null` otherwise.
    #[func]
    fn get_upgrade_data(&self) -> Variant {
        self.upgrade_data.clone()
    }

    /// Bytes queued for sending that have not reached the socket yet.
    #[func]
    fn get_current_outbound_buffered_amount(&self) -> i64 {
        self.peer.as_ref().map_or(0, |p| p.buffered_amount() as i64)
    }

    /// The round-trip time of the last ping this client answered, in milliseconds; `-1`
    /// until one was answered. The server pings every [member WebSocketServer.heartbeat_interval]
    /// seconds (off by default: set it to measure).
    #[func]
    fn get_round_trip_time(&self) -> f64 {
        self.peer
            .as_ref()
            .and_then(|p| p.last_round_trip())
            .map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
    }

    /// The smoothed round-trip time in milliseconds (7/8 of the previous value and 1/8 of
    /// each new one, as TCP smooths it; ENet's `PEER_ROUND_TRIP_TIME` is smoothed too);
    /// `-1` until a ping was answered. Show this one as the player's ping.
    #[func]
    fn get_smoothed_round_trip_time(&self) -> f64 {
        self.peer
            .as_ref()
            .and_then(|p| p.smoothed_round_trip())
            .map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
    }

    /// Messages received from this client.
    #[func]
    fn get_packets_received(&self) -> i64 {
        self.traffic(0)
    }

    /// Bytes of message payload received from this client.
    #[func]
    fn get_bytes_received(&self) -> i64 {
        self.traffic(1)
    }

    /// Messages written to this client's connection.
    #[func]
    fn get_packets_sent(&self) -> i64 {
        self.traffic(2)
    }

    /// Bytes of message payload written to this client's connection.
    #[func]
    fn get_bytes_sent(&self) -> i64 {
        self.traffic(3)
    }

    /// Unreliable packets not sent to this client because it was congested (see
    /// [member WebSocketServer.unreliable_drop_threshold]).
    #[func]
    fn get_dropped_packets(&self) -> i64 {
        self.peer.as_ref().map_or(0, |p| p.dropped_packets() as i64)
    }

    /// Seconds since this client's upgrade completed.
    #[func]
    fn get_connected_time(&self) -> f64 {
        self.peer
            .as_ref()
            .map_or(0.0, |p| p.connected_for().as_secs_f64())
    }

    /// This peer's id on its server.
    #[func]
    fn get_id(&self) -> i64 {
        self.peer.as_ref().map_or(0, |p| i64::from(p.id()))
    }
}

#[godot_api]
impl IPacketPeerExtension for WebSocketServerPeer {
    fn get_available_packet_count(&self) -> i32 {
        self.peer
            .as_ref()
            .map_or(0, |p| p.available_packets() as i32)
    }

    fn get_max_packet_size(&self) -> i32 {
        self.peer
            .as_ref()
            .map_or(0, |p| p.max_message_size().min(i32::MAX as usize) as i32)
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> GdError {
        let Some(msg) = self.peer.as_ref().and_then(|p| p.recv()) else {
            return GdError::ERR_UNAVAILABLE;
        };
        self.was_string = msg.is_text;
        self.last_packet = msg.data;
        // SAFETY: the engine's out-pointers of this call; the packet stays alive in
        // `self.last_packet` until the next call.
        unsafe { raw_packet::hand_out(&self.last_packet, r_buffer, r_buffer_size) };
        GdError::OK
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> GdError {
        // SAFETY: the engine's buffer of this call; it is copied before returning.
        let data = Bytes::copy_from_slice(unsafe { raw_packet::taken_in(p_buffer, p_buffer_size) });
        let text = self.write_mode == Self::WRITE_MODE_TEXT;
        self.send_bytes("put_packet", data, text)
    }
}
