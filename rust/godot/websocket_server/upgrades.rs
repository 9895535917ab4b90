//! The game deciding who gets in: [member approve_upgrades] holds each upgrade request
//! until [method accept_upgrade] or [method refuse_upgrade].

use godot::global::Error as GdError;
use godot::prelude::*;

use super::WebSocketServer;
use crate::godot::errors;

#[godot_api(secondary)]
impl WebSocketServer {
    /// Accepts the upgrade request [param id] (see [member approve_upgrades]); the client gets
    /// its answer at once, without waiting for [method MultiplayerPeer.poll]. [param data] is
    /// kept for the peer, [method WebSocketServerPeer.get_upgrade_data] returns it (pass
    /// `null` for nothing). [param protocol] "" keeps the subprotocol selected by Godot's
    /// rule; another one must be one the client offered. [param headers] are added to the
    /// response, one `"Name: value"` string each, as [method HTTPRequest.request] takes them, e.g.
    /// `["Set-Cookie: session=abc"]`.
    /// Returns `ERR_DOES_NOT_EXIST` for an id that waits for no decision (timed out, left,
    /// or wrong), `ERR_ALREADY_IN_USE` for a second decision, `ERR_INVALID_PARAMETER` for a
    /// protocol or header that cannot be used.
    #[func]
    fn accept_upgrade(
        &mut self,
        id: i64,
        data: Variant,
        #[opt(default = "")] protocol: GString,
        #[opt(default = &PackedStringArray::new())] headers: PackedStringArray,
    ) -> GdError {
        let id = errors::peer_id(id);
        let mut lines = Vec::with_capacity(headers.len());
        for line in headers.as_slice() {
            let line = line.to_string();
            match line.split_once(':') {
                Some((name, value)) => {
                    lines.push((name.trim().to_string(), value.trim().to_string()))
                }
                None => {
                    godot_error!(
                        "WebSocketServer.accept_upgrade: header \"{line}\" is not \"Name: value\""
                    );
                    return GdError::ERR_INVALID_PARAMETER;
                }
            }
        }
        let headers = lines;
        match self
            .server
            .accept_upgrade(id, &protocol.to_string(), headers)
        {
            Ok(()) => {
                if !data.is_nil() {
                    self.upgrade_data.insert(id, data);
                }
                GdError::OK
            }
            Err(e) => errors::report("WebSocketServer.accept_upgrade", &e),
        }
    }

    /// Refuses the upgrade request [param id] with an HTTP [param status] (400-599: 401
    /// unauthorized, 403 forbidden, 429 too many requests, 503 unavailable ...) and a short
    /// [param body] (at most 4096 bytes). The client never becomes a peer. Errors as
    /// [method accept_upgrade].
    #[func]
    fn refuse_upgrade(
        &mut self,
        id: i64,
        #[opt(default = 403)] status: i64,
        #[opt(default = "")] body: GString,
    ) -> GdError {
        match self
            .server
            .refuse_upgrade(errors::peer_id(id), status, &body.to_string())
        {
            Ok(()) => GdError::OK,
            Err(e) => errors::report("WebSocketServer.refuse_upgrade", &e),
        }
    }
}
