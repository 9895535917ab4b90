//! Godot's high-level multiplayer on the server: packets from every peer in one queue,
//! packets to one peer or many, unreliable ones dropped for congested peers.

use bytes::Bytes;

use super::Server;
use crate::core::error::SendError;
use crate::core::fanout::Recipients;
use crate::core::ids::PeerId;
use crate::core::multiplayer::Target;
use crate::core::peer::Peer;

/// A packet of Godot's high-level multiplayer, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiplayerPacket {
    /// The sending peer.
    pub from: PeerId,
    /// The payload.
    pub data: Bytes,
}

impl Server {
    /// Multiplayer: sends one packet to the peers `target` names (Godot's meaning of
    /// `set_target_peer`). To one peer: its error, if any. To several: the payload is copied
    /// once and fanned out on the runtime; peers that cannot take it are reported by an
    /// [`Event::BroadcastMissed`](crate::core::Event::BroadcastMissed) (peers already closing are skipped). `unreliable` packets
    /// are dropped (and counted) for peers over `unreliable_drop_threshold`.
    pub fn mp_put_packet(
        &self,
        target: i32,
        data: &[u8],
        unreliable: bool,
    ) -> Result<(), (PeerId, SendError)> {
        let data = Bytes::copy_from_slice(data);
        match Target::from_godot(target) {
            Target::One(id) => match self.peers.get(&id) {
                Some(p) if unreliable && self.congested(p) => {
                    p.0.traffic().dropped();
                    Ok(())
                }
                Some(p) => p.send(data, false).map_err(|e| (id, e)),
                None => Err((id, SendError::Closed)),
            },
            t => {
                let exclude = match t {
                    Target::AllExcept(id) => vec![id],
                    _ => vec![],
                };
                self.fan_out(data, false, Recipients::All, exclude, unreliable);
                Ok(())
            }
        }
    }

    /// Multiplayer: packets ready to read, from all peers.
    pub fn mp_available_packets(&self) -> usize {
        self.mp_inbox.len()
    }

    /// Multiplayer: the sender of the next packet [`Server::mp_get_packet`] returns.
    pub fn mp_next_packet_peer(&self) -> Option<PeerId> {
        self.mp_inbox.front().map(|(p, _)| p.id())
    }

    /// Multiplayer: takes the oldest packet of any peer.
    pub fn mp_get_packet(&mut self) -> Option<MultiplayerPacket> {
        let (peer, msg) = self.mp_inbox.pop_front()?;
        peer.consumed(msg.data.len());
        Some(MultiplayerPacket {
            from: peer.id(),
            data: msg.data,
        })
    }

    /// Whether an unreliable packet for this peer is dropped now.
    fn congested(&self, peer: &Peer) -> bool {
        self.listening
            .as_ref()
            .is_some_and(|l| l.shared.fanout.congested(&peer.0))
    }
}
