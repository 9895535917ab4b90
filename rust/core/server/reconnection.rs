//! Reconnection: how long a session's peer waits for its client, and which peers wait.

use std::time::Duration;

use super::Server;
use crate::core::ids::PeerId;

impl Server {
    /// How long a peer whose client asked for a session (the client helpers do) stays
    /// when its connection breaks without a close, waiting for the client to come back
    /// as the same peer ([`super::Event::Away`], then [`super::Event::Back`] or
    /// `Disconnected`). Zero (the default) turns sessions off. Raw mode only. Applies to
    /// connections that break from now on.
    pub fn set_reconnect_grace_period(&mut self, grace: Duration) {
        self.settings.set_reconnect_grace(grace);
    }

    /// See [`Server::set_reconnect_grace_period`].
    pub fn reconnect_grace_period(&self) -> Duration {
        self.settings.reconnect_grace()
    }

    /// Whether this peer's connection broke and its client may still come back.
    pub fn is_peer_away(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.is_away())
    }
}
