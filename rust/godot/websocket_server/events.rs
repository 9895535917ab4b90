//! From the core's events to Godot's signals, in the order things happened.

use std::collections::HashMap;

use godot::prelude::*;

use super::WebSocketServer;
use crate::core::{Event, RedisEvent};
use crate::godot::request;
use crate::godot::websocket_server_peer::WebSocketServerPeer;

/// How many times one `poll()` goes back for what arrived while its signals' handlers
/// ran: each round takes only what came in during the one before, so they shrink fast,
/// and the bound keeps a flood from holding the frame.
const LATE_ROUNDS: usize = 3;

impl WebSocketServer {
    /// Takes the core's events and emits their signals; then, up to [`LATE_ROUNDS`] times,
    /// what arrived while the handlers ran, so that a message that came in during this
    /// `poll()` is handled in this frame instead of waiting for the next one.
    pub(super) fn poll_events(&mut self) {
        self.finish_tls_renewal();
        let mut unpublished: HashMap<String, i64> = HashMap::new();
        let mut events = std::mem::take(&mut self.events);
        self.server.poll(&mut events);
        let mut rounds = 0;
        while self.emit_events(&mut events, &mut unpublished)
            && rounds < LATE_ROUNDS
            && self.server.poll_more(&mut events)
        {
            rounds += 1;
        }
        events.clear();
        self.events = events;
        for (group, count) in unpublished {
            self.signals()
                .redis_unpublished()
                .emit(&GString::from(&group), count);
        }
    }

    /// Emits the signals of `events` in order; false when the server stopped or drained
    /// on the way (nothing more to report).
    fn emit_events(
        &mut self,
        events: &mut Vec<Event>,
        unpublished: &mut HashMap<String, i64>,
    ) -> bool {
        let multiplayer = self.server.is_multiplayer();
        for event in events.drain(..) {
            if matches!(event, Event::Drained) {
                self.peers.clear();
                self.away.clear();
                self.upgrade_data.clear();
                self.signals().drained().emit();
                return false;
            }
            // A signal handler may have stopped the server: nothing more to report.
            if !self.server.is_listening() {
                return false;
            }
            match event {
                Event::Connected { id, protocol } => {
                    if let Some(peer) = self.server.peer(id) {
                        let data = self.upgrade_data.remove(&id).unwrap_or_default();
                        self.peers
                            .insert(id, WebSocketServerPeer::wrap(peer.clone(), data));
                    }
                    self.signals()
                        .client_connected()
                        .emit(i64::from(id), &GString::from(&protocol));
                    self.signals().peer_connected().emit(i64::from(id));
                }
                Event::Message { id } => {
                    // A handler that read this client's later messages already (a loop
                    // over get_available_packet_count()) has nothing left to be told.
                    let unread = self
                        .server
                        .peer(id)
                        .is_some_and(|p| p.available_packets() > 0);
                    if !multiplayer && unread {
                        let name = self.data_received_name.clone();
                        self.base_mut()
                            .emit_signal(&name, &[i64::from(id).to_variant()]);
                    }
                }
                Event::CloseRequested { id, code, reason } => {
                    self.signals().client_close_request().emit(
                        i64::from(id),
                        i64::from(code),
                        &GString::from(&reason),
                    );
                }
                Event::Disconnected { id, was_clean } => {
                    self.tell_away(id, false);
                    self.signals()
                        .client_disconnected()
                        .emit(i64::from(id), was_clean);
                    self.signals().peer_disconnected().emit(i64::from(id));
                    self.peers.remove(&id);
                }
                Event::Away { id } => {
                    self.tell_away(id, true);
                    self.signals().client_away().emit(i64::from(id));
                }
                Event::Back { id } => {
                    self.tell_away(id, false);
                    self.signals().client_back().emit(i64::from(id));
                }
                Event::UpgradeRequested(request) => {
                    let dict = request::request_dict(&request);
                    self.signals()
                        .upgrade_requested()
                        .emit(i64::from(request.id), &dict);
                }
                Event::UpgradeEnded { id } => {
                    self.upgrade_data.remove(&id);
                }
                Event::Drained => {}
                Event::Redis(RedisEvent::Connected) => {
                    self.signals().redis_connected().emit();
                }
                Event::Redis(RedisEvent::Error(message)) => {
                    godot_error!("WebSocketServer (redis_url): {message}");
                    self.signals().redis_error().emit(&GString::from(&message));
                }
                Event::Redis(RedisEvent::Unpublished(group)) => {
                    *unpublished.entry(group.unwrap_or_default()).or_insert(0) += 1;
                }
                Event::OutOfFileDescriptors { refused, limit } => {
                    let limit = limit.map_or(String::new(), |l| format!(" (limit {l})"));
                    godot_error!(
                        "WebSocketServer: the process is out of file descriptors{limit}: {refused} new connection(s) refused since the last report, the connected peers are served as before. Raise the limit before starting Godot (`ulimit -n`, or LimitNOFILE= in a systemd unit) or set max_connections below it."
                    );
                }
                Event::BroadcastMissed(missed) => {
                    let ids: PackedInt32Array = missed.peers.iter().copied().collect();
                    let group = GString::from(missed.group.as_deref().unwrap_or_default());
                    self.signals().broadcast_missed().emit(&ids, &group);
                }
            }
        }
        true
    }

    /// What `is_peer_away()` and the peer's `is_away()` answer from now on: the game sees a
    /// peer away from its `client_away` to its `client_back` (or `client_disconnected`),
    /// whatever the network did since `poll()` took the events.
    fn tell_away(&mut self, id: crate::core::PeerId, away: bool) {
        let changed = match away {
            true => self.away.insert(id),
            false => self.away.remove(&id),
        };
        if changed && let Some(peer) = self.peers.get_mut(&id) {
            peer.bind_mut().set_away(away);
        }
    }
}
