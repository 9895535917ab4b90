//! Limits on what clients may hold and open: per-peer buffers (Godot 3's
//! `set_buffers()`), and caps on open connections, in all and per address, that count
//! handshakes in progress too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::core::error::Error;

/// Per-peer buffer limits, as Godot 3's `set_buffers()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// Most bytes of received messages not yet read; also the largest message accepted.
    pub in_bytes: usize,
    /// Most received messages not yet read.
    pub in_packets: usize,
    /// Most bytes queued for sending; also the largest message that can be sent.
    pub out_bytes: usize,
    /// Most messages queued for sending.
    pub out_packets: usize,
}

impl Default for Buffers {
    /// 64 KiB and 1024 packets each way, Godot 3's defaults.
    fn default() -> Self {
        Buffers {
            in_bytes: 64 * 1024,
            in_packets: 1024,
            out_bytes: 64 * 1024,
            out_packets: 1024,
        }
    }
}

impl Buffers {
    /// Largest buffer accepted, in bytes (1 GiB).
    pub const MAX_BYTES: usize = 1 << 30;
    /// Most packets accepted in one buffer.
    pub const MAX_PACKETS: usize = 1 << 24;

    /// Every limit between 1 and its maximum.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let check = |name: &str, v: usize, max: usize| {
            if v == 0 || v > max {
                Err(Error::InvalidParameter(format!(
                    "set_buffers: {name} is {v}; it must be between 1 and {max}"
                )))
            } else {
                Ok(())
            }
        };
        check("inbound bytes", self.in_bytes, Self::MAX_BYTES)?;
        check("inbound packets", self.in_packets, Self::MAX_PACKETS)?;
        check("outbound bytes", self.out_bytes, Self::MAX_BYTES)?;
        check("outbound packets", self.out_packets, Self::MAX_PACKETS)
    }
}

/// Most refused connections answered at once (with HTTP 503) while over a connection
/// limit; past it, further connections are closed at once without an answer, so that a
/// flood cannot hold file descriptors.
const MAX_REFUSING: usize = 256;

/// Why a connection was turned away by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRefusal {
    /// `max_connections` open connections already.
    Total,
    /// `max_connections_per_ip` open connections from this address already.
    PerIp,
}

/// Caps on open connections (handshakes in progress included), shared by the accept
/// loops and connection tasks of a server. Changes apply at once to new connections.
#[derive(Default)]
pub(crate) struct ConnectionLimits {
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    refusing: AtomicUsize,
    /// Peers away from their session (`reconnect_grace_period`): each keeps its slot, and
    /// lends a provisional one to a connection that may be its return.
    away: AtomicUsize,
    /// Provisional slots in use.
    lent: AtomicUsize,
}

/// `max_connections` and `max_connections_per_ip` (0: no limit), as they are now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caps {
    pub total: usize,
    pub per_ip: usize,
}

/// What the accept loop does with a new TCP connection.
pub(crate) enum Admission {
    /// Serve it; the slot is freed when dropped.
    Admitted(Slot),
    /// Answer HTTP 503 and close; counted while the answer is under way.
    Refused(LimitRefusal, Refusing),
    /// Too many refusals under way: close at once.
    Dropped(LimitRefusal),
}

impl ConnectionLimits {
    /// Connections open now, handshakes included.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Takes a slot for a connection from `ip`, or says why not. `per_ip` is false when
    /// the TCP peer is a proxy: the client's address is known later ([`Slot::rebind`]).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, per_ip: bool, caps: Caps) -> Admission {
        let ip = ip.to_canonical();
        let Caps {
            total: max_total,
            per_ip: max_per_ip,
        } = caps;
        let mut map = self.per_ip.lock();
        let from_ip = if per_ip {
            map.get(&ip).copied().unwrap_or(0)
        } else {
            0
        };
        let refusal = if max_total > 0 && self.open() >= max_total {
            Some(LimitRefusal::Total)
        } else if max_per_ip > 0 && from_ip >= max_per_ip {
            Some(LimitRefusal::PerIp)
        } else {
            None
        };
        if let Some(why) = refusal {
            drop(map);
            // Over a limit: perhaps an away peer coming back, which keeps its own slot.
            if self.lend() {
                return Admission::Admitted(Slot {
                    limits: self.clone(),
                    ip: None,
                    provisional: Some(why),
                });
            }
            return if self.refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
                Admission::Refused(why, Refusing(self.clone()))
            } else {
                self.refusing.fetch_sub(1, Ordering::AcqRel);
                Admission::Dropped(why)
            };
        }
        if per_ip {
            map.insert(ip, from_ip + 1);
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        Admission::Admitted(Slot {
            limits: self.clone(),
            ip: per_ip.then_some(ip),
            provisional: None,
        })
    }

    /// Takes a provisional slot if an away peer has one to lend.
    fn lend(&self) -> bool {
        let away = self.away.load(Ordering::Acquire);
        self.lent
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |lent| {
                (lent < away).then_some(lent + 1)
            })
            .is_ok()
    }

    /// A peer went away from its session (`true`) or is back or gone (`false`).
    pub fn set_away(&self, away: bool) {
        if away {
            self.away.fetch_add(1, Ordering::AcqRel);
        } else {
            self.away.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// An open connection's place under the limits; freed when dropped.
pub(crate) struct Slot {
    limits: Arc<ConnectionLimits>,
    /// The address counted under the per-address limit (none yet behind a proxy).
    ip: Option<IpAddr>,
    /// Lent by an away peer to a connection over a limit (the limit it is over): good for
    /// that peer's return only.
    provisional: Option<LimitRefusal>,
}

impl Slot {
    /// Counts the connection under the client's real address (learned from a proxy),
    /// or says that address is over its limit.
    /// `max_per_ip` as `Caps::per_ip`.
    pub fn rebind(&mut self, ip: IpAddr, max_per_ip: usize) -> Result<(), LimitRefusal> {
        if self.provisional.is_some() {
            return Ok(());
        }
        let ip = ip.to_canonical();
        if self.ip == Some(ip) {
            return Ok(());
        }
        let max = max_per_ip;
        let mut map = self.limits.per_ip.lock();
        let n = map.get(&ip).copied().unwrap_or(0);
        if max > 0 && n >= max {
            return Err(LimitRefusal::PerIp);
        }
        map.insert(ip, n + 1);
        if let Some(old) = self.ip.replace(ip) {
            release(&mut map, old);
        }
        Ok(())
    }
}

fn release(map: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = map.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            map.remove(&ip);
        }
    }
}

impl Slot {
    /// The limit a provisional slot is over: only a returning session may use it.
    pub fn provisional(&self) -> Option<LimitRefusal> {
        self.provisional
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.provisional.is_some() {
            self.limits.lent.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if let Some(ip) = self.ip {
            release(&mut self.limits.per_ip.lock(), ip);
        }
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A refusal under way (answering 503); freed when dropped.
pub(crate) struct Refusing(Arc<ConnectionLimits>);

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_in_all_and_per_address_and_free_up() {
        let limits = Arc::new(ConnectionLimits::default());
        let caps = Caps {
            total: 3,
            per_ip: 2,
        };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let admitted = |x: Admission| match x {
            Admission::Admitted(s) => Some(s),
            _ => None,
        };
        let a1 = admitted(limits.admit(a, true, caps)).unwrap();
        let _a2 = admitted(limits.admit(a, true, caps)).unwrap();
        assert!(matches!(
            limits.admit(a, true, caps),
            Admission::Refused(LimitRefusal::PerIp, _)
        ));
        // An IPv4-mapped IPv6 address is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(matches!(
            limits.admit(mapped, true, caps),
            Admission::Refused(LimitRefusal::PerIp, _)
        ));
        let _b1 = admitted(limits.admit(b, true, caps)).unwrap();
        assert!(matches!(
            limits.admit(b, true, caps),
            Admission::Refused(LimitRefusal::Total, _)
        ));
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(admitted(limits.admit(a, true, caps)).is_some());
    }

    #[test]
    fn behind_a_proxy_the_slot_moves_to_the_client_address() {
        let limits = Arc::new(ConnectionLimits::default());
        let caps = Caps {
            total: 0,
            per_ip: 1,
        };
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let client: IpAddr = "203.0.113.5".parse().unwrap();
        let slot = || match limits.admit(proxy, false, caps) {
            Admission::Admitted(s) => s,
            _ => panic!("a proxy's connections are not limited per address"),
        };
        let (mut s1, mut s2) = (slot(), slot());
        s1.rebind(client, caps.per_ip).unwrap();
        assert_eq!(s2.rebind(client, caps.per_ip), Err(LimitRefusal::PerIp));
        s2.rebind("203.0.113.6".parse().unwrap(), caps.per_ip)
            .unwrap();
        drop(s1);
        slot().rebind(client, caps.per_ip).unwrap();
    }

    #[test]
    fn refusals_in_flight_are_capped() {
        let limits = Arc::new(ConnectionLimits::default());
        let caps = Caps {
            total: 1,
            per_ip: 0,
        };
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let _slot = limits.admit(ip, true, caps);
        let mut refusing = Vec::new();
        for _ in 0..MAX_REFUSING {
            match limits.admit(ip, true, caps) {
                Admission::Refused(_, r) => refusing.push(r),
                _ => panic!("expected a refusal"),
            }
        }
        assert!(matches!(
            limits.admit(ip, true, caps),
            Admission::Dropped(LimitRefusal::Total)
        ));
        refusing.pop();
        assert!(matches!(
            limits.admit(ip, true, caps),
            Admission::Refused(..)
        ));
    }
}
