//! The [MultiplayerPeer] side: with `listen(port, protocols, true)` the server is Godot 4's
//! high-level multiplayer peer, for stock [WebSocketMultiplayerPeer] clients.

use godot::classes::IMultiplayerPeerExtension;
use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::global::Error as GdError;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

use super::WebSocketServer;
use crate::core::multiplayer;
use crate::godot::errors;
use crate::godot::raw_packet;

#[godot_api]
impl IMultiplayerPeerExtension for WebSocketServer {
    /// Emits the signals for everything that happened since the last call. Call it every frame.
    fn poll(&mut self) {
        let started = std::time::Instant::now();
        self.poll_events();
        self.server.record_poll_time(started.elapsed());
    }

    fn close(&mut self) {
        self.stop(0.0);
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        match self.server.peer(peer) {
            Some(p) if force => p.abort(),
            Some(p) => {
                let _ = p.close(1000, "");
            }
            None => godot_error!(
                "WebSocketServer.disconnect_peer: no client with id {peer} is connected"
            ),
        }
    }

    fn get_available_packet_count(&self) -> i32 {
        self.server.mp_available_packets().min(i32::MAX as usize) as i32
    }

    fn get_max_packet_size(&self) -> i32 {
        let out_bytes = self.server.settings().listen.buffers.out_bytes;
        out_bytes.min(i32::MAX as usize) as i32
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> GdError {
        if !self.server.is_multiplayer() {
            return self.not_multiplayer("get_packet");
        }
        let Some(packet) = self.server.mp_get_packet() else {
            return GdError::ERR_UNAVAILABLE;
        };
        self.last_packet = packet.data;
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
        if !self.server.is_multiplayer() {
            return self.not_multiplayer("put_packet");
        }
        // SAFETY: the engine's buffer of this call; mp_put_packet copies it before
        // returning.
        let data = unsafe { raw_packet::taken_in(p_buffer, p_buffer_size) };
        match self.server.mp_put_packet(
            self.target_peer,
            data,
            self.transfer_mode != TransferMode::RELIABLE,
        ) {
            Ok(()) => GdError::OK,
            Err((id, e)) => {
                errors::report_send(&format!("WebSocketServer.put_packet to peer {id}"), &e)
            }
        }
    }

    fn get_packet_channel(&self) -> i32 {
        0
    }

    fn get_packet_mode(&self) -> TransferMode {
        TransferMode::RELIABLE
    }

    fn set_transfer_channel(&mut self, p_channel: i32) {
        self.transfer_channel = p_channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, p_mode: TransferMode) {
        self.transfer_mode = p_mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, p_peer: i32) {
        self.target_peer = p_peer;
    }

    fn get_packet_peer(&self) -> i32 {
        // As Godot's own peer: 1 when no packet is waiting.
        self.server
            .mp_next_packet_peer()
            .unwrap_or(multiplayer::SERVER_ID)
    }

    fn is_server(&self) -> bool {
        true
    }

    fn get_unique_id(&self) -> i32 {
        multiplayer::SERVER_ID
    }

    fn set_refuse_new_connections(&mut self, p_enable: bool) {
        self.configure("refuse_new_connections", Ok(p_enable), |s, on| {
            s.live.refuse_new_connections = on
        });
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.server.settings().live.refuse_new_connections
    }

    fn is_server_relay_supported(&self) -> bool {
        true
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        if self.server.is_listening() {
            ConnectionStatus::CONNECTED
        } else {
            ConnectionStatus::DISCONNECTED
        }
    }
}

impl WebSocketServer {
    fn not_multiplayer(&self, method: &str) -> GdError {
        godot_error!(
            "WebSocketServer.{method}: the server was not started with listen(port, protocols, true); use get_peer(id).{method}() for single clients"
        );
        GdError::ERR_UNCONFIGURED
    }
}
