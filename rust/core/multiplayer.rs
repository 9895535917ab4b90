//! Godot 4's `WebSocketMultiplayerPeer` wire protocol, server side.
//!
//! Right after the upgrade the server sends the client its peer id as one binary
//! message of 4 bytes, little-endian. After that every high-level packet is one binary
//! message without a header. Relay between clients is SceneMultiplayer's job; the peer
//! only routes by target.

use crate::core::ids::PeerId;

/// The server's own id in Godot's high-level multiplayer.
pub const SERVER_ID: PeerId = 1;

/// The first message a multiplayer client receives: its id.
pub fn id_message(id: PeerId) -> [u8; 4] {
    id.to_le_bytes()
}

/// Where `put_packet` sends, from Godot's `set_target_peer` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// 0: every connected peer.
    All,
    /// > 0: that peer only.
    One(PeerId),
    /// < 0: every peer except that one.
    AllExcept(PeerId),
}

impl Target {
    /// Godot's meaning of a target peer value.
    pub fn from_godot(target: i32) -> Self {
        match target {
            0 => Target::All,
            t if t > 0 => Target::One(t),
            t => Target::AllExcept(t.checked_neg().unwrap_or(i32::MAX)),
        }
    }

    /// Whether a peer is among the receivers.
    pub fn includes(self, id: PeerId) -> bool {
        match self {
            Target::All => true,
            Target::One(t) => t == id,
            Target::AllExcept(t) => t != id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_godot() {
        assert_eq!(Target::from_godot(0), Target::All);
        assert_eq!(Target::from_godot(5), Target::One(5));
        assert_eq!(Target::from_godot(-5), Target::AllExcept(5));
        assert!(Target::AllExcept(5).includes(6) && !Target::AllExcept(5).includes(5));
        assert_eq!(id_message(0x0102_0304), [4, 3, 2, 1]);
    }
}
