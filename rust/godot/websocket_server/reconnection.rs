//! Players who come back: which peers are away ([member reconnect_grace_period]).

use godot::prelude::*;

use super::WebSocketServer;

#[godot_api(secondary)]
impl WebSocketServer {
    /// Whether client [param id]'s connection broke and it may still come back within
    /// [member reconnect_grace_period]: [signal client_away] was emitted,
    /// [signal client_back] and [signal client_disconnected] not yet. It changes with
    /// those signals only, so handlers see it as of their event (true in
    /// [signal client_away], false in [signal client_back]). An away client still counts
    /// as connected: sends to it are kept for its return.
    /// [codeblock]
    /// for id in players:
    ///     label_of(id).modulate.a = 0.5 if server.is_peer_away(id) else 1.0
    /// [/codeblock]
    #[func]
    fn is_peer_away(&self, id: i64) -> bool {
        i32::try_from(id).is_ok_and(|id| self.away.contains(&id))
    }
}
