//! The game deciding who gets in: upgrade requests held until [`Server::accept_upgrade`]
//! or [`Server::refuse_upgrade`].

use tokio::sync::oneshot;

use super::Server;
use crate::core::error::Error;
use crate::core::ids::PeerId;
use crate::core::policy::gate::{self, Decision};

/// How many decided request ids are remembered (to report a second decision clearly).
pub(super) const DECIDED_MEMORY: usize = 1024;

impl Server {
    /// Accepts a waiting upgrade request: the 101 is written at once (no `poll()` needed).
    /// `protocol` "" keeps the subprotocol Godot's rule selected; another one must be one
    /// the client offered. `headers` are added to the 101 response (e.g. `Set-Cookie`).
    pub fn accept_upgrade(
        &mut self,
        id: PeerId,
        protocol: &str,
        headers: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let offered = &self.waiting(id)?.1;
        gate::check_accept(offered, protocol, &headers)?;
        self.decide(
            id,
            Decision::Accept {
                protocol: protocol.to_string(),
                headers,
            },
        )
    }

    /// Refuses a waiting upgrade request with an HTTP status (400-599) and a short body.
    pub fn refuse_upgrade(&mut self, id: PeerId, status: i64, body: &str) -> Result<(), Error> {
        self.waiting(id)?;
        let status = gate::check_refuse(status, body)?;
        self.decide(
            id,
            Decision::Refuse {
                status,
                body: body.to_string(),
            },
        )
    }

    fn waiting(&self, id: PeerId) -> Result<&(oneshot::Sender<Decision>, Vec<String>), Error> {
        self.pending.get(&id).ok_or_else(|| {
            if self.decided.contains(&id) {
                Error::AlreadyDecided(id)
            } else {
                Error::UnknownRequest(id)
            }
        })
    }

    fn decide(&mut self, id: PeerId, decision: Decision) -> Result<(), Error> {
        let (reply, _) = self.pending.remove(&id).ok_or(Error::UnknownRequest(id))?;
        if self.decided.len() == DECIDED_MEMORY {
            self.decided.pop_front();
        }
        self.decided.push_back(id);
        // The connection task may have timed out just now: then its end is reported.
        let _ = reply.send(decision);
        Ok(())
    }
}
