//! One message to many: [method broadcast], groups, and (with [member redis_url]) every
//! server process attached to the same Redis.

use godot::global::Error as GdError;
use godot::prelude::*;

use super::WebSocketServer;
use crate::godot::errors;
use crate::godot::websocket_server_peer::WebSocketServerPeer;

#[godot_api(secondary)]
impl WebSocketServer {
    /// Sends [param message] to every connected client except [param exclude_ids]: text
    /// ([param write_mode] `WebSocketServerPeer.WRITE_MODE_TEXT`) or binary (the default,
    /// as Godot 3's write mode). The message is copied once and shared; the work per client
    /// happens on the network threads, so the call costs the same for 10 clients or 10,000,
    /// and each client gets it in order with its other messages. A client whose outbound
    /// buffer cannot take it is reported by [signal broadcast_missed]; everyone else gets it.
    /// Returns `ERR_UNCONFIGURED` when not listening, `ERR_INVALID_PARAMETER` for text that
    /// is not UTF-8 or a message larger than the outbound buffer.
    ///
    /// ```gdscript
    /// # 20 times a second, the world state to everyone:
    /// server.broadcast(var_to_bytes(world_state))
    /// ```
    #[func]
    fn broadcast(
        &mut self,
        message: PackedByteArray,
        #[opt(default = 1)] write_mode: i64,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = write_mode == WebSocketServerPeer::WRITE_MODE_TEXT;
        match self
            .server
            .broadcast(message.as_slice(), text, exclude_ids.as_slice())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.broadcast", &e),
        }
    }

    /// [method broadcast] of a text message.
    #[func]
    fn broadcast_text(
        &mut self,
        message: GString,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = message.to_string();
        match self
            .server
            .broadcast(text.as_bytes(), true, exclude_ids.as_slice())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.broadcast_text", &e),
        }
    }

    /// Puts a connected client in a group (a room, a team, a lobby: created on first use).
    /// A client leaves its groups when it disconnects. Returns `ERR_DOES_NOT_EXIST` for an
    /// unknown id.
    ///
    /// ```gdscript
    /// func _on_client_connected(id, _protocol):
    ///     server.add_peer_to_group(id, "lobby")
    ///     server.send_text_to_group("lobby", "%d joined" % id, [id])
    /// ```
    #[func]
    fn add_peer_to_group(&mut self, id: i64, group: GString) -> GdError {
        match self
            .server
            .add_peer_to_group(errors::peer_id(id), &group.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.add_peer_to_group", &e),
        }
    }

    /// Takes a client out of a group. `ERR_INVALID_PARAMETER` when it was not in it.
    #[func]
    fn remove_peer_from_group(&mut self, id: i64, group: GString) -> GdError {
        match self
            .server
            .remove_peer_from_group(errors::peer_id(id), &group.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.remove_peer_from_group", &e),
        }
    }

    /// The groups a client is in, sorted.
    #[func]
    fn get_peer_groups(&self, id: i64) -> PackedStringArray {
        self.server
            .peer_groups(errors::peer_id(id))
            .iter()
            .map(GString::from)
            .collect()
    }

    /// The clients of this server in a group, sorted.
    #[func]
    fn get_group_peers(&self, group: GString) -> PackedInt32Array {
        self.server
            .group_peers(&group.to_string())
            .into_iter()
            .collect()
    }

    /// As [method broadcast], to the members of [param group] only.
    #[func]
    fn send_to_group(
        &mut self,
        group: GString,
        message: PackedByteArray,
        #[opt(default = 1)] write_mode: i64,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = write_mode == WebSocketServerPeer::WRITE_MODE_TEXT;
        match self.server.send_to_group(
            &group.to_string(),
            message.as_slice(),
            text,
            exclude_ids.as_slice(),
        ) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.send_to_group", &e),
        }
    }

    /// [method send_to_group] of a text message.
    #[func]
    fn send_text_to_group(
        &mut self,
        group: GString,
        message: GString,
        #[opt(default = &PackedInt32Array::new())] exclude_ids: PackedInt32Array,
    ) -> GdError {
        let text = message.to_string();
        match self.server.send_to_group(
            &group.to_string(),
            text.as_bytes(),
            true,
            exclude_ids.as_slice(),
        ) {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.send_text_to_group", &e),
        }
    }
}
