//! Peer ids: positive int32s of at least 2 that look random (as Godot's own servers
//! hand out random ids) yet are never reused while the server lives.
//!
//! A counter that starts at a random point runs through a fixed permutation of
//! 1..2^31-1 (multiplication by a primitive root modulo the prime 2^31-1), so every id
//! comes once in 2^31-2 connections.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

/// A peer id: a positive int32, at least 2 (1 is the server in Godot's multiplayer).
pub type PeerId = i32;

/// A map keyed by peer id, with [`IdHasher`].
pub type IdMap<V> = HashMap<PeerId, V, BuildHasherDefault<IdHasher>>;
/// A set of peer ids, with [`IdHasher`].
pub type IdSet = HashSet<PeerId, BuildHasherDefault<IdHasher>>;

/// Hashes peer ids with one multiplication (Fibonacci hashing). The server picks the ids,
/// never a client, so nobody can choose keys that collide: the default SipHash, made for
/// keys an attacker controls, is not needed on every lookup of a message's peer.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.0 = u64::from(n as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The prime 2^31 - 1.
const MODULUS: u64 = i32::MAX as u64;
/// A primitive root modulo 2^31 - 1 (so x -> x * ROOT is a permutation of 1..MODULUS-1).
const ROOT: u64 = 48271;

/// Hands out peer ids.
pub(crate) struct IdGenerator {
    counter: AtomicU32,
}

impl IdGenerator {
    /// A generator starting at a random point.
    pub fn new() -> Self {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        IdGenerator {
            counter: AtomicU32::new((random % (MODULUS - 1)) as u32),
        }
    }

    /// A new id in 2..=i32::MAX.
    pub fn next(&self) -> PeerId {
        let n = u64::from(self.counter.fetch_add(1, Ordering::Relaxed)) % (MODULUS - 1) + 1;
        // n in 1..MODULUS-1 maps to 1..MODULUS-1; +1 gives 2..=i32::MAX.
        ((n * ROOT) % MODULUS + 1) as PeerId
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let ids = IdGenerator::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next();
            assert!(id >= 2, "{id}");
            assert!(seen.insert(id), "id {id} handed out twice");
        }
    }

    #[test]
    fn the_permutation_covers_the_edges() {
        let at = |c: u32| {
            IdGenerator {
                counter: AtomicU32::new(c),
            }
            .next()
        };
        assert!(at(0) >= 2);
        assert!(at(u32::MAX) >= 2);
        assert!(at((MODULUS - 2) as u32) >= 2);
    }
}
