//! `poll()`: the events of the connection tasks handed over on the caller's thread, and
//! the graceful stop that `poll()` drives.

use std::time::{Duration, Instant};

use super::{Event, Server};
use crate::core::error::Error;
use crate::core::observability::hops;
use crate::core::peer::Peer;
use crate::core::server_shared::{Departure, RawEvent};

/// A graceful stop under way.
pub(super) struct Drain {
    /// When the peers are told to go (1001).
    close_at: Instant,
    /// After the close: when to stop waiting for the peers' disconnects.
    give_up: Option<Instant>,
}

impl Server {
    /// Hands over everything that happened since the last call, without blocking.
    /// Cost: proportional to the number of events, not of peers.
    pub fn poll(&mut self, out: &mut Vec<Event>) {
        if self.listening.is_none() {
            return;
        }
        if !self.departed.is_empty() {
            self.departed.clear();
        }
        if self.drain_finished() {
            self.stop();
            out.push(Event::Drained);
            return;
        }
        if !self.held_disconnects.is_empty() {
            let held = std::mem::take(&mut self.held_disconnects);
            for departure in held {
                if departure.peer.has_unread() {
                    self.held_disconnects.push(departure);
                } else {
                    self.report_departure(departure, out);
                }
            }
        }
        self.take_events(out);
    }

    /// Hands over what happened while the caller handled the events of this `poll()` (its
    /// signal handlers took time), in the same frame: true if there was anything. The
    /// peers that left stay readable, as until the next `poll()`.
    pub fn poll_more(&mut self, out: &mut Vec<Event>) -> bool {
        if self.listening.is_none() {
            return false;
        }
        let before = out.len();
        self.take_events(out);
        out.len() > before
    }

    /// Takes the connection tasks' events and turns them into [`Event`]s.
    fn take_events(&mut self, out: &mut Vec<Event>) {
        if let Some(l) = &self.listening {
            l.shared.take(&mut self.scratch);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        for event in scratch.drain(..) {
            match event {
                RawEvent::Connected(p) => {
                    out.push(Event::Connected {
                        id: p.id(),
                        protocol: p.protocol().to_string(),
                    });
                    self.peers.insert(p.id(), Peer(p));
                }
                RawEvent::Message(p, mut m) => {
                    m.hops.taken_now();
                    if self.multiplayer {
                        self.mp_inbox.push_back((p, m));
                    } else {
                        p.deliver(m);
                        out.push(Event::Message { id: p.id() });
                    }
                }
                RawEvent::CloseRequested { id, code, reason } => {
                    out.push(Event::CloseRequested { id, code, reason });
                }
                RawEvent::UpgradeRequested(request, reply) => {
                    self.pending
                        .insert(request.id, (reply, request.offered.clone()));
                    out.push(Event::UpgradeRequested(request));
                }
                RawEvent::UpgradeEnded(id) => {
                    self.pending.remove(&id);
                    out.push(Event::UpgradeEnded { id });
                }
                RawEvent::Away(p) => out.push(Event::Away { id: p.id() }),
                RawEvent::Back(p) => out.push(Event::Back { id: p.id() }),
                RawEvent::Missed(missed) => out.push(Event::BroadcastMissed(missed)),
                RawEvent::Redis(event) => out.push(Event::Redis(event)),
                RawEvent::OutOfFileDescriptors { refused, limit } => {
                    out.push(Event::OutOfFileDescriptors { refused, limit })
                }
                RawEvent::Disconnected(departure) => {
                    // Multiplayer: the disconnect waits until the peer's last packets
                    // have been read, so that SceneMultiplayer still accepts them.
                    let unread = departure.peer.has_unread();
                    if self.multiplayer && unread {
                        self.held_disconnects.push(departure);
                    } else {
                        self.report_departure(departure, out);
                    }
                }
            }
        }
        self.scratch = scratch;
    }

    /// A peer that left: out of the connected peers, kept (with the groups it was in)
    /// until the next poll, and reported.
    fn report_departure(&mut self, departure: Departure, out: &mut Vec<Event>) {
        let Departure {
            peer: p,
            clean,
            groups,
        } = departure;
        if let Some(peer) = self.peers.remove(&p.id()) {
            self.departed.insert(p.id(), (peer, groups));
        }
        hops::forget(p.id());
        out.push(Event::Disconnected {
            id: p.id(),
            was_clean: clean,
        });
    }

    /// A graceful stop: new upgrades get HTTP 503 at once (and the health check 503, so
    /// load balancers take the server out) while the peers keep being served for `grace`;
    /// then every peer is closed with 1001 after its queued messages, and once all are
    /// gone (their `Disconnected` reported) `poll()` reports [`Event::Drained`] and the
    /// server is stopped.
    pub fn stop_gracefully(&mut self, grace: Duration) -> Result<(), Error> {
        if self.listening.is_none() {
            return Err(Error::NotListening);
        }
        if let Some(l) = &self.listening {
            l.shared.start_draining();
        }
        let close_at = Instant::now() + grace;
        // A second call can only make the drain shorter.
        if self.drain.as_ref().is_none_or(|d| close_at < d.close_at) {
            self.drain = Some(Drain {
                close_at,
                give_up: None,
            });
        }
        Ok(())
    }

    /// Whether a graceful stop is under way.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// Drives a graceful stop; true once it is complete.
    pub(super) fn drain_finished(&mut self) -> bool {
        let Some(drain) = &mut self.drain else {
            return false;
        };
        let now = Instant::now();
        match drain.give_up {
            None if now >= drain.close_at => {
                for peer in self.peers.values() {
                    let _ = peer.close(1001, "");
                }
                let close_timeout = self.lifelong.settings.current().connections.close_timeout;
                drain.give_up = Some(now + close_timeout + Duration::from_secs(1));
                false
            }
            None => false,
            Some(give_up) => {
                (self.peers.is_empty() && self.held_disconnects.is_empty()) || now >= give_up
            }
        }
    }
}
