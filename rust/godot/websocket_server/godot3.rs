//! Godot 3's `WebSocketServer` methods: listen, stop, the peers, buffers.

use godot::global::Error as GdError;
use godot::prelude::*;

use super::WebSocketServer;
use crate::godot::errors;
use crate::godot::monitors::Monitors;
use crate::godot::websocket_server_peer::WebSocketServerPeer;

#[godot_api(secondary)]
impl WebSocketServer {
    /// Starts listening on [param port] (0 picks a free port: see [method get_local_port]).
    /// [param protocols] are the subprotocols you speak; with [param gd_mp_api] the server is a
    /// Godot 4 high-level multiplayer peer. Returns `ERR_ALREADY_IN_USE` when
    /// already listening, `ERR_CANT_CREATE` when the port cannot be bound,
    /// `ERR_INVALID_PARAMETER` for a bad [member bind_ip], port or TLS setup.
    #[func]
    fn listen(
        &mut self,
        port: i64,
        #[opt(default = &PackedStringArray::new())] protocols: PackedStringArray,
        #[opt(default = false)] gd_mp_api: bool,
    ) -> GdError {
        match self.try_listen(port, &protocols, gd_mp_api) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.listen", &e),
        }
    }

    /// Stops the server. Without [param grace_period] (Godot 3's `stop()`): the port is
    /// free again at once and every client is closed with code 1001 (messages already
    /// queued are sent first); no signals follow for them.
    ///
    /// With a [param grace_period] in seconds, for deploys and rolling restarts: new
    /// clients are refused at once (HTTP 503) while the connected ones keep being served as
    /// usual for the grace period; then each is closed with 1001 after its queued messages,
    /// its [signal client_disconnected] follows, and finally [signal drained]. Keep polling
    /// until then.
    #[func]
    pub(super) fn stop(&mut self, #[opt(default = 0.0)] grace_period: f64) {
        if grace_period != 0.0 && self.server.is_listening() {
            let result = errors::seconds(grace_period, "grace_period")
                .and_then(|grace| self.server.stop_gracefully(grace));
            if let Err(e) = result {
                errors::report("WebSocketServer.stop", &e);
            }
            return;
        }
        self.server.stop();
        self.peers.clear();
        self.away.clear();
        self.upgrade_data.clear();
    }

    /// Whether a `stop(grace_period)` is under way (see [method stop]).
    #[func]
    fn is_draining(&self) -> bool {
        self.server.is_draining()
    }

    /// Whether the server is listening.
    #[func]
    fn is_listening(&self) -> bool {
        self.server.is_listening()
    }

    /// The port the server listens on (useful after `listen(0)`); 0 when stopped.
    #[func]
    fn get_local_port(&self) -> i64 {
        i64::from(self.server.local_port())
    }

    /// Whether a client with this id is connected.
    #[func]
    fn has_peer(&self, id: i64) -> bool {
        self.server.has_peer(errors::peer_id(id))
    }

    /// The ids of every connected client (not in Godot 3).
    #[func]
    fn get_peer_ids(&self) -> PackedInt32Array {
        self.server.peer_ids().collect()
    }

    /// The [WebSocketServerPeer] of a connected client, or `null`. The same
    /// object is returned for the same id while it is connected, and during [signal client_disconnected].
    #[func]
    fn get_peer(&self, id: i64) -> Option<Gd<WebSocketServerPeer>> {
        let peer = self.peers.get(&errors::peer_id(id)).cloned();
        if peer.is_none() {
            godot_error!(
                "WebSocketServer.get_peer: no client with id {id} is connected; check has_peer(id) first"
            );
        }
        peer
    }

    /// The IP address of a connected client ("" for an unknown id).
    #[func]
    fn get_peer_address(&self, id: i64) -> GString {
        match self.server.peer(errors::peer_id(id)) {
            Some(p) => GString::from(&p.remote_ip()),
            None => {
                godot_error!(
                    "WebSocketServer.get_peer_address: no client with id {id} is connected"
                );
                GString::new()
            }
        }
    }

    /// The TCP port of a connected client (0 for an unknown id).
    #[func]
    fn get_peer_port(&self, id: i64) -> i64 {
        match self.server.peer(errors::peer_id(id)) {
            Some(p) => i64::from(p.remote_addr().port()),
            None => {
                godot_error!("WebSocketServer.get_peer_port: no client with id {id} is connected");
                0
            }
        }
    }

    /// Closes a client's connection with a close handshake ([param code] 1000 normal,
    /// 3000-4999 your own; [param reason] at most 123 bytes). [signal client_disconnected] follows.
    #[func(rename = disconnect_peer)]
    fn disconnect_client(
        &mut self,
        id: i64,
        #[opt(default = 1000)] code: i64,
        #[opt(default = "")] reason: GString,
    ) {
        let result = errors::close_code(code).and_then(|code| {
            self.server
                .disconnect_peer(errors::peer_id(id), code, &reason.to_string())
        });
        if let Err(e) = result {
            errors::report("WebSocketServer.disconnect_peer", &e);
        }
    }

    /// Per-client buffer limits, as Godot 3: sizes in KiB, counts in packets, every value
    /// rounded up to a power of two. Defaults 64 KiB and 1024 packets each way. The inbound
    /// size is also the largest message accepted (larger ones close with 1009); the outbound
    /// size the largest that can be sent. Only before [method listen] (`FAILED` otherwise).
    #[func]
    fn set_buffers(
        &mut self,
        input_buffer_size_kb: i64,
        input_max_packets: i64,
        output_buffer_size_kb: i64,
        output_max_packets: i64,
    ) -> GdError {
        let result = errors::buffers(
            input_buffer_size_kb,
            input_max_packets,
            output_buffer_size_kb,
            output_max_packets,
        )
        .and_then(|b| self.server.configure(|s| s.listen.buffers = b));
        match result {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.set_buffers", &e),
        }
    }
}

impl WebSocketServer {
    fn try_listen(
        &mut self,
        port: i64,
        protocols: &PackedStringArray,
        gd_mp_api: bool,
    ) -> Result<(), crate::core::Error> {
        if self.server.is_listening() {
            return Err(crate::core::Error::AlreadyListening);
        }
        let port = errors::port(port)?;
        let tls = self.tls_parts().config()?;
        self.server.configure(|s| s.connections.tls = tls)?;
        let protocols: Vec<String> = protocols.as_slice().iter().map(|p| p.to_string()).collect();
        self.server.listen(port, &protocols, gd_mp_api)?;
        if self.monitors.is_none() {
            self.monitors = Some(Monitors::register(self.server.stats_source()));
        }
        Ok(())
    }
}
