//! Dead peers: a ping to every peer each heartbeat interval, and the connection dropped
//! when nothing at all (no pong, no message, no control frame) arrived for two intervals.
//! Clients answer pings on their own (browsers, Godot's WebSocketPeer, Python websockets).
//!
//! A ping's payload is the time it was sent (8 bytes, little-endian nanoseconds since the
//! connection opened), so the pong that echoes it gives the round-trip time without any
//! state per ping.

use std::time::{Duration, Instant};

/// What the connection task does when the heartbeat timer fires.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing arrived for two intervals: drop the connection.
    Dead,
    /// Send a ping with this payload.
    Ping([u8; 8]),
    /// Nothing to do yet.
    Wait,
}

/// The heartbeat of one connection.
pub(crate) struct Heartbeat {
    interval: Duration,
    opened: Instant,
    next_ping: Instant,
}

impl Heartbeat {
    /// `None` when the interval is zero (off).
    pub fn new(interval: Duration, opened: Instant) -> Option<Self> {
        (!interval.is_zero()).then(|| Heartbeat {
            interval,
            opened,
            next_ping: opened + interval,
        })
    }

    /// When the timer must fire next, given the time of the last frame received.
    pub fn deadline(&self, last_received: Instant) -> Instant {
        self.next_ping.min(last_received + 2 * self.interval)
    }

    /// Decides at `now`. `reading` is false while the reader is paused because the game
    /// has not read what came before: the peer cannot be judged then (it is not read).
    pub fn check(&mut self, now: Instant, last_received: Instant, reading: bool) -> Beat {
        if reading && now >= last_received + 2 * self.interval {
            return Beat::Dead;
        }
        if now >= self.next_ping {
            self.next_ping = now + self.interval;
            return Beat::Ping(ping_payload(now.saturating_duration_since(self.opened)));
        }
        Beat::Wait
    }
}

/// The payload of a ping sent `since_open` after the connection opened.
pub(crate) fn ping_payload(since_open: Duration) -> [u8; 8] {
    (since_open.as_nanos() as u64).to_le_bytes()
}

/// The round-trip time of a pong that echoes one of our pings, received `since_open`
/// after the connection opened; `None` for any other payload.
pub(crate) fn round_trip(payload: &[u8], since_open: Duration) -> Option<Duration> {
    let sent = u64::from_le_bytes(payload.try_into().ok()?);
    let now = since_open.as_nanos() as u64;
    (sent <= now).then(|| Duration::from_nanos(now - sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_when_zero() {
        assert!(Heartbeat::new(Duration::ZERO, Instant::now()).is_none());
    }

    #[test]
    fn pings_each_interval_and_declares_death_after_two_silent_ones() {
        let t0 = Instant::now();
        let i = Duration::from_secs(1);
        let mut hb = Heartbeat::new(i, t0).unwrap();
        assert_eq!(hb.deadline(t0), t0 + i);
        assert_eq!(hb.check(t0 + i / 2, t0, true), Beat::Wait);
        assert!(matches!(hb.check(t0 + i, t0, true), Beat::Ping(_)));
        // A pong came back at 1.1 s: alive at 2.5 s, a new ping at 2 s.
        let pong = t0 + Duration::from_millis(1100);
        assert!(matches!(hb.check(t0 + 2 * i, pong, true), Beat::Ping(_)));
        assert_eq!(hb.deadline(pong), t0 + 3 * i);
        // Then nothing: dead two intervals after the last frame, not before.
        assert!(matches!(hb.check(t0 + 3 * i, pong, true), Beat::Ping(_)));
        assert_eq!(
            hb.check(pong + 2 * i - Duration::from_millis(1), pong, true),
            Beat::Wait
        );
        assert_eq!(hb.check(pong + 2 * i, pong, true), Beat::Dead);
        // A peer the game does not read is never judged.
        assert_ne!(hb.check(pong + 10 * i, pong, false), Beat::Dead);
    }

    #[test]
    fn round_trip_from_the_echoed_payload() {
        let sent = Duration::from_millis(1500);
        let payload = ping_payload(sent);
        assert_eq!(
            round_trip(&payload, Duration::from_millis(1520)),
            Some(Duration::from_millis(20))
        );
        assert_eq!(round_trip(b"hello", Duration::from_secs(2)), None);
        assert_eq!(round_trip(&payload, Duration::from_secs(1)), None);
    }
}
