//! Reconnection: which peers wait for their client to come back.

use super::Server;
use crate::core::ids::PeerId;

impl Server {
    /// Whether this peer's connection broke and its client may still come back
    /// (`reconnect_grace_period`).
    pub fn is_peer_away(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.is_away())
    }
}
