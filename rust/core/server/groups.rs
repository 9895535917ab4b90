//! One message to many: broadcasts and groups, on this server and, through Redis, on
//! every server process attached to it.

use bytes::Bytes;

use super::Server;
use crate::core::error::Error;
use crate::core::fanout::{Job, Recipients};
use crate::core::ids::PeerId;

impl Server {
    pub(super) fn fan_out(
        &self,
        data: Bytes,
        is_text: bool,
        to: Recipients,
        exclude: Vec<PeerId>,
        unreliable: bool,
    ) {
        if let Some(l) = &self.listening {
            l.shared.fanout.push(Job {
                data,
                is_text,
                to,
                exclude,
                unreliable,
            });
        }
    }

    /// Sends one message to every open peer but `exclude`: the payload is copied once and
    /// shared; the per-peer work happens on the runtime, in order with each peer's other
    /// messages. Peers whose outbound buffer cannot take it are reported by an
    /// [`Event::BroadcastMissed`](crate::core::Event::BroadcastMissed); everyone else gets it.
    pub fn broadcast(&self, data: &[u8], is_text: bool, exclude: &[PeerId]) -> Result<(), Error> {
        self.check_fan_out(data, is_text)?;
        self.fan_out(
            Bytes::copy_from_slice(data),
            is_text,
            Recipients::All,
            exclude.to_vec(),
            false,
        );
        self.publish(None, data, is_text, exclude);
        Ok(())
    }

    /// As [`Server::broadcast`], to the members of `group`.
    pub fn send_to_group(
        &self,
        group: &str,
        data: &[u8],
        is_text: bool,
        exclude: &[PeerId],
    ) -> Result<(), Error> {
        self.check_fan_out(data, is_text)?;
        self.fan_out(
            Bytes::copy_from_slice(data),
            is_text,
            Recipients::Group(group.to_string()),
            exclude.to_vec(),
            false,
        );
        self.publish(Some(group), data, is_text, exclude);
        Ok(())
    }

    fn publish(&self, group: Option<&str>, data: &[u8], is_text: bool, exclude: &[PeerId]) {
        if let Some(bridge) = self.listening.as_ref().and_then(|l| l.bridge.as_ref()) {
            bridge.publish(group, data, is_text, exclude);
        }
    }

    fn check_fan_out(&self, data: &[u8], is_text: bool) -> Result<(), Error> {
        let Some(listening) = &self.listening else {
            return Err(Error::NotListening);
        };
        let limit = listening.shared.buffers.out_bytes;
        if is_text && std::str::from_utf8(data).is_err() {
            return Err(Error::InvalidParameter(
                "text messages must be valid UTF-8; use binary write mode for raw bytes".into(),
            ));
        }
        if data.len() > limit {
            return Err(Error::InvalidParameter(format!(
                "message of {} bytes is larger than the outbound buffer ({} bytes); raise it with set_buffers() or split the message",
                data.len(),
                limit
            )));
        }
        Ok(())
    }

    /// Adds a connected peer to a group (created on first use). A peer leaves its groups
    /// when it disconnects; one whose connection has already ended (its `Disconnected`
    /// not yet polled, or polled in the batch being handled: see [`Server::peer`]) is in
    /// no group, and the call does nothing.
    pub fn add_peer_to_group(&self, id: PeerId, group: &str) -> Result<(), Error> {
        let l = self.listening.as_ref().ok_or(Error::NotListening)?;
        if self.peer(id).is_none() {
            return Err(Error::UnknownPeer(id));
        }
        if group.is_empty() {
            return Err(Error::InvalidParameter("a group needs a name".into()));
        }
        l.shared.fanout.add_to_group(id, group);
        Ok(())
    }

    /// Removes a peer from a group; an error when it was not in it.
    pub fn remove_peer_from_group(&self, id: PeerId, group: &str) -> Result<(), Error> {
        let l = self.listening.as_ref().ok_or(Error::NotListening)?;
        if l.shared.fanout.remove_from_group(id, group) {
            Ok(())
        } else {
            Err(Error::InvalidParameter(format!(
                "peer {id} is not in group \"{group}\""
            )))
        }
    }

    /// The groups a peer is in, sorted. A peer whose `Disconnected` the last `poll()`
    /// reported answers the groups it was in when it left, until the next `poll()`, so
    /// that every event of a batch (a `Back`, then the `Disconnected`) sees them.
    pub fn peer_groups(&self, id: PeerId) -> Vec<String> {
        if let Some((_, groups)) = self.departed.get(&id) {
            return groups.clone();
        }
        self.listening
            .as_ref()
            .map(|l| l.shared.fanout.groups_of(id))
            .unwrap_or_default()
    }

    /// The members of a group (on this server), sorted.
    pub fn group_peers(&self, group: &str) -> Vec<PeerId> {
        self.listening
            .as_ref()
            .map(|l| l.shared.fanout.members(group))
            .unwrap_or_default()
    }
}
